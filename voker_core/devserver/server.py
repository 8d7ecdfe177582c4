"""Run the devserver in the background of the current process, and read back what it stored.

Usage::

    from voker_core.devserver import DevServer

    with DevServer() as server:                 # temporary database, free port on 127.0.0.1
        client = ApiClient(api_key="dev", base_url=server.base_url)
        ...
        server.events(session="s1")             # what landed, oldest first
        server.stop()                           # Voker is "down": connections are refused
        server.start()                          # ... and back, on the same port, same data

``stop()`` keeps the database so that the readers and a later ``start()`` still see everything;
``close()`` (and leaving the ``with`` block) stops the server for good and deletes the temporary
database if this object created it. The readers go straight to the database, so they work while the
server is stopped and never count as requests.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from types import TracebackType
from typing import Any

from voker_core.devserver.app import VokerApp
from voker_core.devserver.store import RecordNotFound, Store
from voker_core.devserver.wsgi_server import WSGIServer

__all__ = ["DevServer"]

logger = logging.getLogger("voker.devserver")


class DevServer:
    """The local Voker server on a background thread (see the module docstring).

    ``db_path``: the SQLite file (created if missing); None uses a temporary one. ``port=0`` picks a
    free port at the first ``start()``; later starts re-bind that same port. ``api_key``: enforce
    this key (401 otherwise); None accepts any. ``latency``: seconds added to every answer.
    """

    def __init__(
        self,
        db_path: str | os.PathLike[str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        latency: float = 0.0,
    ) -> None:
        self._temp_dir: str | None = None
        if db_path is None:
            self._temp_dir = tempfile.mkdtemp(prefix="voker-devserver-")
            db_path = os.path.join(self._temp_dir, "devserver.sqlite3")
        self._db_path = os.path.abspath(os.fspath(db_path))
        self._host = host
        self._port = port
        self._api_key = api_key
        self._latency = latency
        self._lock = threading.RLock()
        self._app: VokerApp | None = None
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> DevServer:
        """Start serving (no-op if running); returns self. Raises ``OSError`` if the port is taken."""
        with self._lock:
            if self._closed:
                raise RuntimeError("this DevServer is closed; create a new one")
            if self._server is not None:
                return self
            server = WSGIServer((self._host, self._port), self.app)
            self._port = int(server.server_address[1])
            thread = threading.Thread(
                target=server.serve, name=f"voker-devserver-{self._port}", daemon=True
            )
            thread.start()
            self._server, self._thread = server, thread
            logger.debug("devserver listening on %s (database %s)", self.base_url, self._db_path)
            return self

    def stop(self) -> None:
        """Stop serving: refuse new connections and cut open ones. Idempotent; data is kept."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
            if server is None:
                return
            server.stop_serving()
            if thread is not None:
                thread.join()
            server.close_all()
            logger.debug("devserver on port %d stopped", self._port)

    def close(self) -> None:
        """Stop for good, close the database, and delete it if it is our temporary one."""
        with self._lock:
            if self._closed:
                return
            self.stop()
            self._closed = True
            if self._app is not None:
                self._app.store.close()
            if self._temp_dir is not None:
                shutil.rmtree(self._temp_dir, ignore_errors=True)

    def __enter__(self) -> DevServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- properties -----------------------------------------------------------------------------

    @property
    def app(self) -> VokerApp:
        """The WSGI application (one per DevServer, kept across restarts)."""
        with self._lock:
            if self._app is None:
                if self._closed:
                    raise RuntimeError("this DevServer is closed")
                os.makedirs(os.path.dirname(self._db_path), exist_ok=True)
                # Our own temporary database need not survive a power cut: skip the fsyncs.
                store = Store(self._db_path, durable=self._temp_dir is None)
                self._app = VokerApp(store, api_key=self._api_key, latency=self._latency)
            return self._app

    @property
    def store(self) -> Store:
        """The database the server writes to."""
        return self.app.store

    @property
    def running(self) -> bool:
        """Whether the server is accepting connections."""
        return self._server is not None

    @property
    def host(self) -> str:
        """The interface the server binds."""
        return self._host

    @property
    def port(self) -> int:
        """The TCP port (0 until the first ``start()`` when a free port was asked for)."""
        return self._port

    @property
    def base_url(self) -> str:
        """``http://host:port``: the value for ``VOKER_BASE_URL``."""
        host = self._host
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self._port}"

    @property
    def db_path(self) -> str:
        """Absolute path of the SQLite database."""
        return self._db_path

    @property
    def api_key(self) -> str | None:
        """The enforced API key, or None when any key is accepted."""
        return self._api_key

    @property
    def latency(self) -> float:
        """Seconds slept before each answer; settable while running."""
        return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._latency = seconds
        if self._app is not None:
            self._app.latency = seconds

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 503,
        retry_after: float | None = None,
        path_prefix: str = "/api/v1/",
    ) -> None:
        """Answer the next ``count`` API requests with ``status`` (see ``VokerApp.fail_next``)."""
        self.app.fail_next(count, status=status, retry_after=retry_after, path_prefix=path_prefix)

    # -- readers (straight from the database) ---------------------------------------------------

    def request_count(self) -> int:
        """How many HTTP requests the server has answered (across restarts)."""
        return self.app.request_count if self._app is not None else 0

    def events(
        self,
        *,
        session: str | None = None,
        agent: str | None = None,
        agent_version: str | None = None,
        person: str | None = None,
        event_name: str | None = None,
    ) -> list[dict[str, Any]]:
        """Every stored event matching all the filters given (exact match), oldest first.

        Each event is ``{event_id, event_name, properties, session, agent, agent_version, person,
        fingerprint_id, created_at}``.
        """
        events, _ = self.store.list_events(
            session=session,
            agent=agent,
            agent_version=agent_version,
            person=person,
            event_name=event_name,
        )
        return events

    def sessions(
        self, *, agent: str | None = None, person: str | None = None
    ) -> list[dict[str, Any]]:
        """Every session with a matching event, most recently active first (see ``Store``)."""
        return self.store.list_sessions(agent=agent, person=person)[0]

    def people(self) -> list[dict[str, Any]]:
        """Every person, in creation order."""
        return self.store.list_people()[0]

    def person(self, person_id: str) -> dict[str, Any] | None:
        """The person, or None if there is none with that id."""
        try:
            return self.store.get_person(person_id)
        except RecordNotFound:
            return None

    def agents(self) -> list[dict[str, Any]]:
        """Every agent, in creation order."""
        return self.store.list_agents()[0]

    def agent_versions(self, agent: str) -> list[dict[str, Any]]:
        """The agent's versions in creation order ([] for an unknown agent)."""
        try:
            return self.store.list_agent_versions(agent)[0]
        except RecordNotFound:
            return []

    def fingerprints(self) -> list[dict[str, Any]]:
        """Every fingerprint as ``{fingerprint_id, created_at, payload}``, oldest first."""
        return self.store.list_fingerprints()

    def __repr__(self) -> str:
        state = "running" if self.running else ("closed" if self._closed else "stopped")
        return f"<DevServer {self.base_url} {state} db={self._db_path!r}>"
