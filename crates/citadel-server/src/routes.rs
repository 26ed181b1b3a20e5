//! The route table and the router: every route with who may call it, the layers that bound
//! every request (body size, timeout, security headers, JSON 404/405), and the data-plane
//! handlers. Each handler's first step is authentication; authorization is the service layer's.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use citadel_core::TokenScope;
use citadel_service::inference_log::InferenceRoute;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::json;
use time::OffsetDateTime;

use crate::auth::Caller;
use crate::backend::GenOutput;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::{JsonBody, Peer};
use crate::invoke::{self, Call, CallSpec, Input, Prepared};
use crate::openai::{
    ChatChoice, ChatRequest, ChatResponse, CompletionChoice, CompletionRequest, CompletionResponse,
    InvocationParameters, InvocationRequest, InvocationResponse, ModelList, ModelObject, OneOrMany,
    Prediction, ResponseMessage, Sampling, Usage,
};
use crate::state::Gateway;
use crate::stream::{self, Header, Shape};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: `/healthz` only.
    Public,
    /// A token with scope `invoke` or `control`, and `EXECUTE` on the endpoint.
    Invoke,
    /// A token with scope `control`, and the privilege the operation needs.
    Control,
    /// A token with scope `metrics`.
    Metrics,
    /// Any valid token.
    AnyToken,
    /// OAuth client credentials in the body or an HTTP Basic header.
    ClientCredentials,
}

/// Builds the JSON Schema of a body, registering the types it names in the generator.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// The body a route takes.
#[derive(Debug, Clone, Copy)]
pub enum RequestBody {
    /// None: everything is in the path and the query.
    Empty,
    /// `application/json` of this schema.
    Json(SchemaFn),
    /// `application/x-www-form-urlencoded` of this schema.
    Form(SchemaFn),
}

/// What a route answers on success.
#[derive(Debug, Clone, Copy)]
pub enum ResponseBody {
    /// `204 No Content`.
    Empty,
    /// `200` with `application/json` of this schema.
    Json(SchemaFn),
}

/// One route of the gateway, with the bodies `/openapi.json` describes.
#[derive(Debug, Clone, Copy)]
pub struct RouteInfo {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
    /// The body it takes; `None` for `GET` (never a body) and nowhere else.
    pub request: Option<RequestBody>,
    /// What it answers on success; `None` when that is not JSON (metrics) or not described.
    pub response: Option<ResponseBody>,
    /// The query parameters it reads, as the fields of one object.
    pub query: Option<SchemaFn>,
}

fn schema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

impl RouteInfo {
    /// The route, taking a JSON body of type `T`.
    pub const fn takes<T: JsonSchema>(mut self) -> Self {
        self.request = Some(RequestBody::Json(schema_of::<T>));
        self
    }

    /// The route, taking a form of type `T`.
    pub const fn takes_form<T: JsonSchema>(mut self) -> Self {
        self.request = Some(RequestBody::Form(schema_of::<T>));
        self
    }

    /// The route, taking no body.
    pub const fn takes_nothing(mut self) -> Self {
        self.request = Some(RequestBody::Empty);
        self
    }

    /// The route, answering JSON of type `T`.
    pub const fn returns<T: JsonSchema>(mut self) -> Self {
        self.response = Some(ResponseBody::Json(schema_of::<T>));
        self
    }

    /// The route, reading the query parameters of type `T`.
    pub const fn query<T: JsonSchema>(mut self) -> Self {
        self.query = Some(schema_of::<T>);
        self
    }

    /// The route, answering `204 No Content`.
    pub const fn returns_nothing(mut self) -> Self {
        self.response = Some(ResponseBody::Empty);
        self
    }
}

/// A route with no bodies described yet (see [`RouteInfo::takes`] and [`RouteInfo::returns`]).
pub const fn route(method: &'static str, path: &'static str, access: Access) -> RouteInfo {
    RouteInfo {
        method,
        path,
        access,
        request: None,
        response: None,
        query: None,
    }
}

/// The data-plane routes (the control API adds its own, see [`crate::control::ROUTES`]).
pub const ROUTES: &[RouteInfo] = &[
    route("GET", "/healthz", Access::Public),
    route("GET", "/metrics", Access::Metrics),
    route("GET", "/v1/models", Access::Invoke).returns::<ModelList>(),
    route("POST", "/v1/completions", Access::Invoke)
        .takes::<CompletionRequest>()
        .returns::<CompletionResponse>(),
    route("POST", "/v1/chat/completions", Access::Invoke)
        .takes::<ChatRequest>()
        .returns::<ChatResponse>(),
    route(
        "POST",
        "/serving-endpoints/{name}/invocations",
        Access::Invoke,
    )
    .takes::<InvocationRequest>()
    .returns::<InvocationResponse>(),
    route("POST", "/oauth/token", Access::ClientCredentials)
        .takes_form::<crate::oauth::TokenForm>(),
    route("GET", "/.well-known/jwks.json", Access::AnyToken),
    route("GET", "/openapi.json", Access::AnyToken),
];

/// Every route of the gateway.
pub fn all_routes() -> Vec<RouteInfo> {
    ROUTES
        .iter()
        .chain(crate::control::ROUTES)
        .copied()
        .collect()
}

/// The gateway's router over `gateway`.
pub fn router(gateway: Arc<Gateway>) -> Router {
    let timeout = gateway.config.request_timeout() + Duration::from_secs(5);
    let body_limit = gateway.config.max_body_bytes;
    let server_timing = gateway.config.server_timing;
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/v1/models", get(models))
        .route("/v1/completions", post(completions))
        .route("/v1/chat/completions", post(chat))
        .route("/serving-endpoints/{name}/invocations", post(invocations))
        .route("/oauth/token", post(crate::oauth::token))
        .route("/.well-known/jwks.json", get(crate::oauth::jwks))
        .route("/openapi.json", get(openapi))
        .merge(crate::control::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            bounded(request, next, timeout, server_timing)
        }))
        .with_state(gateway)
}

/// Bounds a request's time to its response headers, marks every response uncacheable and, when
/// configured, says how long the gateway took in `Server-Timing`.
async fn bounded(request: Request, next: Next, timeout: Duration, server_timing: bool) -> Response {
    let started = std::time::Instant::now();
    let mut response = match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(ErrorCode::Timeout, "the request took too long").into_response(),
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if server_timing {
        let ms = started.elapsed().as_secs_f64() * 1e3;
        if let Ok(value) = HeaderValue::from_str(&format!("gateway;dur={ms:.3}")) {
            headers.insert("server-timing", value);
        }
    }
    response
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such route; see /openapi.json")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "this route does not take that method; see /openapi.json",
    )
}

async fn openapi(_caller: Caller) -> Json<serde_json::Value> {
    Json(crate::openapi::document(&all_routes()))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn metrics(State(gateway): State<Arc<Gateway>>, caller: Caller) -> ApiResult<Response> {
    caller.require_scope(&[TokenScope::Metrics])?;
    let text = gateway.metrics.render().map_err(ApiError::internal)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

const DATA_PLANE: &[TokenScope] = &[TokenScope::Invoke, TokenScope::Control];

async fn models(State(gateway): State<Arc<Gateway>>, caller: Caller) -> ApiResult<Json<ModelList>> {
    caller.require_scope(DATA_PLANE)?;
    let endpoints = gateway.citadel.invocable_endpoints(&caller.0).await?;
    let data = endpoints
        .into_iter()
        .map(|e| ModelObject {
            id: e.name,
            object: "model",
            created: e.created_at.unix_timestamp(),
            owned_by: e.owner,
        })
        .collect();
    Ok(Json(ModelList {
        object: "list",
        data,
    }))
}

fn response_id(prefix: &str, caller: &Caller) -> String {
    format!("{prefix}-{}", caller.0.request_id)
}

/// What a call of `route` on `endpoint` with `input` asks for, sampled as `sampling` says and
/// bounded by `max_tokens` (each API names and defaults that one in its own way).
fn call_spec(
    endpoint: &str,
    route: InferenceRoute,
    input: Input,
    sampling: &Sampling,
    max_tokens: Option<u32>,
) -> CallSpec {
    CallSpec {
        endpoint: endpoint.to_owned(),
        route,
        input,
        max_tokens,
        temperature: sampling.temperature,
        top_p: sampling.top_p,
        seed: sampling.seed,
        stop: sampling
            .stop
            .clone()
            .map(OneOrMany::into_vec)
            .unwrap_or_default(),
    }
}

/// A call by `caller` taken through the chain up to generation.
async fn prepare(
    gateway: Arc<Gateway>,
    caller: &Caller,
    peer: Option<SocketAddr>,
    spec: CallSpec,
) -> ApiResult<Prepared> {
    let call = Call::new(gateway, Arc::clone(&caller.0), &spec, peer);
    invoke::prepare(call, spec).await
}

/// How `completions` and `chat` answer: a stream already under way, or the whole output for the
/// handler to put in its API's shape.
enum Answer {
    Streamed(Response),
    Whole { output: GenOutput, header: Header },
}

/// What `completions` and `chat` share once their request is mapped to `spec`: the call through
/// the chain, then chunks of `stream`'s shape when the caller asked for a stream, else the whole
/// output. Response ids start with `id_prefix`.
async fn answer(
    gateway: Arc<Gateway>,
    caller: &Caller,
    peer: Option<SocketAddr>,
    spec: CallSpec,
    id_prefix: &str,
    stream: Option<Shape>,
) -> ApiResult<Answer> {
    let model = spec.endpoint.clone();
    let prepared = prepare(gateway, caller, peer, spec).await?;
    let header = Header {
        id: response_id(id_prefix, caller),
        created: OffsetDateTime::now_utc().unix_timestamp(),
        model,
    };
    if let Some(shape) = stream {
        return Ok(Answer::Streamed(
            stream::respond(prepared, shape, header).into_response(),
        ));
    }
    let output = invoke::run(prepared).await?;
    Ok(Answer::Whole { output, header })
}

async fn completions(
    State(gateway): State<Arc<Gateway>>,
    Peer(peer): Peer,
    caller: Caller,
    JsonBody(request): JsonBody<CompletionRequest>,
) -> ApiResult<Response> {
    caller.require_scope(DATA_PLANE)?;
    let sampling = &request.sampling;
    unsupported(sampling.n, sampling.logprobs.as_ref())?;
    if request.echo == Some(true) || request.suffix.is_some() {
        return Err(ApiError::invalid("echo and suffix are not supported"));
    }
    let mut prompts = request.prompt.clone().into_vec();
    if prompts.len() != 1 {
        return Err(ApiError::invalid(
            "send one prompt per request (a list of prompts is not supported)",
        ));
    }
    let spec = call_spec(
        &request.model,
        InferenceRoute::Completions,
        Input::Prompt(prompts.swap_remove(0)),
        sampling,
        sampling.max_tokens.or(Some(16)),
    );
    let stream = sampling.stream.then_some(Shape::Completion);
    let (output, header) = match answer(gateway, &caller, peer, spec, "cmpl", stream).await? {
        Answer::Streamed(response) => return Ok(response),
        Answer::Whole { output, header } => (output, header),
    };
    Ok(Json(CompletionResponse {
        id: header.id,
        object: "text_completion",
        created: header.created,
        model: header.model,
        choices: vec![CompletionChoice {
            text: output.text,
            index: 0,
            logprobs: None,
            finish_reason: Some(output.finish.as_str()),
        }],
        usage: Some(Usage::new(output.prompt_tokens, output.completion_tokens)),
        system_fingerprint: None,
    })
    .into_response())
}

fn unsupported(n: Option<u32>, logprobs: Option<&serde_json::Value>) -> ApiResult<()> {
    if n.is_some_and(|n| n != 1) {
        return Err(ApiError::invalid("only n = 1 is supported"));
    }
    let wants_logprobs = logprobs.is_some_and(|v| !(v.is_null() || *v == json!(false)));
    if wants_logprobs {
        return Err(ApiError::invalid("logprobs are not supported"));
    }
    Ok(())
}

async fn chat(
    State(gateway): State<Arc<Gateway>>,
    Peer(peer): Peer,
    caller: Caller,
    JsonBody(request): JsonBody<ChatRequest>,
) -> ApiResult<Response> {
    caller.require_scope(DATA_PLANE)?;
    let sampling = &request.sampling;
    unsupported(sampling.n, sampling.logprobs.as_ref())?;
    let spec = call_spec(
        &request.model,
        InferenceRoute::Chat,
        Input::Chat(request.messages()?),
        sampling,
        request.max_completion_tokens.or(sampling.max_tokens),
    );
    let stream = sampling.stream.then(|| Shape::Chat {
        include_usage: request
            .stream_options
            .as_ref()
            .is_some_and(|o| o.include_usage),
    });
    let (output, header) = match answer(gateway, &caller, peer, spec, "chatcmpl", stream).await? {
        Answer::Streamed(response) => return Ok(response),
        Answer::Whole { output, header } => (output, header),
    };
    Ok(Json(ChatResponse {
        id: header.id,
        object: "chat.completion",
        created: header.created,
        model: header.model,
        choices: vec![ChatChoice {
            index: 0,
            message: ResponseMessage {
                role: "assistant",
                content: output.text,
                refusal: None,
            },
            logprobs: None,
            finish_reason: output.finish.as_str(),
        }],
        usage: Usage::new(output.prompt_tokens, output.completion_tokens),
        system_fingerprint: None,
    })
    .into_response())
}

/// Most inputs in one invocation.
const MAX_INPUTS: usize = 16;

/// An invocation's parameters as the OpenAI APIs' sampling fields, greedy unless the caller
/// asks for a temperature.
fn invocation_sampling(parameters: InvocationParameters) -> Sampling {
    Sampling {
        max_tokens: parameters.max_new_tokens,
        temperature: parameters.temperature.or(Some(0.0)),
        top_p: parameters.top_p,
        seed: parameters.seed,
        stop: parameters.stop,
        ..Sampling::default()
    }
}

async fn invocations(
    State(gateway): State<Arc<Gateway>>,
    Path(name): Path<String>,
    Peer(peer): Peer,
    caller: Caller,
    JsonBody(request): JsonBody<InvocationRequest>,
) -> ApiResult<(StatusCode, Json<InvocationResponse>)> {
    caller.require_scope(DATA_PLANE)?;
    let inputs = request.inputs.into_vec();
    if inputs.is_empty() || inputs.len() > MAX_INPUTS {
        return Err(ApiError::invalid(format!(
            "inputs takes 1 to {MAX_INPUTS} texts"
        )));
    }
    let sampling = invocation_sampling(request.parameters);
    let mut predictions = Vec::with_capacity(inputs.len());
    let mut model_version = 0;
    for input in inputs {
        let spec = call_spec(
            &name,
            InferenceRoute::Invocations,
            Input::Prompt(input),
            &sampling,
            sampling.max_tokens,
        );
        let prepared = prepare(Arc::clone(&gateway), &caller, peer, spec).await?;
        model_version = prepared.version;
        let output = invoke::run(prepared).await?;
        predictions.push(Prediction {
            finish_reason: output.finish.as_str(),
            prompt_tokens: output.prompt_tokens,
            completion_tokens: output.completion_tokens,
            generated_text: output.text,
        });
    }
    Ok((
        StatusCode::OK,
        Json(InvocationResponse {
            predictions,
            model_version,
        }),
    ))
}
