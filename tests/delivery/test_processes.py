"""Delivery across process boundaries: fork, interpreter exit, a dead Voker at exit.

Each scenario runs in a fresh interpreter (``run_python``) so that forking and exiting happen
exactly as in an application, then the test reads what landed on the devserver.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

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


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
@pytest.mark.parametrize("how", ["return", "exit"])
def test_multiprocessing_children_deliver_at_their_exit(
    method: str, how: str, voker_server: Any
) -> None:
    """fork and forkserver children end in os._exit() (no atexit) once their target is done."""
    result = run_python(
        f"""
        import multiprocessing, os
        from tests.delivery.mp_target import record

        if __name__ == "__main__":
            context = multiprocessing.get_context({method!r})
            children = [
                context.Process(target=record, args=(os.environ["URL"], f"child-{{n}}", 20, {how!r}))
                for n in range(2)
            ]
            for child in children:
                child.start()
            for child in children:
                child.join(20)
            print("exitcodes", [child.exitcode for child in children], flush=True)
        """,
        env={"URL": voker_server.base_url},
    )
    assert result.returncode == 0, result.stderr
    assert "exitcodes [0, 0]" in result.stdout, result.stdout + result.stderr
    events = voker_server.events()
    assert _count(events, "child-0") == Counter(range(20))
    assert _count(events, "child-1") == Counter(range(20))


def test_a_fork_while_the_fingerprint_is_built_cannot_hang_the_child(voker_server: Any) -> None:
    """Before Python 3.12, ``platform.uname().processor`` is computed under a process-wide lock
    (a ``uname -p`` subprocess): a fork while another thread holds it leaves the child's copy
    held for ever. The delivery thread builds the fingerprint while the application runs, so
    it must not take that lock. (Held here by a thread of the test, the fingerprint must not
    wait for it.)"""
    processor = __import__("platform").uname_result.__dict__.get("processor")
    if getattr(processor, "lock", None) is None:
        pytest.skip("this Python computes uname().processor without a lock")
    result = run_python(
        """
        import os, platform, threading
        from voker_core import VokerClient

        held, release = threading.Event(), threading.Event()

        def hold():
            with platform.uname_result.__dict__["processor"].lock:
                held.set()
                release.wait()

        threading.Thread(target=hold, daemon=True).start()
        held.wait()
        client = VokerClient(api_key="k", base_url=os.environ["URL"])
        client.events.create(event_name="e", properties={}, session="s")
        print("flushed", client.flush(10), flush=True)
        release.set()
        client.close(5)
        """,
        env={"URL": voker_server.base_url},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "flushed True" in result.stdout, result.stdout + result.stderr
    assert len(voker_server.events()) == 1
