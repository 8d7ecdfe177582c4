"""Delivery under load and under faults: every event stored exactly once, sessions in order."""

from __future__ import annotations

import threading
import time
import tracemalloc
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import pytest

from tests.delivery.faulty_server import FaultyServer
from voker_core import VokerClient
from voker_core._delivery import MAX_ATTEMPTS


def _assert_each_stored_once_in_order(
    events: list[dict[str, Any]], expected: int, key: str = "i"
) -> None:
    """Every (session, i) exactly once, and within a session in increasing ``i``."""
    assert len(events) == expected
    ids = Counter((e["session"], e["properties"][key]) for e in events)
    assert len(ids) == expected, [k for k, n in ids.items() if n > 1][:5]
    by_session: dict[str, list[int]] = defaultdict(list)
    for event in events:  # the server lists oldest first
        by_session[event["session"]].append(event["properties"][key])
    for session, order in by_session.items():
        assert order == sorted(order), f"session {session} out of order: {order[:20]}"


def test_eight_threads_times_a_thousand_events(
    voker_server: Any, make_client: Callable[..., VokerClient]
) -> None:
    client = make_client(base_url=voker_server.base_url)
    barrier = threading.Barrier(8)

    def produce(thread: int) -> None:
        barrier.wait()
        for i in range(1000):
            client.events.create(
                event_name="e", properties={"i": i, "t": thread}, session=f"t{thread}-s{i % 3}"
            )

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert client.flush(60)
    _assert_each_stored_once_in_order(voker_server.events(), 8000)
    stats = client.stats
    assert (stats.queued, stats.sent, stats.dropped, stats.failed) == (8000, 8000, 0, 0)


def _send_burst(client: VokerClient, sessions: int = 4, per_session: int = 10) -> int:
    for i in range(per_session):
        for s in range(sessions):
            client.events.create(event_name="e", properties={"i": i}, session=f"s{s}")
    return sessions * per_session


@pytest.mark.parametrize(
    "plan",
    [
        pytest.param(lambda p: p.fail(4, status=503, path_prefix="/api/v1/events"), id="503-burst"),
        pytest.param(
            lambda p: p.fail(3, status=502, path_prefix="/api/v1/"), id="502-burst-any-endpoint"
        ),
        pytest.param(
            lambda p: p.fail(2, status=429, retry_after=0.5, path_prefix="/api/v1/events"),
            id="429-retry-after",
        ),
        pytest.param(lambda p: p.drop(3, path_prefix="/api/v1/events"), id="dropped-before"),
        pytest.param(
            lambda p: p.drop(3, after_forward=True, path_prefix="/api/v1/events"),
            id="dropped-after-storing",
        ),
        pytest.param(
            lambda p: p.slow(3, delay=0.6, path_prefix="/api/v1/events"),
            id="slower-than-timeout",
        ),
        pytest.param(lambda p: p.fail(2, status=500, path_prefix="/api/v1/events"), id="500"),
    ],
)
def test_each_fault_mode_still_stores_every_event_once(
    voker_server: Any,
    faulty: FaultyServer,
    make_client: Callable[..., VokerClient],
    plan: Callable[[FaultyServer], None],
) -> None:
    plan(faulty)
    client = make_client(base_url=faulty.base_url, timeout=0.3)
    sent = _send_burst(client)
    assert client.flush(15)
    assert faulty.pending_faults() == 0
    _assert_each_stored_once_in_order(voker_server.events(), sent)
    stats = client.stats
    assert stats.sent == sent and stats.failed == 0 and stats.dropped == 0
    # Retried event requests, or (502 on any endpoint) retried fingerprint requests.
    assert stats.retried >= 2


def test_retry_after_is_honoured(
    voker_server: Any, faulty: FaultyServer, make_client: Callable[..., VokerClient]
) -> None:
    faulty.fail(1, status=429, retry_after=1.0, path_prefix="/api/v1/events")
    client = make_client(base_url=faulty.base_url)
    client.events.create(event_name="e", properties={}, session="s")
    client.events.create(event_name="e2", properties={}, session="other")
    started = time.monotonic()
    assert client.flush(10)
    assert time.monotonic() - started >= 0.95  # nothing was sent again before Retry-After
    assert faulty.count("POST", "/api/v1/events") == 3
    assert len(voker_server.events()) == 2


@pytest.mark.slow
def test_an_event_the_server_always_fails_on_is_given_up_and_its_session_goes_on(
    voker_server: Any, faulty: FaultyServer, make_client: Callable[..., VokerClient]
) -> None:
    """A request the server answers with 500 every time (a server bug its body triggers), at
    the head of the only session: nothing else can get through meanwhile, yet it is not an
    outage. It is given up after MAX_ATTEMPTS answers, and the session's later events follow
    (before, it was retried for ever and they waited behind it until exit dropped them)."""
    faulty.fail(MAX_ATTEMPTS, status=500, path_prefix="/api/v1/events")
    client = make_client(base_url=faulty.base_url)
    for i in range(6):
        client.events.create(event_name="step", properties={"i": i}, session="run-1")
    assert client.flush(90)
    assert faulty.count("POST", "/api/v1/events") == MAX_ATTEMPTS + 5
    assert [e["properties"]["i"] for e in voker_server.events()] == [1, 2, 3, 4, 5]
    stats = client.stats
    assert (stats.failed, stats.sent, stats.pending) == (1, 5, 0)


def test_a_failed_thread_start_is_retried_by_a_later_write(
    voker_server: Any, make_client: Callable[..., VokerClient]
) -> None:
    """A thread limit hit in a spike makes starting the delivery thread fail once; the writes
    after it start one (before, none was ever started again: events waited for flush/exit)."""
    client = make_client(base_url=voker_server.base_url)
    real_start = threading.Thread.start

    def refuse_delivery_threads(thread: threading.Thread) -> None:
        if thread.name == "voker-delivery":
            raise RuntimeError("can't start new thread")
        real_start(thread)

    threading.Thread.start = refuse_delivery_threads  # type: ignore[method-assign]
    try:
        client.events.create(event_name="e", properties={"i": 0}, session="s")
    finally:
        threading.Thread.start = real_start  # type: ignore[method-assign]
    assert client.stats.pending == 1
    deadline = time.monotonic() + 10
    i = 0
    while len(voker_server.events()) < i + 1 and time.monotonic() < deadline:
        i += 1  # the application goes on writing; no flush()
        client.events.create(event_name="e", properties={"i": i}, session="s")
        time.sleep(0.2)
    stored = [e["properties"]["i"] for e in voker_server.events()]
    assert stored[:1] == [0] and stored == sorted(stored), stored


@pytest.mark.parametrize("stage", ["/api/v1/events", "/api/v1/fingerprints"])
def test_close_tries_once_more_when_the_next_retry_is_after_its_deadline(
    stage: str,
    voker_server: Any,
    faulty: FaultyServer,
    make_client: Callable[..., VokerClient],
) -> None:
    """A process exiting after a long outage: the backoff (or a Retry-After) has put the next
    attempt beyond the exit flush; Voker is back meanwhile, so close() must not drop untried."""
    faulty.fail(1, status=503, retry_after=30.0, path_prefix=stage)
    client = make_client(base_url=faulty.base_url, flush_timeout=3)
    client.events.create(event_name="e", properties={}, session="s")
    deadline = time.monotonic() + 5
    while faulty.count("PUT" if "fingerprints" in stage else "POST", stage) < 1:
        assert time.monotonic() < deadline, "the first attempt was never made"
        time.sleep(0.02)
    started = time.monotonic()
    client.close(3)
    assert time.monotonic() - started < 2.5
    assert client.stats.dropped == 0
    assert len(voker_server.events()) == 1


def test_refused_connections_then_recovery(
    voker_server: Any, faulty: FaultyServer, make_client: Callable[..., VokerClient]
) -> None:
    client = make_client(base_url=faulty.base_url, timeout=1)
    client.events.create(event_name="warm", properties={"i": -1}, session="s0")
    assert client.flush(5)
    faulty.refuse_for(1.0)  # the pooled keep-alive connections are cut too
    sent = _send_burst(client)
    assert client.flush(15)
    events = [e for e in voker_server.events() if e["event_name"] == "e"]
    _assert_each_stored_once_in_order(events, sent)
    assert client.stats.retried >= 1


def test_voker_down_from_the_start_then_up(
    voker_server: Any, make_client: Callable[..., VokerClient]
) -> None:
    voker_server.stop()
    client = make_client(base_url=voker_server.base_url, timeout=0.5)
    sent = _send_burst(client)
    time.sleep(0.5)
    assert client.stats.pending == sent
    voker_server.start()
    assert client.flush(15)
    _assert_each_stored_once_in_order(voker_server.events(), sent)


def test_fingerprint_endpoint_failing_for_three_seconds(
    voker_server: Any, faulty: FaultyServer, make_client: Callable[..., VokerClient]
) -> None:
    faulty.fail_for(3.0, status=503, path_prefix="/api/v1/fingerprints")
    client = make_client(base_url=faulty.base_url)
    sent = _send_burst(client, sessions=3, per_session=5)
    client.agents.create(agent_name="bot", description="d")
    assert client.flush(15)
    _assert_each_stored_once_in_order(voker_server.events(), sent)
    fingerprint_requests = faulty.count("PUT", "/api/v1/fingerprints")
    assert fingerprint_requests >= 3
    assert client.stats.retried == fingerprint_requests - 1  # every failed one was tried again
    assert len(voker_server.fingerprints()) == 1
    assert voker_server.agents()[0]["description"] == "d"


def test_fingerprint_not_found_makes_a_new_fingerprint_and_resends(
    voker_server: Any, faulty: FaultyServer, make_client: Callable[..., VokerClient]
) -> None:
    client = make_client(base_url=faulty.base_url)
    client.events.create(event_name="first", properties={"i": 0}, session="s")
    assert client.flush(5)
    faulty.not_found(1, kind="fingerprint-not-found", path_prefix="/api/v1/events")
    client.events.create(event_name="second", properties={"i": 1}, session="s")
    assert client.flush(5)
    fingerprints = [f["fingerprint_id"] for f in voker_server.fingerprints()]
    assert len(fingerprints) == 2
    events = voker_server.events()
    assert [e["event_name"] for e in events] == ["first", "second"]
    assert [e["fingerprint_id"] for e in events] == fingerprints


def test_event_prepared_while_the_fingerprint_is_remade_is_resent_not_failed(
    voker_server: Any, faulty: FaultyServer, make_client: Callable[..., VokerClient]
) -> None:
    """Thread A gets fingerprint-not-found and clears the fingerprint while thread B is still
    preparing another event (a slow ``before_send``). B must wait for the new fingerprint and
    send, not count its event failed."""
    new_fingerprint_requested = threading.Event()

    def before_send(event: dict[str, Any]) -> dict[str, Any]:
        if event["session"] == "slow":
            # Hold this event until the second fingerprint request is on the wire: the old
            # fingerprint is gone and the new one not there yet.
            deadline = time.monotonic() + 5
            while faulty.count("PUT", "/api/v1/fingerprints") < 2:
                assert time.monotonic() < deadline, "the fingerprint was never remade"
                time.sleep(0.01)
            new_fingerprint_requested.set()
        return event

    # Both fingerprint requests are slow: the first so that both events are queued before
    # either is taken (two threads take them), the second to keep the window open.
    faulty.slow(2, delay=0.5, path_prefix="/api/v1/fingerprints")
    faulty.not_found(1, kind="fingerprint-not-found", path_prefix="/api/v1/events")
    client = make_client(base_url=faulty.base_url, before_send=before_send)
    client.events.create(event_name="held", properties={"i": 0}, session="slow")
    client.events.create(event_name="404", properties={"i": 0}, session="fast")
    assert client.flush(10)
    assert new_fingerprint_requested.is_set()
    stats = client.stats
    assert (stats.sent, stats.failed, stats.dropped) == (2, 0, 0)
    fingerprints = [f["fingerprint_id"] for f in voker_server.fingerprints()]
    assert len(fingerprints) == 2
    events = {e["event_name"]: e for e in voker_server.events()}
    assert sorted(events) == ["404", "held"]
    assert {e["fingerprint_id"] for e in events.values()} == {fingerprints[1]}


def test_voker_down_queued_events_hold_their_capped_size_not_the_raw_data(
    voker_server: Any, make_client: Callable[..., VokerClient]
) -> None:
    """While Voker is down, queued events are prepared (JSON-safe, capped at max_event_bytes) by
    the waiting delivery thread, so 50 events that each carried 2 MB of data the application
    has since let go of hold about 50 x 16 KiB, not 100 MB; and they are delivered, capped,
    once Voker is back."""
    with FaultyServer(voker_server.base_url) as proxy:
        proxy.fail_for(8.0, status=503)
        client = make_client(base_url=proxy.base_url, max_event_bytes=16 * 1024)
        tracemalloc.start()
        try:
            baseline = tracemalloc.get_traced_memory()[0]
            for i in range(50):
                blob = "data:image/png;base64," + "QUJD" * (512 * 1024)  # a fresh 2 MB string
                client.events.create(
                    event_name="upload", properties={"i": i, "image": blob}, session="s"
                )
                del blob
            deadline = time.monotonic() + 5
            held = tracemalloc.get_traced_memory()[0] - baseline
            while held > 5_000_000 and time.monotonic() < deadline:
                time.sleep(0.1)
                held = tracemalloc.get_traced_memory()[0] - baseline
            sent_meanwhile = client.stats.sent
        finally:
            tracemalloc.stop()
        assert sent_meanwhile == 0  # still down: nothing was let go by being delivered
        assert held < 5_000_000, f"{held / 1e6:.1f} MB held for 50 queued events"
        assert client.flush(40)
    events = voker_server.events()
    assert [e["properties"]["i"] for e in events] == list(range(50))
    assert all(len(e["properties"]["image"]) < 16 * 1024 for e in events)


def test_before_send_dropping_events_prepared_during_an_outage(
    voker_server: Any, make_client: Callable[..., VokerClient]
) -> None:
    """Events prepared ahead while Voker is down go through before_send then; one it drops is
    counted filtered when its turn comes, and its session's later events still follow."""

    def odd_ones_out(event: dict[str, Any]) -> dict[str, Any] | None:
        return None if event["properties"]["i"] % 2 else event

    with FaultyServer(voker_server.base_url) as proxy:
        proxy.fail_for(3.0, status=503)
        client = make_client(base_url=proxy.base_url, before_send=odd_ones_out)
        for i in range(10):
            client.events.create(event_name="e", properties={"i": i}, session="s")
        assert client.flush(30)
    assert [e["properties"]["i"] for e in voker_server.events()] == [0, 2, 4, 6, 8]
    stats = client.stats
    assert (stats.sent, stats.filtered, stats.dropped, stats.failed) == (5, 5, 5, 0)


def test_voker_down_for_the_whole_run_stays_bounded_and_closes_fast(
    make_client: Callable[..., VokerClient], closed_port: int
) -> None:
    client = make_client(
        base_url=f"http://127.0.0.1:{closed_port}", max_queue_size=1000, flush_timeout=30
    )

    def attempt(n: int, offset: int) -> None:
        for i in range(n):
            client.events.create(
                event_name="llm",
                properties={"i": offset + i, "text": f"message {offset + i} " * 20},
                session=f"s{i % 50}",
            )

    tracemalloc.start()
    try:
        attempt(2000, 0)
        # Let the worker build (and keep) its fingerprint payload before taking the baseline.
        time.sleep(1.0)
        after_first = tracemalloc.get_traced_memory()[0]
        attempt(20_000, 2000)
        after_many = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    stats = client.stats
    assert stats.pending == 1000
    assert stats.queue_full == stats.dropped == 21_000
    assert stats.queued == 1000
    # Ten times more attempts, no more memory: the queue holds max_queue_size items at most.
    # (Keeping the 20,000 extra events would take well over 10 MB.)
    assert after_many - after_first < 1_500_000, (after_first, after_many)

    started = time.monotonic()
    client.close(timeout=1)
    elapsed = time.monotonic() - started
    assert elapsed < 2.0
    assert client.stats.pending == 0
    assert client.stats.dropped == 22_000  # the 1,000 still queued at close are dropped too
