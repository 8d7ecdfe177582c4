"""Fixtures for tests that need Celery: a Redis broker on a free port and a real worker process.

Registered once for the whole suite by ``tests/conftest.py`` (``pytest_plugins``): Celery's own
tests and the Django test project's "task queued from a view" test share one broker.
"""

from __future__ import annotations

import gc
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private redis-server on loopback (``make test`` installs Debian's redis-server)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: run `make system-deps` (Debian: redis-server)")
    port = _free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    break
        except OSError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail("redis-server did not start")
        time.sleep(0.05)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        # Results left from the tests are collected while Redis still answers: Celery before
        # 5.7 would otherwise retry reconnecting from the collection forever (pytest hangs).
        gc.collect()
        proc.terminate()
        proc.wait(timeout=10)


class Worker:
    """A ``celery worker`` subprocess running tests/celery_tests/worker_app.py."""

    def __init__(self, env: dict[str, str], *, pool: str, concurrency: int) -> None:
        self.env = env
        self.log = b""
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "tests.celery_tests.worker_app",
                "worker",
                f"--pool={pool}",
                f"--concurrency={concurrency}",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

    def stop(self, timeout: float = 30.0) -> float:
        """Warm shutdown (SIGTERM); returns how long the worker took to exit."""
        started = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        self.log = out or b""
        return time.monotonic() - started


@pytest.fixture
def worker_env(redis_url: str, voker_server: Any, fake_llm: Any) -> dict[str, str]:
    """Environment shared by the test process and its worker: broker, devserver, fake LLM."""
    env = dict(os.environ)
    env.update(
        VOKER_TEST_BROKER=redis_url,
        VOKER_TEST_BACKEND=redis_url,
        VOKER_API_KEY="test-key",
        VOKER_BASE_URL=voker_server.base_url,
        OPENAI_BASE_URL=fake_llm.openai_base_url,
        PYTHONPATH=str(ROOT),
    )
    return env


@pytest.fixture
def start_worker(worker_env: dict[str, str]) -> Iterator[Any]:
    workers: list[Worker] = []

    def start(pool: str = "prefork", concurrency: int = 2, **extra_env: str) -> Worker:
        worker = Worker({**worker_env, **extra_env}, pool=pool, concurrency=concurrency)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def celery_app(worker_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The worker's app module, configured in this process to publish to the test's Redis."""
    from tests.celery_tests import worker_app

    monkeypatch.setenv("OPENAI_BASE_URL", worker_env["OPENAI_BASE_URL"])
    worker_app.app.conf.update(
        broker_url=worker_env["VOKER_TEST_BROKER"],
        result_backend=worker_env["VOKER_TEST_BACKEND"],
        task_always_eager=False,
    )
    yield worker_app
