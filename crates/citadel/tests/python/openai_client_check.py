"""Checks a running Citadel gateway with the official OpenAI Python client.

Run by the `openai_client` integration test against `citadel serve`:

    CITADEL_GATEWAY_TOKEN=cit_pat_... python openai_client_check.py \
        --base-url https://127.0.0.1:8443/v1 --ca HOME/tls/ca.crt --model prod.endpoints.assistant

The token comes from the environment so it never shows on a command line. Every response is
read the way an application would (the client's typed objects) and also validated strictly
against the client's own pydantic models, so a field of the wrong type or a missing one fails.
Exits 0 when everything matches; otherwise prints what did not and exits 1.
"""

import argparse
import os
import ssl
import sys

import httpx
import openai
from openai.types import Completion, Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk

# Any well-formed personal access token that the gateway never issued.
UNKNOWN_TOKEN = "cit_pat_" + "x" * 43


class Mismatch(Exception):
    """The gateway answered something an OpenAI client does not expect."""


def check(condition, message):
    if not condition:
        raise Mismatch(message)


def strictly(model_type, obj):
    """Validates a parsed object again with pydantic's checks (the client itself is lenient)."""
    return model_type.model_validate(obj.to_dict())


def check_models(client, model):
    models = list(client.models.list())
    for entry in models:
        strictly(Model, entry)
    ids = [entry.id for entry in models]
    check(model in ids, f"models.list() does not list {model}: {ids}")
    print(f"models.list(): {ids}")


def check_usage(usage, max_tokens, what):
    check(usage is not None, f"{what}: no usage")
    check(usage.completion_tokens <= max_tokens, f"{what}: {usage.completion_tokens} tokens > {max_tokens}")
    check(usage.prompt_tokens > 0, f"{what}: usage counts no prompt tokens")
    check(
        usage.total_tokens == usage.prompt_tokens + usage.completion_tokens,
        f"{what}: total_tokens is not prompt + completion: {usage}",
    )


def check_chat(client, model, messages):
    reply = client.chat.completions.create(model=model, messages=messages, max_tokens=6, temperature=0)
    check(isinstance(reply, ChatCompletion), f"chat: not a ChatCompletion: {type(reply)}")
    strictly(ChatCompletion, reply)
    check(reply.id.startswith("chatcmpl-"), f"chat: unexpected id {reply.id!r}")
    check(reply.object == "chat.completion", f"chat: object is {reply.object!r}")
    check(reply.model == model, f"chat: model is {reply.model!r}")
    check(len(reply.choices) == 1, f"chat: {len(reply.choices)} choices")
    choice = reply.choices[0]
    check(choice.message.role == "assistant", f"chat: role is {choice.message.role!r}")
    check(isinstance(choice.message.content, str), f"chat: content is {choice.message.content!r}")
    check(choice.finish_reason in ("stop", "length"), f"chat: finish_reason {choice.finish_reason!r}")
    check_usage(reply.usage, 6, "chat")
    print(f"chat: {choice.message.content!r} ({choice.finish_reason}, {reply.usage.total_tokens} tokens)")
    return choice.message.content


def check_chat_stream(client, model, messages, whole_text):
    stream = client.chat.completions.create(
        model=model,
        messages=messages,
        max_tokens=6,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    check(len(chunks) >= 3, f"stream: only {len(chunks)} chunks")
    for chunk in chunks:
        check(isinstance(chunk, ChatCompletionChunk), f"stream: not a ChatCompletionChunk: {chunk!r}")
        strictly(ChatCompletionChunk, chunk)
        check(chunk.object == "chat.completion.chunk", f"stream: object is {chunk.object!r}")
        check(chunk.id == chunks[0].id, f"stream: ids differ: {chunk.id!r} vs {chunks[0].id!r}")
        check(chunk.model == model, f"stream: model is {chunk.model!r}")
    *choice_chunks, usage_chunk = chunks
    check(
        choice_chunks[0].choices[0].delta.role == "assistant",
        f"stream: the first delta has no assistant role: {choice_chunks[0]!r}",
    )
    finishes = [c.choices[0].finish_reason for c in choice_chunks if c.choices[0].finish_reason]
    check(len(finishes) == 1, f"stream: {len(finishes)} finish reasons: {finishes}")
    check(
        choice_chunks[-1].choices[0].finish_reason in ("stop", "length"),
        f"stream: the last choice chunk does not finish: {choice_chunks[-1]!r}",
    )
    check(all(c.usage is None for c in choice_chunks), "stream: usage before the final chunk")
    check(usage_chunk.choices == [], f"stream: the usage chunk has choices: {usage_chunk!r}")
    check_usage(usage_chunk.usage, 6, "stream")
    text = "".join(c.choices[0].delta.content or "" for c in choice_chunks)
    check(text == whole_text, f"stream: the deltas say {text!r}, the same request unstreamed {whole_text!r}")
    print(f"stream: {len(chunks)} chunks, {text!r}, {usage_chunk.usage.total_tokens} tokens")


def check_completion(client, model):
    reply = client.completions.create(
        model=model, prompt="Ticket: my card was charged twice.", max_tokens=4, temperature=0
    )
    check(isinstance(reply, Completion), f"completion: not a Completion: {type(reply)}")
    strictly(Completion, reply)
    check(reply.id.startswith("cmpl-"), f"completion: unexpected id {reply.id!r}")
    check(reply.object == "text_completion", f"completion: object is {reply.object!r}")
    check(reply.model == model, f"completion: model is {reply.model!r}")
    choice = reply.choices[0]
    check(isinstance(choice.text, str), f"completion: text is {choice.text!r}")
    check(choice.finish_reason in ("stop", "length"), f"completion: finish_reason {choice.finish_reason!r}")
    check_usage(reply.usage, 4, "completion")
    print(f"completion: {choice.text!r} ({choice.finish_reason})")


def error_message(err):
    """The gateway's `error.message`, which the client keeps as the error's body."""
    return err.body.get("message") if isinstance(err.body, dict) else None


def check_errors(args, http_client, client):
    stranger = openai.OpenAI(base_url=args.base_url, api_key=UNKNOWN_TOKEN, http_client=http_client, max_retries=0)
    messages = [{"role": "user", "content": "hello"}]
    try:
        stranger.chat.completions.create(model=args.model, messages=messages, max_tokens=2)
        raise Mismatch("a token the gateway never issued was accepted")
    except openai.AuthenticationError as err:
        check(err.status_code == 401, f"wrong key: status {err.status_code}")
        check(err.code == "unauthenticated", f"wrong key: code {err.code!r}")
        check(err.type == "authentication_error", f"wrong key: type {err.type!r}")
        message = error_message(err)
        check(isinstance(message, str) and message, f"wrong key: no message in {err.body!r}")
        check(message in str(err), f"wrong key: the client hides the gateway's message: {err}")
        print(f"wrong key: AuthenticationError: {message}")
    # Citadel does not tell a caller whether an endpoint it may not invoke exists: an unknown
    # model is refused exactly like a forbidden one, which the client maps to PermissionDeniedError.
    try:
        client.chat.completions.create(model="prod.endpoints.nonexistent", messages=messages, max_tokens=2)
        raise Mismatch("an unknown model was accepted")
    except openai.PermissionDeniedError as err:
        check(err.status_code == 403, f"unknown model: status {err.status_code}")
        check(err.code == "permission_denied", f"unknown model: code {err.code!r}")
        check(err.type == "permission_error", f"unknown model: type {err.type!r}")
        check(bool(error_message(err)), f"unknown model: no message in {err.body!r}")
        print(f"unknown model: PermissionDeniedError: {error_message(err)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True, help="the gateway's /v1, e.g. https://127.0.0.1:8443/v1")
    parser.add_argument("--ca", required=True, help="the PEM CA certificate the gateway's certificate chains to")
    parser.add_argument("--model", required=True, help="an endpoint the token may invoke")
    args = parser.parse_args()
    token = os.environ.get("CITADEL_GATEWAY_TOKEN")
    if not token:
        sys.exit("set CITADEL_GATEWAY_TOKEN to an invoke token for --model")

    print(f"openai {openai.__version__}, httpx {httpx.__version__}")
    http_client = httpx.Client(verify=ssl.create_default_context(cafile=args.ca), timeout=120)
    client = openai.OpenAI(base_url=args.base_url, api_key=token, http_client=http_client, max_retries=0)
    messages = [{"role": "user", "content": "Where is my refund?"}]
    try:
        check_models(client, args.model)
        whole_text = check_chat(client, args.model, messages)
        check_chat_stream(client, args.model, messages, whole_text)
        check_completion(client, args.model)
        check_errors(args, http_client, client)
    except Mismatch as err:
        sys.exit(f"MISMATCH: {err}")
    except (openai.OpenAIError, ValueError) as err:
        # pydantic's ValidationError is a ValueError: a response that does not fit the client's types.
        sys.exit(f"MISMATCH: {type(err).__name__}: {err}")
    print("the OpenAI Python client agrees with the gateway")


if __name__ == "__main__":
    main()
