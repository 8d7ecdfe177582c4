"""Per-run and per-trace state of the LangChain handler.

A *trace* is one top-level run and everything nested in it. It holds what all its events share
(associations, the client, the person) and delivers them in order. A *run* is one LangChain run
(chain, model call, tool call, retrieval) between its start and end callbacks.

Only open runs are kept, in one map (:class:`RunRegistry`); each run points at its trace, so a
trace is freed as soon as its last run ends — nothing grows with the number of runs handled. A
run that never ends (its end callback was lost) is evicted once the map is full, oldest first;
the handler records it then.

The person of a context may be lazy (a Django user). Code on an event loop must not resolve it
synchronously, and LangChain calls our (inline, synchronous) callbacks on the loop thread in async
runs. So a trace started on an event loop resolves such a person in a task, and holds its events
back, in order, until the task is done; they are then delivered from the loop (see
:meth:`Trace.send`). Off a loop the person is resolved on first use, on the calling thread.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import logging
import threading
import time
import weakref
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from uuid import UUID

from voker_core._blocking import call_blocking

if TYPE_CHECKING:
    from collections.abc import Callable

    from voker_core.ai._recorder import Associations, LLMCall
    from voker_core.client import VokerClient

__all__ = ["Run", "RunEvicted", "RunRegistry", "Trace"]

logger = logging.getLogger("voker.langchain")


class Trace:
    """One top-level run and its descendants: shared associations and ordered delivery."""

    __slots__ = (
        "_lock",
        "_pending",
        "_person",
        "_person_known",
        "_person_task",
        "_sent",
        "assoc",
        "capture_content",
        "client",
        "interrupted",
        "interrupts",
        "provisional_session",
        "trace_id",
        "warn_provisional",
    )

    def __init__(self, trace_id: UUID, assoc: Associations, client: VokerClient) -> None:
        self.trace_id = str(trace_id)
        self.assoc = assoc
        self.client = client
        self.capture_content = bool(getattr(client, "capture_content", True))
        self._lock = threading.Lock()
        # Events held back while a lazy person is being resolved on the event loop.
        self._pending: list[tuple[str, dict[str, Any]]] | None = None
        self._person: str | None = None
        self._person_known = False
        self._person_task: asyncio.Task[Any] | None = None
        # Set when a run of this trace was paused by a LangGraph interrupt().
        self.interrupted = False
        # What those interrupts asked, by interrupt id (one interrupt bubbles through several
        # runs): the top chain's event shows it, since LangGraph's end callback does not.
        self.interrupts: dict[str, Any] = {}
        # The session is the top run's id, for want of a better one: a LangGraph thread met
        # further down may still take its place (see adopt_session).
        self.provisional_session = False
        self.warn_provisional: Callable[[], None] | None = None
        self._sent = False

    def adopt_session(self, session: str) -> None:
        """Use ``session`` (a LangGraph ``thread_id`` met in a nested run) instead of the top
        run's id, if no event of this trace has been sent yet.

        LangGraph puts a graph's ``thread_id`` into the metadata of the runs it starts only, so
        a graph wrapped in a plain runnable (``with_retry()``, ``with_fallbacks()``, ``graph |
        parser``) starts a trace that learns its thread one run down. Once an event went out
        the session stays as it is: one trace, one session.
        """
        with self._lock:
            if self.provisional_session and not self._sent:
                self.assoc = dataclasses.replace(self.assoc, _session=session)
                self.provisional_session = False

    def resolve_lazy(self) -> None:
        """On an event loop, start resolving the context's lazy session and person without
        blocking the loop; this trace's events wait for them. (Off a loop they are resolved
        synchronously on the first send.)"""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._pending = []
        self._person_task = loop.create_task(self._aresolve())
        self._person_task.add_done_callback(self._person_resolved)

    async def _aresolve(self) -> str | None:
        try:
            await self.assoc.aresolve_session()
        except Exception:
            # Left to the first send, which resolves it synchronously (or logs why not).
            logger.debug("voker: resolving the session on the loop failed", exc_info=True)
        return await self.assoc.aresolve_person()

    def _person_resolved(self, task: asyncio.Task[Any]) -> None:
        person: str | None = None
        if task.cancelled():
            # asyncio.run() cancels every task still pending when its coroutine returns - a
            # script's `asyncio.run(agent.ainvoke(...))` ends right after the last event. Finish
            # on a helper thread with a loop of its own rather than send without a person.
            try:
                person = call_blocking(lambda: asyncio.run(self._aresolve()))
            except Exception:
                logger.warning(
                    "voker: resolving the person failed; recording without one", exc_info=True
                )
        elif (exc := task.exception()) is not None:
            logger.warning(
                "voker: resolving the person failed; recording without one", exc_info=exc
            )
        else:
            result = task.result()
            person = result if isinstance(result, str) else None
        with self._lock:
            self._person, self._person_known = person, True
            pending, self._pending = self._pending or [], None
            self._person_task = None
            for event_name, properties in pending:
                self._deliver(event_name, properties)

    def _resolve_person(self) -> str | None:
        if not self._person_known:
            try:
                self._person = self.assoc.resolve_person()
            except Exception:
                logger.warning(
                    "voker: resolving the person failed; recording without one", exc_info=True
                )
                self._person = None
            self._person_known = True
        return self._person

    def settle(self) -> None:
        """Resolve a lazy session and person now, on this thread (off any event loop), so that
        this trace's events may later be sent from any thread without a query there."""
        if not self.assoc.lazy:
            return
        with self._lock:  # as in send: one resolution, whichever thread gets there first
            if self._pending is not None:
                return  # being resolved on the event loop already
            try:
                self.assoc.resolve_session()
            except Exception:
                # Left to the send, which tries again (and logs why it cannot).
                logger.debug("voker: resolving the session failed", exc_info=True)
            self._resolve_person()

    def send(self, event_name: str, properties: dict[str, Any]) -> None:
        """Deliver one event of this trace (never raises; keeps the trace's order)."""
        try:
            # Delivering under the lock keeps order against a backlog flushed from the loop;
            # `events.create` only validates and enqueues.
            with self._lock:
                if self._pending is not None:
                    self._pending.append((event_name, properties))
                    return
                self._deliver(event_name, properties)
        except Exception:
            logger.warning("voker: failed to record a LangChain event (ignored)", exc_info=True)

    def _deliver(self, event_name: str, properties: dict[str, Any]) -> None:
        self._sent = True
        if self.provisional_session and self.warn_provisional is not None:
            warn, self.warn_provisional = self.warn_provisional, None
            warn()
        try:
            assoc = self.assoc
            # An empty contextvars context: the client fills unset fields from the current
            # voker context, but this trace's associations were settled at its start.
            contextvars.Context().run(
                self.client.events.create,
                event_name=event_name,
                properties=properties,
                session=assoc.session,
                agent=assoc.agent,
                agent_version=assoc.agent_version,
                person=self._resolve_person(),
            )
        except Exception:
            logger.warning("voker: failed to record a LangChain event (ignored)", exc_info=True)


class RunEvicted(Exception):
    """The ``error`` of a run recorded unfinished because too many runs were open at once."""


class Run:
    """One open LangChain run. ``call`` is set for model calls, ``inputs`` for top-level chains.

    ``parent_run_id`` is LangChain's parent, which may be a run that is no event (an inner
    chain, a graph node); ``recorded_parent_id`` is the nearest ancestor that is one, the parent
    the event names, so that events alone nest (None at the top of a trace).

    A run started inside an asyncio task also knows that task (see the handler's cancellation
    sweep): ``task_runs`` is the set of that task's open run ids (this run's among them) and
    ``task_key`` the task's ``id()``.
    """

    __slots__ = (
        "batched",
        "call",
        "chunks",
        "events",
        "held",
        "inputs",
        "is_root",
        "kind",
        "last_event_at",
        "name",
        "parent_run_id",
        "recorded_parent_id",
        "run_id",
        "started",
        "started_at",
        "task_key",
        "task_runs",
        "trace",
        "watch",
    )

    def __init__(
        self,
        *,
        run_id: UUID,
        parent_run_id: UUID | None,
        parent: Run | None,
        trace: Trace,
        kind: str,
        name: str,
    ) -> None:
        self.run_id = run_id
        self.parent_run_id = parent_run_id
        # ``parent``: the open run of ``parent_run_id``, or None for the top of a trace.
        self.recorded_parent_id: UUID | None = (
            None
            if parent is None
            else parent.run_id
            if parent.recorded
            else parent.recorded_parent_id
        )
        self.trace = trace
        self.kind = kind
        self.name = name
        self.is_root = parent is None
        self.started = time.perf_counter()
        self.started_at = datetime.now(timezone.utc)
        self.call: LLMCall | None = None
        self.inputs: Any = None
        self.task_runs: set[UUID] | None = None
        self.task_key = 0
        # True once a streamed token arrived in the task that started the run: the run is then
        # driven by a generator that task reads, and may outlive an await in it.
        self.held = False
        # A model run started with others in one call (``agenerate`` with several inputs).
        self.batched = False
        # Streamed chunks so far, for the partial output of a call that never gets its end.
        self.chunks: list[Any] | None = None
        # The protocol events of a ``stream_events(version="v3")`` call so far, for the same.
        self.events: list[Any] | None = None
        # When the last streamed chunk or protocol event came (0.0: none yet): the end of a
        # call whose reader stopped reading.
        self.last_event_at = 0.0
        # For a sync v3 stream: notes when its reader drops it (see the handler's ``_watch``).
        self.watch: weakref.finalize[Any, Any] | None = None

    @property
    def recorded(self) -> bool:
        """Whether this run becomes an event: all do but inner chains, which only link their
        children."""
        return self.kind != "chain" or self.is_root

    def ids(self) -> dict[str, str | None]:
        """The keys that let events nest: ``run_id``, ``parent_run_id`` (the nearest recorded
        ancestor's), ``trace_id``."""
        parent = self.recorded_parent_id
        return {
            "run_id": str(self.run_id),
            "parent_run_id": str(parent) if parent is not None else None,
            "trace_id": self.trace.trace_id,
        }

    def timing(self, ended: float) -> dict[str, Any]:
        return {
            "started_at": self.started_at.isoformat().replace("+00:00", "Z"),
            "latency_ms": round((ended - self.started) * 1000.0, 3),
        }


class RunRegistry:
    """The open runs of one handler (thread-safe). Bounded: runs that never end cannot grow it
    past ``max_open``; beyond that the oldest open run is evicted to make room (one warning),
    and :meth:`add` hands it back so that it is recorded rather than dropped."""

    def __init__(self, max_open: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._runs: dict[UUID, Run] = {}
        self._max_open = max_open
        self._warned = False

    def __len__(self) -> int:
        return len(self._runs)

    def get(self, run_id: UUID) -> Run | None:
        return self._runs.get(run_id)

    def add(self, run: Run) -> Run | None:
        """Add ``run``; returns the run evicted to make room for it, if any."""
        evicted: Run | None = None
        with self._lock:
            if len(self._runs) >= self._max_open and run.run_id not in self._runs:
                # Dicts keep insertion order: the first entry is the oldest open run, the one
                # most likely never to end. New runs keep being recorded.
                evicted = self._runs.pop(next(iter(self._runs)))
            self._runs[run.run_id] = run
        if evicted is not None and not self._warned:
            self._warned = True
            logger.warning(
                "voker: %d LangChain runs are open at once; recording the oldest ones unfinished "
                "(error RunEvicted) to make room",
                self._max_open,
            )
        return evicted

    def pop(self, run_id: UUID) -> Run | None:
        with self._lock:
            return self._runs.pop(run_id, None)

    def snapshot(self) -> list[Run]:
        """The open runs, oldest first."""
        with self._lock:
            return list(self._runs.values())
