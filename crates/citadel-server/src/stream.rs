//! Server-sent events for streamed completions, in OpenAI's chunk format. Generated text is
//! released a sentence or a line at a time, each piece checked by the completion's guardrails
//! first, so PII is masked (or the stream stopped with `finish_reason: "content_filter"`) before
//! any of it leaves the gateway. An entity split across two sentences can slip through; the
//! non-streaming API checks the whole completion at once.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::backend::{Finish, GenOutput};
use crate::generation::Generation;
use crate::invoke::{charge_output, Prepared};
use crate::openai::{ChatChunk, ChunkChoice, CompletionChoice, CompletionResponse, Delta, Usage};

/// Which API's chunks to send.
#[derive(Debug, Clone)]
pub enum Shape {
    Chat { include_usage: bool },
    Completion,
}

/// Chunk identity shared by every chunk of one answer.
#[derive(Debug, Clone)]
pub struct Header {
    pub id: String,
    pub created: i64,
    pub model: String,
}

/// Streams a prepared call as server-sent events.
pub fn respond(
    prepared: Prepared,
    shape: Shape,
    header: Header,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let (events, receiver) = mpsc::channel::<Event>(16);
    tokio::spawn(drive(prepared, shape, header, events));
    let stream = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|event| (Ok(event), receiver))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

fn event(value: &impl Serialize) -> Event {
    Event::default().data(serde_json::to_string(value).unwrap_or_else(|_| "{}".into()))
}

struct Writer {
    shape: Shape,
    header: Header,
    events: mpsc::Sender<Event>,
    first_at: Option<Instant>,
}

impl Writer {
    async fn send(&self, event: Event) -> bool {
        self.events.send(event).await.is_ok()
    }

    async fn role(&self) -> bool {
        match self.shape {
            Shape::Chat { .. } => {
                let delta = Delta {
                    role: Some("assistant"),
                    content: Some(String::new()),
                };
                self.send(event(&self.chat(delta, None, None))).await
            }
            Shape::Completion => true,
        }
    }

    async fn text(&mut self, text: &str) -> bool {
        if text.is_empty() {
            return true;
        }
        self.first_at.get_or_insert_with(Instant::now);
        let chunk = match self.shape {
            Shape::Chat { .. } => event(&self.chat(
                Delta {
                    role: None,
                    content: Some(text.to_owned()),
                },
                None,
                None,
            )),
            Shape::Completion => event(&self.completion(text, None, None)),
        };
        self.send(chunk).await
    }

    async fn end(&self, finish: &'static str, usage: Usage) {
        match self.shape {
            Shape::Chat { include_usage } => {
                let last = self.chat(Delta::default(), Some(finish), None);
                if !self.send(event(&last)).await {
                    return;
                }
                if include_usage {
                    let mut chunk = self.chat(Delta::default(), None, Some(usage));
                    chunk.choices.clear();
                    if !self.send(event(&chunk)).await {
                        return;
                    }
                }
            }
            Shape::Completion => {
                let last = self.completion("", Some(finish), Some(usage));
                if !self.send(event(&last)).await {
                    return;
                }
            }
        }
        self.send(Event::default().data("[DONE]")).await;
    }

    fn chat(&self, delta: Delta, finish: Option<&'static str>, usage: Option<Usage>) -> ChatChunk {
        ChatChunk {
            id: self.header.id.clone(),
            object: "chat.completion.chunk",
            created: self.header.created,
            model: self.header.model.clone(),
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                logprobs: None,
                finish_reason: finish,
            }],
            usage,
            system_fingerprint: None,
        }
    }

    fn completion(
        &self,
        text: &str,
        finish: Option<&'static str>,
        usage: Option<Usage>,
    ) -> CompletionResponse {
        CompletionResponse {
            id: self.header.id.clone(),
            object: "text_completion",
            created: self.header.created,
            model: self.header.model.clone(),
            choices: vec![CompletionChoice {
                text: text.to_owned(),
                index: 0,
                logprobs: None,
                finish_reason: finish,
            }],
            usage,
            system_fingerprint: None,
        }
    }
}

/// Where `pending` may be cut so that the released part ends a line or a sentence.
fn release_point(pending: &str) -> Option<usize> {
    pending
        .char_indices()
        .rev()
        .find(|(_, c)| matches!(c, '\n' | '.' | '!' | '?'))
        .map(|(i, c)| i + c.len_utf8())
}

async fn drive(prepared: Prepared, shape: Shape, header: Header, events: mpsc::Sender<Event>) {
    let Prepared {
        mut call,
        lease,
        request,
        guard,
        ..
    } = prepared;
    let gateway = Arc::clone(call.gateway());
    let started = Instant::now();
    let deadline = started + gateway.config.request_timeout();
    let (pieces, mut incoming) = mpsc::channel::<String>(64);
    // Every early return below drops `generation`, which stops it within one token and frees
    // the model's slot; the call is then recorded as cancelled.
    let mut generation = Generation::start(lease, request, move |piece| {
        pieces.blocking_send(piece.to_owned()).is_ok()
    });
    let mut writer = Writer {
        shape,
        header,
        events,
        first_at: None,
    };
    if !writer.role().await {
        return;
    }
    let mut pending = String::new();
    let mut sent = String::new();
    let mut filtered = false;
    loop {
        let next = tokio::select! {
            // The client went away, even between two releases of text.
            () = writer.events.closed() => return,
            next = tokio::time::timeout_at(deadline.into(), incoming.recv()) => next,
        };
        let piece = match next {
            Ok(Some(piece)) => Some(piece),
            Ok(None) => None,
            Err(_) => {
                // Out of time: stop generating (`incoming` too, in case the model waits to hand
                // over a piece) and end the answer here, as a length stop.
                drop(generation);
                drop(incoming);
                writer
                    .end(
                        Finish::Length.as_str(),
                        Usage::new(call.tokens_in() as usize, 0),
                    )
                    .await;
                call.complete(&sent, 0, writer.first_at.map(|t| t - started));
                return;
            }
        };
        let done = piece.is_none();
        if let Some(piece) = piece {
            pending.push_str(&piece);
        }
        let cut = if done {
            Some(pending.len())
        } else {
            release_point(&pending)
        };
        let Some(cut) = cut else { continue };
        let ready: String = pending.drain(..cut).collect();
        let verdict = guard.check_output(&ready);
        call.note_decisions(&verdict.decisions);
        if let Some(blocked) = verdict.blocked {
            call.block(blocked.rule.as_str());
            filtered = true;
            break;
        }
        if !writer.text(&verdict.text).await {
            return;
        }
        sent.push_str(&verdict.text);
        if done {
            break;
        }
    }
    // A stopped stream (a guardrail blocked it) stops the model at its next piece.
    drop(incoming);
    let output = generation.output().await.ok();
    let (finish, usage) = match &output {
        _ if filtered => ("content_filter", usage_of(&call, output.as_ref())),
        Some(out) => (out.finish.as_str(), usage_of(&call, Some(out))),
        None => ("stop", usage_of(&call, None)),
    };
    let tokens_out = output.as_ref().map_or(0, |o| o.completion_tokens as u64);
    charge_output(&gateway, &call, tokens_out).await;
    writer.end(finish, usage).await;
    let ttft = writer.first_at.map(|t| t - started);
    if filtered {
        call.blocked_midstream(&sent, tokens_out, ttft);
    } else {
        call.complete(&sent, tokens_out, ttft);
    }
}

fn usage_of(call: &crate::invoke::Call, output: Option<&GenOutput>) -> Usage {
    Usage::new(
        call.tokens_in() as usize,
        output.map_or(0, |o| o.completion_tokens),
    )
}

#[cfg(test)]
mod tests {
    use super::release_point;

    #[test]
    fn releases_whole_sentences_and_lines() {
        assert_eq!(release_point("Hello there"), None);
        assert_eq!(release_point("Hello. Wor"), Some(6));
        assert_eq!(release_point("a\nb"), Some(2));
        assert_eq!(release_point("¿Qué? Sí"), Some(7));
    }
}
