//! The gateway's one HTTP error type: a stable code table, an exhaustive map to status codes, and
//! a JSON body `{"error": {"code", "message", "type"}}` that OpenAI clients also understand.
//! 5xx bodies stay generic; their details go to the log only.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use citadel_service::ErrorKind;
use serde::Serialize;

/// Every error the gateway returns, by its stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No credential, or one that is malformed, unknown, revoked or expired.
    Unauthenticated,
    /// Authenticated, but not allowed.
    PermissionDenied,
    /// The request is malformed or names something invalid.
    InvalidRequest,
    /// A guardrail refused the prompt or the completion.
    GuardrailBlocked,
    /// The named endpoint, model or route does not exist (or is not visible to the caller).
    NotFound,
    /// The method is not allowed on this route.
    MethodNotAllowed,
    /// It exists already.
    Conflict,
    /// The body is larger than the configured limit.
    PayloadTooLarge,
    /// The body is not JSON.
    UnsupportedMediaType,
    /// Too many requests or tokens for the caller or the endpoint; see `Retry-After`.
    RateLimited,
    /// The model's queue is full; see `Retry-After`.
    Overloaded,
    /// The request took longer than the configured timeout.
    Timeout,
    /// Something failed on our side; the log has the details.
    Internal,
}

impl ErrorCode {
    /// The HTTP status of this code.
    pub const fn status(self) -> StatusCode {
        match self {
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::PermissionDenied => StatusCode::FORBIDDEN,
            Self::InvalidRequest | Self::GuardrailBlocked => StatusCode::BAD_REQUEST,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Self::Timeout => StatusCode::REQUEST_TIMEOUT,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The OpenAI error `type` closest to this code, for OpenAI clients.
    const fn openai_type(self) -> &'static str {
        match self {
            Self::Unauthenticated => "authentication_error",
            Self::PermissionDenied => "permission_error",
            Self::NotFound => "not_found_error",
            Self::RateLimited => "rate_limit_error",
            Self::Overloaded | Self::Timeout | Self::Internal => "server_error",
            Self::InvalidRequest
            | Self::GuardrailBlocked
            | Self::MethodNotAllowed
            | Self::Conflict
            | Self::PayloadTooLarge
            | Self::UnsupportedMediaType => "invalid_request_error",
        }
    }

    /// The code as it appears in bodies and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::PermissionDenied => "permission_denied",
            Self::InvalidRequest => "invalid_request",
            Self::GuardrailBlocked => "guardrail_blocked",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RateLimited => "rate_limited",
            Self::Overloaded => "overloaded",
            Self::Timeout => "timeout",
            Self::Internal => "internal",
        }
    }
}

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Seconds for `Retry-After` (rate limits and overload).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    /// A server-side failure: the details are logged, the client sees a generic message.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            ErrorCode::Internal,
            "internal error; the server log has the details",
        )
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }
}

impl From<citadel_service::Error> for ApiError {
    fn from(err: citadel_service::Error) -> Self {
        let code = match err.kind() {
            ErrorKind::Unauthenticated => ErrorCode::Unauthenticated,
            ErrorKind::PermissionDenied => ErrorCode::PermissionDenied,
            ErrorKind::InvalidInput => ErrorCode::InvalidRequest,
            ErrorKind::NotFound => ErrorCode::NotFound,
            ErrorKind::AlreadyExists => ErrorCode::Conflict,
            ErrorKind::Integrity | ErrorKind::Internal => return Self::internal(err),
        };
        Self::new(code, err.to_string())
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'static str,
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Inner {
                code: self.code.as_str(),
                message: &self.message,
                kind: self.code.openai_type(),
            },
        };
        let mut response = (self.code.status(), axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.code == ErrorCode::Unauthenticated {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"citadel\""),
            );
        }
        response
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn internal_errors_do_not_leak_details() {
        let response = ApiError::internal("database at /secret/path is locked").into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let bytes = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("/secret/path"), "{text}");
        assert!(text.contains("\"code\":\"internal\""), "{text}");
    }

    #[tokio::test]
    async fn rate_limits_carry_retry_after() {
        let response = ApiError::new(ErrorCode::RateLimited, "slow down")
            .retry_after(3)
            .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "3");
    }
}
