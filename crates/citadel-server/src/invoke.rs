//! The inference chain every call goes through, whatever its API: the endpoint (authorized by
//! the service layer), rate limits per principal and per endpoint, a model version by traffic
//! weight, a place in that model's queue, guardrails on the prompt, generation, guardrails on
//! the completion, token accounting, then one inference-table row and the metrics.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use citadel_engine::ChatMessage;
use citadel_guard::Guard;
use citadel_limits::{Limit, Outcome};
use citadel_service::endpoints::{Payloads, ServingEndpoint};
use citadel_service::inference_log::{InferenceRecord, InferenceRoute, InferenceStatus};
use citadel_service::Context;
use time::OffsetDateTime;

use crate::backend::{GenOutput, GenRequest};
use crate::error::{ApiError, ErrorCode};
use crate::generation::Generation;
use crate::metrics::{
    BlockLabels, Direction, EndpointLabels, LimitLabels, RequestLabels, RouteLabel, TokenLabels,
};
use crate::pool::{Lease, SlotKey, SlotLimits};
use crate::state::Gateway;

/// Completion length when the caller does not say.
const DEFAULT_MAX_TOKENS: u32 = 256;

/// What the caller asked for, in any API's terms.
#[derive(Debug, Clone)]
pub struct CallSpec {
    pub endpoint: String,
    pub route: InferenceRoute,
    pub input: Input,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub seed: Option<u64>,
    pub stop: Vec<String>,
}

/// A raw prompt or a conversation.
#[derive(Debug, Clone)]
pub enum Input {
    Prompt(String),
    Chat(Vec<ChatMessage>),
}

/// One call on its way through the chain; whatever happens, it ends as one inference-table row
/// (once its endpoint is known) and in the metrics. A call dropped before it finished (the
/// client went away) is recorded as cancelled.
#[derive(Debug)]
pub struct Call {
    gateway: Arc<Gateway>,
    started: Instant,
    arrived: OffsetDateTime,
    ctx: Arc<Context>,
    route: InferenceRoute,
    endpoint: Option<Arc<ServingEndpoint>>,
    version: Option<u32>,
    prompt: Option<String>,
    tokens_in: u64,
    decisions: Vec<serde_json::Value>,
    peer: Option<SocketAddr>,
    finished: bool,
}

/// A call ready to generate: its model held, its prompt checked.
#[derive(Debug)]
pub struct Prepared {
    pub call: Call,
    pub lease: Lease,
    pub request: GenRequest,
    pub guard: Arc<Guard>,
    pub version: u32,
    pub model: String,
}

impl Call {
    pub fn new(
        gateway: Arc<Gateway>,
        ctx: Arc<Context>,
        spec: &CallSpec,
        peer: Option<SocketAddr>,
    ) -> Self {
        Self {
            gateway,
            started: Instant::now(),
            arrived: OffsetDateTime::now_utc(),
            ctx,
            route: spec.route,
            endpoint: None,
            version: None,
            prompt: None,
            tokens_in: 0,
            decisions: Vec::new(),
            peer,
            finished: false,
        }
    }

    fn route_label(&self) -> RouteLabel {
        match self.route {
            InferenceRoute::Completions => RouteLabel::completions,
            InferenceRoute::Chat => RouteLabel::chat,
            InferenceRoute::Invocations => RouteLabel::invocations,
        }
    }

    /// Records a refusal or failure and hands the error back for the response.
    pub fn refuse(mut self, err: ApiError) -> ApiError {
        let status = match err.code {
            ErrorCode::RateLimited => InferenceStatus::RateLimited,
            ErrorCode::GuardrailBlocked => InferenceStatus::Blocked,
            ErrorCode::Overloaded => InferenceStatus::Overloaded,
            ErrorCode::Unauthenticated | ErrorCode::PermissionDenied | ErrorCode::NotFound => {
                InferenceStatus::Denied
            }
            ErrorCode::Timeout => InferenceStatus::Timeout,
            ErrorCode::Internal => InferenceStatus::Error,
            _ => InferenceStatus::Invalid,
        };
        self.finish(status, err.code.status().as_u16(), None, 0, None);
        err
    }

    pub(crate) fn gateway(&self) -> &Arc<Gateway> {
        &self.gateway
    }

    pub(crate) fn tokens_in(&self) -> u64 {
        self.tokens_in
    }

    /// Records a streamed call whose completion a guardrail stopped after `sent` went out.
    pub fn blocked_midstream(mut self, sent: &str, tokens_out: u64, ttft: Option<Duration>) {
        self.finish(InferenceStatus::Blocked, 200, Some(sent), tokens_out, ttft);
    }

    /// Records a call that answered.
    pub fn complete(mut self, completion: &str, tokens_out: u64, ttft: Option<Duration>) {
        self.finish(InferenceStatus::Ok, 200, Some(completion), tokens_out, ttft);
    }

    fn finish(
        &mut self,
        status: InferenceStatus,
        http_status: u16,
        completion: Option<&str>,
        tokens_out: u64,
        ttft: Option<Duration>,
    ) {
        self.finished = true;
        let gateway = &self.gateway;
        let elapsed = self.started.elapsed();
        let endpoint_label = self
            .endpoint
            .as_ref()
            .map_or_else(String::new, |e| e.name.clone());
        gateway
            .metrics
            .requests
            .get_or_create(&RequestLabels {
                route: self.route_label(),
                endpoint: endpoint_label.clone(),
                status: http_status,
            })
            .inc();
        let Some(endpoint) = self.endpoint.clone() else {
            // Refused before the endpoint was known (not visible to the caller): the audit log
            // holds the denial.
            return;
        };
        let labels = EndpointLabels {
            endpoint: endpoint_label.clone(),
        };
        gateway
            .metrics
            .latency
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        if let Some(ttft) = ttft {
            gateway
                .metrics
                .time_to_first_token
                .get_or_create(&labels)
                .observe(ttft.as_secs_f64());
        }
        for (direction, count) in [
            (Direction::input, self.tokens_in),
            (Direction::output, tokens_out),
        ] {
            gateway
                .metrics
                .tokens
                .get_or_create(&TokenLabels {
                    endpoint: endpoint_label.clone(),
                    direction,
                })
                .inc_by(count);
        }
        let completion = completion.and_then(|text| self.payload(&endpoint, text));
        let record = InferenceRecord {
            time: self.arrived,
            endpoint: endpoint.name.clone(),
            endpoint_id: endpoint.id,
            model: self.version.map(|_| endpoint.config.model.clone()),
            model_version: self.version,
            principal_id: Some(self.ctx.principal.id),
            principal_name: Some(self.ctx.principal.name.clone()),
            request_id: self.ctx.request_id.to_string(),
            route: self.route,
            prompt: self.prompt.take(),
            completion,
            tokens_in: self.tokens_in,
            tokens_out,
            latency_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            ttft_ms: ttft.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
            guardrails: std::mem::take(&mut self.decisions),
            status,
            http_status,
            client_addr: self.peer.map(|p| p.ip().to_string()),
        };
        // The endpoint's sampling rate; refusals and failures are always kept.
        gateway
            .log
            .record_at_rate(record, endpoint.config.log.sample_rate);
    }

    /// `text` as the endpoint's log policy keeps it.
    fn payload(&self, endpoint: &ServingEndpoint, text: &str) -> Option<String> {
        match endpoint.config.log.payloads {
            Payloads::None => None,
            Payloads::Full => Some(text.to_owned()),
            Payloads::Redacted => {
                let guard = self.gateway.guard(endpoint).ok()?;
                Some(guard.redact(text).into_owned())
            }
        }
    }

    pub(crate) fn note_decisions(&mut self, decisions: &[citadel_guard::Decision]) {
        self.decisions.extend(
            decisions
                .iter()
                .filter_map(|d| serde_json::to_value(d).ok()),
        );
    }

    pub(crate) fn block(&self, rule: &str) {
        if let Some(endpoint) = &self.endpoint {
            self.gateway
                .metrics
                .blocked
                .get_or_create(&BlockLabels {
                    endpoint: endpoint.name.clone(),
                    rule: rule.to_owned(),
                })
                .inc();
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if !self.finished {
            self.finish(InferenceStatus::Cancelled, 499, None, 0, None);
        }
    }
}

/// Takes a call through everything up to generation.
pub async fn prepare(mut call: Call, spec: CallSpec) -> Result<Prepared, ApiError> {
    let gateway = Arc::clone(&call.gateway);
    let endpoint = match gateway.endpoint(&call.ctx, &spec.endpoint).await {
        Ok(endpoint) => endpoint,
        Err(err) => return Err(call.refuse(err)),
    };
    call.endpoint = Some(Arc::clone(&endpoint));
    if let Err(err) = admit_requests(&gateway, &call.ctx, &endpoint).await {
        return Err(call.refuse(err));
    }
    let version = pick_version(&endpoint);
    call.version = Some(version);
    let config = &endpoint.config;
    let key = SlotKey {
        endpoint: endpoint.id.to_string(),
        version,
    };
    let limits = SlotLimits {
        max_concurrency: config.max_concurrency,
        max_queue: config.max_queue,
    };
    let lease = match gateway
        .pool
        .acquire(&key, limits, || gateway.load(&endpoint, version))
        .await
    {
        Ok(lease) => lease,
        Err(err) => return Err(call.refuse(err)),
    };
    let guard = match gateway.guard(&endpoint) {
        Ok(guard) => guard,
        Err(err) => return Err(call.refuse(err)),
    };
    let prompt = match checked_prompt(&mut call, &guard, &lease, &spec.input) {
        Ok(prompt) => prompt,
        Err(err) => return Err(call.refuse(err)),
    };
    if let Err(err) = admit_tokens(&gateway, &call.ctx, &endpoint, call.tokens_in).await {
        return Err(call.refuse(err));
    }
    let request = match generation_request(&gateway, &spec, prompt) {
        Ok(request) => request,
        Err(err) => return Err(call.refuse(err)),
    };
    Ok(Prepared {
        model: config.model.clone(),
        call,
        lease,
        request,
        guard,
        version,
    })
}

/// The prompt the model will see: guardrails applied to what the caller wrote, rendered with
/// the model's chat template for conversations.
fn checked_prompt(
    call: &mut Call,
    guard: &Guard,
    lease: &Lease,
    input: &Input,
) -> Result<String, ApiError> {
    let backend = &lease.backend;
    let rendered = match input {
        Input::Prompt(text) => text.clone(),
        Input::Chat(messages) => backend.render_chat(messages).map_err(ApiError::invalid)?,
    };
    let tokens = backend.count_tokens(&rendered).map_err(ApiError::invalid)?;
    call.tokens_in = tokens as u64;
    let texts: Vec<&str> = match input {
        Input::Prompt(text) => vec![text.as_str()],
        Input::Chat(messages) => messages.iter().map(|m| m.content.as_str()).collect(),
    };
    let mut checked = Vec::with_capacity(texts.len());
    let mut changed = false;
    for (i, text) in texts.iter().enumerate() {
        // The token budget is the whole prompt's, checked once.
        let verdict = guard.check_input(text, if i == 0 { tokens } else { 0 });
        call.note_decisions(&verdict.decisions);
        if let Some(blocked) = verdict.blocked {
            call.block(blocked.rule.as_str());
            return Err(ApiError::new(ErrorCode::GuardrailBlocked, blocked.message));
        }
        changed |= verdict.text != *text;
        checked.push(verdict.text.into_owned());
    }
    let prompt = match input {
        Input::Prompt(_) => checked.swap_remove(0),
        Input::Chat(messages) if changed => {
            let masked: Vec<ChatMessage> = messages
                .iter()
                .zip(checked)
                .map(|(m, content)| ChatMessage::new(&m.role, &content))
                .collect();
            backend.render_chat(&masked).map_err(ApiError::invalid)?
        }
        Input::Chat(_) => rendered,
    };
    if let Some(endpoint) = call.endpoint.clone() {
        call.prompt = call.payload(&endpoint, &prompt);
    }
    Ok(prompt)
}

fn generation_request(
    gateway: &Gateway,
    spec: &CallSpec,
    prompt: String,
) -> Result<GenRequest, ApiError> {
    let max_tokens = spec.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
    if max_tokens == 0 || max_tokens > gateway.config.max_completion_tokens {
        return Err(ApiError::invalid(format!(
            "max_tokens must be between 1 and {}",
            gateway.config.max_completion_tokens
        )));
    }
    let temperature = spec.temperature.unwrap_or(1.0);
    if !(0.0..=2.0).contains(&temperature) {
        return Err(ApiError::invalid("temperature must be between 0 and 2"));
    }
    if let Some(p) = spec.top_p.filter(|p| !(*p > 0.0 && *p <= 1.0)) {
        return Err(ApiError::invalid(format!(
            "top_p must be in (0, 1], got {p}"
        )));
    }
    if spec.stop.len() > 4 || spec.stop.iter().any(|s| s.is_empty() || s.len() > 200) {
        return Err(ApiError::invalid(
            "stop takes at most 4 sequences of 1 to 200 bytes",
        ));
    }
    Ok(GenRequest {
        prompt,
        max_tokens: max_tokens as usize,
        temperature,
        top_p: spec.top_p.filter(|p| *p < 1.0),
        seed: spec.seed.unwrap_or_else(rand::random),
        stop: spec.stop.clone(),
    })
}

/// A version by the endpoint's traffic weights.
fn pick_version(endpoint: &ServingEndpoint) -> u32 {
    let routes = &endpoint.config.traffic;
    let total: u32 = routes.iter().map(|r| r.weight).sum();
    let mut ticket = rand::random::<u32>() % total.max(1);
    for route in routes {
        if ticket < route.weight {
            return route.version;
        }
        ticket -= route.weight;
    }
    routes.last().map_or(0, |r| r.version)
}

fn limit_keys(ctx: &Context, endpoint: &ServingEndpoint, unit: &str) -> (String, String) {
    (
        format!("{unit}:principal:{}:{}", endpoint.id, ctx.principal.id),
        format!("{unit}:endpoint:{}", endpoint.id),
    )
}

async fn admit_requests(
    gateway: &Gateway,
    ctx: &Context,
    endpoint: &ServingEndpoint,
) -> Result<(), ApiError> {
    let limits = &endpoint.config.limits;
    let (principal, whole) = limit_keys(ctx, endpoint, "rpm");
    for (key, per_minute, which) in [
        (
            principal,
            limits.per_principal_requests_per_minute,
            "principal_requests",
        ),
        (
            whole,
            limits.endpoint_requests_per_minute,
            "endpoint_requests",
        ),
    ] {
        admit(gateway, endpoint, &key, per_minute, 1, which).await?;
    }
    Ok(())
}

async fn admit_tokens(
    gateway: &Gateway,
    ctx: &Context,
    endpoint: &ServingEndpoint,
    tokens: u64,
) -> Result<(), ApiError> {
    let limits = &endpoint.config.limits;
    let (principal, whole) = limit_keys(ctx, endpoint, "tpm");
    for (key, per_minute, which) in [
        (
            principal,
            limits.per_principal_tokens_per_minute,
            "principal_tokens",
        ),
        (whole, limits.endpoint_tokens_per_minute, "endpoint_tokens"),
    ] {
        admit(gateway, endpoint, &key, per_minute, tokens, which).await?;
    }
    Ok(())
}

async fn admit(
    gateway: &Gateway,
    endpoint: &ServingEndpoint,
    key: &str,
    per_minute: Option<u32>,
    cost: u64,
    which: &str,
) -> Result<(), ApiError> {
    let Some(per_minute) = per_minute else {
        return Ok(());
    };
    let limit = Limit::per_minute(u64::from(per_minute)).map_err(ApiError::internal)?;
    let outcome = gateway
        .limiter
        .acquire(key, limit, cost)
        .await
        .map_err(|e| ApiError::new(ErrorCode::RateLimited, e.to_string()))?;
    match outcome {
        Outcome::Allowed { .. } => Ok(()),
        Outcome::Limited { retry_after } => {
            gateway
                .metrics
                .rate_limited
                .get_or_create(&LimitLabels {
                    endpoint: endpoint.name.clone(),
                    limit: which.to_owned(),
                })
                .inc();
            Err(ApiError::new(
                ErrorCode::RateLimited,
                format!("rate limit reached ({which}: {per_minute} per minute); retry later"),
            )
            .retry_after(retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0)))
        }
    }
}

/// Charges the completion's tokens to the token budgets once they are known.
pub async fn charge_output(gateway: &Gateway, call: &Call, tokens_out: u64) {
    let Some(endpoint) = &call.endpoint else {
        return;
    };
    let limits = &endpoint.config.limits;
    let (principal, whole) = limit_keys(&call.ctx, endpoint, "tpm");
    for (key, per_minute) in [
        (principal, limits.per_principal_tokens_per_minute),
        (whole, limits.endpoint_tokens_per_minute),
    ] {
        if let Some(limit) = per_minute.and_then(|n| Limit::per_minute(u64::from(n)).ok()) {
            gateway.limiter.charge(&key, limit, tokens_out).await;
        }
    }
}

/// Runs a prepared call to the end without streaming and records it: generation on the
/// blocking pool within the request timeout, then the completion's guardrails. Generation stops
/// within one token when the timeout passes or the caller drops this future (the client went
/// away), which frees the model's slot at once.
pub async fn run(prepared: Prepared) -> Result<GenOutput, ApiError> {
    let Prepared {
        mut call,
        lease,
        request,
        guard,
        ..
    } = prepared;
    let gateway = Arc::clone(&call.gateway);
    let mut generation = Generation::start(lease, request, |_| true);
    let mut output =
        match tokio::time::timeout(gateway.config.request_timeout(), generation.output()).await {
            Err(_) => {
                return Err(call.refuse(ApiError::new(
                    ErrorCode::Timeout,
                    "generation took longer than the server's request timeout; ask for fewer \
                     tokens or retry later",
                )))
            }
            Ok(Err(err)) => return Err(call.refuse(err)),
            Ok(Ok(output)) => output,
        };
    charge_output(&gateway, &call, output.completion_tokens as u64).await;
    let verdict = guard.check_output(&output.text);
    call.note_decisions(&verdict.decisions);
    if let Some(blocked) = verdict.blocked {
        call.block(blocked.rule.as_str());
        return Err(call.refuse(ApiError::new(ErrorCode::GuardrailBlocked, blocked.message)));
    }
    output.text = verdict.text.into_owned();
    call.complete(&output.text, output.completion_tokens as u64, None);
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use citadel_service::endpoints::TrafficRoute;

    #[test]
    fn traffic_split_follows_weights() {
        let traffic = vec![
            TrafficRoute {
                version: 3,
                weight: 90,
            },
            TrafficRoute {
                version: 4,
                weight: 10,
            },
        ];
        let endpoint = ServingEndpoint {
            id: citadel_core::SecurableId::new(),
            name: "dev.endpoints.split".into(),
            revision: 1,
            config: citadel_service::endpoints::EndpointConfig::new("dev.m.x".into(), traffic),
        };
        let n = 10_000;
        let fours = (0..n).filter(|_| pick_version(&endpoint) == 4).count();
        let share = fours as f64 / n as f64;
        assert!((share - 0.10).abs() <= 0.03, "version 4 got {share}");
    }
}
