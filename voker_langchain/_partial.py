"""What a model call had streamed when it stopped before its end.

LangChain hands the handler a finished call's whole result, but a call that is cancelled, fails
midway or is dropped by its reader gets no result, or one without the content streamed so far.
The handler keeps what streamed while the call is open and rebuilds the partial result from it,
shaped as LangChain's end callback would have shaped it, so that the event's output, model and
usage are read by the same code as a finished call's (``outcome_from_result``). Two sources:

* ``on_llm_new_token`` chunks (``stream``/``astream``): merged as LangChain merges them;
* the protocol events of ``stream_events(version="v3")`` (``on_stream_event``, langchain-core
  1.8+): content blocks by index, a finished block as it finished and an open one with the
  deltas it got so far. LangChain assembles these only when the message finishes, and reports a
  call that stops earlier with no content at all.
"""

from __future__ import annotations

import functools
import logging
import operator
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, LLMResult
from langchain_core.outputs.chat_generation import merge_chat_generation_chunks

__all__ = ["reported_content", "result_from_chunks", "result_from_events"]

logger = logging.getLogger("voker.langchain")

# Delta kind -> the block field it appends to.
_APPENDING_DELTAS = {
    "text-delta": "text",
    "reasoning-delta": "reasoning",
    "tool-call-delta": "args",
}


# What LangChain puts in the response_metadata of the empty message it adds to a failed call's
# result, from the exception's HTTP response (``_generate_response_from_error``).
_ERROR_DETAIL_KEYS = frozenset({"body", "headers", "status_code", "request_id"})


def reported_content(result: LLMResult | None) -> LLMResult | None:
    """What a failed call's result, as LangChain reports it with the error, holds of the call's
    own output, or None.

    LangChain adds an empty AI message to it that carries the error's HTTP details (status,
    body, headers) or tracing metadata; that is not something the model said, and would show
    as an empty reply (or, after streamed content, as a second choice).
    """
    if result is None:
        return None
    kept = [
        [generation for generation in generations if not _error_details(generation)]
        for generations in result.generations
    ]
    kept = [generations for generations in kept if generations]
    return LLMResult(generations=kept, llm_output=result.llm_output) if kept else None


def _error_details(generation: Any) -> bool:
    message = getattr(generation, "message", None)
    return (
        isinstance(message, AIMessage)
        and message.content in ("", [])
        and not message.tool_calls
        and not message.invalid_tool_calls
        and not message.usage_metadata
        and set(message.response_metadata) <= _ERROR_DETAIL_KEYS
    )


def result_from_chunks(chunks: Sequence[Any] | None) -> LLMResult | None:
    """The ``on_llm_new_token`` chunks of a call merged into one generation, or None."""
    if not chunks:
        return None
    try:
        if all(isinstance(chunk, ChatGenerationChunk) for chunk in chunks):
            merged = merge_chat_generation_chunks(list(chunks))
        else:
            merged = functools.reduce(operator.add, chunks)
    except Exception:
        logger.debug("voker: could not merge a stopped call's chunks", exc_info=True)
        return None
    return LLMResult(generations=[[merged]]) if merged is not None else None


def result_from_events(events: Sequence[Mapping[str, Any]] | None) -> LLMResult | None:
    """The message that the protocol ``events`` of a v3 stream had built so far, or None when
    no content block had started."""
    if not events:
        return None
    blocks: dict[int, dict[str, Any]] = {}
    response_metadata: dict[str, Any] = {}
    for event in events:
        kind = event.get("event")
        index = event.get("index")
        if kind == "message-start":
            meta = event.get("metadata")
            if isinstance(meta, Mapping) and "model" in meta:
                # Where LangChain's own assembly puts it in a finished message.
                response_metadata["model_name"] = meta["model"]
        elif not isinstance(index, int):
            continue
        elif kind in ("content-block-start", "content-block-finish"):
            block = event.get("content")
            if isinstance(block, Mapping):
                blocks[index] = {**block, "index": index}
        elif kind == "content-block-delta" and index in blocks:
            _apply_delta(blocks[index], event.get("delta"))
    if not blocks:
        return None
    # No usage: a message reports it when it finishes, and this one did not.
    message = AIMessage(
        content=[blocks[index] for index in sorted(blocks)],
        response_metadata=response_metadata,
    )
    return LLMResult(generations=[[ChatGeneration(message=message)]])


def _apply_delta(block: dict[str, Any], delta: Any) -> None:
    """Grow an open block by one delta. Binary ``data-delta`` pieces, and kinds this handler
    does not know, leave it as it started; its finish event would have carried it whole."""
    if not isinstance(delta, Mapping):
        return
    field = _APPENDING_DELTAS.get(str(delta.get("type")))
    piece = delta.get(field) if field is not None else None
    if field is not None and isinstance(piece, str):
        held = block.get(field)
        block[field] = (held if isinstance(held, str) else "") + piece
