//! Alert notifications to webhooks: a JSON payload (no links, no secrets), signed with
//! HMAC-SHA256, delivered over HTTPS (plain HTTP only to loopback) with bounded retries,
//! exponential backoff and jitter. A 2xx answer is a delivery; redirects are not followed.
//!
//! # Verifying a notification (receivers)
//!
//! Each request carries `X-Citadel-Timestamp` (Unix seconds) and
//! `X-Citadel-Signature: sha256=HEX`, where `HEX` is the lowercase hex HMAC-SHA256, keyed with
//! the webhook's shared secret, of `TIMESTAMP.BODY`: the timestamp header's text, a `.`, then the
//! raw request body bytes. A receiver recomputes it over the bytes it received (before parsing
//! the JSON), compares in constant time, and rejects a timestamp more than five minutes from its
//! own clock, so a captured request cannot be replayed later. [`verify`] does exactly this.

use std::fmt;
use std::time::Duration;

use ring::hmac;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use time::OffsetDateTime;

/// The header carrying `sha256=HEX`.
pub const SIGNATURE_HEADER: &str = "X-Citadel-Signature";
/// The header carrying the Unix time (seconds) the signature covers.
pub const TIMESTAMP_HEADER: &str = "X-Citadel-Timestamp";
/// How far a receiver should let a timestamp be from its clock.
pub const REPLAY_TOLERANCE: Duration = Duration::from_secs(300);
/// Longest wait for one attempt's answer.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// A webhook that cannot be used; the message says what to change.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("a webhook URL is not a valid URL; write it as https://host[:port]/path")]
    Url,
    #[error(
        "webhook {0} must use https (plain http is allowed only to a loopback address such as \
         127.0.0.1)"
    )]
    Insecure(String),
    #[error(
        "webhook {0} carries credentials in its URL; remove them: notifications are \
         authenticated by their HMAC signature"
    )]
    Credentials(String),
    #[error("webhook secret for {0} is shorter than 32 bytes; use a long random secret")]
    WeakSecret(String),
    #[error("retry policy: {0}")]
    Retry(&'static str),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// One alert notification, as sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notice {
    pub alert_id: String,
    pub rule: String,
    pub severity: String,
    /// `firing` or `resolved`.
    pub status: String,
    /// The group the alert is about, e.g. `{"address": "10.0.0.9"}`.
    pub labels: std::collections::BTreeMap<String, String>,
    /// The rule's value when it fired.
    pub value: Option<f64>,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub resolved_at: Option<OffsetDateTime>,
    /// The rule's one-line summary.
    pub summary: String,
}

/// A webhook: where to post and the shared secret that signs. `Debug` and `Display` show the
/// origin and path only.
#[derive(Clone)]
pub struct Webhook {
    url: reqwest::Url,
    secret: SecretString,
}

impl Webhook {
    /// Checks the URL (https, or http to loopback; no credentials) and the secret (32+ bytes).
    pub fn new(url: &str, secret: SecretString) -> Result<Self, WebhookError> {
        let url = reqwest::Url::parse(url).map_err(|_| WebhookError::Url)?;
        let label = label(&url);
        let host = url.host_str().unwrap_or_default();
        let loopback = host == "localhost"
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => return Err(WebhookError::Insecure(label)),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(WebhookError::Credentials(label));
        }
        if secret.expose_secret().len() < 32 {
            return Err(WebhookError::WeakSecret(label));
        }
        Ok(Self { url, secret })
    }
}

/// A URL as it may be shown: scheme, host, port and path (no credentials, no query).
fn label(url: &reqwest::Url) -> String {
    format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port().map(|p| format!(":{p}")).unwrap_or_default()
    ) + url.path()
}

impl fmt::Display for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&label(&self.url))
    }
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &label(&self.url))
            .finish_non_exhaustive()
    }
}

/// `sha256=HEX` over `timestamp.body`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut context = hmac::Context::with_key(&key);
    context.update(timestamp.to_string().as_bytes());
    context.update(b".");
    context.update(body);
    format!("sha256={}", hex::encode(context.sign().as_ref()))
}

/// What a receiver does: checks the signature header against `timestamp.body` in constant time
/// and the timestamp against `now` (within [`REPLAY_TOLERANCE`]).
pub fn verify(
    secret: &[u8],
    timestamp_header: &str,
    body: &[u8],
    signature_header: &str,
    now: OffsetDateTime,
) -> bool {
    let Ok(timestamp) = timestamp_header.parse::<i64>() else {
        return false;
    };
    let age = now.unix_timestamp().abs_diff(timestamp);
    if age > REPLAY_TOLERANCE.as_secs() {
        return false;
    }
    let Some(tag) = signature_header
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut message = timestamp_header.as_bytes().to_vec();
    message.push(b'.');
    message.extend_from_slice(body);
    hmac::verify(&key, &message, &tag).is_ok()
}

/// How often and how patiently a delivery is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, at least 1.
    pub attempts: u32,
    /// The wait after the first failure; doubled after each further one.
    pub base: Duration,
    /// The longest wait between attempts.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            base: Duration::from_millis(500),
            max: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    pub fn validate(&self) -> Result<(), WebhookError> {
        if !(1..=10).contains(&self.attempts) {
            return Err(WebhookError::Retry("attempts must be between 1 and 10"));
        }
        if self.base.is_zero() || self.base > self.max || self.max > Duration::from_secs(300) {
            return Err(WebhookError::Retry(
                "the backoff must be more than 0 and at most its maximum, itself at most 300 s",
            ));
        }
        Ok(())
    }

    /// The wait after failed attempt `failed` (1-based): `base × 2^(failed-1)`, capped at `max`,
    /// then scaled into its upper half by `jitter` in [0, 1) so retries of many alerts spread out.
    pub fn delay(&self, failed: u32, jitter: f64) -> Duration {
        let doubled = self
            .base
            .saturating_mul(1u32 << failed.saturating_sub(1).min(20));
        doubled
            .min(self.max)
            .mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }
}

/// How a delivery ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// The webhook, as it may be shown.
    pub webhook: String,
    pub attempts: u32,
    pub delivered: bool,
    /// The last answer's status, or why there was none.
    pub detail: String,
}

/// Posts notices to webhooks.
#[derive(Debug, Clone)]
pub struct Notifier {
    client: reqwest::Client,
    retry: RetryPolicy,
}

impl Notifier {
    pub fn new(retry: RetryPolicy) -> Result<Self, WebhookError> {
        retry.validate()?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(ATTEMPT_TIMEOUT)
            .build()
            .map_err(|e| WebhookError::Client(e.to_string()))?;
        Ok(Self { client, retry })
    }

    /// Posts `notice` to `webhook` until it answers 2xx or the attempts run out.
    pub async fn deliver(&self, webhook: &Webhook, notice: &Notice) -> Delivery {
        let mut delivery = Delivery {
            webhook: webhook.to_string(),
            attempts: 0,
            delivered: false,
            detail: String::new(),
        };
        let body = match serde_json::to_vec(notice) {
            Ok(body) => body,
            Err(err) => {
                delivery.detail = format!("cannot encode the notice: {err}");
                return delivery;
            }
        };
        for attempt in 1..=self.retry.attempts {
            delivery.attempts = attempt;
            let timestamp = OffsetDateTime::now_utc().unix_timestamp();
            let signature = sign(webhook.secret.expose_secret().as_bytes(), timestamp, &body);
            let sent = self
                .client
                .post(webhook.url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(TIMESTAMP_HEADER, timestamp.to_string())
                .header(SIGNATURE_HEADER, signature)
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => {
                    delivery.delivered = true;
                    delivery.detail = format!("answered {}", response.status().as_u16());
                    return delivery;
                }
                Ok(response) => {
                    delivery.detail = format!("answered {}", response.status().as_u16());
                }
                // The error's text may quote the URL: keep only its kind.
                Err(err) => delivery.detail = unreachable_reason(&err).to_owned(),
            }
            if attempt < self.retry.attempts {
                tokio::time::sleep(self.retry.delay(attempt, rand::random::<f64>())).await;
            }
        }
        delivery
    }
}

fn unreachable_reason(err: &reqwest::Error) -> &'static str {
    if err.is_timeout() {
        "no answer in time"
    } else if err.is_connect() {
        "cannot connect"
    } else {
        "the request failed"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "webhook-test-secret";

    #[test]
    fn signature_known_answer() {
        // Python: hmac.new(b"webhook-test-secret", b'1767268800.{"status":"firing"}',
        // hashlib.sha256).hexdigest()
        assert_eq!(
            sign(SECRET.as_bytes(), 1_767_268_800, br#"{"status":"firing"}"#),
            "sha256=4665f5836e78490d74c28555477bd7b020b21559ee3d923fecd5b38736ad43cd"
        );
    }

    #[test]
    fn verification_rejects_tampering_other_keys_and_replays() {
        let now = OffsetDateTime::from_unix_timestamp(1_767_268_800).unwrap();
        let body = br#"{"status":"firing"}"#;
        let signature = sign(SECRET.as_bytes(), now.unix_timestamp(), body);
        let stamp = now.unix_timestamp().to_string();
        assert!(verify(SECRET.as_bytes(), &stamp, body, &signature, now));
        assert!(!verify(
            SECRET.as_bytes(),
            &stamp,
            br#"{"status":"resolved"}"#,
            &signature,
            now
        ));
        assert!(!verify(b"another secret", &stamp, body, &signature, now));
        assert!(!verify(
            SECRET.as_bytes(),
            "1767268801",
            body,
            &signature,
            now
        ));
        assert!(!verify(SECRET.as_bytes(), &stamp, body, "sha256=zz", now));
        assert!(!verify(
            SECRET.as_bytes(),
            &stamp,
            body,
            &signature[7..],
            now
        ));
        let later = now + time::Duration::seconds(301);
        assert!(!verify(SECRET.as_bytes(), &stamp, body, &signature, later));
        let soon = now + time::Duration::seconds(299);
        assert!(verify(SECRET.as_bytes(), &stamp, body, &signature, soon));
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_with_jitter_in_the_upper_half() {
        let policy = RetryPolicy {
            attempts: 6,
            base: Duration::from_millis(100),
            max: Duration::from_millis(1000),
        };
        let full: Vec<u128> = (1..=6).map(|n| policy.delay(n, 1.0).as_millis()).collect();
        assert_eq!(full, [100, 200, 400, 800, 1000, 1000]);
        let least: Vec<u128> = (1..=6).map(|n| policy.delay(n, 0.0).as_millis()).collect();
        assert_eq!(least, [50, 100, 200, 400, 500, 500]);
        assert_eq!(policy.delay(3, 0.5), Duration::from_millis(300));
        assert_eq!(policy.delay(u32::MAX, 1.0), Duration::from_millis(1000));
        policy.validate().unwrap();
        for bad in [
            RetryPolicy {
                attempts: 0,
                ..policy
            },
            RetryPolicy {
                attempts: 11,
                ..policy
            },
            RetryPolicy {
                base: Duration::ZERO,
                ..policy
            },
            RetryPolicy {
                max: Duration::from_millis(10),
                ..policy
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn webhooks_need_https_or_loopback_no_credentials_and_a_long_secret() {
        let secret = || SecretString::from("s".repeat(32));
        for ok in [
            "https://alerts.example.com/hook",
            "http://127.0.0.1:9000/hook",
            "http://[::1]:9000/",
            "http://localhost/x",
        ] {
            Webhook::new(ok, secret()).unwrap();
        }
        let insecure = Webhook::new("http://alerts.example.com/hook", secret()).unwrap_err();
        assert!(
            insecure.to_string().contains("must use https"),
            "{insecure}"
        );
        let creds = Webhook::new("https://bob:hunter2@example.com/h", secret()).unwrap_err();
        assert!(!creds.to_string().contains("hunter2"), "{creds}");
        assert!(matches!(creds, WebhookError::Credentials(_)));
        let weak = Webhook::new("https://example.com/h", SecretString::from("short")).unwrap_err();
        assert!(matches!(weak, WebhookError::WeakSecret(_)));
        let bad = Webhook::new("not a url user:pw@x", secret()).unwrap_err();
        assert!(!bad.to_string().contains("pw"), "{bad}");
        let hook = Webhook::new("https://example.com:8443/h?token=abc", secret()).unwrap();
        assert_eq!(hook.to_string(), "https://example.com:8443/h");
        assert!(!format!("{hook:?}").contains("abc") && !format!("{hook:?}").contains("sss"));
    }

    #[test]
    fn the_payload_has_the_documented_fields() {
        let notice = Notice {
            alert_id: "a1".into(),
            rule: "failed_authentications".into(),
            severity: "high".into(),
            status: "firing".into(),
            labels: [("address".to_owned(), "10.0.0.9".to_owned())].into(),
            value: Some(6.0),
            started_at: OffsetDateTime::from_unix_timestamp(1_767_268_800).unwrap(),
            resolved_at: None,
            summary: "brute force".into(),
        };
        let json = serde_json::to_value(&notice).unwrap();
        assert_eq!(json["labels"]["address"], "10.0.0.9");
        assert_eq!(json["started_at"], "2026-01-01T12:00:00Z");
        assert_eq!(json["resolved_at"], serde_json::Value::Null);
        assert_eq!(json.as_object().unwrap().len(), 9);
    }
}
