"""Celery tasks keep the publisher's Voker context; worker processes deliver every event."""

from __future__ import annotations

import time
from typing import Any

import pytest
from celery import chain, chord, group

import voker_core

pytestmark = pytest.mark.slow


@pytest.fixture
def app(celery_app: Any) -> Any:
    return celery_app


def _wait(results: list[Any], timeout: float = 60) -> list[Any]:
    return [r.get(timeout=timeout) for r in results]


def test_task_queued_inside_a_context_records_its_llm_call_with_it(
    app: Any, start_worker: Any, voker_server: Any
) -> None:
    worker = start_worker(pool="prefork", concurrency=1)
    properties = {"tier": "gold", "trace": 2**100 + 7, "flags": [1, None]}
    with voker_core.context(session="s1", person="p1", agent="a1", properties=properties):
        result = app.ask.delay("hello from a task")
    assert "hello from a task" in result.get(timeout=60)
    worker.stop()
    (event,) = voker_server.wait_for_events(1, event_name="llm")
    assert (event["session"], event["person"], event["agent"]) == ("s1", "p1", "a1")
    assert {k: event["properties"][k] for k in properties} == properties
    assert event["properties"]["provider"] == "openai"


def test_chain_and_group_keep_the_context(app: Any, start_worker: Any, voker_server: Any) -> None:
    worker = start_worker(pool="prefork", concurrency=2)
    with voker_core.context(session="s-chain", person="p-chain", agent="a-chain"):
        chained = chain(app.ask.s("one"), app.ask_then.s("two")).apply_async()
    with voker_core.context(session="s-group", agent="a-group"):
        grouped = group(app.ask.s(f"g{i}") for i in range(3)).apply_async()
    chained.get(timeout=60)
    grouped.get(timeout=60)
    worker.stop()
    chain_events = voker_server.wait_for_events(2, session="s-chain")
    assert len(chain_events) == 2
    assert {(e["person"], e["agent"]) for e in chain_events} == {("p-chain", "a-chain")}
    group_events = voker_server.wait_for_events(3, session="s-group")
    assert len(group_events) == 3
    assert {(e["person"], e["agent"]) for e in group_events} == {(None, "a-group")}


def test_chord_callback_keeps_the_context(app: Any, start_worker: Any, voker_server: Any) -> None:
    worker = start_worker(pool="prefork", concurrency=2)
    with voker_core.context(session="s-chord", agent="a-chord", person="p-chord"):
        result = chord([app.ask.s("left"), app.ask.s("right")])(app.summarise.s())
    assert "summary of" in result.get(timeout=60)
    worker.stop()
    events = voker_server.wait_for_events(3, session="s-chord")
    assert len(events) == 3  # two header tasks and the callback
    assert {(e["agent"], e["person"]) for e in events} == {("a-chord", "p-chord")}


def test_send_task_and_retries_keep_the_context(
    app: Any, start_worker: Any, voker_server: Any
) -> None:
    worker = start_worker(pool="prefork", concurrency=1)
    with voker_core.context(session="s-send", agent="a-send"):
        sent = app.app.send_task("tests.celery_tests.worker_app.ask", args=["by name"])
    with voker_core.context(session="s-retry", agent="a-retry", person="p-retry"):
        retried = app.flaky.delay("after a retry")
    _wait([sent, retried])
    worker.stop()
    (by_name,) = voker_server.wait_for_events(1, session="s-send")
    assert by_name["agent"] == "a-send"
    (after_retry,) = voker_server.wait_for_events(1, session="s-retry")
    assert (after_retry["agent"], after_retry["person"]) == ("a-retry", "p-retry")


def test_task_published_without_context_inherits_nothing(
    app: Any, start_worker: Any, voker_server: Any
) -> None:
    # One child process runs both tasks, so a context leaking from the first would show.
    worker = start_worker(pool="prefork", concurrency=1)
    with voker_core.context(session="s-first", person="p-first", agent="a-first"):
        first = app.custom_event.delay("first")
    assert first.get(timeout=60) == {"session": "s-first", "agent": "a-first", "person": "p-first"}
    second = app.custom_event.delay("second")
    assert second.get(timeout=60) == {"session": None, "agent": None, "person": None}
    worker.stop()
    (event,) = voker_server.wait_for_events(1, event_name="second")
    assert (event["session"], event["agent"], event["person"]) == ("no-context", None, None)


def test_prefork_worker_shut_down_warm_delivers_all_50_events(
    app: Any, start_worker: Any, voker_server: Any
) -> None:
    worker = start_worker(pool="prefork", concurrency=2)
    results = []
    for i in range(50):
        with voker_core.context(session=f"s-{i}", agent="bulk"):
            results.append(app.ask.delay(f"question {i}"))
    _wait(results)
    worker.stop()
    events = voker_server.wait_for_events(50, agent="bulk", timeout=15)
    assert sorted(e["session"] for e in events) == sorted(f"s-{i}" for i in range(50))
    assert len(voker_server.events(event_name="llm")) == 50  # none twice


def test_worker_with_voker_down_shuts_down_within_flush_timeout(
    app: Any, start_worker: Any, voker_server: Any
) -> None:
    voker_server.stop()
    worker = start_worker(pool="prefork", concurrency=2)
    results = []
    for i in range(4):
        with voker_core.context(session=f"down-{i}", agent="a"):
            results.append(app.ask.delay("while Voker is down"))
    _wait(results)
    took = worker.stop()
    # flush_timeout defaults to 5 s; children flush in parallel, then the parent exits.
    assert took < 5 + 6, worker.log.decode(errors="replace")[-2000:]


def test_eager_tasks_run_in_the_callers_context(
    app: Any, voker_client: Any, voker_server: Any
) -> None:
    app.app.conf.task_always_eager = True
    try:
        with voker_core.context(
            session="s-eager", person="p-eager", agent="a-eager", client=voker_client
        ):
            assert app.custom_event.delay("eager").get() == {
                "session": "s-eager",
                "agent": "a-eager",
                "person": "p-eager",
            }
            app.ask.delay("eager question").get()
    finally:
        app.app.conf.task_always_eager = False
    assert voker_client.flush(5)
    llm = voker_server.wait_for_events(1, event_name="llm")
    assert (llm[0]["session"], llm[0]["person"], llm[0]["agent"]) == (
        "s-eager",
        "p-eager",
        "a-eager",
    )


@pytest.mark.parametrize("pool", ["threads", "solo", "prefork"])
def test_retried_task_leaves_no_context_behind(
    pool: str, app: Any, start_worker: Any, voker_server: Any
) -> None:
    # The retry (same task id) is published from inside the first attempt, whose on_retry then
    # sleeps 0.5 s: on a threads pool another thread runs the retry while the first attempt is
    # still running, so two live executions share one id. Each must leave exactly what it
    # entered, and every pool thread must then run context-free tasks without any context.
    worker = start_worker(pool=pool, concurrency=1 if pool == "solo" else 4)
    with voker_core.context(session="s-retry", agent="a-retry", person="p-retry"):
        retried = app.flaky_event.delay("retried")
    assert retried.get(timeout=60) == {
        "session": "s-retry",
        "agent": "a-retry",
        "person": "p-retry",
    }
    time.sleep(1.5)  # let the first attempt finish, so its thread takes part below
    plain = [app.custom_event.delay(f"plain-{i}") for i in range(40)]
    leaked = [s for s in _wait(plain) if s != {"session": None, "agent": None, "person": None}]
    assert leaked == []
    with voker_core.context(session="s-after", agent="a-after"):
        after = app.custom_event.delay("after")
    assert after.get(timeout=60) == {"session": "s-after", "agent": "a-after", "person": None}
    worker.stop()
    (event,) = voker_server.wait_for_events(1, event_name="retried")
    assert (event["session"], event["agent"], event["person"]) == ("s-retry", "a-retry", "p-retry")
    plain_events = voker_server.wait_for_events(40, session="no-context")
    assert len(plain_events) == 40
    assert {(e["agent"], e["person"]) for e in plain_events} == {(None, None)}
    (event,) = voker_server.wait_for_events(1, event_name="after")
    assert (event["session"], event["agent"], event["person"]) == ("s-after", "a-after", None)
