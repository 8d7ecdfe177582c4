"""google-genai objects → the recorder's vocabulary: JSON form, usage, finish reason, streams.

**Usage.** Gemini's ``usage_metadata`` (checked against google-genai 3.4's field docs and the
API's ``totalTokenCount = prompt + candidates + toolUsePrompt + thoughts``):

* ``prompt_token_count`` already *includes* ``cached_content_token_count`` ("When
  ``cached_content`` is set, this also includes the number of tokens in the cached content"),
  so the cached count is passed as ``cache_read_input_tokens`` and nothing is added;
* ``tool_use_prompt_token_count`` (tool results fed back to the model) is input too:
  ``input_tokens = prompt + tool_use_prompt``;
* ``candidates_token_count`` *excludes* the thinking tokens, which Gemini reports separately as
  ``thoughts_token_count``. The §5 rule makes reasoning a subset of output, so
  ``output_tokens = candidates + thoughts`` and ``reasoning_tokens = thoughts``;
* ``total_token_count`` is kept as reported (it equals input + output above).

Gemini reports no cache-write count (``cache_creation_input_tokens`` stays null).

**JSON.** google-genai types are pydantic models with many optional fields; a plain
``model_dump`` writes every unset one as ``null`` (about twenty per ``Part``). Objects are
therefore handed to the delivery worker inside :class:`GenaiJSON`, which dumps them there the
way the SDK's own ``to_json_dict()`` does (no nulls, bytes as base64), leaving out the response's
``sdk_http_response`` (HTTP headers are not model output).

**Streams.** :class:`ChunkStreamRecorder` keeps the chunks; the recorded output is one response
assembled from them on the worker (parts of each candidate concatenated, text runs merged;
finish reason, usage and ids from the latest chunk that has them). With automatic function
calling one stream holds several model responses (the SDK runs the functions the model called
and asks again, yielding every response's chunks); as for ``generate_content``, the call's
output, finish reason and usage are the last response's (:func:`last_response`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from google.genai._api_client import BaseApiClient

from voker_core._snapshot import freeze, thaw
from voker_core.ai._recorder import (
    Outcome,
    Usage,
    normalise_finish_reason,
    refused_before_request,
    request_code_of,
)
from voker_core.ai._streams import StreamRecorder

__all__ = [
    "ChunkStreamRecorder",
    "GenaiJSON",
    "RecordedInputs",
    "finish_reason",
    "last_response",
    "merge_chunks",
    "plain_inputs",
    "request_inputs",
    "response_outcome",
    "usage_of",
]

logger = logging.getLogger("voker")

_RESPONSE_EXCLUDE = frozenset({"sdk_http_response"})
_CONFIG_EXCLUDE = frozenset({"http_options"})


class GenaiJSON:
    """A google-genai object whose JSON form is made later, on the delivery worker.

    The Voker serialiser converts objects with a ``model_dump`` method through it; this one
    dumps like ``to_json_dict()`` (no null fields, bytes as base64).
    """

    __slots__ = ("_exclude", "_value")

    def __init__(self, value: Any, exclude: frozenset[str] | None = None) -> None:
        self._value = value
        self._exclude = exclude

    def model_dump(self, mode: str = "json", **_: Any) -> Any:
        value = self._value
        exclude = set(self._exclude) if self._exclude else None
        try:
            return value.model_dump(mode="json", exclude_none=True, exclude=exclude)
        except Exception:
            # e.g. Python functions given as tools: dump to Python objects, the serialiser
            # handles (repr's) the rest.
            return value.model_dump(exclude_none=True, exclude=exclude)

    def __repr__(self) -> str:
        return f"GenaiJSON({self._value!r})"


class _LazyMerged:
    """The response assembled from a stream's chunks, built only when serialised."""

    __slots__ = ("_chunks",)

    def __init__(self, chunks: tuple[Any, ...]) -> None:
        self._chunks = chunks

    def model_dump(self, mode: str = "json", **_: Any) -> Any:
        try:
            merged = merge_chunks(self._chunks)
        except Exception:
            logger.warning("voker: could not assemble a streamed Gemini response", exc_info=True)
            return [GenaiJSON(chunk, _RESPONSE_EXCLUDE).model_dump() for chunk in self._chunks]
        if merged is None:
            return None
        return GenaiJSON(merged, _RESPONSE_EXCLUDE).model_dump()


def _is_genai_model(value: Any) -> bool:
    return type(value).__module__.startswith("google.genai") and hasattr(value, "model_dump")


_LEAVES = frozenset({str, int, float, bool, type(None), bytes})


def plain_inputs(value: Any, _depth: int = 0) -> Any:
    """``value`` with every google-genai object replaced by its JSON form without null
    fields; containers are rebuilt only where something inside was replaced (runs on the
    delivery worker)."""
    cls = type(value)
    if cls in _LEAVES or _depth > 32:
        return value
    if cls is dict:
        changed = None
        for key, item in value.items():
            if type(item) in _LEAVES:
                continue
            new = plain_inputs(item, _depth + 1)
            if new is not item:
                if changed is None:
                    changed = dict(value)
                changed[key] = new
        return value if changed is None else changed
    if cls is list or cls is tuple:
        items = None
        for index, item in enumerate(value):
            if type(item) in _LEAVES:
                continue
            new = plain_inputs(item, _depth + 1)
            if new is not item:
                if items is None:
                    items = list(value)
                items[index] = new
        return value if items is None else items
    if isinstance(value, GenaiJSON):
        return value.model_dump()
    if _is_genai_model(value):
        return GenaiJSON(value).model_dump()
    return value


class RecordedInputs:
    """A call's arguments, frozen when the call is made and turned into JSON on the worker.

    The containers are copied once, here (so the caller's later ``contents.append(...)`` does
    not change what is recorded); the recorder and the client keep this object as it is rather
    than copying the (deeply nested) contents again, and the google-genai objects inside are
    converted without their null fields only when the event is serialised.
    """

    __slots__ = ("_value",)

    def __init__(self, value: dict[str, Any]) -> None:
        self._value = freeze(value)  # one marshal pass for plain data, else a structural copy

    def model_dump(self, mode: str = "json", **_: Any) -> Any:
        return plain_inputs(thaw(self._value))

    def __repr__(self) -> str:
        return f"RecordedInputs({thaw(self._value)!r})"


def request_inputs(model: Any, contents: Any, config: Any) -> RecordedInputs:
    """The recorded ``inputs`` of a generate-content request.

    ``config.http_options`` is left out: it is transport configuration (base URL, timeouts,
    headers that may carry credentials), and the SDK adds its own usage headers to it. A config
    object is copied (shallowly) because the SDK sets fields on the caller's object during the
    call (chats do), and the copy is serialised later.
    """
    inputs: dict[str, Any] = {"model": model, "contents": contents}
    if config is not None:
        inputs["config"] = _config_input(config)
    return RecordedInputs(inputs)


def _config_input(config: Any) -> Any:
    if isinstance(config, Mapping):
        return {k: v for k, v in config.items() if k != "http_options"}
    if _is_genai_model(config):
        try:
            config = config.model_copy()
        except Exception:
            logger.debug("voker: could not copy a Gemini config", exc_info=True)
        return GenaiJSON(config, _CONFIG_EXCLUDE)
    return config


def finish_reason(response: Any) -> str | None:
    """The normalised finish reason of a response's first candidate (``content_filter`` for a
    blocked prompt).

    Gemini ends a turn that calls functions with ``STOP``; that becomes ``tool_calls``.
    """
    candidates = getattr(response, "candidates", None)
    if not candidates:
        # The prompt itself was blocked: an answer (HTTP 200) with no candidates at all.
        blocked = getattr(getattr(response, "prompt_feedback", None), "block_reason", None)
        name = str(getattr(blocked, "value", blocked or ""))
        return "content_filter" if name and name != "BLOCKED_REASON_UNSPECIFIED" else None
    candidate = candidates[0]
    reason = getattr(candidate, "finish_reason", None)
    if reason is None:
        return None
    normalised = normalise_finish_reason(reason)
    if normalised == "stop" and _calls_functions(candidate):
        return "tool_calls"
    return normalised


def _calls_functions(candidate: Any) -> bool:
    content = getattr(candidate, "content", None)
    for part in getattr(content, "parts", None) or ():
        if getattr(part, "function_call", None) is not None:
            return True
    return False


def usage_of(metadata: Any) -> Usage | None:
    """``usage_metadata`` under the single usage rule (see the module docs)."""
    if metadata is None:
        return None
    prompt = getattr(metadata, "prompt_token_count", None)
    tool_prompt = getattr(metadata, "tool_use_prompt_token_count", None)
    candidates = getattr(metadata, "candidates_token_count", None)
    thoughts = getattr(metadata, "thoughts_token_count", None)
    input_tokens = (
        None if prompt is None and tool_prompt is None else (prompt or 0) + (tool_prompt or 0)
    )
    output_tokens = (
        None if candidates is None and thoughts is None else (candidates or 0) + (thoughts or 0)
    )
    return Usage.from_counts(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=getattr(metadata, "total_token_count", None),
        cache_read_input_tokens=getattr(metadata, "cached_content_token_count", None),
        reasoning_tokens=thoughts,
    )


def _model(response: Any) -> str | None:
    version = getattr(response, "model_version", None)
    return version if isinstance(version, str) and version else None


def response_outcome(response: Any) -> Outcome:
    """What a ``GenerateContentResponse`` records."""
    return Outcome(
        output=GenaiJSON(response, _RESPONSE_EXCLUDE),
        model=_model(response),
        usage=usage_of(getattr(response, "usage_metadata", None)),
        finish_reason=finish_reason(response),
    )


# Every request google-genai makes goes through one of these (see LLMCall.invoke): an error
# raised before them is the SDK refusing the call's arguments (a misspelt config key), not a call.
REQUEST_CODE = request_code_of(
    BaseApiClient.request,
    BaseApiClient.request_streamed,
    getattr(BaseApiClient, "async_request", None),
    getattr(BaseApiClient, "async_request_streamed", None),
)


class ChunkStreamRecorder(StreamRecorder):
    """Records a ``generate_content_stream``/``send_message_stream`` iteration."""

    __slots__ = ()

    def fail(self, exc: BaseException) -> None:
        # The SDK checks the arguments on the stream's first step: refused there, no request
        # was made and there is nothing to record (as for a call, see LLMCall._failed).
        if not self.items and refused_before_request(exc, REQUEST_CODE):
            self.call.discard()
        else:
            super().fail(exc)

    def has_content(self, item: Any) -> bool:
        return _has_content(item)

    def outcome(self) -> Outcome:
        chunks = last_response(tuple(self.items))
        if not chunks:
            return Outcome()
        model = usage = reason = None
        for chunk in reversed(chunks):
            model = model or _model(chunk)
            if usage is None and getattr(chunk, "usage_metadata", None) is not None:
                usage = usage_of(chunk.usage_metadata)
            reason = reason or finish_reason(chunk)
            if model and usage is not None and reason:
                break
        if reason == "stop" and _any_function_call(chunks):
            reason = "tool_calls"  # the function call came in an earlier chunk than STOP
        return Outcome(output=_LazyMerged(chunks), model=model, usage=usage, finish_reason=reason)


def last_response(chunks: tuple[Any, ...]) -> tuple[Any, ...]:
    """The chunks of the last model response among a stream's ``chunks``.

    A streamed response ends with a chunk whose first candidate has a finish reason. More
    chunks after such an end are another request's: with automatic function calling, the SDK
    answers the function calls of the response that ended and asks the model again. (A
    ``CONTINUATION`` end is not one: the SDK's automatic continuation carries the same response
    on; and a response that called no function is never followed by another, so other
    candidates of it still streaming are kept.)
    """
    start = 0
    calls = False  # whether the current response's first candidate has called a function
    last = len(chunks) - 1
    for position, chunk in enumerate(chunks):
        candidates = chunk.candidates
        if not candidates:
            continue
        candidate = candidates[0]
        calls = calls or _calls_functions(candidate)
        reason = candidate.finish_reason
        if calls and reason is not None and position < last and reason != "CONTINUATION":
            start, calls = position + 1, False
    return chunks[start:] if start else chunks


def _any_function_call(chunks: tuple[Any, ...]) -> bool:
    """Whether any chunk's first candidate calls a function."""
    for chunk in chunks:
        candidates = chunk.candidates
        if candidates:
            content = candidates[0].content
            if content is not None and content.parts:
                for part in content.parts:
                    if part.function_call is not None:
                        return True
    return False


def _has_content(chunk: Any) -> bool:
    for candidate in getattr(chunk, "candidates", None) or ():
        content = getattr(candidate, "content", None)
        if content is not None and getattr(content, "parts", None):
            return True
    return False


_TEXT_FIELDS = frozenset({"text", "thought", "thought_signature"})


def _mergeable_text(part: Any) -> bool:
    """A part that is only text (maybe a thought, maybe signed): adjacent ones concatenate."""
    if getattr(part, "text", None) is None:
        return False
    fields = getattr(part, "__dict__", None)
    if fields is None:
        return False
    return all(value is None for name, value in fields.items() if name not in _TEXT_FIELDS)


class _Run:
    """Adjacent text parts of one kind (thought or not) being concatenated."""

    __slots__ = ("pieces", "signature", "thought")

    def __init__(self, part: Any) -> None:
        self.pieces: list[str] = [part.text]
        self.thought = bool(part.thought)
        self.signature = part.thought_signature

    def part(self) -> Any:
        from google.genai import types

        return types.Part(
            text="".join(self.pieces),
            thought=True if self.thought else None,
            thought_signature=self.signature,
        )


def _merge_parts(parts: list[Any]) -> list[Any]:
    """Concatenate runs of text parts; every other part stays as it came, in order."""
    merged: list[Any] = []
    run: _Run | None = None
    for part in parts:
        if _mergeable_text(part):
            if run is not None and run.thought == bool(part.thought):
                run.pieces.append(part.text)
                run.signature = part.thought_signature or run.signature
                continue
            if run is not None:
                merged.append(run.part())
            run = _Run(part)
            continue
        if run is not None:
            merged.append(run.part())
            run = None
        merged.append(part)
    if run is not None:
        merged.append(run.part())
    return merged


def merge_chunks(chunks: tuple[Any, ...] | list[Any]) -> Any:
    """One ``GenerateContentResponse`` from the chunks of one streamed response (None for no
    chunks; a stream with automatic function calling: see :func:`last_response`)."""
    if not chunks:
        return None
    from google.genai import types

    merged: dict[int, dict[str, Any]] = {}
    latest: dict[str, Any] = {}
    for chunk in chunks:
        for position, candidate in enumerate(chunk.candidates or ()):
            index = candidate.index if candidate.index is not None else position
            entry = merged.setdefault(index, {"parts": [], "role": None, "candidate": candidate})
            entry["candidate"] = candidate
            content = candidate.content
            if content is not None:
                entry["role"] = content.role or entry["role"]
                entry["parts"].extend(content.parts or ())
        for name in ("usage_metadata", "model_version", "response_id", "create_time"):
            value = getattr(chunk, name, None)
            if value is not None:
                latest[name] = value
        if chunk.prompt_feedback is not None:
            latest["prompt_feedback"] = chunk.prompt_feedback
    candidates = [
        entry["candidate"].model_copy(
            update={
                "content": types.Content.model_construct(
                    role=entry["role"], parts=_merge_parts(entry["parts"])
                )
            }
        )
        for _, entry in sorted(merged.items())
    ]
    return chunks[-1].model_copy(update={**latest, "candidates": candidates or None})
