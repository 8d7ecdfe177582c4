"""``VokerCallbackHandler``: LangChain and LangGraph runs as Voker events.

Pass it as a callback, for one call or for a whole runnable::

    from voker_langchain import VokerCallbackHandler

    handler = VokerCallbackHandler(agent="support-bot")
    chain.invoke({"question": "..."}, config={
        "callbacks": [handler],
        "metadata": {"voker_session": "conv-42", "voker_person": "user-7"},
    })

Events (each also carries ``run_id``, ``trace_id`` — the id of the top-level run — and
``parent_run_id`` — the nearest enclosing run that is an event itself, None at the top — so
events nest):

* ``llm`` — one per chat-model or LLM call, with the keys every provider wrapper records
  (``api: "langchain"``, ``provider``, ``model``, ``inputs``, ``output``, ``usage``,
  ``latency_ms``, ``time_to_first_token_ms`` for streamed calls, ``error``...);
* ``tool`` — one per tool call: ``name``, ``input``, ``output``, ``tool_call_id``,
  ``latency_ms``, ``error``;
* ``retriever`` — one per retrieval: ``name``, ``query``, ``document_count``, ``documents`` (each
  document's metadata), ``latency_ms``, ``error``;
* ``chain`` — one per *top-level* chain or graph run: ``name``, ``inputs``, ``outputs``,
  ``latency_ms``, ``error``.

With ``capture_content`` off, ``inputs``/``output(s)``, ``input``, ``query`` and ``documents``
are left out; names, ids, timing, usage and errors stay.

Who an event belongs to, first match wins: the handler's arguments; the top-level run's
``metadata`` keys ``voker_session``, ``voker_agent``, ``voker_agent_version``, ``voker_person``
(and ``voker_properties``, merged into the event properties); the :func:`voker_core.context` in
effect when the top-level run starts; for the session only, the ``thread_id`` (LangGraph copies
``configurable["thread_id"]`` into the metadata; with plain runnables put it there yourself).
Without any session the top-level run's id is used (each run its own session; a warning is
logged once). The agent is optional here: the API files an event without one under no agent.
These are settled once per top-level run: nested runs (whatever their own metadata, thread or
task) belong to their top-level run's session.

LangGraph interrupts (``interrupt()``, ``Command(graph=PARENT)``) are control flow, not errors:
such events have ``error: null`` and ``interrupted: true`` for an interrupt. A stream the caller
stops reading (``GeneratorExit``) is not an error either. Nor is a sync
``stream_events(version="v3")`` stream dropped unfinished, of which LangChain reports nothing:
the handler records it once the stream is collected (see ``_watch``); nor a model call still
streaming at interpreter exit, recorded then (see ``_record_streams_at_exit``).

One instance may serve any number of concurrent runs (threads, ``batch``, ``abatch``, asyncio
tasks). It starts no thread: events go through the Voker client (the ``client`` argument, else
the context's, else :func:`voker_core.get_client`), whose worker delivers them. The same class
serves sync and async runs: its callbacks only update a map and enqueue, so they run inline
(``run_inline = True``) in the run's own thread or event loop, where the voker context is
visible. A lazy person from the context (a Django user) is resolved off the loop's critical
path in async runs (a task; the trace's events wait for it, in order). State is kept per open
run only and freed as runs end (``open_runs`` tells how many are open).

Cancellation. When the asyncio task awaiting a model call is cancelled (a timeout, a client
that disconnects, LangGraph cancelling a sibling branch), LangChain sends neither an end nor an
error callback for that model call, nor for a tool call or retrieval (it reports only
``Exception`` for those). So the handler keeps, per task that started runs, the set of its open
runs, and finishes the ones that can no longer end: when the task is done (one done-callback
per task), when one of their ancestor chains in the same task ends, and when the task starts a
new top-level run while an (awaited) model call of it is still open. Such a run is recorded
once, with ``error.type == "CancelledError"`` and what it streamed so far. A run a generator
holds (``astream`` read by that task) is left to its reader unless the task was cancelled.
Runs started off a loop (threads, sync ``invoke``) are not tracked: there, LangChain reports
every ending. Nor are async calls of a completion model (``BaseLLM``), whose every ending
LangChain reports too, and whose start comes from a task of LangChain's that ends at once (see
``_starting_task``). If runs pile up anyway (an end lost some other way), past 100 000 open
runs the oldest is recorded unfinished with ``error.type == "RunEvicted"``.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import inspect
import logging
import sys
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackManager, BaseCallbackHandler
from langchain_core.messages import BaseMessage, ToolMessage
from langchain_core.outputs import LLMResult
from langchain_core.runnables.config import var_child_runnable_config

from voker_core.ai._recorder import LLMCall, error_info, guarded, resolve_associations
from voker_core.client import get_client
from voker_core.context import check_client, current_context
from voker_langchain._messages import convert, message_to_dict, outcome_from_result
from voker_langchain._partial import reported_content, result_from_chunks, result_from_events
from voker_langchain._runs import Run, RunEvicted, RunRegistry, Trace

if TYPE_CHECKING:
    from types import FrameType

    from langchain_core.documents import Document
    from langchain_core.outputs import ChatGenerationChunk, GenerationChunk

    from voker_core.client import VokerClient

__all__ = ["VokerCallbackHandler"]

logger = logging.getLogger("voker.langchain")

_METADATA_KEYS = ("voker_session", "voker_agent", "voker_agent_version", "voker_person")

# Invocation parameters that are LangChain bookkeeping, not arguments of the call.
_PRIVATE_PARAMS = frozenset({"_type", "stream", "streaming"})


def _check_arg(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{name} must not be empty")
    return value


def _metadata_str(value: Any) -> str | None:
    """A metadata value usable as an id: non-empty strings, and ints/UUIDs as strings."""
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, (int, UUID)) and not isinstance(value, bool):
        return str(value)
    return None


def _run_name(serialized: Mapping[str, Any] | None, kwargs: Mapping[str, Any]) -> str:
    name = kwargs.get("name")
    if isinstance(name, str) and name:
        return name
    if serialized:
        if isinstance(serialized.get("name"), str):
            return str(serialized["name"])
        ident = serialized.get("id")
        if isinstance(ident, list) and ident:
            return str(ident[-1])
    return "unknown"


def _is_control_flow(exc: BaseException) -> bool:
    """LangGraph's bubble-up exceptions (interrupts, parent commands) and a stream closed by its
    reader end a run without it having failed. Detected by name: langgraph is optional."""
    if isinstance(exc, GeneratorExit):
        return True
    return any(
        cls.__name__ == "GraphBubbleUp" and cls.__module__.startswith("langgraph")
        for cls in type(exc).__mro__
    )


def _is_interrupt(exc: BaseException | None) -> bool:
    return exc is not None and any(
        cls.__name__ == "GraphInterrupt" and cls.__module__.startswith("langgraph")
        for cls in type(exc).__mro__
    )


def _is_command(output: Any) -> bool:
    return any(
        cls.__name__ == "Command" and cls.__module__.startswith("langgraph")
        for cls in type(output).__mro__
    )


def _tool_reply(output: Any) -> ToolMessage | None:
    """The ToolMessage a tool returned: itself (a tool called with a ToolCall returns one), or
    the one message of a LangGraph ``Command``'s update (a tool updating the graph's state or
    handing off)."""
    if isinstance(output, ToolMessage):
        return output
    if _is_command(output):
        update = getattr(output, "update", None)
        messages = update.get("messages") if isinstance(update, Mapping) else None
        replies = [m for m in messages or () if isinstance(m, ToolMessage)]
        if len(replies) == 1:
            return replies[0]
    return None


def _tool_output(output: Any) -> Any:
    """What a tool returned, as recorded: its ToolMessage's content, else a ``Command``'s
    update, else the value."""
    reply = _tool_reply(output)
    if reply is not None:
        return reply.content
    return convert(getattr(output, "update", None) if _is_command(output) else output)


def _note_interrupts(trace: Trace, error: BaseException) -> None:
    """Mark ``trace`` as paused and keep what each ``interrupt()`` asked (its ``value``)."""
    trace.interrupted = True
    pending = error.args[0] if error.args else ()
    if not isinstance(pending, (list, tuple)):
        return
    for item in pending:
        if hasattr(item, "value"):
            key = getattr(item, "id", None)
            trace.interrupts[key if isinstance(key, str) else str(id(item))] = item.value


def _current_task() -> asyncio.Task[Any] | None:
    """The asyncio task running this code, or None off an event loop (threads, sync code)."""
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None


# The code of LangChain's async start callbacks: a task running one of them was created only to
# deliver that callback (see _starting_task).
_START_DISPATCHERS = frozenset(
    code
    for method in (
        AsyncCallbackManager.on_llm_start,
        AsyncCallbackManager.on_chat_model_start,
        AsyncCallbackManager.on_chain_start,
        AsyncCallbackManager.on_tool_start,
        AsyncCallbackManager.on_retriever_start,
    )
    if (code := getattr(inspect.unwrap(method), "__code__", None)) is not None
)


def _starting_task() -> asyncio.Task[Any] | None:
    """The asyncio task that awaits the run starting now, or None off an event loop.

    That is the current task, unless LangChain created it only to deliver the start callbacks
    (its coroutine is the callback manager's start method): ``BaseLLM.agenerate`` gathers its
    ``on_llm_start`` calls, one task each, which end as soon as they are delivered, while the
    call goes on in the caller's task. Such a task's end says nothing of the run, and none is
    returned, as off a loop: LangChain reports every ending of those calls itself (its
    ``BaseLLM`` catches ``BaseException``, cancellation included).
    """
    task = _current_task()
    if task is not None and getattr(task.get_coro(), "cr_code", None) in _START_DISPATCHERS:
        return None
    return task


def _awaited(run: Run) -> bool:
    """Whether ``run`` lives strictly inside one ``await`` of the task that started it.

    Tool calls and retrievals, and model calls except those a generator read by that task
    drives (``astream``) or LangChain's own producer task drives (``astream_events(version=
    "v3")``): once that task has moved on, or is done, and the run is still open,
    it was cancelled (LangChain reports every other ending). Chain runs are not: LangChain
    reports their cancellation, so an open one is held by a generator.
    """
    return run.kind in ("tool", "retriever") or (run.kind == "llm" and not run.held)


def _cancelled(reason: str) -> asyncio.CancelledError:
    return asyncio.CancelledError(f"cancelled before the run ended: {reason}")


def _partial_result(run: Run, reported: LLMResult | None = None) -> LLMResult | None:
    """What a model call that stopped before its end had streamed (see ``_partial``), else
    what LangChain ``reported`` with the error."""
    if run.events is not None:
        return result_from_events(run.events) or reported
    return result_from_chunks(run.chunks) or reported


def _v3_stream(pump: str, stream_type: str) -> Any:
    """The ``stream_events(version="v3")`` stream whose pump or starter (a function named
    ``pump``, a few frames up) is calling us, or None.

    LangChain passes callbacks no stream object, so it is found in that function's frame and
    checked for type (``stream_type``, a class of ``chat_model_stream``). Should LangChain rename
    any of them, nothing is found and the call is handled as any other.
    """
    try:
        from langchain_core.language_models import chat_model_stream
    except ImportError:
        return None
    cls = getattr(chat_model_stream, stream_type, None)
    if cls is None:
        return None
    frame: FrameType | None = sys._getframe(2)
    for _ in range(16):
        if frame is None:
            return None
        if frame.f_code.co_name == pump:
            stream = frame.f_locals.get("stream")
            return stream if isinstance(stream, cls) else None
        frame = frame.f_back
    return None


def _sync_v3_stream(run_id: UUID) -> Any:
    """The ``ChatModelStream`` through which a sync ``stream_events(version="v3")`` call is
    read by pulling it, or None (called from ``on_stream_event``).

    Found in the frame of the pump (``BaseChatModel._iter_v2_events``). That pump also drives
    a model's ``invoke`` when a handler asks for protocol events (LangGraph's
    ``stream_events(version="v3")``), into a stream nobody reads, which is freed before LangChain
    reports the end it always reports: only a stream with a reader pulling it
    (``_request_more``) is returned.
    """
    stream = _v3_stream("_iter_v2_events", "ChatModelStream")
    if (
        stream is not None
        and str(stream.message_id).endswith(str(run_id))
        and getattr(stream, "_request_more", None) is not None
    ):
        return stream
    return None


def _starts_async_v3_stream() -> bool:
    """Whether the model call starting now (``on_chat_model_start``) is an async
    ``stream_events(version="v3")`` call: started by the stream's starter (``ensure_started``)
    in whichever task first reads it, then driven by a producer task of LangChain's, which
    reports every way it ends, cancellation included."""
    return _v3_stream("ensure_started", "AsyncChatModelStream") is not None


class VokerCallbackHandler(BaseCallbackHandler):
    """Records LangChain/LangGraph runs as Voker ``llm``/``tool``/``retriever``/``chain`` events.

    Works for ``invoke``, ``ainvoke``, ``stream``, ``astream``, ``batch``, ``abatch`` and
    LangGraph graphs; one instance can be shared by every thread and task.
    """

    # Our callbacks only update a dict and enqueue: running them inline (on the event loop in
    # async runs) is cheaper than LangChain's default hop to a thread pool per callback, keeps
    # the caller's contextvars (voker context) visible, and keeps callbacks in run order.
    run_inline = True
    # Recording must never break the application's chain.
    raise_error = False

    def __init__(
        self,
        *,
        agent: str | None = None,
        session: str | None = None,
        agent_version: str | None = None,
        person: str | None = None,
        client: VokerClient | None = None,
    ) -> None:
        super().__init__()
        self._agent = _check_arg(agent, "agent")
        self._session = _check_arg(session, "session")
        self._agent_version = _check_arg(agent_version, "agent_version")
        self._person = _check_arg(person, "person")
        self._client = check_client(client, "client")
        self._runs = RunRegistry()
        self._warned_no_session = False
        # Per asyncio task that started runs: the ids of its runs still open (cancellation
        # sweep). Weak keys: a task that never finishes (its loop was closed) is not kept.
        self._task_runs: weakref.WeakKeyDictionary[asyncio.Task[Any], set[UUID]] = (
            weakref.WeakKeyDictionary()
        )
        self._tasks_lock = threading.Lock()
        # Ids of sync v3 streams dropped unfinished, queued by their finalizers (see _watch).
        self._dropped: collections.deque[UUID] = collections.deque()
        _HANDLERS.add(self)  # its streams still open at exit are recorded then

    @property
    def open_runs(self) -> int:
        """How many runs are in progress (0 whenever no run is; state is freed as runs end)."""
        return len(self._runs)

    # -- run bookkeeping -------------------------------------------------------------------------

    def _new_trace(self, run_id: UUID, metadata: Mapping[str, Any] | None) -> Trace:
        """Settle who a new top-level run belongs to (callbacks of its children may run in
        other threads or contexts, so this is decided once, here)."""
        ctx = current_context()
        meta = metadata or {}
        found = {key: _metadata_str(meta.get(key)) for key in _METADATA_KEYS}
        session = self._session or found["voker_session"]
        fallback = _metadata_str(meta.get("thread_id")) or str(run_id)
        # has_session, not session: a lazy one (a web request's) is not resolved here, maybe on
        # an event loop, but with the person, without blocking it (Trace.resolve_lazy).
        provisional = False
        if session is None and not ctx.has_session:
            session = fallback
            provisional = session == str(run_id)
        extra = meta.get("voker_properties")
        person = self._person or found["voker_person"]
        assoc = resolve_associations(
            session=session,
            agent=self._agent or found["voker_agent"],
            agent_version=self._agent_version or found["voker_agent_version"],
            person=person,
            properties=extra if isinstance(extra, Mapping) else None,
            client=self._client,
            require_agent=False,
            session_fallback=fallback,
        )
        if assoc.agent is None and assoc.agent_version is not None:
            logger.warning(
                "voker: agent_version %r given without an agent; ignored", assoc.agent_version
            )
            assoc.agent_version = None
        client = assoc.client if assoc.client is not None else get_client()
        trace = Trace(run_id, assoc, client)
        if provisional:
            trace.provisional_session = True
            if not self._warned_no_session:
                trace.warn_provisional = self._warn_no_session
        # A lazy session or person (a web request's: a session row, the user) must not be
        # resolved synchronously on an event loop, which is where async runs call us.
        if assoc.lazy:
            trace.resolve_lazy()
        return trace

    def _warn_no_session(self) -> None:
        if not self._warned_no_session:
            self._warned_no_session = True
            logger.warning(
                "voker: no session for a LangChain run; using its run id. Pass "
                "VokerCallbackHandler(session=...), metadata={'voker_session': ...}, "
                "or run inside voker_core.context(session=...)"
            )

    def _start(
        self,
        kind: str,
        run_id: UUID,
        parent_run_id: UUID | None,
        metadata: Mapping[str, Any] | None,
        name: str,
        *,
        batched: bool = False,
        tracked: bool = True,
    ) -> Run:
        """Open a run. ``tracked``: note it against the asyncio task awaiting it (see
        :meth:`_task_done`); not for a call that LangChain's own task drives and reports."""
        if self._dropped:
            self._record_dropped()
        if parent_run_id is None:
            parent_run_id = self._context_parent_id()
        parent = self._runs.get(parent_run_id) if parent_run_id is not None else None
        # A run whose parent we never saw (none, or the handler was attached further down) is
        # the top of a trace as far as we are concerned.
        if parent is None:
            trace = self._new_trace(run_id, metadata)
        else:
            trace = parent.trace
            if trace.provisional_session and metadata:
                thread = _metadata_str(metadata.get("thread_id"))
                if thread is not None:
                    trace.adopt_session(thread)
        run = Run(
            run_id=run_id,
            parent_run_id=parent_run_id,
            parent=parent,
            trace=trace,
            kind=kind,
            name=name,
        )
        run.batched = batched
        evicted = self._runs.add(run)
        if evicted is not None:
            self._forget_task(evicted)
            self._record(
                evicted,
                time.perf_counter(),
                RunEvicted("too many LangChain runs open at once; recorded unfinished"),
            )
        task = _starting_task()
        if task is not None:
            if run.is_root and not batched:
                self._sweep_superseded(task, run.run_id)
            if tracked:
                self._track(run, task)
        return run

    def _context_parent_id(self) -> UUID | None:
        """The parent LangChain's context names for a run that starts with none, if it is a run
        open here.

        Some runnables hand a child the config they were given instead of the child config
        they made (``RunnableWithFallbacks.invoke``/``ainvoke``): the child's run then starts
        with no parent, and would be a trace of its own (a session of its own, without an
        explicit one). The child config is in LangChain's ``var_child_runnable_config`` context
        variable meanwhile, where LangSmith's tracer finds the parent run too.
        """
        try:
            config = var_child_runnable_config.get()
            manager = config.get("callbacks") if config else None
            parent_id = getattr(manager, "parent_run_id", None)
            if isinstance(parent_id, UUID) and self._runs.get(parent_id) is not None:
                return parent_id
        except Exception:
            logger.debug("voker: could not read LangChain's run context", exc_info=True)
        return None

    def _pop(self, run_id: UUID) -> Run | None:
        """Take an open run out (whoever gets it records it: exactly once)."""
        run = self._runs.pop(run_id)
        if run is not None:
            self._forget_task(run)
            if run.watch is not None:
                run.watch.detach()
        return run

    # -- sync v3 streams dropped unfinished ----------------------------------------------------

    def _watch(self, run: Run) -> None:
        """Note when the reader of a sync ``stream_events(version="v3")`` call drops it.

        Such a stream is pulled by its reader: one that stops reading (a ``break``, an
        exception, a closed HTTP response) leaves the call suspended, and LangChain reports no
        end for it, ever. (An async one is driven by LangChain's producer task, which reports
        every ending.) So when the stream object is collected, the call is queued, and recorded
        at the handler's next run or at exit, with what it streamed and no error: as for a
        ``stream()`` its reader closes.
        """
        stream = _sync_v3_stream(run.run_id)
        if stream is None:
            return
        # The finalizer runs inside the garbage collector, in any thread, under whatever lock
        # that thread holds: it only appends to a deque (atomic, no lock, no code of ours).
        run.watch = weakref.finalize(stream, self._dropped.append, run.run_id)
        run.watch.atexit = False  # the exit hook records streams never dropped
        # The queued call may be recorded from another thread, or from an event loop.
        run.trace.settle()

    def _record_dropped(self) -> None:
        """Record the calls of the dropped sync v3 streams queued by their finalizers."""
        while self._dropped:
            try:
                run_id = self._dropped.popleft()
            except IndexError:  # another thread took the last one
                return
            self._record_unread(run_id)

    def _record_streams_at_exit(self) -> None:
        """At interpreter exit: record every model call still streaming.

        Nobody will read those streams any more, and LangChain will report nothing of a sync
        one (a ``stream()`` generator or v3 stream still referenced: a script that read the
        first chunks and ended). (Not through the v3 finalizers: weakref's own exit hook may
        have run before this one, and that disables them.)
        """
        self._record_dropped()
        for run in self._runs.snapshot():
            if run.kind == "llm" and run.last_event_at:
                self._record_unread(run.run_id)

    def _record_unread(self, run_id: UUID) -> None:
        """Record a streamed call whose reader stopped reading, as a stream its reader closes:
        what it streamed, no error, its latency up to the last chunk read."""
        run = self._pop(run_id)
        if run is not None:
            ended = run.last_event_at or time.perf_counter()
            self._record_llm(run, ended, _partial_result(run), None)

    # -- cancellation ------------------------------------------------------------------------------

    def _track(self, run: Run, task: asyncio.Task[Any]) -> None:
        """Remember that ``task`` started ``run``; the first run of a task also registers the
        task's one done-callback."""
        with self._tasks_lock:
            ids = self._task_runs.get(task)
            first = ids is None
            if ids is None:
                ids = self._task_runs[task] = set()
            ids.add(run.run_id)
        run.task_runs, run.task_key = ids, id(task)
        if first:
            task.add_done_callback(self._task_done)

    def _forget_task(self, run: Run) -> None:
        if run.task_runs is not None:
            with self._tasks_lock:
                run.task_runs.discard(run.run_id)

    def _open_runs_of(self, ids: set[UUID] | None) -> list[Run]:
        if not ids:
            return []
        with self._tasks_lock:
            snapshot = list(ids)
        return [run for run in map(self._runs.get, snapshot) if run is not None]

    def _abandon(self, run: Run, error: BaseException) -> None:
        """Record an open run that will get no end callback (unless an end got it first)."""
        if self._pop(run.run_id) is not None:
            self._record(run, time.perf_counter(), error)

    def _record(self, run: Run, ended: float, error: BaseException) -> None:
        if run.kind == "llm":
            self._record_llm(run, ended, _partial_result(run), error)
        elif run.kind == "tool":
            self._record_tool(run, ended, None, error)
        elif run.kind == "retriever":
            self._record_retriever(run, ended, None, error)
        else:
            self._record_chain(run, ended, None, error, None)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        """Done-callback of a task that started runs: finish those it left open.

        Runs on the event loop: only dict look-ups and enqueueing, and never raises. A run whose
        end callback did arrive is already gone from the registry, so nothing is recorded twice.
        """
        try:
            with self._tasks_lock:
                ids = self._task_runs.pop(task, None)
            if task.cancelled():
                error: BaseException = _cancelled("its asyncio task was cancelled")
                # Everything the task had open dies with it, generators it was reading too.
                runs = self._open_runs_of(ids)
            else:
                failure = task.exception()
                error = (
                    failure
                    if failure is not None and not isinstance(failure, Exception)
                    else _cancelled("its asyncio task went on and finished without it")
                )
                # A generator the task was reading may still be read elsewhere or closed later.
                runs = [run for run in self._open_runs_of(ids) if _awaited(run)]
            # Innermost first, as they would have ended.
            for run in reversed(runs):
                self._abandon(run, error)
        except Exception:
            logger.warning(
                "voker: failed to finish a cancelled task's runs (ignored)", exc_info=True
            )

    def _sweep_superseded(self, task: asyncio.Task[Any], new_run_id: UUID) -> None:
        """``task`` starts a new top-level run while a model call it awaited is still open:
        that await is over without the call ending, so the call was cancelled (a timeout the
        task caught: ``asyncio.timeout``, ``wait_for`` on Python 3.12+).

        Only single model calls: a model call's own work runs in other tasks (LangChain's
        ``gather``), so nothing legitimately starts in ``task`` meanwhile; a tool or retriever
        may run its body in ``task`` itself.
        """
        with self._tasks_lock:
            ids = self._task_runs.get(task)
        for run in self._open_runs_of(ids):
            if run.kind == "llm" and _awaited(run) and not run.batched and run.run_id != new_run_id:
                self._abandon(run, _cancelled("its caller went on without it"))

    def _sweep_descendants(self, ended: Run) -> None:
        """A chain ended: the awaited runs it started in its own task can no longer end."""
        runs = [
            run
            for run in self._open_runs_of(ended.task_runs)
            if _awaited(run) and self._descends_from(run, ended.run_id)
        ]
        for run in reversed(runs):
            self._abandon(run, _cancelled(f"its parent run {ended.name!r} ended"))

    def _descends_from(self, run: Run, ancestor_id: UUID) -> bool:
        parent_id = run.parent_run_id
        for _ in range(1000):  # bounded: run ids come from outside
            if parent_id is None:
                return False
            if parent_id == ancestor_id:
                return True
            parent = self._runs.get(parent_id)
            if parent is None:
                return False
            parent_id = parent.parent_run_id
        return False

    def _base_properties(
        self, run: Run, ended: float, error: BaseException | None
    ) -> dict[str, Any]:
        props: dict[str, Any] = dict(run.trace.assoc.properties)
        props["name"] = run.name
        props.update(run.timing(ended))
        failed = error is not None and not _is_control_flow(error)
        props["error"] = error_info(error) if failed and error is not None else None
        if _is_interrupt(error):
            props["interrupted"] = True
        props.update(run.ids())
        return props

    # -- chains ------------------------------------------------------------------------------------

    @guarded
    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        run = self._start("chain", run_id, parent_run_id, metadata, _run_name(serialized, kwargs))
        if run.is_root and run.trace.capture_content:
            run.inputs = convert(inputs)

    @guarded
    def on_chain_end(
        self,
        outputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._end_chain(run_id, time.perf_counter(), outputs, None, kwargs.get("inputs"))

    @guarded
    def on_chain_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._end_chain(run_id, time.perf_counter(), None, error, kwargs.get("inputs"))

    def _end_chain(
        self,
        run_id: UUID,
        ended: float,
        outputs: Any,
        error: BaseException | None,
        late_inputs: Any,
    ) -> None:
        run = self._pop(run_id)
        if run is None:
            return
        # Runs this chain awaited that never ended were cancelled (recorded before the chain,
        # as they would have ended before it).
        self._sweep_descendants(run)
        self._record_chain(run, ended, outputs, error, late_inputs)

    def _record_chain(
        self,
        run: Run,
        ended: float,
        outputs: Any,
        error: BaseException | None,
        late_inputs: Any,
    ) -> None:
        if error is not None and _is_interrupt(error):
            _note_interrupts(run.trace, error)
        if not run.recorded:
            return  # only top-level chains are events; inner ones only link their children
        if late_inputs is not None and run.trace.capture_content:
            # A streamed chain learns its input only as it is consumed; LangChain hands the
            # final input to the end callback.
            run.inputs = convert(late_inputs)
        props = self._base_properties(run, ended, error)
        if run.trace.interrupted or (isinstance(outputs, Mapping) and "__interrupt__" in outputs):
            props["interrupted"] = True  # a LangGraph graph paused by interrupt()
        if run.trace.capture_content:
            props["inputs"] = run.inputs
            props["outputs"] = convert(outputs)
            if run.trace.interrupts:
                props["interrupts"] = convert(list(run.trace.interrupts.values()))
        run.trace.send("chain", props)

    # -- model calls -------------------------------------------------------------------------------

    def _start_llm(
        self,
        inputs: dict[str, Any],
        run_id: UUID,
        parent_run_id: UUID | None,
        metadata: Mapping[str, Any] | None,
        serialized: Mapping[str, Any] | None,
        kwargs: Mapping[str, Any],
    ) -> None:
        batch_size = kwargs.get("batch_size")
        # An async v3 call is driven by LangChain's producer task, not by the task starting it
        # (a reader's first read, maybe inside a wait_for that times out and is cancelled).
        produced = _current_task() is not None and _starts_async_v3_stream()
        run = self._start(
            "llm",
            run_id,
            parent_run_id,
            metadata,
            _run_name(serialized, kwargs),
            batched=isinstance(batch_size, int) and batch_size > 1,
            tracked=not produced,
        )
        meta = metadata or {}
        params = kwargs.get("invocation_params")
        params = params if isinstance(params, Mapping) else {}
        for key, value in params.items():
            if (
                value is not None
                and key not in _PRIVATE_PARAMS
                and not key.startswith("_")
                and key not in inputs
            ):
                inputs[key] = convert(value)
        provider = meta.get("ls_provider") or params.get("_type") or "langchain"
        model = meta.get("ls_model_name") or params.get("model") or params.get("model_name")
        run.call = LLMCall(
            api="langchain",
            provider=str(provider),
            assoc=run.trace.assoc,
            inputs=inputs,
            stream=bool(params.get("stream") or params.get("streaming")),
            requested_model=model if isinstance(model, str) else None,
        )

    @guarded
    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        # LangChain starts one run per message list, so there is exactly one list here.
        inputs = {"messages": [message_to_dict(m) for batch in messages for m in batch]}
        self._start_llm(inputs, run_id, parent_run_id, metadata, serialized, kwargs)

    @guarded
    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        inputs = {"prompt": prompts[0] if len(prompts) == 1 else list(prompts)}
        self._start_llm(inputs, run_id, parent_run_id, metadata, serialized, kwargs)

    @guarded
    def on_llm_new_token(
        self,
        token: str | list[str | dict[str, Any]],
        *,
        chunk: GenerationChunk | ChatGenerationChunk | None = None,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        run = self._runs.get(run_id)
        if run is None or run.call is None:
            return
        call = run.call
        call.stream = True
        if token or getattr(getattr(chunk, "message", None), "tool_call_chunks", None):
            call.mark_first_token()
        if chunk is not None:
            # Kept only while the call is open: its partial output if it is cancelled.
            if run.chunks is None:
                run.chunks = []
            run.chunks.append(chunk)
        run.last_event_at = time.perf_counter()
        if run.task_runs is not None and not run.held:
            # A token delivered in the starting task itself: that task reads a generator
            # (``astream``), which may be left suspended without the run being over.
            task = _current_task()
            run.held = task is not None and id(task) == run.task_key

    @guarded
    def on_stream_event(
        self,
        event: Mapping[str, Any],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """A protocol event of ``stream_events(version="v3")`` (langchain-core 1.8+), in place
        of ``on_llm_new_token``: the call is streamed, and its first content delta is the
        first token."""
        run = self._runs.get(run_id)
        if run is None or run.call is None:
            return
        run.call.stream = True
        if event.get("event") == "content-block-delta":
            run.call.mark_first_token()
        # Kept only while the call is open: LangChain reports a call that stops before its
        # message finished without the content streamed so far.
        if run.events is None:
            run.events = []
            self._watch(run)
        run.events.append(event)
        run.last_event_at = time.perf_counter()
        # LangChain's own producer task drives the call and reports every way it ends
        # (cancellation included): it is not held by an ``await`` of the task that started it,
        # which may move on - or finish - before the call's end arrives.
        run.held = True

    @guarded
    def on_llm_end(
        self,
        response: LLMResult,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self._end_llm(run_id, time.perf_counter(), response, None)

    @guarded
    def on_llm_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        response = kwargs.get("response")
        reported = reported_content(response) if isinstance(response, LLMResult) else None
        self._end_llm(run_id, time.perf_counter(), reported, error)

    def _end_llm(
        self,
        run_id: UUID,
        ended: float,
        response: LLMResult | None,
        error: BaseException | None,
    ) -> None:
        run = self._pop(run_id)
        if run is None:
            return
        if error is not None and run.events is not None:
            response = _partial_result(run, response)
        self._record_llm(run, ended, response, error)

    def _record_llm(
        self,
        run: Run,
        ended: float,
        response: LLMResult | None,
        error: BaseException | None,
    ) -> None:
        if run.call is None:
            return
        outcome = outcome_from_result(response)
        call = run.call
        if outcome.provider and call.provider == "langchain":
            call.provider = outcome.provider
        extra: dict[str, Any] = {"name": run.name, **run.ids()}
        failed = error is not None and not _is_control_flow(error)
        if _is_interrupt(error):
            extra["interrupted"] = True
        props = call.properties(
            ended,
            outcome.output,
            outcome.model,
            outcome.usage,
            outcome.finish_reason,
            error if failed else None,
            extra,
            capture_content=run.trace.capture_content,
        )
        run.trace.send("llm", props)

    # -- tools ---------------------------------------------------------------------------------

    @guarded
    def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        run = self._start("tool", run_id, parent_run_id, metadata, _run_name(serialized, kwargs))
        tool_call_id = kwargs.get("tool_call_id")
        run.inputs = {
            "input": convert(inputs) if inputs is not None else input_str,
            "tool_call_id": tool_call_id if isinstance(tool_call_id, str) else None,
        }

    @guarded
    def on_tool_end(
        self,
        output: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._end_tool(run_id, time.perf_counter(), output, None)

    @guarded
    def on_tool_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._end_tool(run_id, time.perf_counter(), None, error)

    def _end_tool(
        self, run_id: UUID, ended: float, output: Any, error: BaseException | None
    ) -> None:
        run = self._pop(run_id)
        if run is not None:
            self._record_tool(run, ended, output, error)

    def _record_tool(
        self, run: Run, ended: float, output: Any, error: BaseException | None
    ) -> None:
        props = self._base_properties(run, ended, error)
        started = run.inputs or {}
        tool_call_id = started.get("tool_call_id")
        if tool_call_id is None:
            # langchain-core before 1.1.2 passes no tool_call_id to on_tool_start.
            reply = _tool_reply(output)
            tool_call_id = reply.tool_call_id if reply is not None else None
            if not isinstance(tool_call_id, str):
                tool_call_id = None
        props["tool_call_id"] = tool_call_id
        if run.trace.capture_content:
            props["input"] = started.get("input")
            props["output"] = _tool_output(output)
        run.trace.send("tool", props)

    # -- retrievers ------------------------------------------------------------------------------

    @guarded
    def on_retriever_start(
        self,
        serialized: dict[str, Any],
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        run = self._start(
            "retriever", run_id, parent_run_id, metadata, _run_name(serialized, kwargs)
        )
        run.inputs = query

    @guarded
    def on_retriever_end(
        self,
        documents: Sequence[Document],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._end_retriever(run_id, time.perf_counter(), documents, None)

    @guarded
    def on_retriever_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._end_retriever(run_id, time.perf_counter(), None, error)

    def _end_retriever(
        self,
        run_id: UUID,
        ended: float,
        documents: Sequence[Document] | None,
        error: BaseException | None,
    ) -> None:
        run = self._pop(run_id)
        if run is not None:
            self._record_retriever(run, ended, documents, error)

    def _record_retriever(
        self,
        run: Run,
        ended: float,
        documents: Sequence[Document] | None,
        error: BaseException | None,
    ) -> None:
        props = self._base_properties(run, ended, error)
        props["document_count"] = len(documents) if documents is not None else None
        if run.trace.capture_content:
            props["query"] = run.inputs
            props["documents"] = (
                [convert(getattr(doc, "metadata", None)) for doc in documents]
                if documents is not None
                else None
            )
        run.trace.send("retriever", props)


# Every handler, for its streams still open at exit (see ``_record_streams_at_exit``). They are
# recorded before the Voker client's own exit hook delivers what is queued: ``atexit`` runs
# hooks last registered first, and voker_core registered its hook when this module imported it.
_HANDLERS: weakref.WeakSet[VokerCallbackHandler] = weakref.WeakSet()


def _record_streams_at_exit() -> None:
    for handler in list(_HANDLERS):
        try:
            handler._record_streams_at_exit()
        except Exception:
            logger.warning("voker: failed to record unfinished LangChain streams", exc_info=True)


atexit.register(_record_streams_at_exit)
