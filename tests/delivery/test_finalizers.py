"""Events recorded from finalizers: the garbage collector runs wherever an allocation triggers it.

A stream the application drops unfinished records its call when the collector frees it (an
OpenAI ``Stream`` and its generator refer to each other, so only the cyclic collector does). That
collection can run on the delivery thread, in the middle of the engine's own locked bookkeeping,
where recording the call once took the same lock again and deadlocked the client, and then every
thread recording anything. Each scenario runs in a fresh interpreter with a time limit, so that a
deadlock fails the test instead of hanging the suite.
"""

from __future__ import annotations

import time
from typing import Any

from tests.delivery.conftest import run_python

ABANDON_UNDER_THE_LOCK = """
import gc, sys
from voker_core import VokerClient
from voker_core.ai.provider_openai import OpenAI

client = VokerClient()
llm = OpenAI(voker_client=client, api_key="x", base_url=sys.argv[1], max_retries=0)
stream = llm.chat.completions.create(
    model="gpt-4.1-mini", messages=[{"role": "user", "content": "one two three"}], stream=True,
    voker_agent="gc-agent", voker_session="collected-under-the-lock",
)
next(stream)  # the caller reads one chunk, then drops the stream
gc.disable()
del stream  # cyclic garbage now, freed by the next collection
with client._delivery._lock:  # where the delivery thread's bookkeeping holds it
    gc.collect()  # the collection that thread's next allocation could have triggered
{after}
print("delivered", client.flush(10), flush=True)
client.events.create(event_name="after", session="collected-under-the-lock", agent="gc-agent")
print("delivered", client.flush(10), flush=True)
"""


def _run(voker_server: Any, fake_llm: Any) -> Any:
    code = ABANDON_UNDER_THE_LOCK.replace("{after}", "")
    return run_python(
        f"import sys; sys.argv[1:] = [{fake_llm.openai_base_url!r}]\n" + code,
        env={"VOKER_API_KEY": "k", "VOKER_BASE_URL": voker_server.base_url},
        timeout=30,
    )


def test_a_stream_collected_under_the_clients_own_lock_is_recorded(
    voker_server: Any, fake_llm: Any
) -> None:
    result = _run(voker_server, fake_llm)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["delivered", "True", "delivered", "True"]
    events = voker_server.wait_for_events(2, session="collected-under-the-lock")
    [call] = [e for e in events if e["event_name"] == "llm"]
    assert call["agent"] == "gc-agent"
    props = call["properties"]
    assert props["stream"] is True and props["error"] is None
    assert props["output"]["choices"][0]["message"]["role"] == "assistant"  # the chunk it read
    assert "Traceback" not in result.stderr, result.stderr


def test_a_forked_child_leaves_the_parents_open_streams_to_the_parent(
    voker_server: Any, fake_llm: Any
) -> None:
    # The child of a fork holds copies of the parent's open streams; its exit must not record
    # them (the parent does, when it finishes reading them): one event per call.
    result = run_python(
        f"""
        import os, sys
        from voker_core import VokerClient
        from voker_core.ai.provider_openai import OpenAI

        client = VokerClient()
        llm = OpenAI(voker_client=client, api_key="x", base_url={fake_llm.openai_base_url!r})
        stream = llm.chat.completions.create(
            model="gpt-4.1-mini", messages=[{{"role": "user", "content": "one two"}}],
            stream=True, voker_agent="fork-agent", voker_session="forked-stream",
        )
        next(stream)
        pid = os.fork()
        if pid == 0:
            sys.exit(0)  # a normal exit: atexit hooks run in the child
        os.waitpid(pid, 0)
        list(stream)
        print("delivered", client.flush(10), flush=True)
        """,
        env={"VOKER_API_KEY": "k", "VOKER_BASE_URL": voker_server.base_url},
    )

    assert result.returncode == 0, result.stderr
    assert "delivered True" in result.stdout
    [event] = voker_server.wait_for_events(1, session="forked-stream")
    assert event["properties"]["finish_reason"] == "stop"  # the parent's whole stream
    time.sleep(0.5)  # anything the child sent would have landed by now
    assert len(voker_server.events(session="forked-stream")) == 1
