"""SQLite storage behind the local Voker server.

One :class:`Store` wraps one SQLite database in WAL mode. Every method is safe to call from any
thread: the store owns a single connection guarded by a lock, so the HTTP handler threads and the
test helpers that read the database directly share it without "database is locked" surprises.
Every write runs in one ``BEGIN IMMEDIATE`` transaction, so a failure never leaves half a record.

Usage::

    store = Store("voker.sqlite3")
    fp = store.create_fingerprint({"language": "python", "language_version": "3.11", "system": "x"})
    event, created = store.create_event(
        event_name="llm", properties={}, session="s1", fingerprint_id=fp["fingerprint_id"],
        agent="support-bot",
    )
    store.list_events(session="s1")  # -> ([event], 1)
    store.close()

Records come back as plain dicts shaped as the HTTP API returns them (DESIGN §2 and §7).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

__all__ = ["DEFAULT_VERSION_NAME", "RecordNotFound", "Store", "utc_now"]

#: Name of the version an event is filed under when it names an agent but no version.
DEFAULT_VERSION_NAME = "default"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS agents (
    agent_number INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_name TEXT NOT NULL UNIQUE,
    description TEXT,
    created_at TEXT NOT NULL,
    deprecated_at TEXT
);
CREATE TABLE IF NOT EXISTS agent_versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_number INTEGER NOT NULL REFERENCES agents(agent_number),
    agent_version_name TEXT NOT NULL,
    agent_version_number INTEGER NOT NULL,
    description TEXT,
    created_at TEXT NOT NULL,
    deprecated_at TEXT,
    UNIQUE (agent_number, agent_version_name),
    UNIQUE (agent_number, agent_version_number)
);
CREATE TABLE IF NOT EXISTS people (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    person_id TEXT NOT NULL UNIQUE,
    properties TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS fingerprints (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint_id TEXT NOT NULL UNIQUE,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    event_name TEXT NOT NULL,
    properties TEXT NOT NULL,
    session TEXT NOT NULL,
    agent TEXT,
    agent_version TEXT,
    person TEXT,
    fingerprint_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    idempotency_key TEXT UNIQUE
);
CREATE INDEX IF NOT EXISTS events_session ON events (session);
CREATE INDEX IF NOT EXISTS events_agent ON events (agent);
CREATE INDEX IF NOT EXISTS events_person ON events (person);
CREATE INDEX IF NOT EXISTS events_event_name ON events (event_name);
"""

#: Event columns a reader may filter on (all exact matches).
EVENT_FILTERS = ("session", "agent", "agent_version", "person", "event_name")


class RecordNotFound(Exception):
    """A named record does not exist; ``kind`` is the API error type, e.g. ``agent-not-found``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def utc_now() -> str:
    """The current time as ISO-8601 UTC with a ``Z`` suffix and microseconds."""
    stamp = datetime.now(timezone.utc).isoformat(timespec="microseconds")
    return stamp.replace("+00:00", "Z")


def _dumps(value: Any) -> str:
    # Compact, and ASCII-safe so any str the JSON parser produced can be stored as TEXT.
    return json.dumps(value, separators=(",", ":"))


class Store:
    """Thread-safe access to one devserver database (created on first use)."""

    def __init__(self, path: str | os.PathLike[str], *, durable: bool = True) -> None:
        """Open (and create if needed) the database at ``path``.

        ``durable=False`` skips every fsync: right for a throwaway test database, where it saves
        tens of milliseconds per test on a busy disk, wrong for data you want after a power cut.
        """
        self.path = os.fspath(path)
        self._lock = threading.RLock()
        # check_same_thread=False: the lock, not the thread, is what serialises access.
        self._conn: sqlite3.Connection | None = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=10.0
        )
        self._conn.row_factory = sqlite3.Row
        with self._lock:
            # WAL with synchronous=NORMAL: commits need no fsync, readers never block writers.
            sync = "NORMAL" if durable else "OFF"
            self._conn.execute(f"PRAGMA synchronous={sync}")
            self._conn.execute("PRAGMA busy_timeout=10000")
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}COMMIT;")

    # -- plumbing -------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._conn is None

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"the devserver store {self.path!r} is closed")
        return self._conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One atomic write transaction: committed on success, rolled back on any exception."""
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for multi-statement reads (e.g. a page plus its total)."""
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    # -- fingerprints ---------------------------------------------------------------------------

    def create_fingerprint(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Store the client's fingerprint payload under a new id; returns ``{fingerprint_id}``."""
        fingerprint_id = uuid.uuid4().hex
        with self._write() as conn:
            conn.execute(
                "INSERT INTO fingerprints (fingerprint_id, payload, created_at) VALUES (?, ?, ?)",
                (fingerprint_id, _dumps(dict(payload)), utc_now()),
            )
        return {"fingerprint_id": fingerprint_id}

    def get_fingerprint(self, fingerprint_id: str) -> dict[str, Any]:
        """The fingerprint with its stored payload; raises ``fingerprint-not-found``."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT * FROM fingerprints WHERE fingerprint_id = ?", (fingerprint_id,)
            ).fetchone()
        if row is None:
            raise RecordNotFound(
                "fingerprint-not-found", f"fingerprint {fingerprint_id!r} does not exist"
            )
        return _fingerprint(row)

    def list_fingerprints(self) -> list[dict[str, Any]]:
        """Every fingerprint, oldest first."""
        with self._read() as conn:
            rows = conn.execute("SELECT * FROM fingerprints ORDER BY id").fetchall()
        return [_fingerprint(row) for row in rows]

    # -- agents and versions --------------------------------------------------------------------

    def create_agent(self, agent_name: str, description: str | None = None) -> dict[str, Any]:
        """Create the agent, or return the stored one unchanged if it exists."""
        with self._write() as conn:
            return _agent(_ensure_agent(conn, agent_name, description))

    def get_agent(self, agent_name: str) -> dict[str, Any]:
        """The agent; raises ``agent-not-found``."""
        with self._read() as conn:
            return _agent(_require_agent(conn, agent_name))

    def list_agents(
        self, *, limit: int | None = None, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        """A page of agents in creation order, and how many there are."""
        with self._read() as conn:
            total = conn.execute("SELECT COUNT(*) FROM agents").fetchone()[0]
            rows = conn.execute(
                "SELECT * FROM agents ORDER BY agent_number LIMIT ? OFFSET ?",
                (_sql_limit(limit), offset),
            ).fetchall()
        return [_agent(row) for row in rows], int(total)

    def create_agent_version(
        self, agent_name: str, agent_version_name: str, description: str | None = None
    ) -> dict[str, Any]:
        """Create a version under an existing agent (else ``agent-not-found``); no-op if it exists."""
        with self._write() as conn:
            agent = _require_agent(conn, agent_name)
            row = _ensure_version(conn, agent["agent_number"], agent_version_name, description)
            return _version(row)

    def get_agent_version(self, agent_name: str, agent_version_name: str) -> dict[str, Any]:
        """The version; raises ``agent-not-found`` or ``agent-version-not-found``."""
        with self._read() as conn:
            agent = _require_agent(conn, agent_name)
            row = conn.execute(
                "SELECT * FROM agent_versions WHERE agent_number = ? AND agent_version_name = ?",
                (agent["agent_number"], agent_version_name),
            ).fetchone()
        if row is None:
            raise RecordNotFound(
                "agent-version-not-found",
                f"agent {agent_name!r} has no version {agent_version_name!r}",
            )
        return _version(row)

    def list_agent_versions(
        self, agent_name: str, *, limit: int | None = None, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        """A page of an agent's versions in creation order; raises ``agent-not-found``."""
        with self._read() as conn:
            agent = _require_agent(conn, agent_name)
            number = agent["agent_number"]
            total = conn.execute(
                "SELECT COUNT(*) FROM agent_versions WHERE agent_number = ?", (number,)
            ).fetchone()[0]
            rows = conn.execute(
                "SELECT * FROM agent_versions WHERE agent_number = ?"
                " ORDER BY agent_version_number LIMIT ? OFFSET ?",
                (number, _sql_limit(limit), offset),
            ).fetchall()
        return [_version(row) for row in rows], int(total)

    # -- people ---------------------------------------------------------------------------------

    def create_person(
        self, person_id: str, properties: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Create the person, or return the stored one unchanged if it exists."""
        with self._write() as conn:
            return _person(_ensure_person(conn, person_id, properties or {}))

    def get_person(self, person_id: str) -> dict[str, Any]:
        """The person; raises ``person-not-found``."""
        with self._read() as conn:
            return _person(_require_person(conn, person_id))

    def update_person(self, person_id: str, properties: Mapping[str, Any]) -> dict[str, Any]:
        """Merge ``properties`` into the stored ones (top-level keys); raises ``person-not-found``."""
        with self._write() as conn:
            row = _require_person(conn, person_id)
            merged = json.loads(row["properties"])
            merged.update(properties)
            conn.execute(
                "UPDATE people SET properties = ?, updated_at = ? WHERE id = ?",
                (_dumps(merged), utc_now(), row["id"]),
            )
            return _person(_require_person(conn, person_id))

    def list_people(
        self, *, limit: int | None = None, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        """A page of people in creation order, and how many there are."""
        with self._read() as conn:
            total = conn.execute("SELECT COUNT(*) FROM people").fetchone()[0]
            rows = conn.execute(
                "SELECT * FROM people ORDER BY id LIMIT ? OFFSET ?", (_sql_limit(limit), offset)
            ).fetchall()
        return [_person(row) for row in rows], int(total)

    # -- events ---------------------------------------------------------------------------------

    def create_event(
        self,
        *,
        event_name: str,
        properties: Mapping[str, Any],
        session: str,
        fingerprint_id: str,
        agent: str | None = None,
        agent_version: str | None = None,
        person: str | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Store one event; returns ``(event, created)``.

        ``created`` is False when ``idempotency_key`` was seen before: the stored event comes back
        and nothing is written. Unknown agents, versions and people are created in the same
        transaction; an agent without a version files the event under :data:`DEFAULT_VERSION_NAME`.
        Raises ``fingerprint-not-found`` (nothing stored) for an unknown fingerprint.
        """
        with self._write() as conn:
            if idempotency_key is not None:
                seen = conn.execute(
                    "SELECT * FROM events WHERE idempotency_key = ?", (idempotency_key,)
                ).fetchone()
                if seen is not None:
                    return _event(seen), False
            known = conn.execute(
                "SELECT 1 FROM fingerprints WHERE fingerprint_id = ?", (fingerprint_id,)
            ).fetchone()
            if known is None:
                raise RecordNotFound(
                    "fingerprint-not-found", f"fingerprint {fingerprint_id!r} does not exist"
                )
            if agent is not None:
                agent_row = _ensure_agent(conn, agent, None)
                agent_version = agent_version or DEFAULT_VERSION_NAME
                _ensure_version(conn, agent_row["agent_number"], agent_version, None)
            if person is not None:
                _ensure_person(conn, person, {})
            cursor = conn.execute(
                "INSERT INTO events (event_id, event_name, properties, session, agent,"
                " agent_version, person, fingerprint_id, created_at, idempotency_key)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    uuid.uuid4().hex,
                    event_name,
                    _dumps(dict(properties)),
                    session,
                    agent,
                    agent_version,
                    person,
                    fingerprint_id,
                    utc_now(),
                    idempotency_key,
                ),
            )
            row = conn.execute("SELECT * FROM events WHERE id = ?", (cursor.lastrowid,)).fetchone()
            return _event(row), True

    def list_events(
        self,
        *,
        session: str | None = None,
        agent: str | None = None,
        agent_version: str | None = None,
        person: str | None = None,
        event_name: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """A page of the events matching every filter given (exact match), oldest first."""
        where, args = _event_where(
            {
                "session": session,
                "agent": agent,
                "agent_version": agent_version,
                "person": person,
                "event_name": event_name,
            }
        )
        with self._read() as conn:
            total = conn.execute(f"SELECT COUNT(*) FROM events{where}", args).fetchone()[0]
            rows = conn.execute(
                f"SELECT * FROM events{where} ORDER BY id LIMIT ? OFFSET ?",
                (*args, _sql_limit(limit), offset),
            ).fetchall()
        return [_event(row) for row in rows], int(total)

    def list_sessions(
        self,
        *,
        agent: str | None = None,
        person: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """Sessions with at least one matching event, most recently active first.

        Each is ``{session, agent, agents, person, people, event_count, event_names, first_seen,
        last_seen}``: ``agent``/``person`` are the latest non-null ones, ``agents``/``people``
        every distinct one in order of appearance, ``event_names`` counts per event name.
        """
        filters = {"agent": agent, "person": person}
        where, args = _event_where(filters)
        with self._read() as conn:
            total = conn.execute(
                f"SELECT COUNT(DISTINCT session) FROM events{where}", args
            ).fetchone()[0]
            groups = conn.execute(
                f"SELECT session, COUNT(*) AS n, MIN(created_at) AS first_seen,"
                f" MAX(created_at) AS last_seen, MAX(id) AS last_id FROM events{where}"
                f" GROUP BY session ORDER BY last_id DESC LIMIT ? OFFSET ?",
                (*args, _sql_limit(limit), offset),
            ).fetchall()
            sessions = []
            for group in groups:
                session_where, session_args = _event_where({**filters, "session": group["session"]})
                rows = conn.execute(
                    f"SELECT agent, person, event_name FROM events{session_where} ORDER BY id",
                    session_args,
                ).fetchall()
                sessions.append(_session(group, rows))
        return sessions, int(total)

    # -- dashboard queries ----------------------------------------------------------------------

    def session_summaries(
        self,
        *,
        agent: str | None = None,
        agent_version: str | None = None,
        person: str | None = None,
        errors_only: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """A page of sessions for the dashboard, most recently active first, and their total.

        A session is listed when one of its events matches every filter (``errors_only``: an
        event whose ``error`` property is not null); the figures cover the whole session. Each is
        ``{session, agents, versions, people, event_count, llm_count, tokens, error_count,
        first_seen, last_seen}`` (:meth:`session_summary`). Two grouped queries per page, so the
        cost follows the page size, not the number of sessions.
        """
        where, args = _event_where(
            {"agent": agent, "agent_version": agent_version, "person": person}
        )
        if errors_only:
            where += (" AND " if where else " WHERE ") + _HAS_ERROR
        with self._read() as conn:
            total = conn.execute(
                f"SELECT COUNT(DISTINCT session) FROM events{where}", args
            ).fetchone()[0]
            page = conn.execute(
                f"SELECT session, MAX(id) AS last_id FROM events{where}"
                " GROUP BY session ORDER BY last_id DESC LIMIT ? OFFSET ?",
                (*args, _sql_limit(limit), offset),
            ).fetchall()
            names = [row["session"] for row in page]
            summaries = _session_summaries(conn, names)
        return [summaries[name] for name in names], int(total)

    def session_summary(self, session: str) -> dict[str, Any] | None:
        """Figures for one session, or None when it has no events.

        ``agents``/``people``: distinct non-null values in order of appearance; ``versions``:
        ``[agent, agent_version]`` pairs likewise; ``tokens``: the sum of ``usage.total_tokens``
        (else input + output) over its events, None when none reported usage; ``error_count``:
        events whose ``error`` property is not null; ``llm_count``: ``llm`` events.
        """
        with self._read() as conn:
            return _session_summaries(conn, [session]).get(session)

    def agent_overview(self) -> list[dict[str, Any]]:
        """Every agent (creation order) with its versions and their activity.

        Each agent record gets ``versions`` (version records in creation order, each with
        ``event_count``, ``session_count`` and ``last_seen``) and the same three figures for the
        whole agent.
        """
        with self._read() as conn:
            agents = conn.execute("SELECT * FROM agents ORDER BY agent_number").fetchall()
            versions = conn.execute(
                "SELECT * FROM agent_versions ORDER BY agent_number, agent_version_number"
            ).fetchall()
            by_version = {
                (row["agent"], row["agent_version"]): row
                for row in conn.execute(
                    "SELECT agent, agent_version, COUNT(*) AS events,"
                    " COUNT(DISTINCT session) AS sessions, MAX(created_at) AS last_seen"
                    " FROM events WHERE agent IS NOT NULL GROUP BY agent, agent_version"
                )
            }
            by_agent = {
                row["agent"]: row
                for row in conn.execute(
                    "SELECT agent, COUNT(*) AS events, COUNT(DISTINCT session) AS sessions,"
                    " MAX(created_at) AS last_seen FROM events WHERE agent IS NOT NULL"
                    " GROUP BY agent"
                )
            }
        grouped: dict[int, list[dict[str, Any]]] = {}
        names = {row["agent_number"]: row["agent_name"] for row in agents}
        for row in versions:
            record = _version(row)
            stats = by_version.get((names.get(row["agent_number"]), row["agent_version_name"]))
            record.update(_activity(stats))
            grouped.setdefault(row["agent_number"], []).append(record)
        overview = []
        for row in agents:
            record = _agent(row)
            record.update(_activity(by_agent.get(row["agent_name"])))
            record["versions"] = grouped.get(row["agent_number"], [])
            overview.append(record)
        return overview

    def people_activity(self, person_ids: list[str]) -> dict[str, dict[str, Any]]:
        """``{person_id: {event_count, session_count, last_seen}}`` for the ids that have events."""
        if not person_ids:
            return {}
        marks = ",".join("?" * len(person_ids))
        with self._read() as conn:
            rows = conn.execute(
                "SELECT person, COUNT(*) AS events, COUNT(DISTINCT session) AS sessions,"
                f" MAX(created_at) AS last_seen FROM events WHERE person IN ({marks})"
                " GROUP BY person",
                tuple(person_ids),
            ).fetchall()
        return {row["person"]: _activity(row) for row in rows}


# -- helpers running inside a transaction -------------------------------------------------------


# The _ensure_* helpers look the record up and insert it only when it is missing, never with
# INSERT OR IGNORE: an ignored insert still takes the next AUTOINCREMENT value, so every event
# naming an existing agent (and every repeated agents.create, sent at each process start) would
# leave a gap in the agent numbers the API returns. Inside the caller's BEGIN IMMEDIATE
# transaction nothing can insert the record between the lookup and the insert.


def _ensure_agent(conn: sqlite3.Connection, name: str, description: str | None) -> sqlite3.Row:
    row = _find_agent(conn, name)
    if row is not None:
        return row
    conn.execute(
        "INSERT INTO agents (agent_name, description, created_at) VALUES (?, ?, ?)",
        (name, description, utc_now()),
    )
    return _require_agent(conn, name)


def _find_agent(conn: sqlite3.Connection, name: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM agents WHERE agent_name = ?", (name,)
    ).fetchone()
    return row


def _require_agent(conn: sqlite3.Connection, name: str) -> sqlite3.Row:
    row = _find_agent(conn, name)
    if row is None:
        raise RecordNotFound("agent-not-found", f"agent {name!r} does not exist")
    return row


def _ensure_version(
    conn: sqlite3.Connection, agent_number: int, name: str, description: str | None
) -> sqlite3.Row:
    query = "SELECT * FROM agent_versions WHERE agent_number = ? AND agent_version_name = ?"
    row: sqlite3.Row | None = conn.execute(query, (agent_number, name)).fetchone()
    if row is not None:
        return row
    next_number = conn.execute(
        "SELECT COALESCE(MAX(agent_version_number), 0) + 1 FROM agent_versions"
        " WHERE agent_number = ?",
        (agent_number,),
    ).fetchone()[0]
    conn.execute(
        "INSERT INTO agent_versions (agent_number, agent_version_name, agent_version_number,"
        " description, created_at) VALUES (?, ?, ?, ?, ?)",
        (agent_number, name, next_number, description, utc_now()),
    )
    created: sqlite3.Row = conn.execute(query, (agent_number, name)).fetchone()
    return created


def _ensure_person(
    conn: sqlite3.Connection, person_id: str, properties: Mapping[str, Any]
) -> sqlite3.Row:
    row = _find_person(conn, person_id)
    if row is not None:
        return row
    now = utc_now()
    conn.execute(
        "INSERT INTO people (person_id, properties, created_at, updated_at) VALUES (?, ?, ?, ?)",
        (person_id, _dumps(dict(properties)), now, now),
    )
    return _require_person(conn, person_id)


def _find_person(conn: sqlite3.Connection, person_id: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM people WHERE person_id = ?", (person_id,)
    ).fetchone()
    return row


def _require_person(conn: sqlite3.Connection, person_id: str) -> sqlite3.Row:
    row = _find_person(conn, person_id)
    if row is None:
        raise RecordNotFound("person-not-found", f"person {person_id!r} does not exist")
    return row


def _event_where(filters: Mapping[str, str | None]) -> tuple[str, tuple[str, ...]]:
    clauses, args = [], []
    for name, value in filters.items():
        if name not in EVENT_FILTERS:
            raise ValueError(f"unknown event filter {name!r}")
        if value is not None:
            # Column names come from the fixed EVENT_FILTERS tuple, never from the caller.
            clauses.append(f"{name} = ?")
            args.append(value)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(args)


def _sql_limit(limit: int | None) -> int:
    return -1 if limit is None else limit  # SQLite reads a negative LIMIT as "no limit"


# An event "has an error" when its ``error`` property is present and not JSON null.
_HAS_ERROR = "COALESCE(json_type(properties, '$.error'), 'null') != 'null'"


def _number(path: str) -> str:
    # The JSON number at ``path``, else SQL NULL (a string or object there is not a count).
    return (
        f"(CASE WHEN json_type(properties, '{path}') IN ('integer', 'real')"
        f" THEN json_extract(properties, '{path}') END)"
    )


_TOKENS = (
    f"COALESCE({_number('$.usage.total_tokens')},"
    f" {_number('$.usage.input_tokens')} + {_number('$.usage.output_tokens')})"
)


def _session_summaries(conn: sqlite3.Connection, sessions: list[str]) -> dict[str, dict[str, Any]]:
    if not sessions:
        return {}
    marks = ",".join("?" * len(sessions))
    stats = conn.execute(
        "SELECT session, COUNT(*) AS n, MIN(created_at) AS first_seen,"
        " MAX(created_at) AS last_seen, SUM(event_name = 'llm') AS llm,"
        f" SUM({_TOKENS}) AS tokens, SUM({_HAS_ERROR}) AS errors"
        f" FROM events WHERE session IN ({marks}) GROUP BY session",
        tuple(sessions),
    ).fetchall()
    links = conn.execute(
        "SELECT session, agent, agent_version, person, MIN(id) AS first_id FROM events"
        f" WHERE session IN ({marks}) GROUP BY session, agent, agent_version, person"
        " ORDER BY first_id",
        tuple(sessions),
    ).fetchall()
    found: dict[str, dict[str, Any]] = {}
    for row in stats:
        tokens = row["tokens"]
        found[row["session"]] = {
            "session": row["session"],
            "agents": [],
            "versions": [],
            "people": [],
            "event_count": int(row["n"]),
            "llm_count": int(row["llm"] or 0),
            "tokens": None if tokens is None else int(tokens),
            "error_count": int(row["errors"] or 0),
            "first_seen": row["first_seen"],
            "last_seen": row["last_seen"],
        }
    for row in links:
        summary = found[row["session"]]
        if row["agent"] is not None and row["agent"] not in summary["agents"]:
            summary["agents"].append(row["agent"])
        pair = [row["agent"], row["agent_version"]]
        if row["agent"] is not None and pair not in summary["versions"]:
            summary["versions"].append(pair)
        if row["person"] is not None and row["person"] not in summary["people"]:
            summary["people"].append(row["person"])
    return found


def _activity(row: sqlite3.Row | None) -> dict[str, Any]:
    if row is None:
        return {"event_count": 0, "session_count": 0, "last_seen": None}
    return {
        "event_count": int(row["events"]),
        "session_count": int(row["sessions"]),
        "last_seen": row["last_seen"],
    }


# -- row to API record --------------------------------------------------------------------------


def _agent(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "agent_name": row["agent_name"],
        "description": row["description"],
        "agent_number": row["agent_number"],
        "created_at": row["created_at"],
        "deprecated_at": row["deprecated_at"],
    }


def _version(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "agent_version_name": row["agent_version_name"],
        "description": row["description"],
        "agent_version_number": row["agent_version_number"],
        "created_at": row["created_at"],
        "deprecated_at": row["deprecated_at"],
    }


def _person(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "person_id": row["person_id"],
        "properties": json.loads(row["properties"]),
        "created_at": row["created_at"],
    }


def _fingerprint(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "fingerprint_id": row["fingerprint_id"],
        "created_at": row["created_at"],
        "payload": json.loads(row["payload"]),
    }


def _event(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "event_id": row["event_id"],
        "event_name": row["event_name"],
        "properties": json.loads(row["properties"]),
        "session": row["session"],
        "agent": row["agent"],
        "agent_version": row["agent_version"],
        "person": row["person"],
        "fingerprint_id": row["fingerprint_id"],
        "created_at": row["created_at"],
    }


def _session(group: sqlite3.Row, rows: list[sqlite3.Row]) -> dict[str, Any]:
    agents: dict[str, None] = {}
    people: dict[str, None] = {}
    names: dict[str, int] = {}
    for row in rows:
        if row["agent"] is not None:
            agents.setdefault(row["agent"])
        if row["person"] is not None:
            people.setdefault(row["person"])
        names[row["event_name"]] = names.get(row["event_name"], 0) + 1
    latest_agent = next((r["agent"] for r in reversed(rows) if r["agent"] is not None), None)
    latest_person = next((r["person"] for r in reversed(rows) if r["person"] is not None), None)
    return {
        "session": group["session"],
        "agent": latest_agent,
        "agents": list(agents),
        "person": latest_person,
        "people": list(people),
        "event_count": group["n"],
        "event_names": names,
        "first_seen": group["first_seen"],
        "last_seen": group["last_seen"],
    }
