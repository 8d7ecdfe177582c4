"""Lazy streams - ``.stream()`` managers, google-genai's stream generators - are checked when
created but make their request when entered or first iterated: the time in between is the
caller's, and is not counted in ``started_at``, ``latency_ms`` or ``time_to_first_token_ms``."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest

from tests.anthropic import helpers as anthropic_helpers
from tests.gemini import helpers as gemini_helpers
from tests.openai import helpers as openai_helpers

PAUSE = 0.5  # between creating the lazy stream and using it


def _openai_chat(fake_llm: Any, voker_client: Any) -> tuple[Any, Callable[[Any], None]]:
    client = openai_helpers.wrapped(fake_llm, voker_client)
    manager = client.chat.completions.stream(
        model="gpt-4.1-mini", messages=openai_helpers.MESSAGES, **openai_helpers.VOKER
    )

    def use(manager: Any) -> None:
        with manager as stream:
            stream.get_final_completion()

    return manager, use


def _anthropic_messages(fake_llm: Any, voker_client: Any) -> tuple[Any, Callable[[Any], None]]:
    client = anthropic_helpers.wrapped(fake_llm, voker_client)
    manager = client.messages.stream(
        model=anthropic_helpers.MODEL,
        max_tokens=64,
        messages=anthropic_helpers.MESSAGES,
        **anthropic_helpers.VOKER,
    )

    def use(manager: Any) -> None:
        with manager as stream:
            stream.get_final_message()

    return manager, use


def _gemini_stream(fake_llm: Any, voker_client: Any) -> tuple[Any, Callable[[Any], None]]:
    client = gemini_helpers.wrapped(fake_llm, voker_client)
    chunks = client.models.generate_content_stream(
        model=gemini_helpers.MODEL, contents=gemini_helpers.PROMPT, **gemini_helpers.VOKER
    )
    return (client, chunks), lambda pair: list(pair[1])


@pytest.mark.parametrize("make", [_openai_chat, _anthropic_messages, _gemini_stream])
def test_the_clock_starts_when_a_lazy_stream_makes_its_request(
    make: Callable[[Any, Any], tuple[Any, Callable[[Any], None]]],
    fake_llm: Any,
    voker_client: Any,
    voker_server: Any,
) -> None:
    lazy, use = make(fake_llm, voker_client)
    assert fake_llm.requests == []  # nothing sent yet
    time.sleep(PAUSE)
    used_at = datetime.now(timezone.utc)
    started = time.perf_counter()
    use(lazy)
    took_ms = (time.perf_counter() - started) * 1000
    voker_client.flush(5)
    [event] = voker_server.events(event_name="llm")
    props = event["properties"]
    assert len(fake_llm.requests) == 1
    assert datetime.fromisoformat(props["started_at"].replace("Z", "+00:00")) >= used_at
    assert 0 < props["time_to_first_token_ms"] <= props["latency_ms"] <= took_ms
