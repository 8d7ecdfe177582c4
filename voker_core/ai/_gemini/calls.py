"""The recording around one Gemini call, shared by models and chats, sync and async.

A wrapped method does (the async twin differs only by the ``await``)::

    call, send = start(voker_client, kwargs, stream=False, inputs=lambda: ...)  # TypeError
    if call is None:                   # the recorder itself failed: just call the provider
        return method(**send)
    response = call.invoke(method, send, REQUEST_CODE)  # see translate.REQUEST_CODE
    settle(call, response)
    return response

Streams (google-genai returns plain generators) are handed back as
:class:`~voker_core.ai._gemini.streams.ChunkStream`/``AsyncChunkStream``, iterators over the
SDK's generator that record when the iteration ends, breaks, is closed or dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from voker_core.ai._gemini.translate import response_outcome
from voker_core.ai._recorder import LLMCall, split_voker_kwargs

if TYPE_CHECKING:
    from voker_core.client import VokerClient

__all__ = ["API", "PROVIDER", "settle", "start", "voker_kwargs"]

logger = logging.getLogger("voker")

API = "gemini-models"
PROVIDER = "gemini"


def voker_kwargs(
    agent: str | None,
    session: str | None,
    agent_version: str | None,
    person: str | None,
    properties: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The ``voker_*`` keywords that were given (None ones left out, so defaults apply)."""
    found: dict[str, Any] = {}
    if agent is not None:
        found["voker_agent"] = agent
    if session is not None:
        found["voker_session"] = session
    if agent_version is not None:
        found["voker_agent_version"] = agent_version
    if person is not None:
        found["voker_person"] = person
    if properties is not None:
        found["voker_properties"] = properties
    return found


def start(
    voker_client: VokerClient | None,
    kwargs: Mapping[str, Any],
    *,
    stream: bool,
    inputs: Callable[[], Any],
    defaults: Mapping[str, Any] | None = None,
) -> tuple[LLMCall | None, dict[str, Any]]:
    """Begin recording; returns the call (None if the recorder itself failed) and the keyword
    arguments for the provider. ``inputs`` makes the recorded inputs (should it fail, the
    provider arguments are recorded as they are). ``TypeError``/``ValueError`` for bad or
    missing ``voker_*`` arguments propagate: no request has been made."""
    try:
        recorded = inputs()
    except Exception:
        logger.warning("voker: failed to prepare the recorded inputs (ignored)", exc_info=True)
        recorded = None
    try:
        call = LLMCall.begin(
            api=API,
            provider=PROVIDER,
            kwargs=kwargs,
            voker_client=voker_client,
            stream=stream,
            inputs=recorded,
            defaults=defaults,
        )
    except (TypeError, ValueError):
        raise
    except Exception:
        logger.warning("voker: failed to start recording an LLM call (ignored)", exc_info=True)
        return None, split_voker_kwargs(kwargs)[0]
    return call, call.provider_kwargs


def settle(call: LLMCall, response: Any) -> None:
    """Record a returned ``GenerateContentResponse`` (never raises)."""
    try:
        call.succeed_with(response, response_outcome)
    except Exception:
        logger.warning("voker: failed to record an LLM call (ignored)", exc_info=True)
