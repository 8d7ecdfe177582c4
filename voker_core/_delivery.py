"""The delivery engine behind :class:`voker_core.VokerClient`.

The caller's thread only appends to an in-memory queue (:meth:`Delivery.submit_event`,
:meth:`Delivery.submit_write`); a small pool of daemon threads, started lazily, does the rest:
fingerprint, serialisation, HTTP with keep-alive, retries.

Events enter through an *inbox* (a deque the caller appends to without taking the lock); a
delivery thread moves them into their lanes. While the application is busy one idle delivery
thread looks at the inbox every :data:`POLL_INTERVAL` seconds, so a recorded call costs its
thread an append and no wake-up; after :data:`QUIET_AFTER` quiet seconds that thread sleeps, and
the next submit wakes it.

Ordering. Work is kept in *lanes*, one per session (events), per agent (agent and version
writes) and per person (person create/update). A lane is handled by one thread at a time and in
FIFO order, so a session's events arrive in creation order and a version never overtakes its
agent; different lanes are delivered concurrently, up to ``max_concurrency`` requests. An event
naming an agent or person whose lane still holds earlier writes waits for those writes, so an
event never creates a bare agent/person that a queued ``agents.create``/``people.create`` was
about to describe.

Failures. Connection errors, timeouts, 408/425/429 and 5xx are retried with the same
``Idempotency-Key``. After a failure the whole engine backs off (exponential with jitter, at
least ``Retry-After``) and probes with one request at a time until one succeeds, so a Voker
outage costs one request per backoff step, not one per queued event. An outage never costs an
event: only a "poison" request is given up after :data:`MAX_ATTEMPTS` attempts - one the server
answers with an error of its own (500, 501...) each time, or that keeps failing while other
writes get through. Other 4xx responses are permanent: logged, counted as ``failed``, dropped.
``fingerprint-not-found`` makes a new fingerprint and resends.

Bounds. At most ``max_queue_size`` items are held (newer ones are dropped and counted, with a
rate-limited warning), so memory stays bounded however long Voker is down. ``close`` never waits
longer than its timeout; at interpreter exit it is bounded by ``flush_timeout`` and, when no
thread can be started any more, delivers on the calling thread.

Fork safety. ``os.register_at_fork`` resets every live engine in the child: new locks, an empty
queue, a new HTTP session, no threads (started again on first use). Nothing the parent had
queued is sent by the child.
"""

from __future__ import annotations

import atexit
import enum
import logging
import os
import sys
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from voker_core._retry import backoff_delay
from voker_core._transport import Response, Transport, encode_json, encode_path
from voker_core.config import Settings
from voker_core.errors import VokerConnectionError
from voker_core.fingerprint import fingerprint_payload
from voker_core.serialize import to_jsonable

__all__ = ["MAX_ATTEMPTS", "Delivery", "DeliveryStats"]

logger = logging.getLogger("voker")

MAX_ATTEMPTS = 10
"""Failed attempts after which one item is given up (counted as ``failed``). An attempt counts when
the server answered it with an error of its own (500, 501...), or when other writes got through
since the item's previous attempt; attempts during an outage (connection errors, timeouts, 429,
502-504 while nothing gets through) do not count."""

IDLE_EXIT = 15.0
"""Seconds a delivery thread waits for work before exiting (it is restarted on demand)."""

POLL_INTERVAL = 0.05
"""While the application is making calls, seconds between two looks at the inbox by an idle
delivery thread. A call only appends to the inbox: waking a sleeping thread (a system call, and
a context switch the caller's thread pays for) is left to the few calls that come after a
quiet spell."""

QUIET_AFTER = 10.0
"""Seconds without anything submitted after which the idle thread stops looking at the inbox
and sleeps until a submit wakes it."""

SPAWN_RETRY = 1.0
"""Seconds after a failure to start a delivery thread (a container's thread limit reached in a
spike) before a write tries again; meanwhile writes queue up and flush()/close() deliver inline."""

BACKOFF_CAP = 10.0
"""Longest wait between two attempts after repeated transient failures (Retry-After aside)."""

WARN_INTERVAL = 10.0
"""Least seconds between two warnings about the same kind of drop or failure."""

_TRANSIENT_4XX = frozenset({408, 425, 429})
_OUTAGE_5XX = frozenset({502, 503, 504})
"""Server errors that say Voker (or a proxy in front of it) is unavailable, not that it failed on
this request: like connection errors, they count against a write only while others succeed."""


@dataclass(frozen=True)
class DeliveryStats:
    """Counters of one client since it was created (or since a fork, in the child).

    - ``queued``: calls accepted into the queue.
    - ``sent``: writes the server accepted.
    - ``retried``: attempts repeated after a failure (of an event or other write, or of
      the fingerprint request the writes wait for).
    - ``dropped``: writes never sent: the queue was full (``queue_full``), ``before_send``
      dropped them (``filtered``), the client was closed, or ``close`` timed out.
    - ``failed``: writes the server rejected for good (4xx) or that kept failing
      :data:`MAX_ATTEMPTS` times.
    - ``pending``: queued or in flight now.
    """

    queued: int = 0
    sent: int = 0
    retried: int = 0
    dropped: int = 0
    failed: int = 0
    pending: int = 0
    queue_full: int = 0
    filtered: int = 0


class _Outcome(enum.Enum):
    SENT = "sent"
    RETRY = "retry"
    REFINGERPRINT = "refingerprint"
    AWAIT_FINGERPRINT = "await-fingerprint"  # not attempted: the fingerprint is being remade
    FAILED = "failed"
    FILTERED = "filtered"


class _Lane:
    """The FIFO of one ordering key (a session, an agent or a person)."""

    __slots__ = ("busy", "done", "enqueued", "items", "key", "table", "waiters")

    def __init__(self, key: str, table: dict[str, _Lane]) -> None:
        self.key = key
        self.table = table
        self.items: deque[_Item] = deque()
        self.enqueued = 0  # items ever added
        self.done = 0  # items finished (sent, failed or dropped), always a prefix of the FIFO
        self.busy = False  # a thread is delivering the head item
        self.waiters: list[_Lane] | None = None  # lanes parked until this one progresses


# An event item's stage (``_Item.stage``): queued, being prepared ahead by a waiting thread,
# taken by a delivering thread, finished.
_RAW, _PREPARING, _TAKEN, _DONE = range(4)


class _Item:
    """One queued write. Events keep their fields; other writes keep a ready request body."""

    __slots__ = (
        "agent",
        "agent_version",
        "attempts",
        "body",
        "data",
        "data_fingerprint",
        "deps",
        "event_name",
        "filtered",
        "idempotency_key",
        "label",
        "method",
        "parked",
        "path",
        "person",
        "properties",
        "sent_mark",
        "seq",
        "server_error",
        "session",
        "stage",
        "written_off",
    )

    label: str
    method: str
    path: str
    event_name: str
    properties: Any
    session: str
    agent: str | None
    agent_version: str | None
    person: str | None

    def __init__(self) -> None:
        self.attempts = 0
        self.body: dict[str, Any] | None = None
        self.data: bytes | None = None
        self.data_fingerprint: str | None = None
        self.deps: list[tuple[_Lane, int]] | None = None
        self.idempotency_key: str | None = None
        self.written_off = False
        self.seq = 0
        self.stage = _RAW  # see _claim_unprepared
        self.filtered = False  # before_send dropped it when it was prepared ahead
        self.parked: _Lane | None = None  # its lane, waiting for it to be prepared ahead
        # Writes sent by the engine when this item last failed: attempts count towards giving up
        # only while others succeed in between, so a long outage never drops the probed item.
        self.sent_mark = -1
        # Its last attempt was answered with a server error (not _OUTAGE_5XX): that counts even
        # while nothing else gets through, so a request the server always fails on is given up.
        self.server_error = False

    @property
    def is_event(self) -> bool:
        return self.label == "event"


def _event_item(
    event_name: str,
    properties: Any,
    session: str,
    agent: str | None,
    agent_version: str | None,
    person: str | None,
) -> _Item:
    item = _Item()
    item.label = "event"
    item.method = "POST"
    item.path = "/api/v1/events"
    item.event_name = event_name
    item.properties = properties
    item.session = session
    item.agent = agent
    item.agent_version = agent_version
    item.person = person
    return item


class _Flusher:
    __slots__ = ("remaining", "seq")

    def __init__(self, remaining: int, seq: int) -> None:
        self.remaining = remaining
        self.seq = seq


class _RateLimitedWarning:
    """Logs a warning at most once per :data:`WARN_INTERVAL` per key, counting what it skipped."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}
        self._lock = threading.RLock()  # a finalizer may warn in the middle of a warning

    def __call__(self, key: str, message: str, *args: Any) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < WARN_INTERVAL:
                self._skipped[key] = self._skipped.get(key, 0) + 1
                return
            self._last[key] = now
            skipped = self._skipped.pop(key, 0)
        if skipped:
            message += " (%d more like this since the last warning)"
            args = (*args, skipped)
        logger.warning(message, *args)


class Delivery:
    """Queue + delivery threads of one client. Internal: use :class:`voker_core.VokerClient`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._max_queue = settings.max_queue_size
        self._concurrency = settings.max_concurrency
        self._max_bytes = settings.max_event_bytes
        self._before_send = settings.before_send
        self._debug = settings.debug
        self._transport = Transport(
            api_key=settings.api_key or "",
            base_url=settings.base_url,
            timeout=settings.timeout,
            max_retries=0,
            pool_size=max(1, settings.max_concurrency),
        )
        self._warn = _RateLimitedWarning()
        self._fingerprint: str | None = None
        self._fingerprint_body: dict[str, Any] | None = None
        self._init_state()
        _ENGINES.add(self)

    def _init_state(self) -> None:
        """Everything a forked child must not share with its parent."""
        # Reentrant, for one case: the garbage collector runs wherever an allocation triggers
        # it, inside our own critical sections too, and a stream it frees records its call
        # (see _kick).
        self._lock = threading.RLock()
        self._missed_kick = False  # an event was queued under our own lock (see _kick)
        self._wake = threading.Condition(self._lock)  # work for the delivery threads
        self._drained = threading.Condition(self._lock)  # progress for flush()
        self._sessions: dict[str, _Lane] = {}
        self._agents: dict[str, _Lane] = {}
        self._people: dict[str, _Lane] = {}
        self._ready: deque[_Lane] = deque()
        self._pending = 0
        self._inflight = 0
        self._seq = 0
        self._threads: list[threading.Thread] = []
        self._nthreads = 0  # live (or starting) delivery threads
        self._idle = 0  # threads waiting on _wake
        # Events submitted but not yet moved into their lanes (see _intake); appended to
        # without the lock.
        self._inbox: deque[tuple[Any, ...]] = deque()
        # Events in intake order whose properties may not be prepared yet (see
        # _claim_unprepared); finished ones are dropped from the left as they retire.
        self._unprepared: deque[_Item] = deque()
        # An idle thread looks at the inbox every POLL_INTERVAL (read unlocked by submit).
        self._polling = False
        self._last_submit = 0.0  # monotonic time of the last intake
        self._spawn_retry_at = 0.0  # monotonic; a failed thread start is retried from then
        self._fp_busy = False
        self._fp_attempts = 0
        self._fp_retry_at = 0.0
        self._fp_rejected_until = 0.0
        self._pause_until = 0.0
        self._failures = 0  # consecutive transient failures: >0 means "probe one at a time"
        self._flushers: list[_Flusher] = []
        self._closed = False
        self._stopping = False
        self._c_queued = 0
        self._c_sent = 0
        self._c_retried = 0
        self._c_dropped = 0
        self._c_failed = 0
        self._c_queue_full = 0
        self._c_filtered = 0

    # --- caller thread ---------------------------------------------------------------------

    def submit_event(
        self,
        event_name: str,
        properties: Any,
        session: str,
        agent: str | None,
        agent_version: str | None,
        person: str | None,
    ) -> None:
        """Queue an event (already validated and snapshotted by the caller). ``properties`` may
        be a callable that builds them, called on the delivery thread.

        The caller's cost is kept to an append: no lock, and no wake-up of a delivery thread
        while one is looking at the inbox anyway (see the module docstring).
        """
        if self._closed or self._pending + len(self._inbox) >= self._max_queue:
            with self._lock:
                self._reject()
            if not self._closed:
                self._warn_full()
            return
        self._inbox.append((event_name, properties, session, agent, agent_version, person))
        # Read after the append. A polling thread, or one delivering, goes back to the inbox
        # on its own; each clears its flag (under the lock) before its last look at the inbox,
        # so either it sees this event or this sees no flag and wakes a thread.
        if not (self._polling or self._inflight) or self._closed:
            self._kick()

    def _kick(self) -> None:
        """Move the inbox into the lanes and make sure a delivery thread will deliver them."""
        if self._lock._is_owned():  # type: ignore[attr-defined]
            # This thread holds the lock already: the event comes from a finalizer (a stream
            # dropped unfinished records its call when the garbage collector frees it) run in
            # the middle of one of our own critical sections. Changing the lanes from here
            # would interleave with that section's own changes, so the event stays in the
            # inbox: a delivery thread or a kicking caller holding the lock looks at the inbox
            # again before it lets go; stats() and flush() kick after they let go.
            self._missed_kick = True
            return
        start = False
        with self._lock:
            self._intake()
            if (
                self._nthreads == 0
                and not self._closed
                and time.monotonic() >= self._spawn_retry_at
            ):
                self._nthreads = 1
                start = True
            elif self._idle:
                self._wake.notify()
        if start:
            self._spawn()

    def _intake(self) -> None:
        """Under the lock: move the inbox's events into their lanes, in submit order."""
        inbox = self._inbox
        if not inbox:
            return
        self._last_submit = time.monotonic()
        while inbox:
            try:
                entry = inbox.popleft()
            except IndexError:  # pragma: no cover - another thread emptied it
                return
            if self._stopping:
                self._reject()  # submitted while close() finished
                continue
            event_name, properties, session, agent, agent_version, person = entry
            item = _event_item(event_name, properties, session, agent, agent_version, person)
            deps = None
            if agent is not None:
                dep = self._agents.get(agent)
                if dep is not None:
                    deps = [(dep, dep.enqueued)]
            if person is not None:
                dep = self._people.get(person)
                if dep is not None:
                    deps = [*(deps or ()), (dep, dep.enqueued)]
            item.deps = deps
            self._unprepared.append(item)
            lane = self._sessions.get(session)
            if lane is None:
                lane = self._sessions[session] = _Lane(session, self._sessions)
            self._append(lane, item)

    def submit_write(
        self, kind: str, key: str, method: str, path: str, body: dict[str, Any], label: str
    ) -> None:
        """Queue an agent (``kind="agent"``) or person (``kind="person"``) write, ordered after
        earlier writes with the same ``key``."""
        item = _Item()
        item.label = label
        item.method = method
        item.path = path
        item.body = body
        table = self._agents if kind == "agent" else self._people
        start = False
        with self._lock:
            self._intake()  # events submitted earlier stay ahead of this write
            if self._closed or self._pending >= self._max_queue:
                full = not self._closed
                self._reject()
            else:
                full = False
                lane = table.get(key)
                if lane is None:
                    lane = table[key] = _Lane(key, table)
                self._append(lane, item)
                if self._nthreads == 0 and time.monotonic() >= self._spawn_retry_at:
                    self._nthreads = 1
                    start = True
        if start:
            self._spawn()
        elif full:
            self._warn_full()

    def _reject(self) -> None:
        # Under the lock: the queue is full or the client closed.
        self._c_dropped += 1
        if not self._closed:
            self._c_queue_full += 1

    def _warn_full(self) -> None:
        self._warn(
            "queue-full",
            "voker: delivery queue full (max_queue_size=%d), dropping new events - is the "
            "Voker API at %s reachable?",
            self._max_queue,
            self.settings.base_url,
        )

    def _append(self, lane: _Lane, item: _Item) -> None:
        # Under the lock.
        item.seq = self._seq
        self._seq += 1
        lane.items.append(item)
        lane.enqueued += 1
        self._pending += 1
        self._c_queued += 1
        if not lane.busy and len(lane.items) == 1:
            self._ready.append(lane)
            if self._idle:
                self._wake.notify()

    # --- threads ---------------------------------------------------------------------------

    def _spawn(self) -> None:
        """Start one delivery thread (``_nthreads`` was already counted under the lock)."""
        _hook_multiprocessing_exit()
        thread = threading.Thread(target=self._thread_main, name="voker-delivery", daemon=True)
        try:
            thread.start()
        except RuntimeError as exc:
            # "can't create new thread at interpreter shutdown", or out of threads for now.
            # Without any delivery thread a write tries again after SPAWN_RETRY, and flush() and
            # close() deliver inline; a pool that fails to grow just stays smaller.
            logger.debug("voker: could not start a delivery thread", exc_info=True)
            if not sys.is_finalizing():
                self._warn(
                    "thread-start",
                    "voker: could not start a delivery thread (%s); events wait in the queue",
                    exc,
                )
            with self._lock:
                self._nthreads -= 1
                if self._nthreads == 0:
                    self._spawn_retry_at = time.monotonic() + SPAWN_RETRY
            return
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)

    def _thread_main(self) -> None:
        try:
            self._work(deadline=None)
        except BaseException:  # pragma: no cover - _work handles everything it can
            logger.exception("voker: delivery thread crashed")
            with self._lock:
                self._nthreads -= 1

    def _work(self, *, deadline: float | None) -> None:
        """The delivery loop, on a delivery thread (``deadline=None``) or, at exit, inline on the
        caller's thread until ``deadline`` or until nothing is left."""
        while True:
            job = self._take(deadline)
            if job is None:
                return
            if job is _FINGERPRINT:
                self._make_fingerprint(deadline)
                continue
            if type(job) is _Item:
                self._prepare_ahead(job)
                continue
            lane, item, grow = job
            if grow:
                self._spawn()
            try:
                outcome, retry_after = self._deliver(item, deadline)
            except Exception:
                logger.exception("voker: unexpected error delivering %s", item.label)
                outcome, retry_after = _Outcome.FAILED, None
            self._settle(lane, item, outcome, retry_after)

    def _take(self, deadline: float | None) -> Any:
        """Wait for the next job: ``_FINGERPRINT``, ``(lane, item, grow)``, or None to stop."""
        inline = deadline is not None
        polling = False  # this thread is the one looking at the inbox every POLL_INTERVAL
        with self._lock:
            try:
                while True:
                    self._intake()
                    if self._stopping:
                        if not inline:
                            self._nthreads -= 1
                        return None
                    now = time.monotonic()
                    if inline and (now >= deadline or self._pending == 0):  # type: ignore[operator]
                        return None
                    wait: float | None = None
                    if self._pending:
                        if self._fingerprint is None and now >= self._fp_rejected_until:
                            if not self._fp_busy and now >= self._fp_retry_at:
                                self._fp_busy = True
                                return _FINGERPRINT
                            if not self._fp_busy:
                                wait = self._fp_retry_at - now
                        elif now < self._pause_until:
                            wait = self._pause_until - now
                        elif not (self._failures and self._inflight):
                            job = self._next_ready(inline)
                            if job is not None:
                                return job
                    elif not inline:
                        if (polling or not self._polling) and (
                            now - self._last_submit < QUIET_AFTER
                        ):
                            polling = self._polling = True
                            wait = POLL_INTERVAL
                        else:
                            if polling:
                                # Quiet: stop looking, then look once more (see submit_event).
                                polling = self._polling = False
                                continue
                            wait = IDLE_EXIT
                    if inline:
                        left = deadline - now  # type: ignore[operator]
                        wait = left if wait is None else min(wait, left)
                    if self._missed_kick:  # queued since the _intake() above (see _kick)
                        self._missed_kick = False
                        continue
                    if self._pending and not inline:
                        ahead = self._claim_unprepared()
                        if ahead is not None:
                            return ahead
                    self._idle += 1
                    notified = self._wake.wait(wait)
                    self._idle -= 1
                    if (
                        not notified
                        and not inline
                        and self._pending == 0
                        and not self._inbox
                        and not self._stopping
                        and wait == IDLE_EXIT
                    ):
                        # Idle for a while: let the thread go; the next submit starts another.
                        self._nthreads -= 1
                        return None
            finally:
                if polling:
                    self._polling = False

    def _next_ready(self, inline: bool) -> tuple[_Lane, _Item, bool] | None:
        # Under the lock.
        while self._ready:
            lane = self._ready.popleft()
            item = lane.items[0]
            if item.stage == _PREPARING:
                item.parked = lane  # back in _ready once prepared (_prepare_ahead)
                continue
            if item.deps is not None:
                blocker = _unmet_dependency(item)
                if blocker is not None:
                    if blocker.waiters is None:
                        blocker.waiters = []
                    blocker.waiters.append(lane)
                    continue
                item.deps = None
            lane.busy = True
            item.stage = _TAKEN
            self._inflight += 1
            grow = (
                not inline
                and bool(self._ready)
                and self._idle == 0
                and self._nthreads < self._concurrency
                and not self._failures
            )
            if grow:
                self._nthreads += 1
            return lane, item, grow
        return None

    def _claim_unprepared(self) -> _Item | None:
        """Under the lock: an event waiting in the queue, not yet prepared, for this thread to
        prepare ahead of its turn - or None.

        A thread with nothing to send (Voker is down, and the engine backs off or probes one
        request at a time; or every ready lane is in flight) builds queued events' JSON-safe,
        size-capped bodies meanwhile, so that a long outage holds at most ``max_event_bytes``
        per queued event rather than the application's raw data (a call's inputs with images,
        say) - and the work is done when Voker is back.
        """
        unprepared = self._unprepared
        while unprepared:
            item = unprepared.popleft()
            if item.stage == _RAW and item.body is None and not item.written_off:
                item.stage = _PREPARING
                return item
        return None

    def _prepare_ahead(self, item: _Item) -> None:
        """Prepare a claimed event (no lock held); its lane may take it from then on."""
        try:
            # False: before_send dropped it; its lane settles that when its turn comes.
            item.filtered = not self._prepare_event(item)
        except Exception:  # left unprepared: its delivery prepares it (and counts a failure)
            logger.exception("voker: unexpected error preparing an event")
        with self._lock:
            item.stage = _RAW
            lane, item.parked = item.parked, None
            if lane is not None and not item.written_off:
                self._ready.appendleft(lane)  # it was next; it waited for this
                if self._idle:
                    self._wake.notify()

    def _settle(
        self, lane: _Lane, item: _Item, outcome: _Outcome, retry_after: float | None
    ) -> None:
        """Record the outcome of one attempt and schedule what it unblocks."""
        with self._lock:
            self._inflight -= 1
            lane.busy = False
            if item.written_off:
                # close() gave up on it while it was in flight; it may still have landed.
                if outcome is _Outcome.SENT:
                    self._c_dropped -= 1
                    self._c_sent += 1
                return
            if outcome in (_Outcome.RETRY, _Outcome.REFINGERPRINT):
                if item.sent_mark >= 0 and self._c_sent == item.sent_mark and not item.server_error:
                    item.attempts -= 1  # nothing got through since its last try: an outage
                item.sent_mark = self._c_sent
            if (
                outcome in (_Outcome.RETRY, _Outcome.REFINGERPRINT)
                and item.attempts >= MAX_ATTEMPTS
            ):
                self._warn(
                    f"gave-up:{item.label}",
                    "voker: giving up on %s after %d attempts",
                    item.label,
                    item.attempts,
                )
                outcome = _Outcome.FAILED
            if outcome is _Outcome.RETRY:
                self._c_retried += 1
                self._failures += 1
                delay = backoff_delay(self._failures, retry_after=retry_after, cap=BACKOFF_CAP)
                self._pause_until = max(self._pause_until, time.monotonic() + delay)
                self._ready.append(lane)
            elif outcome is _Outcome.REFINGERPRINT:
                self._c_retried += 1
                if self._fingerprint == item.data_fingerprint:
                    self._fingerprint = None
                self._ready.appendleft(lane)
            elif outcome is _Outcome.AWAIT_FINGERPRINT:
                # Nothing was sent: back to the head of the ready lanes, taken again once
                # _take() has made the new fingerprint. Not an attempt, not a retry.
                self._ready.appendleft(lane)
            else:
                if outcome is _Outcome.SENT:
                    self._c_sent += 1
                    self._failures = 0
                elif outcome is _Outcome.FILTERED:
                    self._c_dropped += 1
                    self._c_filtered += 1
                else:
                    self._c_failed += 1
                self._retire(lane)
            if self._idle and self._ready:
                self._wake.notify(len(self._ready))
            if self._failures == 0 and self._idle:
                self._wake.notify_all()  # probe succeeded: everyone may send again

    def _retire(self, lane: _Lane) -> None:
        # Under the lock: the head item of `lane` is finished.
        item = lane.items.popleft()
        lane.done += 1
        self._finished(item)
        if lane.waiters:
            self._ready.extend(lane.waiters)
            lane.waiters = None
        if lane.items:
            self._ready.append(lane)
        elif lane.table.get(lane.key) is lane:
            del lane.table[lane.key]

    def _finished(self, item: _Item) -> None:
        item.stage = _DONE
        item.body = item.data = None
        unprepared = self._unprepared
        while unprepared and unprepared[0].stage == _DONE:
            unprepared.popleft()
        self._pending -= 1
        if self._flushers:
            for flusher in self._flushers:
                if item.seq < flusher.seq:
                    flusher.remaining -= 1
            self._drained.notify_all()

    # --- one attempt (no lock held) --------------------------------------------------------

    def _deliver(self, item: _Item, deadline: float | None) -> tuple[_Outcome, float | None]:
        if item.is_event:
            if item.body is None and (item.filtered or not self._prepare_event(item)):
                return _Outcome.FILTERED, None
            with self._lock:
                fingerprint = self._fingerprint
                rejected = fingerprint is None and time.monotonic() < self._fp_rejected_until
            if fingerprint is None:
                if not rejected:
                    # Another thread got fingerprint-not-found (and cleared the fingerprint)
                    # after this item was taken, while it was being prepared: wait for the new
                    # fingerprint rather than count the event failed.
                    return _Outcome.AWAIT_FINGERPRINT, None
                self._warn(
                    "fingerprint-rejected",
                    "voker: dropping events: the Voker API rejected the fingerprint request",
                )
                return _Outcome.FAILED, None
            if item.data is None or item.data_fingerprint != fingerprint:
                assert item.body is not None
                item.data = encode_json({**item.body, "fingerprint_id": fingerprint})
                item.data_fingerprint = fingerprint
            headers = {"Idempotency-Key": item.idempotency_key or ""}
        else:
            if item.data is None:
                item.data = encode_json(self._prepare_write(item))
            headers = None
        item.attempts += 1
        timeout = self.settings.timeout
        if deadline is not None:
            timeout = max(0.05, min(timeout, deadline - time.monotonic()))
        try:
            response = self._transport.send_once(
                item.method, item.path, data=item.data, headers=headers, timeout=timeout
            )
        except VokerConnectionError as exc:
            logger.debug("voker: %s %s failed: %s", item.method, item.path, exc)
            item.server_error = False
            return _Outcome.RETRY, None
        item.server_error = response.status_code >= 500 and (
            response.status_code not in _OUTAGE_5XX
        )
        return self._judge(item, response)

    def _judge(self, item: _Item, response: Response) -> tuple[_Outcome, float | None]:
        status = response.status_code
        if 200 <= status < 300:
            if self._debug:
                self._log_sent(item)
            return _Outcome.SENT, None
        kind = _error_kind(response.body)
        if status == 404 and kind == "fingerprint-not-found":
            logger.debug("voker: fingerprint unknown to the server, creating a new one")
            return _Outcome.REFINGERPRINT, None
        if status in _TRANSIENT_4XX or status >= 500:
            logger.debug("voker: %s %s answered %d, will retry", item.method, item.path, status)
            return _Outcome.RETRY, response.retry_after
        self._warn(
            f"rejected:{status}:{kind}",
            "voker: the Voker API rejected %s with HTTP %d%s; dropped",
            item.label,
            status,
            f" ({kind})" if kind else "",
        )
        return _Outcome.FAILED, None

    def _prepare_event(self, item: _Item) -> bool:
        """Build the JSON-safe body of an event once (kept for its retries). False: dropped."""
        before_send = self._before_send
        properties = item.properties
        if callable(properties):
            # Properties built here rather than on the caller's thread (the llm recorder's).
            try:
                properties = properties()
            except Exception:
                logger.warning("voker: failed to build an event's properties", exc_info=True)
                properties = {}
        body: dict[str, Any] = {
            "event_name": item.event_name,
            "properties": to_jsonable(
                properties, max_bytes=None if before_send else self._max_bytes
            ),
            "session": item.session,
        }
        if item.agent is not None:
            body["agent"] = item.agent
        if item.agent_version is not None:
            body["agent_version"] = item.agent_version
        if item.person is not None:
            body["person"] = item.person
        item.properties = None  # the snapshot is no longer needed
        if before_send is not None:
            filtered = _apply_before_send(before_send, body)
            if filtered is None:
                return False
            body = filtered
            body["properties"] = to_jsonable(body["properties"], max_bytes=self._max_bytes)
        item.body = body
        item.idempotency_key = str(uuid.uuid4())
        return True

    def _prepare_write(self, item: _Item) -> dict[str, Any]:
        body = dict(item.body or {})
        if "properties" in body:
            body["properties"] = to_jsonable(body["properties"], max_bytes=self._max_bytes)
        return body

    def _log_sent(self, item: _Item) -> None:
        if item.is_event and item.body is not None:
            logger.debug(
                "voker: sent event %r session=%r agent=%r person=%r properties=%s",
                item.body.get("event_name"),
                item.body.get("session"),
                item.body.get("agent"),
                item.body.get("person"),
                item.body.get("properties"),
            )
        else:
            logger.debug("voker: sent %s %s", item.label, item.path)

    def _make_fingerprint(self, deadline: float | None) -> None:
        """One attempt at ``PUT /api/v1/fingerprints``; schedules the next one on failure."""
        fingerprint: str | None = None
        rejected = False
        retry_after: float | None = None
        try:
            if self._fingerprint_body is None:
                self._fingerprint_body = fingerprint_payload()
            timeout = self.settings.timeout
            if deadline is not None:
                timeout = max(0.05, min(timeout, deadline - time.monotonic()))
            response = self._transport.send_once(
                "PUT", "/api/v1/fingerprints", body=self._fingerprint_body, timeout=timeout
            )
            if response.ok and isinstance(response.body, Mapping):
                value = response.body.get("fingerprint_id")
                if isinstance(value, str) and value:
                    fingerprint = value
            elif not (response.status_code in _TRANSIENT_4XX or response.status_code >= 500):
                rejected = True
            retry_after = response.retry_after
            if fingerprint is None:
                self._warn(
                    "fingerprint",
                    "voker: could not create a fingerprint (HTTP %d); will retry",
                    response.status_code,
                )
        except VokerConnectionError as exc:
            self._warn("fingerprint", "voker: %s; events stay queued and will be retried", exc)
        except Exception:
            logger.exception("voker: unexpected error creating a fingerprint")
        with self._lock:
            self._fp_busy = False
            now = time.monotonic()
            if fingerprint is not None:
                self._fingerprint = fingerprint
                self._fp_attempts = 0
            else:
                self._fp_attempts += 1
                self._c_retried += 1  # it is tried again, after the delay
                delay = backoff_delay(self._fp_attempts, retry_after=retry_after, cap=BACKOFF_CAP)
                self._fp_retry_at = now + delay
                if rejected:
                    # Wrong key or similar: events fail now (counted) rather than fill the queue;
                    # try again later in case the server's configuration changes.
                    self._fp_rejected_until = now + 30.0
            if self._idle:
                self._wake.notify_all()

    # --- flush / close ---------------------------------------------------------------------

    def _kick_if_missed(self) -> None:
        """After a critical section that may not look at the inbox again: the kick an event
        queued during it could not make (see :meth:`_kick`)."""
        if self._missed_kick:
            self._missed_kick = False
            self._kick()

    def stats(self) -> DeliveryStats:
        try:
            return self._stats()
        finally:
            self._kick_if_missed()

    def _stats(self) -> DeliveryStats:
        with self._lock:
            self._intake()
            return DeliveryStats(
                queued=self._c_queued,
                sent=self._c_sent,
                retried=self._c_retried,
                dropped=self._c_dropped,
                failed=self._c_failed,
                pending=self._pending,
                queue_full=self._c_queue_full,
                filtered=self._c_filtered,
            )

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued so far is delivered or dropped. False on timeout."""
        try:
            return self._flush(timeout)
        finally:
            self._kick_if_missed()

    def _flush(self, timeout: float) -> bool:
        deadline = time.monotonic() + max(0.0, timeout)
        with self._lock:
            self._intake()
            if self._pending == 0:
                return True
            inline = self._nthreads == 0
        if inline:
            # No delivery thread (none could be started, e.g. at interpreter shutdown).
            self._work(deadline=deadline)
            with self._lock:
                return self._pending == 0
        with self._lock:
            flusher = _Flusher(self._pending, self._seq)
            self._flushers.append(flusher)
            try:
                while flusher.remaining > 0:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    self._drained.wait(left)
                return True
            finally:
                self._flushers.remove(flusher)

    def close(self, timeout: float) -> None:
        """Flush for at most ``timeout`` seconds, then stop the threads and drop what is left."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._lock:
            if self._closed:
                return
            self._closed = True
            # After a long outage the next attempt may be due after this close gives up (the
            # backoff grows to BACKOFF_CAP, a Retry-After may be longer): Voker may well be back
            # by now, so try once at once rather than drop everything untried.
            now = time.monotonic()
            if self._pause_until > deadline:
                self._pause_until = now
            if self._fp_retry_at > deadline:
                self._fp_retry_at = now
            self._wake.notify_all()
        self.flush(timeout)
        with self._lock:
            self._stopping = True
            self._wake.notify_all()
            threads = list(self._threads)
            leftover = len(self._inbox)  # submitted during the flush, after its last look
            self._inbox.clear()
            self._unprepared.clear()
            for table in (self._sessions, self._agents, self._people):
                for lane in table.values():
                    for item in lane.items:
                        item.written_off = True
                        leftover += 1
                table.clear()
            self._ready.clear()
            self._c_dropped += leftover
            self._pending = 0
            for flusher in self._flushers:
                flusher.remaining = 0
            self._drained.notify_all()
        if leftover:
            logger.warning(
                "voker: closed with %d undelivered write(s) after waiting %.1fs; dropped",
                leftover,
                timeout,
            )
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        if not any(thread.is_alive() for thread in threads):
            self._transport.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def _after_fork_in_child(self) -> None:
        closed = self._closed
        self._init_state()
        self._closed = closed  # (its transport forgets the parent's connections on its own)
        self._warn = _RateLimitedWarning()


_FINGERPRINT: Any = object()


def _unmet_dependency(item: _Item) -> _Lane | None:
    for lane, target in item.deps or ():
        if lane.done < target:
            return lane
    return None


def _error_kind(body: Any) -> str | None:
    if isinstance(body, Mapping):
        detail = body.get("detail")
        if isinstance(detail, Mapping):
            kind = detail.get("type")
            return kind if isinstance(kind, str) else None
    return None


def _apply_before_send(before_send: Any, body: dict[str, Any]) -> dict[str, Any] | None:
    """Run the user's ``before_send``; None (or any problem with it) drops the event."""
    try:
        result = before_send(body)
    except Exception:
        logger.warning("voker: before_send raised; the event was dropped", exc_info=True)
        return None
    if result is None:
        return None
    if not isinstance(result, Mapping):
        logger.warning(
            "voker: before_send returned %s instead of a dict or None; the event was dropped",
            type(result).__name__,
        )
        return None
    event = dict(result)
    event.pop("fingerprint_id", None)
    session = event.get("session")
    if not isinstance(event.get("event_name"), str) or not isinstance(session, str) or not session:
        logger.warning("voker: before_send returned an event without event_name/session; dropped")
        return None
    properties = event.get("properties")
    event["properties"] = properties if isinstance(properties, Mapping) else {}
    for key in ("agent", "agent_version", "person"):
        if key in event and not isinstance(event[key], str):
            del event[key]
    return event


def agent_path() -> str:
    return "/api/v1/agents"


def agent_versions_path(agent_name: str) -> str:
    return f"/api/v1/agents/{encode_path(agent_name)}/agent-versions"


def person_path(person_id: str) -> str:
    return "/api/v1/people/" + encode_path(person_id)


# --- process-wide hooks -------------------------------------------------------------------------

_ENGINES: weakref.WeakSet[Delivery] = weakref.WeakSet()


def _close_all_at_exit() -> None:
    """``atexit``: close every live client, together bounded by the largest ``flush_timeout``."""
    engines = [engine for engine in list(_ENGINES) if not engine.closed]
    if not engines:
        return
    deadline = time.monotonic() + max(engine.settings.flush_timeout for engine in engines)
    for engine in engines:
        left = min(engine.settings.flush_timeout, deadline - time.monotonic())
        try:
            engine.close(max(0.0, left))
        except Exception:  # pragma: no cover - never break interpreter exit
            logger.debug("voker: error closing a client at exit", exc_info=True)


_MULTIPROCESSING_HOOKED_IN: int | None = None  # the pid whose multiprocessing exit is hooked


def _hook_multiprocessing_exit() -> None:
    """In a ``multiprocessing`` child, close every client at its exit too.

    Children started by ``fork`` or ``forkserver`` never run ``atexit``: they end in
    ``os._exit()``, after multiprocessing's own finalizers. So the first delivery thread of such
    a child registers one of those. (Not at fork time: the child clears the finalizers it
    inherits as it starts.) Spawned children exit normally; the ``atexit`` hook then finds
    every client closed already.
    """
    global _MULTIPROCESSING_HOOKED_IN
    pid = os.getpid()
    if pid == _MULTIPROCESSING_HOOKED_IN:
        return
    _MULTIPROCESSING_HOOKED_IN = pid
    process = sys.modules.get("multiprocessing.process")
    util = sys.modules.get("multiprocessing.util")
    if process is None or util is None or process.parent_process() is None:
        return  # not a multiprocessing child (multiprocessing imported later cannot make one)
    try:
        util.Finalize(None, _close_all_at_exit, exitpriority=0)
    except Exception:  # pragma: no cover - never break recording over an exit hook
        logger.debug("voker: could not hook the multiprocessing exit", exc_info=True)


def _reset_all_after_fork() -> None:
    for engine in list(_ENGINES):
        engine._after_fork_in_child()


atexit.register(_close_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_all_after_fork)
