"""OpenAI objects -> the parts of an ``llm`` event: usage, model, finish reason, output.

Pure translation, no recording logic: the calls in :mod:`._calls` and the stream recorders here
hand the results to :class:`voker_core.ai._recorder.LLMCall`.

Streams keep only references to the chunks/events on the caller's thread; the final response is
assembled from them later, when the delivery worker serialises the event (the ``to_dict`` of
:class:`ChatStreamOutput` / :class:`ResponsesStreamOutput`), so streaming adds almost nothing to
the caller's per-chunk time.

A raw response whose body the caller reads itself (``with_streaming_response``, a
``with_raw_response`` stream) is recorded from the bytes it read (:class:`ChatBodyRecorder`,
:class:`ResponsesBodyRecorder`): they are decoded on the delivery worker as the SDK decodes them
(a response's JSON, or a stream's server-sent events with the SDK's own ``SSEDecoder``), and
read by the same translation as the SDK's objects.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

from voker_core.ai._recorder import LLMCall, Outcome, Usage
from voker_core.ai._streams import BodyRecorder, StreamRecorder

__all__ = [
    "ChatBodyRecorder",
    "ChatStreamOutput",
    "ChatStreamRecorder",
    "ResponsesBodyRecorder",
    "ResponsesStreamOutput",
    "ResponsesStreamRecorder",
    "body_outcome",
    "chat_outcome",
    "chat_stream_outcome",
    "chat_usage",
    "responses_outcome",
    "responses_stream_outcome",
    "responses_usage",
]

logger = logging.getLogger("voker")

# Chat's legacy "function_call" stop means the same as "tool_calls".
_CHAT_FINISH = {"function_call": "tool_calls"}
_RESPONSES_INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}
_RESPONSES_FINAL_EVENTS = frozenset(
    {"response.completed", "response.incomplete", "response.failed"}
)
_RESPONSES_SNAPSHOT_EVENTS = frozenset(
    {"response.created", "response.in_progress", "response.queued"}
)
# Output items the caller's code must act on (run a tool, return its output): the turn ended
# for a tool, as Chat's "tool_calls". The hosted tools' items (web_search_call, mcp_call...) ran
# on OpenAI's side and do not end the turn.
_RESPONSES_CLIENT_TOOL_CALLS = frozenset(
    {
        "function_call",
        "custom_tool_call",
        "computer_call",
        "local_shell_call",
        "shell_call",
        "apply_patch_call",
    }
)
# A chunk's response-level fields, which Azure's prompt-filter first chunk leaves empty.
_CHUNK_HEADER = ("id", "created", "model", "service_tier", "system_fingerprint")


def _dump(obj: Any) -> Any:
    dump = getattr(obj, "model_dump", None)
    return dump(mode="json") if callable(dump) else obj


# -- usage ----------------------------------------------------------------------------------------


def chat_usage(usage: Any) -> Usage | None:
    """``CompletionUsage`` (or its JSON) -> :class:`Usage` (``prompt_tokens`` already include
    cached ones, so the counts are taken as they are)."""
    if usage is None:
        return None
    prompt = _field(usage, "prompt_tokens_details")
    completion = _field(usage, "completion_tokens_details")
    return Usage.from_counts(
        input_tokens=_field(usage, "prompt_tokens"),
        output_tokens=_field(usage, "completion_tokens"),
        total_tokens=_field(usage, "total_tokens"),
        cache_read_input_tokens=_field(prompt, "cached_tokens"),
        cache_creation_input_tokens=_field(prompt, "cache_write_tokens"),
        reasoning_tokens=_field(completion, "reasoning_tokens"),
    )


def responses_usage(usage: Any) -> Usage | None:
    """``ResponseUsage`` -> :class:`Usage` (``input_tokens`` already include cached ones)."""
    if usage is None:
        return None
    details_in = _field(usage, "input_tokens_details")
    details_out = _field(usage, "output_tokens_details")
    return Usage.from_counts(
        input_tokens=_field(usage, "input_tokens"),
        output_tokens=_field(usage, "output_tokens"),
        total_tokens=_field(usage, "total_tokens"),
        cache_read_input_tokens=_field(details_in, "cached_tokens"),
        cache_creation_input_tokens=_field(details_in, "cache_write_tokens"),
        reasoning_tokens=_field(details_out, "reasoning_tokens"),
    )


def _field(obj: Any, name: str) -> Any:
    """``obj.name`` of an SDK object, ``obj["name"]`` of its JSON; None when absent (older
    and newer SDKs differ in which details they carry)."""
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


# -- finish reasons -------------------------------------------------------------------------------


def _chat_finish(reason: Any) -> str | None:
    if not isinstance(reason, str):
        return None
    return _CHAT_FINISH.get(reason, reason)


def responses_finish_reason(response: Any) -> str | None:
    """The Responses API's status folded into the chat vocabulary (stop/length/tool_calls...)."""
    status = getattr(response, "status", None)
    if status == "completed":
        for item in getattr(response, "output", None) or ():
            if _is_client_tool_call(item):
                return "tool_calls"
        return "stop"
    if status == "incomplete":
        reason = getattr(getattr(response, "incomplete_details", None), "reason", None)
        return _RESPONSES_INCOMPLETE.get(reason, reason) if isinstance(reason, str) else "length"
    if status == "failed":
        return "error"
    return None  # queued / in_progress (background responses) / cancelled


def _is_client_tool_call(item: Any) -> bool:
    kind = getattr(item, "type", None)
    if kind in _RESPONSES_CLIENT_TOOL_CALLS:
        return True
    # Tool search runs on either side; only a client-side search waits for the caller.
    return kind == "tool_search_call" and getattr(item, "execution", None) == "client"


# -- whole responses ------------------------------------------------------------------------------


def chat_outcome(completion: Any) -> Outcome:
    """Model, usage and finish reason of a ``ChatCompletion`` (``output`` is the object)."""
    choices = completion.choices
    finish = choices[0].finish_reason if choices else None
    return Outcome(
        completion,
        completion.model,
        chat_usage(completion.usage),
        _CHAT_FINISH.get(finish, finish) if finish is not None else None,
    )


def responses_outcome(response: Any) -> Outcome:
    """Model, usage and finish reason of a Responses API ``Response`` (and its error, if it
    failed: a failed response is an answer, not an exception, to the SDK)."""
    failure = getattr(response, "error", None) if response.status == "failed" else None
    return Outcome(
        response,
        response.model,
        responses_usage(response.usage),
        responses_finish_reason(response),
        error=_reported_error(failure) if failure is not None else None,
    )


def _reported_error(error: Any) -> dict[str, Any]:
    """A Responses API ``ResponseError`` or stream ``error`` event, in ``error_info``'s shape."""
    code = getattr(error, "code", None)
    message = getattr(error, "message", None)
    return {
        "type": str(getattr(code, "value", code)) if code else "error",
        "message": message if isinstance(message, str) else str(error),
        "status_code": None,
    }


# -- Chat Completions streams ---------------------------------------------------------------------


class ChatStreamOutput:
    """The final ``chat.completion`` assembled from streamed chunks, built when serialised."""

    __slots__ = ("_chunks", "_usage")

    def __init__(self, chunks: tuple[Any, ...], usage: Any = None) -> None:
        self._chunks = chunks
        self._usage = usage  # a CompletionUsage, or its JSON

    def to_dict(self) -> dict[str, Any]:
        chunks = self._chunks
        header = _chunk_header(chunks)
        usage: Any = self._usage
        choices: dict[int, dict[str, Any]] = {}
        for chunk in chunks:
            if usage is None and getattr(chunk, "usage", None) is not None:
                usage = chunk.usage
            for choice in getattr(chunk, "choices", None) or ():
                _accumulate_choice(choices, choice)
        return {
            "id": header["id"],
            "object": "chat.completion",
            "created": header["created"],
            "model": header["model"],
            "choices": [_finish_choice(choices[i]) for i in sorted(choices)],
            "usage": _dump(usage),
            "service_tier": header["service_tier"],
            "system_fingerprint": header["system_fingerprint"],
        }


def _chunk_header(
    chunks: tuple[Any, ...], names: tuple[str, ...] = _CHUNK_HEADER
) -> dict[str, Any]:
    """Each of ``names`` from the first chunk that has it set (non-empty), else None.

    Not simply the first chunk's: Azure opens every stream with a prompt-filter chunk whose
    ``id``/``model`` are ``""`` and ``created`` 0 (the real values come with the next chunk).
    """
    found: dict[str, Any] = dict.fromkeys(names)
    missing = list(names)
    for chunk in chunks:
        for name in tuple(missing):
            value = getattr(chunk, name, None)
            if value:
                found[name] = value
                missing.remove(name)
        if not missing:
            break
    return found


def _accumulate_choice(choices: dict[int, dict[str, Any]], choice: Any) -> None:
    index = getattr(choice, "index", 0) or 0
    state = choices.get(index)
    if state is None:
        state = choices[index] = {
            "index": index,
            "role": None,
            "content": [],
            "refusal": [],
            "tool_calls": {},
            "function_call": None,
            "finish_reason": None,
            "logprobs": [],
            "audio": None,
        }
    delta = getattr(choice, "delta", None)
    if delta is not None:
        if delta.role:
            state["role"] = delta.role
        if delta.content:
            state["content"].append(delta.content)
        if delta.refusal:
            state["refusal"].append(delta.refusal)
        # Audio output (modalities=["text", "audio"]) streams as delta.audio, never content.
        # SDKs before ChoiceDelta.audio keep it as an extra field: a dict.
        audio = getattr(delta, "audio", None)
        if audio is not None:
            _accumulate_audio(state, audio)
        for call in delta.tool_calls or ():
            slot = state["tool_calls"].setdefault(
                call.index, {"id": None, "type": "function", "name": [], "arguments": []}
            )
            if call.id:
                slot["id"] = call.id
            if call.type:
                slot["type"] = call.type
            if call.function is not None:
                if call.function.name:
                    slot["name"].append(call.function.name)
                if call.function.arguments:
                    slot["arguments"].append(call.function.arguments)
        if delta.function_call is not None:
            legacy = state["function_call"] or {"name": [], "arguments": []}
            state["function_call"] = legacy
            if delta.function_call.name:
                legacy["name"].append(delta.function_call.name)
            if delta.function_call.arguments:
                legacy["arguments"].append(delta.function_call.arguments)
    if choice.finish_reason:
        state["finish_reason"] = choice.finish_reason
    logprobs = getattr(choice, "logprobs", None)
    if logprobs is not None and logprobs.content:
        state["logprobs"].extend(logprobs.content)


def _accumulate_audio(state: dict[str, Any], audio: Any) -> None:
    """One ``delta.audio`` into ``state``: transcript and base64 data pieces are joined later,
    ``id`` and ``expires_at`` (sent once each, the expiry last) kept."""
    joined = state["audio"]
    if joined is None:
        joined = state["audio"] = {"id": None, "data": [], "expires_at": None, "transcript": []}
    for name in ("id", "expires_at"):
        value = _field(audio, name)
        if value is not None:
            joined[name] = value
    for name in ("data", "transcript"):
        piece = _field(audio, name)
        if piece:
            joined[name].append(piece)


def _finish_choice(state: dict[str, Any]) -> dict[str, Any]:
    tool_calls = [
        {
            "id": slot["id"],
            "type": slot["type"],
            "function": {"name": "".join(slot["name"]), "arguments": "".join(slot["arguments"])},
        }
        for _, slot in sorted(state["tool_calls"].items())
    ]
    legacy = state["function_call"]
    message: dict[str, Any] = {
        "role": state["role"] or "assistant",
        "content": "".join(state["content"]) if state["content"] else None,
        "refusal": "".join(state["refusal"]) if state["refusal"] else None,
        "tool_calls": tool_calls or None,
    }
    if legacy is not None:
        message["function_call"] = {
            "name": "".join(legacy["name"]),
            "arguments": "".join(legacy["arguments"]),
        }
    audio = state["audio"]
    if audio is not None:
        # As a whole completion's message.audio, data included: the event's size cap shortens
        # base64 first (voker_core.serialize), as for a completion that was not streamed.
        message["audio"] = {
            "id": audio["id"],
            "data": _joined_base64(audio["data"]),
            "expires_at": audio["expires_at"],
            "transcript": "".join(audio["transcript"]),
        }
    return {
        "index": state["index"],
        "message": message,
        "finish_reason": state["finish_reason"],
        "logprobs": {"content": [_dump(p) for p in state["logprobs"]]}
        if state["logprobs"]
        else None,
    }


def _joined_base64(pieces: list[str]) -> str:
    """Base64 pieces as the base64 of their joined bytes. Each piece was encoded on its own and
    may end in padding, so the pieces' text joined is not valid base64 (if one does not decode:
    that text, as it came)."""
    if len(pieces) < 2:
        return pieces[0] if pieces else ""
    try:
        sound = b"".join(base64.b64decode(piece) for piece in pieces)
    except (ValueError, TypeError):  # binascii.Error is a ValueError
        return "".join(pieces)
    return base64.b64encode(sound).decode("ascii")


def _chunk_has_content(chunk: Any) -> bool:
    for choice in chunk.choices:
        delta = choice.delta
        if delta is not None and (
            delta.content
            or delta.tool_calls
            or delta.refusal
            or delta.function_call
            or _has_audio(getattr(delta, "audio", None))
        ):
            return True
    return False


def _has_audio(audio: Any) -> bool:
    """Whether a ``delta.audio`` carries speech (its transcript or sound), not only an id or
    the final expiry."""
    return audio is not None and bool(_field(audio, "transcript") or _field(audio, "data"))


def chat_stream_outcome(chunks: tuple[Any, ...], usage: Any = None) -> Outcome:
    """The outcome of a chat stream's chunks (``usage``: a hidden usage chunk's, if any)."""
    if not chunks and usage is None:
        return Outcome()
    finish = None
    for chunk in reversed(chunks):
        if usage is None and chunk.usage is not None:
            usage = chunk.usage
        if finish is None:
            # Choice 0's, as for a whole completion (chat_outcome): with n > 1 the choices
            # finish in any order, for different reasons.
            for choice in chunk.choices:
                if choice.finish_reason and not choice.index:
                    finish = choice.finish_reason
                    break
        if usage is not None and finish is not None:
            break
    return Outcome(
        output=ChatStreamOutput(chunks, usage),
        model=_chunk_header(chunks, ("model",))["model"],
        usage=chat_usage(usage),
        finish_reason=_chat_finish(finish),
    )


class ChatStreamRecorder(StreamRecorder):
    """Records a ``Stream[ChatCompletionChunk]``.

    With ``hide_usage_chunk`` (the wrapper asked for ``stream_options.include_usage`` on the
    caller's behalf) the trailing usage-only chunk is recorded but not shown to the caller: see
    :meth:`take_usage_event`, and :meth:`hides` for streams where that cannot be arranged.
    """

    __slots__ = ("_usage",)

    def __init__(self, call: LLMCall, *, hide_usage_chunk: bool = False) -> None:
        super().__init__(call)
        # Every chunk is offered to hides() until take_usage_event() has the bytes cut instead.
        self._hiding = hide_usage_chunk
        # The hidden chunk's usage: a CompletionUsage, or the raw JSON of the usage-only event
        # (parsed on the delivery thread, in outcome()).
        self._usage: Any = None

    def take_usage_event(self, stream: Any) -> None:
        """Take the usage-only event out of ``stream``'s bytes, before the SDK decodes it.

        Needs the SDK's SSE decoder in ``stream._decoder``, read when iteration starts (a stream
        already iterated keeps its decoder); otherwise :meth:`hides` hides the parsed chunk.
        """
        decoder = getattr(stream, "_decoder", None)
        if decoder is None or not hasattr(decoder, "iter_bytes"):
            return
        stream._decoder = _UsageEventFilter(decoder, self)
        self._hiding = False  # until the filter lets a usage event through (usage_passed())

    def usage_event(self, data: bytes) -> None:
        """The usage-only event's JSON, taken out of the stream by :class:`_UsageEventFilter`."""
        self._usage = data

    def usage_passed(self) -> None:
        """The filter let a usage event through (split between two reads): hide its chunk."""
        self._hiding = True

    def hides(self, item: Any) -> bool:
        if not item.choices and item.usage is not None:
            self._usage = item.usage
            return True
        return False

    def has_content(self, item: Any) -> bool:
        return _chunk_has_content(item)

    def outcome(self) -> Outcome:
        usage = self._usage
        if isinstance(usage, bytes):
            try:
                usage = json.loads(usage).get("usage")
            except (ValueError, AttributeError):
                usage = None
        return chat_stream_outcome(tuple(self.items), usage)

    def release(self) -> None:
        super().release()
        self._usage = None


_EVENT_ENDS = (b"\n\n", b"\r\n\r\n", b"\r\r")
# An event of one data line, from the line's start through the blank line that ends the event.
_ONE_LINE_EVENT = re.compile(rb"data: ?([^\r\n]*)(?:\r\n\r\n|\n\n|\r\r)")


class _UsageEventFilter:
    """Stands in for a stream's SSE decoder so that the caller's chunks are what they would
    have been without the ``include_usage`` we asked for, at almost no cost to the caller.

    It edits the response's bytes before the SDK's own decoder reads them:

    - The usage-only event (``"choices": []`` with a ``usage``) is cut out and handed to the
      recorder as raw JSON: the SDK never decodes it or builds a chunk for it.
    - The ``"usage":null`` that every other chunk then carries is cut from the event's JSON:
      the SDK builds the chunk the caller would have had. Inside a JSON string a quote is
      escaped, so the raw bytes ``"usage":null`` can only be that key.

    Only complete events inside one network read are cut (events never span a blank line, so
    a pattern found in a complete event is whole). Should the usage event straddle two reads,
    it goes through and :meth:`ChatStreamRecorder.hides` hides the parsed chunk instead.

    Holds the decoder and the recorder, never the stream: no reference cycle keeps an
    abandoned stream alive.
    """

    __slots__ = ("_at_event_start", "_decoder", "_recorder")

    def __init__(self, decoder: Any, recorder: ChatStreamRecorder) -> None:
        self._decoder = decoder
        self._recorder = recorder
        self._at_event_start = True  # whether the next read begins a new event

    def iter_bytes(self, iterator: Iterator[bytes]) -> Iterator[Any]:
        # The SDK's decoder itself, fed edited bytes: no layer of ours per event.
        return self._decoder.iter_bytes(self._edited(iterator))  # type: ignore[no-any-return]

    def aiter_bytes(self, iterator: AsyncIterator[bytes]) -> AsyncIterator[Any]:
        return self._decoder.aiter_bytes(self._aedited(iterator))  # type: ignore[no-any-return]

    def _edited(self, iterator: Iterator[bytes]) -> Iterator[bytes]:
        for data in iterator:
            data = self._read(data)
            if data:
                yield data

    async def _aedited(self, iterator: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async for data in iterator:
            data = self._read(data)
            if data:
                yield data

    def _read(self, data: bytes) -> bytes:
        """One network read, edited (runs for every read: a few scans of it, in C)."""
        at_event_start = self._at_event_start
        self._at_event_start = data.endswith(_EVENT_ENDS)
        if b'"usage":' not in data:
            return data
        # One server writes one key order: the other replace runs only if the first cut nothing.
        edited = data.replace(b',"usage":null', b"")
        if len(edited) == len(data):
            edited = data.replace(b'"usage":null,', b"")
        # A "usage" left is an object: in the usage-only event, which comes last.
        at = edited.rfind(b'"usage":')
        return edited if at < 0 else self._cut_usage_event(edited, at, at_event_start)

    def _cut_usage_event(self, data: bytes, at: int, at_event_start: bool) -> bytes:
        """``data`` without the complete usage-only event in it (handed to the recorder).

        ``at``: the last ``"usage":`` in ``data``; ``at_event_start``: whether ``data`` begins
        a new event.
        """
        try:
            while at >= 0:
                line = data.rfind(b"\n", 0, at) + 1
                line = data.rfind(b"\r", line, at) + 1 or line  # the start of the line
                found = _ONE_LINE_EVENT.match(data, line)
                if (
                    found is not None
                    and found.end(1) > at
                    and ((line == 0 and at_event_start) or data.endswith(_EVENT_ENDS, 0, line))
                    and (b'"choices":[]' in found[1] or b'"choices": []' in found[1])
                ):
                    self._recorder.usage_event(found[1])
                    return data[:line] + data[found.end() :]
                at = data.rfind(b'"usage":', 0, line)
        except Exception:  # pragma: no cover - bytes operations on bytes
            logger.warning("voker: failed to read a stream's usage event (ignored)", exc_info=True)
        self._recorder.usage_passed()  # not cut: the SDK will decode it; hide the chunk then
        return data


# -- Responses streams ----------------------------------------------------------------------------


class ResponsesStreamOutput:
    """A partial ``response`` rebuilt from the stream's events, built when serialised.

    Used when the stream stopped before ``response.completed`` (whose ``response`` is the output
    otherwise): the last snapshot the server sent, with the output items received so far.
    """

    __slots__ = ("_events", "_snapshot")

    def __init__(self, snapshot: Any, events: tuple[Any, ...]) -> None:
        self._snapshot = snapshot
        self._events = events

    def to_dict(self) -> dict[str, Any]:
        base = _dump(self._snapshot) if self._snapshot is not None else {"object": "response"}
        if not isinstance(base, dict):
            base = {"object": "response"}
        items: dict[int, dict[str, Any]] = {}
        for event in self._events:
            kind = getattr(event, "type", None)
            if kind in ("response.output_item.added", "response.output_item.done"):
                items[event.output_index] = _dump(event.item)
                continue
            item = items.get(getattr(event, "output_index", -1))
            if item is None:
                continue
            if kind == "response.content_part.added":
                item.setdefault("content", []).append(_dump(event.part))
            elif kind == "response.output_text.delta":
                parts = item.get("content") or []
                if event.content_index < len(parts):
                    part = parts[event.content_index]
                    part["text"] = (part.get("text") or "") + event.delta
            elif kind == "response.function_call_arguments.delta":
                item["arguments"] = (item.get("arguments") or "") + event.delta
        base["output"] = [items[i] for i in sorted(items)]
        return base


class ResponsesStreamRecorder(StreamRecorder):
    """Records a ``Stream[ResponseStreamEvent]``: the final ``response`` when one arrives."""

    __slots__ = ()

    def has_content(self, item: Any) -> bool:
        return _is_responses_content(item)

    def outcome(self) -> Outcome:
        return responses_stream_outcome(tuple(self.items))


def _is_responses_content(event: Any) -> bool:
    """Whether a Responses stream event carries output (the first one is the first token)."""
    return str(getattr(event, "type", "")).endswith(".delta")


def responses_stream_outcome(events: tuple[Any, ...]) -> Outcome:
    """The outcome of a Responses stream's events: the final ``response`` when one arrived,
    else the partial one rebuilt from them."""
    if not events:
        return Outcome()
    snapshot = failure = None
    for event in reversed(events):  # the final response comes last, when it comes
        kind = getattr(event, "type", None)
        if kind in _RESPONSES_FINAL_EVENTS:
            return responses_outcome(event.response)
        if snapshot is None and kind in _RESPONSES_SNAPSHOT_EVENTS:
            snapshot = event.response
        if failure is None and kind == "error":  # the SDK hands it over, raising nothing
            failure = _reported_error(event)
    return Outcome(
        output=ResponsesStreamOutput(snapshot, events),
        model=getattr(snapshot, "model", None),
        finish_reason="error" if failure is not None else None,
        error=failure,
    )


# -- raw bodies the caller reads itself ----------------------------------------------------------


def body_outcome(
    body: bytes | None, body_type: Any, translate: Callable[[Any], Outcome]
) -> Outcome:
    """The outcome of a response's JSON body, made into ``body_type`` as the SDK makes it and
    read by ``translate`` (delivery thread); empty if it is not one (nothing read, or not all
    of it)."""
    if not body:
        return Outcome()
    try:
        data = json.loads(body)
    except ValueError:
        return Outcome()
    if not isinstance(data, dict):
        return Outcome()
    return translate(_construct(body_type, data))


class _OpenAIBodyRecorder(BodyRecorder):
    """Records an OpenAI response from the body its caller read itself (see
    :class:`~voker_core.ai._streams.BodyRecorder`): a response's JSON, or a stream's
    server-sent events, decoded on the delivery worker as the SDK decodes them and read by the
    translation of the SDK's own objects."""

    __slots__ = ("_sse", "_type")

    def __init__(self, call: LLMCall, http_response: Any, body_type: Any, *, sse: bool) -> None:
        """``body_type``: what the SDK makes of the body - the response's type, or with
        ``sse`` (the body is a stream) the type of its items."""
        super().__init__(call, http_response)
        self._type = body_type
        self._sse = sse

    def _response_outcome(self, response: Any) -> Outcome:
        raise NotImplementedError

    def _stream_outcome(self, items: tuple[Any, ...]) -> Outcome:
        raise NotImplementedError

    def _is_content(self, item: Any) -> bool:
        raise NotImplementedError

    def has_content(self, item: Any) -> bool:
        # Before outcome() (or for a body that is not a stream) the items are raw bytes.
        return not isinstance(item, bytes) and self._is_content(item)

    def outcome(self) -> Outcome:
        if not self._sse:
            return body_outcome(self.body(), self._type, self._response_outcome)
        items, times, error = _stream_items(self, self._type)
        # From here on the items are the stream's, each at the arrival of the bytes that
        # completed it: first_token_at() finds the first token among them, as in a stream.
        self.items, self._times = items, times
        outcome = self._stream_outcome(tuple(items))
        return outcome if error is None else outcome._replace(error=error)


class ChatBodyRecorder(_OpenAIBodyRecorder):
    """A chat completion's body (``ChatCompletion``), or a chat stream's (its chunks)."""

    __slots__ = ()

    def _response_outcome(self, response: Any) -> Outcome:
        return chat_outcome(response)

    def _stream_outcome(self, items: tuple[Any, ...]) -> Outcome:
        return chat_stream_outcome(items)

    def _is_content(self, item: Any) -> bool:
        return _chunk_has_content(item)


class ResponsesBodyRecorder(_OpenAIBodyRecorder):
    """A Responses API response's body (``Response``, ``BetaResponse``), or a Responses
    stream's (its events)."""

    __slots__ = ()

    def _response_outcome(self, response: Any) -> Outcome:
        return responses_outcome(response)

    def _stream_outcome(self, items: tuple[Any, ...]) -> Outcome:
        return responses_stream_outcome(items)

    def _is_content(self, item: Any) -> bool:
        return _is_responses_content(item)


def _stream_items(
    recorder: BodyRecorder, item_type: Any
) -> tuple[list[Any], list[float], dict[str, Any] | None]:
    """The items of a stream's body as the SDK's ``Stream`` yields them (up to ``[DONE]``),
    when each arrived, and the error the stream reported in its body (the ``Stream`` raises
    ``APIError`` for it; a raw reader saw it in the body), if any."""
    from openai._streaming import SSEDecoder

    items: list[Any] = []
    times: list[float] = []
    try:
        for sse, arrival in recorder.server_sent_events(SSEDecoder()):
            if sse.data.startswith("[DONE]"):
                break
            data = sse.json()
            if isinstance(data, Mapping) and data.get("error"):
                return items, times, _stream_error(data["error"])
            items.append(_construct(item_type, data))
            times.append(arrival)
    except Exception:  # a body cut short: keep the items before the cut
        logger.debug("voker: stopped decoding a raw OpenAI stream", exc_info=True)
    return items, times, None


def _stream_error(error: Any) -> dict[str, Any]:
    """The ``error`` a stream's body reported, in ``error_info``'s shape (the message the
    SDK's ``APIError`` would carry)."""
    kind = message = None
    if isinstance(error, Mapping):
        kind = error.get("type") or error.get("code")
        message = error.get("message")
    return {
        "type": kind if isinstance(kind, str) and kind else "error",
        "message": message
        if isinstance(message, str) and message
        else "An error occurred during streaming",
        "status_code": None,
    }


def _construct(type_: Any, data: Any) -> Any:
    """``data`` as the SDK makes it into ``type_`` for a response (without validation)."""
    from openai._models import construct_type

    return construct_type(type_=type_, value=data)
