"""Delivery across process boundaries: fork, interpreter exit, a dead Voker at exit.

Each scenario runs in a fresh interpreter (``run_python``) so that forking and exiting happen
exactly as in an application, then the test reads what landed on the devserver.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from tests.delivery.conftest import run_python
from tests.delivery.faulty_server import FaultyServer


def _count(events: list[dict[str, Any]], session: str) -> Counter[int]:
    return Counter(e["properties"]["i"] for e in events if e["session"] == session)


def test_fork_child_delivers_its_events_and_never_resends_the_parents(
    voker_server: Any, faulty: FaultyServer
) -> None:
    # The fingerprint fails for a while, so the parent still holds its 50 events when it forks.
    faulty.fail_for(1.0, path_prefix="/api/v1/fingerprints")
    result = run_python(
        """
        import os, sys
        from voker_core import VokerClient

        client = VokerClient(api_key="k", base_url=os.environ["URL"], flush_timeout=10)
        for i in range(50):
            client.events.create(event_name="parent", properties={"i": i}, session="parent")
        print("parent-pending-at-fork", client.stats.pending, flush=True)
        pid = os.fork()
        if pid == 0:
            assert client.stats.pending == 0, client.stats   # a fresh, empty queue
            for i in range(100):
                client.events.create(event_name="child", properties={"i": i}, session="child")
            sys.exit(0)        # a normal exit: the atexit hook flushes
        _, status = os.waitpid(pid, 0)
        print("child-status", status, flush=True)
        client.close(10)
        print("parent-stats", client.stats.sent, client.stats.dropped, flush=True)
        """,
        env={"URL": faulty.base_url},
    )
    assert result.returncode == 0, result.stderr
    assert "parent-pending-at-fork 50" in result.stdout
    assert "child-status 0" in result.stdout
    assert "parent-stats 50 0" in result.stdout
    events = voker_server.events()
    assert _count(events, "child") == Counter(range(100))
    assert _count(events, "parent") == Counter(range(50))  # each exactly once
    assert len(events) == 150
    child = [e["properties"]["i"] for e in events if e["session"] == "child"]
    assert child == sorted(child)


def test_process_exiting_without_close_delivers_everything(voker_server: Any) -> None:
    result = run_python(
        """
        import voker_core

        client = voker_core.get_client()          # from VOKER_API_KEY / VOKER_BASE_URL
        for i in range(200):
            client.events.create(event_name="e", properties={"i": i}, session=f"s{i % 7}")
        """,
        env={"VOKER_API_KEY": "k", "VOKER_BASE_URL": voker_server.base_url},
    )
    assert result.returncode == 0, result.stderr
    events = voker_server.events()
    assert sorted(e["properties"]["i"] for e in events) == list(range(200))


def test_process_with_voker_down_exits_within_flush_timeout(closed_port: int) -> None:
    result = run_python(
        """
        import time
        from voker_core import VokerClient

        client = VokerClient(api_key="k", base_url=URL, flush_timeout=1)
        for i in range(500):
            client.events.create(event_name="e", properties={"i": i}, session="s")
        print(time.time(), flush=True)
        """.replace("URL", repr(f"http://127.0.0.1:{closed_port}")),
        env={},
    )
    exited = time.time()
    assert result.returncode == 0, result.stderr
    script_done = float(result.stdout.split()[0])
    assert exited - script_done < 1 + 1, exited - script_done
    assert "closed with 500 undelivered write(s)" in result.stderr


def test_exit_delivers_on_the_calling_thread_when_no_thread_can_start(voker_server: Any) -> None:
    # From Python 3.12 on, a thread cannot be started once interpreter shutdown has begun. This
    # interpreter is older, so the script recreates that condition in its own atexit hook (which
    # runs before voker_core's, hooks running last-registered first) and then reports events.
    result = run_python(
        """
        import atexit, os, threading
        from voker_core import VokerClient

        client = VokerClient(api_key="k", base_url=os.environ["URL"])

        def at_shutdown():
            def refuse(self):
                raise RuntimeError("can't create new thread at interpreter shutdown")
            threading.Thread.start = refuse
            for i in range(20):
                client.events.create(event_name="late", properties={"i": i}, session="late")

        atexit.register(at_shutdown)
        """,
        env={"URL": voker_server.base_url},
    )
    assert result.returncode == 0, result.stderr
    late = [e["properties"]["i"] for e in voker_server.events(session="late")]
    assert late == list(range(20))
