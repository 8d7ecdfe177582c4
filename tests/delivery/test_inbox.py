"""The inbox in front of the delivery lanes: a submit only appends, and nothing waits for a flush.

While events keep coming, an idle delivery thread looks at the inbox every ``POLL_INTERVAL``;
after ``QUIET_AFTER`` seconds without any it sleeps and the next submit wakes it. Either way an
event arrives on its own, without ``flush()``.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

from voker_core import VokerClient
from voker_core._delivery import POLL_INTERVAL, QUIET_AFTER


def test_events_arrive_without_flush_while_the_app_is_busy(
    voker_server: Any, make_client: Callable[..., VokerClient]
) -> None:
    client = make_client(base_url=voker_server.base_url)
    client.events.create(event_name="first", session="s")  # starts the delivery thread
    voker_server.wait_for_events(1, timeout=5)
    # The thread is idle now, looking at the inbox every POLL_INTERVAL: these only append.
    for i in range(5):
        client.events.create(event_name="later", session="s", properties={"i": i})
        time.sleep(POLL_INTERVAL / 3)
    events = voker_server.wait_for_events(5, event_name="later", timeout=5)
    assert [e["properties"]["i"] for e in events] == [0, 1, 2, 3, 4]
    assert client.flush(5)  # the server stores a batch before the client hears it was taken
    assert client.stats.sent == 6


def test_after_a_quiet_spell_the_next_event_still_arrives_without_flush(
    voker_server: Any, make_client: Callable[..., VokerClient]
) -> None:
    client = make_client(base_url=voker_server.base_url)
    client.events.create(event_name="before", session="s")
    voker_server.wait_for_events(1, timeout=5)
    time.sleep(QUIET_AFTER + 0.5)  # the delivery thread has stopped looking: a submit wakes it
    started = time.monotonic()
    client.events.create(event_name="after", session="s")
    voker_server.wait_for_events(1, event_name="after", timeout=5)
    assert time.monotonic() - started < 2
    assert client.flush(5)  # the server stores a batch before the client hears it was taken
    assert client.stats.sent == 2


def test_stats_and_flush_count_events_still_in_the_inbox(
    voker_server: Any, make_client: Callable[..., VokerClient]
) -> None:
    client = make_client(base_url=voker_server.base_url)
    client.events.create(event_name="warm-up", session="s")
    assert client.flush(5)
    for i in range(20):
        client.events.create(event_name="e", session="s", properties={"i": i})
    # Read at once: whether or not the delivery thread has looked at the inbox yet.
    assert client.stats.queued == 21
    assert client.flush(5)
    assert client.stats.sent == 21
    assert len(voker_server.events(event_name="e")) == 20


def test_threads_submitting_at_irregular_intervals_lose_nothing(
    voker_server: Any, make_client: Callable[..., VokerClient]
) -> None:
    """Submits racing the delivery thread's moves between delivering, looking at the inbox
    and waiting: every event arrives once, in order, without a flush."""
    client = make_client(base_url=voker_server.base_url)
    barrier = threading.Barrier(4)

    def produce(thread: int) -> None:
        pause = random.Random(thread).uniform
        barrier.wait()
        for i in range(150):
            client.events.create(event_name="e", session=f"t{thread}", properties={"i": i})
            if i % 10 == 0:
                time.sleep(pause(0, 2 * POLL_INTERVAL))

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    events = voker_server.wait_for_events(600, timeout=20)
    assert len(events) == 600
    for thread in range(4):
        order = [e["properties"]["i"] for e in events if e["session"] == f"t{thread}"]
        assert order == list(range(150))
    assert client.flush(5)  # the server stores a batch before the client hears it was taken
    stats = client.stats
    assert (stats.queued, stats.sent, stats.dropped, stats.failed) == (600, 600, 0, 0)
