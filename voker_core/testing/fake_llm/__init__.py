"""A local fake LLM provider server speaking the OpenAI, Anthropic and Gemini HTTP APIs.

The real provider SDK clients (``openai``, ``anthropic``, ``google-genai``) talk to it over HTTP on
loopback, JSON and streaming, so tests, benchmarks and the offline demo exercise the same code
paths as production without network or API keys. Standard library only.

Start it and point the clients at it::

    from voker_core.testing.fake_llm import FakeLLMServer, Reply, ToolCall, Usage

    with FakeLLMServer() as server:  # port 0: a free port
        openai_client = openai.OpenAI(api_key="x", base_url=server.openai_base_url)
        anthropic_client = anthropic.Anthropic(api_key="x", base_url=server.anthropic_base_url)
        gemini_client = genai.Client(
            api_key="x", http_options=genai.types.HttpOptions(base_url=server.gemini_base_url)
        )
        # Vertex shape: genai.Client(vertexai=True, project="p", location="us-central1",
        #     credentials=<any google.auth credentials with a token>,
        #     http_options=HttpOptions(base_url=server.gemini_base_url))
        # Azure: openai.AzureOpenAI(azure_endpoint=server.azure_endpoint, api_version=..., ...)

Endpoints (POST; the suffix decides, so Azure and proxy prefixes work too):

- ``/v1/chat/completions`` — OpenAI Chat Completions (``stream``, ``stream_options``,
  ``response_format`` json_schema/json_object, ``tools``, ``modalities=["text", "audio"]``
  answered as ``message.audio`` / ``delta.audio``); also ``.parse()`` and ``.stream()``. On
  Azure's deployment path, an ``api-version`` dated before 2024-09-01 refuses
  ``stream_options`` with a 400, as Azure does.
- ``/v1/responses`` — OpenAI Responses (``stream``, ``text.format``); also ``.parse()``/``.stream()``.
- ``/v1/messages`` — Anthropic Messages, plain and ``beta`` (same endpoint; any query string and
  ``anthropic-beta`` header are recorded), ``output_config``; ``.stream()`` and ``.parse()``.
- ``/{v1,v1beta,v1alpha,v1beta1}/[projects/{p}/locations/{l}/publishers/google/]models/{m}:``
  ``generateContent`` / ``streamGenerateContent?alt=sse`` — Gemini API and Vertex AI.
- ``GET /`` and ``GET /healthz`` — ``{"status": "ok"}``. Anything else: 404.

Replies. With nothing scripted the reply echoes the last user message (``"Echo: <text>"``); if the
request asks for a JSON schema (OpenAI ``response_format``/``text.format``, Anthropic
``output_config.format``, Gemini ``responseJsonSchema``/``responseSchema``) a value valid for that
schema is synthesised instead (strings carry the echo), so ``parse()`` works out of the box.
Token usage is deterministic: input = words in the request's messages (system/instructions
included), output = words in the reply (+ tool-call names and arguments, + reasoning tokens).
Script answers with a provider-neutral `Reply`::

    server.queue_reply(text="Hello there")                        # next request
    server.queue_reply(Reply(tool_calls=[ToolCall("get_weather", {"city": "Paris"})]))
    server.queue_reply(structured={"name": "Ada", "age": 36})     # for .parse(...)
    server.queue_reply(error_status=429, retry_after=2)           # provider-shaped error
    server.queue_reply(delay=2.0)                                 # > client timeout
    server.queue_reply(text="slow", chunk_delay=0.05)             # between streamed events
    server.queue_reply(disconnect_after=2)                        # drop mid-stream
    server.queue_reply(usage=Usage(cached_tokens=4, reasoning_tokens=3), model="gpt-x-2025")
    server.queue_reply(text="same", times=5)                      # next five requests
    server.set_default(text="Canned reply")                       # when the queue is empty
    server.set_default(lambda request: Reply(text=request.path))  # computed per request

`Usage` values use Voker's normalised convention (``input_tokens`` includes cached tokens,
``output_tokens`` includes reasoning tokens) and are converted to each provider's wire convention
(Anthropic's ``input_tokens`` excludes cache reads/writes; Gemini's ``candidatesTokenCount``
excludes ``thoughtsTokenCount``; Gemini has no cache-write count).

Inspection: ``server.requests`` lists every `RecordedRequest` (method, path, query, lower-cased
headers, parsed JSON ``body``, ``api``, ``model``, ``stream``, answered ``status``) and its
``reply`` — the `ResolvedReply` actually sent (text, tool calls with ids, normalised token
counts) — so a test can assert what a wrapper recorded against what the provider reported, or
that the server saw no request at all. After a call the client gave up on (a timeout), the
server's handler may read the request later: ``server.wait_for_requests(n)`` waits for it.
``server.reset()`` clears script and log.

Errors use each provider's body shape: OpenAI ``{"error": {message, type, param, code}}``,
Anthropic ``{"type": "error", "error": {type, message}}``, Google
``{"error": {code, message, status}}``, so the SDKs raise their own exception classes.

pytest: our plugin (``voker_core.testing.plugin``, loaded automatically once the package is
installed) provides the ``fake_llm`` fixture, a started `FakeLLMServer` per test. Command line (offline demo): ``python -m
voker_core.testing.fake_llm [--host H] [--port P] [--reply TEXT]`` prints the environment
variables to export and serves until interrupted.
"""

from ._server import FakeLLMServer, ReplySource
from ._types import FinishReason, RecordedRequest, Reply, ResolvedReply, ToolCall, Usage

__all__ = [
    "FakeLLMServer",
    "FinishReason",
    "RecordedRequest",
    "Reply",
    "ReplySource",
    "ResolvedReply",
    "ToolCall",
    "Usage",
]
