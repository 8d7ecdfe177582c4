"""The servers and processes the demo starts, each stoppable exactly once.

Usage::

    with contextlib.ExitStack() as stack:
        site = stack.enter_context(ThreadedWSGIServer(wsgi_app, "django"))   # site.url
        redis = stack.enter_context(RedisServer.start(workdir))             # redis.url
        worker = stack.enter_context(CeleryWorker.start("examples.celery_app.tasks", env, log))

Leaving the stack stops them in reverse order, whether the demo ended, failed or was interrupted.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[2]


def reset_database(path: Path) -> None:
    """Delete an SQLite database and its WAL side files, so the demo starts from nothing."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Stoppable:
    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Any:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class ThreadedWSGIServer(_Stoppable):
    """A WSGI app served over real HTTP on a free loopback port, from a daemon thread."""

    def __init__(self, app: Any, name: str) -> None:
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # shutdown() waits up to one poll interval
            name=f"demo-{name}",
            daemon=True,
        )
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_port}"

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(5)
            self._server.server_close()


class RedisServer(_Stoppable):
    """A private ``redis-server`` on a free port, no persistence (the Celery broker)."""

    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.url = f"redis://127.0.0.1:{port}/0"

    @staticmethod
    def available() -> bool:
        return shutil.which("redis-server") is not None

    @classmethod
    def start(cls, workdir: Path, timeout: float = 10.0) -> RedisServer:
        """Start it and wait until it answers PING (``RuntimeError`` if it does not)."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        port = free_port()
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", str(workdir)]
        process = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C goes to the demo, which stops us in order
        )
        server = cls(process, port)
        deadline = time.monotonic() + timeout
        while not server._answers_ping(port):
            if time.monotonic() > deadline or process.poll() is not None:
                server.close()
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        return server

    @staticmethod
    def _answers_ping(port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def close(self) -> None:
        _stop_process_group(self.process, signal.SIGTERM, timeout=5)


class CeleryWorker(_Stoppable):
    """``celery -A <module> worker`` in its own process group, its output in ``log_path``."""

    def __init__(self, process: subprocess.Popen[bytes], log_path: Path) -> None:
        self.process = process
        self.log_path = log_path
        self._stopping = False

    @classmethod
    def start(cls, module: str, env: dict[str, str], log_path: Path) -> CeleryWorker:
        args = [sys.executable, "-m", "celery", "-A", module, "worker"]
        args += ["--pool=prefork", "--concurrency=1", "--loglevel=INFO", "--hostname=demo@%h"]
        args += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                args,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(process, log_path)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def begin_stop(self) -> None:
        """Ask for Celery's warm shutdown (SIGTERM) without waiting: running tasks finish and
        the pool child flushes its Voker events on the way out; ``close`` waits for it."""
        if not self._stopping and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        self._stopping = True  # a second SIGTERM could turn the warm shutdown into a cold one

    def close(self) -> None:
        self.begin_stop()
        _stop_process_group(self.process, None, timeout=15)


def _stop_process_group(process: subprocess.Popen[bytes], sig: int | None, timeout: float) -> None:
    """Signal the process (unless ``sig`` is None: already done), wait, then kill whatever is
    left of its group (a worker's pool children too)."""
    if process.poll() is None:
        try:
            if sig is not None:
                process.send_signal(sig)
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # leftovers of the group, if any
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()
