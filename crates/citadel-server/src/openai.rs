//! The OpenAI API's request and response shapes (`/v1/models`, `/v1/completions`,
//! `/v1/chat/completions` and their streaming chunks), as the official clients send and parse
//! them. Unknown request fields are ignored, as OpenAI does; fields that would change the answer
//! in ways Citadel does not support (`n > 1`, log probabilities, tools) are refused.

use citadel_engine::ChatMessage;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;

/// A string or a list of strings (`prompt`, `stop`).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s],
            Self::Many(v) => v,
        }
    }
}

/// Sampling fields both APIs share.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
pub struct Sampling {
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub seed: Option<u64>,
    pub stop: Option<OneOrMany>,
    pub n: Option<u32>,
    #[serde(default)]
    pub stream: bool,
    pub logprobs: Option<Value>,
    pub user: Option<String>,
}

/// `POST /v1/completions`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
pub struct CompletionRequest {
    pub model: String,
    pub prompt: OneOrMany,
    #[serde(flatten)]
    pub sampling: Sampling,
    pub echo: Option<bool>,
    pub suffix: Option<String>,
}

/// Content of a chat message: text, or text parts.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
pub struct ContentPart {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
pub struct RequestMessage {
    pub role: String,
    pub content: Option<Content>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

/// `POST /v1/chat/completions`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<RequestMessage>,
    #[serde(flatten)]
    pub sampling: Sampling,
    pub max_completion_tokens: Option<u32>,
    pub stream_options: Option<StreamOptions>,
    pub tools: Option<Value>,
    pub response_format: Option<Value>,
}

const ROLES: [&str; 4] = ["system", "developer", "user", "assistant"];

impl ChatRequest {
    /// The conversation as the engine takes it; only text content is supported.
    pub fn messages(&self) -> Result<Vec<ChatMessage>, ApiError> {
        if self.messages.is_empty() {
            return Err(ApiError::invalid("messages must not be empty"));
        }
        if self.tools.is_some() {
            return Err(ApiError::invalid("tools are not supported by this gateway"));
        }
        if let Some(format) = &self.response_format {
            if format.get("type").and_then(Value::as_str) != Some("text") {
                return Err(ApiError::invalid(
                    "only response_format {\"type\": \"text\"} is supported",
                ));
            }
        }
        self.messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                if !ROLES.contains(&m.role.as_str()) {
                    return Err(ApiError::invalid(format!(
                        "messages[{i}].role must be one of {}",
                        ROLES.join(", ")
                    )));
                }
                let content = match &m.content {
                    None => String::new(),
                    Some(Content::Text(text)) => text.clone(),
                    Some(Content::Parts(parts)) => {
                        let mut text = String::new();
                        for part in parts {
                            match (part.kind.as_str(), &part.text) {
                                ("text", Some(piece)) => text.push_str(piece),
                                _ => {
                                    return Err(ApiError::invalid(format!(
                                        "messages[{i}]: only text content parts are supported"
                                    )))
                                }
                            }
                        }
                        text
                    }
                };
                // The engine's template knows system/user/assistant; developer is OpenAI's
                // newer name for system.
                let role = if m.role == "developer" {
                    "system"
                } else {
                    &m.role
                };
                Ok(ChatMessage::new(role, &content))
            })
            .collect()
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Usage {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    pub total_tokens: usize,
}

impl Usage {
    pub fn new(prompt_tokens: usize, completion_tokens: usize) -> Self {
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
        }
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CompletionChoice {
    pub text: String,
    pub index: u32,
    pub logprobs: Option<Value>,
    pub finish_reason: Option<&'static str>,
}

/// A completion, or one streamed chunk of one (`object: "text_completion"` both ways).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CompletionResponse {
    pub id: String,
    pub object: &'static str,
    pub created: i64,
    pub model: String,
    pub choices: Vec<CompletionChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    pub system_fingerprint: Option<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ResponseMessage {
    pub role: &'static str,
    pub content: String,
    pub refusal: Option<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ChatChoice {
    pub index: u32,
    pub message: ResponseMessage,
    pub logprobs: Option<Value>,
    pub finish_reason: &'static str,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ChatResponse {
    pub id: String,
    pub object: &'static str,
    pub created: i64,
    pub model: String,
    pub choices: Vec<ChatChoice>,
    pub usage: Usage,
    pub system_fingerprint: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Delta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ChunkChoice {
    pub index: u32,
    pub delta: Delta,
    pub logprobs: Option<Value>,
    pub finish_reason: Option<&'static str>,
}

/// One streamed chunk of a chat completion.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ChatChunk {
    pub id: String,
    pub object: &'static str,
    pub created: i64,
    pub model: String,
    pub choices: Vec<ChunkChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    pub system_fingerprint: Option<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ModelObject {
    pub id: String,
    pub object: &'static str,
    pub created: i64,
    pub owned_by: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ModelList {
    pub object: &'static str,
    pub data: Vec<ModelObject>,
}

/// `POST /serving-endpoints/{name}/invocations`: `{"inputs": …, "parameters": {…}}`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InvocationRequest {
    pub inputs: OneOrMany,
    #[serde(default)]
    pub parameters: InvocationParameters,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InvocationParameters {
    pub max_new_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub seed: Option<u64>,
    pub stop: Option<OneOrMany>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Prediction {
    pub generated_text: String,
    pub finish_reason: &'static str,
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct InvocationResponse {
    pub predictions: Vec<Prediction>,
    pub model_version: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_official_client_sends() {
        // As openai-python 1.x serializes client.chat.completions.create(...).
        let body = r#"{"messages":[{"role":"system","content":"Be brief."},
            {"role":"user","content":[{"type":"text","text":"Hi"}]}],
            "model":"prod.support.assistant","max_completion_tokens":16,"stream":true,
            "stream_options":{"include_usage":true},"temperature":0,"frequency_penalty":0}"#;
        let request: ChatRequest = serde_json::from_str(body).unwrap();
        assert!(request.sampling.stream);
        assert_eq!(request.max_completion_tokens, Some(16));
        let messages = request.messages().unwrap();
        assert_eq!(messages[1], ChatMessage::new("user", "Hi"));

        let body = r#"{"model":"m","prompt":["a","b"],"stop":"\n","max_tokens":5}"#;
        let request: CompletionRequest = serde_json::from_str(body).unwrap();
        assert_eq!(request.prompt.into_vec().len(), 2);
        assert_eq!(request.sampling.stop.unwrap().into_vec(), vec!["\n"]);
    }

    #[test]
    fn refuses_unsupported_content_and_roles() {
        let image = r#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}"#;
        let request: ChatRequest = serde_json::from_str(image).unwrap();
        assert!(request.messages().is_err());
        let role = r#"{"model":"m","messages":[{"role":"root","content":"x"}]}"#;
        let request: ChatRequest = serde_json::from_str(role).unwrap();
        assert!(request.messages().unwrap_err().message.contains("role"));
        let empty = r#"{"model":"m","messages":[]}"#;
        let request: ChatRequest = serde_json::from_str(empty).unwrap();
        assert!(request.messages().is_err());
    }
}
