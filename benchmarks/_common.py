"""Helpers shared by the benchmarks: a devserver in its own process, child runs, a table.

The devserver runs in a separate process so that its request handling does not compete with the
measured client for the GIL. Each measurement runs in a fresh interpreter (``run_child``) so that
one SDK's threads, queues and memory never affect the other's figures.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def devserver_process(*, latency: float = 0.0) -> Iterator[tuple[str, str]]:
    """Run ``DevServer(latency=...)`` in a child process; yields ``(base_url, db_path)``."""
    tmp = tempfile.mkdtemp(prefix="voker-bench-")
    db_path = os.path.join(tmp, "bench.sqlite3")
    port = free_port()
    code = textwrap.dedent(
        f"""
        import sys
        from voker_core.devserver import DevServer
        server = DevServer({db_path!r}, port={port}, latency={latency!r}).start()
        print("ready", flush=True)
        sys.stdin.read()          # until the benchmark closes our stdin
        server.close()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the devserver did not start")
        base_url = f"http://127.0.0.1:{port}"
        _wait_healthy(base_url)
        yield base_url, db_path
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_healthy(base_url: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(base_url + "/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def run_child(code: str, *, timeout: float = 180.0, env: dict[str, str] | None = None) -> Any:
    """Run ``code`` in a fresh interpreter; it must print one JSON line last. Returns it parsed."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})},
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"benchmark child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    print(line(headers))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(line(row))
