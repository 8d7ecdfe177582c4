"""The Voker context: who and what the current work belongs to.

Plug-ins (Django middleware, Flask extension, Celery signals) *set* the context; the provider
wrappers, the LangChain handler and ``VokerClient.events.create`` *read* it, so application code
does not have to pass ``voker_session=`` everywhere::

    import voker_core

    with voker_core.context(session="conv-42", agent="support-bot", person="user-7"):
        client.chat.completions.create(model="gpt-4.1-mini", messages=[...])  # no voker_* kwargs

    @voker_core.context(agent="billing-bot")     # also a decorator: sync, async, generators
    def answer(question): ...

Contexts nest: an inner context's non-None fields override the outer ones and its ``properties``
are merged over the outer ones; a context naming a different agent without a version does not
inherit the outer agent's version (a version belongs to its agent). The state lives in a
:class:`contextvars.ContextVar`, so every thread and every asyncio task sees its own context
(asyncio tasks start with a copy of their creator's) - even when one ``context`` object, say a
module-level ``BOT = voker_core.context(agent="support-bot")``, is entered by several of them at
once. A decorated generator (sync or async) runs inside the context only while its own code
runs, never while its consumer holds an item.

``person`` and ``session`` may each be lazy: a zero-argument callable, a coroutine function, or
an object with ``__call__`` and an async ``aresolve()`` (:class:`AsyncResolver`). A lazy value is
resolved the first time it is needed and at most once per context - by synchronous readers
(``current_context().session``, :meth:`VokerContext.resolve_person`) and async ones
(:meth:`VokerContext.aresolve_session`, :meth:`VokerContext.aresolve_person`) alike, and by
concurrent awaiters, which share one resolution. So a web request that makes no LLM call never
touches the user table, and a web plug-in creates a session cookie only for requests that record
something. A nested context that does not set a field shares the outer one's lazy value.

A lazy source never raises into the application: one that fails is logged once (logger
``voker``, with the traceback) and gives no person, or a random session id for that context, so
the LLM call goes on and its events still land together. A source that can only be awaited (a
coroutine function) reads as ``None`` from synchronous code, unresolved, until an async reader
resolves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import threading
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Iterator, Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, cast, runtime_checkable

from voker_core._blocking import in_event_loop
from voker_core._within import aiter_within, iter_within

if TYPE_CHECKING:
    from voker_core.client import VokerClient

__all__ = [
    "AsyncResolver",
    "PersonSource",
    "SessionSource",
    "VokerContext",
    "context",
    "current_context",
]

F = TypeVar("F", bound=Callable[..., Any])

logger = logging.getLogger("voker")


@runtime_checkable
class AsyncResolver(Protocol):
    """A lazy person or session that can be resolved both ways: called from synchronous code,
    awaited (``aresolve()``) from async code without blocking the event loop."""

    def __call__(self) -> str | None: ...

    async def aresolve(self) -> str | None: ...


AsyncPersonResolver = AsyncResolver  # its former name

LazySource = Callable[[], str | None] | Callable[[], Awaitable[str | None]] | AsyncResolver
PersonSource = str | LazySource
SessionSource = str | LazySource

_UNRESOLVED: Any = object()


class _Lazy:
    """Resolves a person or session source once; shared by a context and the ones nested in it.

    Synchronous readers serialise on a lock, so threads call the source once. Async readers on
    one event loop share one task, so concurrent awaiters call it once too. The two paths do
    not wait for each other (a thread blocked on a lock held across an ``await`` could stall an
    event loop), so in the rare case that both run at once the source may be called twice - but
    the first result is kept and every reader gets that one.
    """

    __slots__ = ("_kind", "_resolving", "_source", "_state", "_task", "_value", "_warned")

    def __init__(self, source: Callable[[], Any], kind: Literal["person", "session"]) -> None:
        self._source = source
        self._kind = kind
        self._value: Any = _UNRESOLVED
        self._resolving = threading.Lock()  # held while a synchronous reader calls the source
        self._state = threading.Lock()  # held briefly, never across a call or an await
        self._task: asyncio.Task[str | None] | None = None
        self._warned = False

    # -- settling ------------------------------------------------------------------------------

    def _settle(self, value: Any) -> str | None:
        """Keep ``value`` unless another reader settled first; return the kept value."""
        if value is not None and not isinstance(value, str):
            value = str(value)
        if value is not None and not value.strip():
            value = None  # an empty id means "none", as it would for an explicit argument
        with self._state:
            if self._value is _UNRESOLVED:
                self._value = value
            return cast("str | None", self._value)

    def _settle_failure(self) -> str | None:
        """The source raised (call from an ``except`` block): log it once and fall back."""
        fallback = uuid.uuid4().hex if self._kind == "session" else None
        with self._state:
            if self._value is not _UNRESOLVED:
                return cast("str | None", self._value)  # another reader settled it meanwhile
            self._value = fallback
        if self._kind == "session":
            # A random id keeps this context's events together, as the Django and Flask
            # plug-ins do when their session store fails; raising would break the LLM call.
            logger.warning(
                "voker: the context's session source raised; using a random session id for "
                "this context",
                exc_info=True,
            )
        else:
            logger.warning(
                "voker: resolving the context's person failed; recording without one",
                exc_info=True,
            )
        return fallback

    # -- synchronous readers -------------------------------------------------------------------

    def resolve(self) -> str | None:
        value = self._value
        if value is not _UNRESOLVED:
            return cast("str | None", value)
        with self._resolving:
            if self._value is not _UNRESOLVED:
                return cast("str | None", self._value)
            try:
                result = self._source()
            except Exception:
                return self._settle_failure()
            if inspect.isawaitable(result):
                self._cannot_await(result)
                return None  # left unresolved: an async reader may still resolve it
            return self._settle(result)

    def _cannot_await(self, result: Awaitable[Any]) -> None:
        # A coroutine cannot be awaited from synchronous code; close it so Python does not warn.
        close = getattr(result, "close", None)
        if close is not None:
            close()
        if not self._warned:
            self._warned = True
            logger.warning(
                "voker: the context's %s source can only be awaited, but was read from "
                "synchronous code; treating it as unknown here (give it a synchronous __call__ "
                "too, see voker_core.AsyncResolver)",
                self._kind,
            )

    # -- async readers -------------------------------------------------------------------------

    async def aresolve(self) -> str | None:
        value = self._value
        if value is not _UNRESOLVED:
            return cast("str | None", value)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # awaited outside asyncio (e.g. trio): no task to share
            return await self._run()
        with self._state:
            if self._value is not _UNRESOLVED:
                return cast("str | None", self._value)
            task = self._task
            # A done task that settled nothing was cancelled (its loop shut down, say), and one
            # on a closed loop never will finish: start afresh rather than hand either on.
            if task is None or task.done() or task.get_loop().is_closed():
                task = self._task = loop.create_task(self._run())
                task.add_done_callback(self._forget)
        if task.get_loop() is not loop:
            # Being resolved on another thread's event loop, whose task this loop cannot await:
            # resolve here too; the first result is kept, so every reader sees the same value.
            return await self._run()
        # shield: an awaiter that is cancelled must not cancel the resolution the others share.
        return await asyncio.shield(task)

    async def _run(self) -> str | None:
        source = self._source
        try:
            if isinstance(source, AsyncResolver):
                result: Any = await source.aresolve()
            elif inspect.iscoroutinefunction(source) or not in_event_loop():  # trio: no to_thread
                result = source()
            else:
                # A plain function may block (a database or HTTP lookup): not on the loop.
                result = await asyncio.to_thread(source)
            if inspect.isawaitable(result):
                result = await result
        except Exception:
            return self._settle_failure()
        return self._settle(result)

    def _forget(self, task: asyncio.Task[str | None]) -> None:
        # Drop the finished task (and the loop it holds on to); the value, if any, is kept.
        with self._state:
            if self._task is task:
                self._task = None


def _unread(value: str | _Lazy | None) -> bool:
    return isinstance(value, _Lazy) and value._value is _UNRESOLVED


@dataclass(frozen=True)
class VokerContext:
    """The effective context at one point of execution (immutable).

    ``person`` and ``session`` may still be lazy: read them with :meth:`resolve_person` and
    :attr:`session` (or ``await`` :meth:`aresolve_person` / :meth:`aresolve_session` in async
    code), which resolve each at most once. ``repr`` leaves both out so that printing a context
    never triggers a resolution.
    """

    agent: str | None = None
    agent_version: str | None = None
    properties: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    client: VokerClient | None = None
    _person: str | _Lazy | None = field(default=None, repr=False)
    _session: str | _Lazy | None = field(default=None, repr=False)

    @property
    def has_session(self) -> bool:
        """Whether a session (resolved or lazy) is set; reading this resolves nothing."""
        return self._session is not None

    @property
    def session(self) -> str | None:
        """The session id (calls a lazy session source the first time it is read; prefer
        :meth:`aresolve_session` in async code)."""
        if isinstance(self._session, _Lazy):
            return self._session.resolve()
        return self._session

    async def aresolve_session(self) -> str | None:
        """Like :attr:`session`, awaiting an async session source instead of blocking."""
        if isinstance(self._session, _Lazy):
            return await self._session.aresolve()
        return self._session

    @property
    def session_is_lazy(self) -> bool:
        """Whether the session comes from a lazy source not read yet (reading it may query)."""
        return _unread(self._session)

    @property
    def person_is_lazy(self) -> bool:
        """Whether the person comes from a lazy source not read yet (reading it may query)."""
        return _unread(self._person)

    @property
    def has_person(self) -> bool:
        """Whether a person (resolved or lazy) is set; reading this resolves nothing."""
        return self._person is not None

    def resolve_person(self) -> str | None:
        """The person id, calling a lazy person source the first time it is needed."""
        if isinstance(self._person, _Lazy):
            return self._person.resolve()
        return self._person

    async def aresolve_person(self) -> str | None:
        """Like :meth:`resolve_person`, awaiting an async person source instead of blocking."""
        if isinstance(self._person, _Lazy):
            return await self._person.aresolve()
        return self._person

    @property
    def person(self) -> str | None:
        """The person id (resolves a lazy person; prefer :meth:`aresolve_person` in async code)."""
        return self.resolve_person()

    def peek(self) -> tuple[str | None, bool, str | None, bool]:
        """``(session, session_is_lazy, person, person_is_lazy)``, resolving nothing: a lazy
        value not read yet is ``(None, True)``, one read already its value. One call for the
        ``llm`` recorder, which runs before every LLM call."""
        session, person = self._session, self._person
        session_lazy = person_lazy = False
        if type(session) is _Lazy:
            session = session._value
            if session is _UNRESOLVED:
                session, session_lazy = None, True
        if type(person) is _Lazy:
            person = person._value
            if person is _UNRESOLVED:
                person, person_lazy = None, True
        return session, session_lazy, person, person_lazy  # type: ignore[return-value]


_EMPTY = VokerContext()
_current: ContextVar[VokerContext] = ContextVar("voker_context", default=_EMPTY)

# The active `with` entries of `context` objects in this execution context, innermost last:
# (the object, the token to reset on leaving). Kept here, not on the object, because one object
# may be entered by several threads or tasks at once, and each must leave its own entry. An
# entry lives only until its `with` ends; one never left goes away with its contextvars.Context.
_Entry = tuple["context", Token[VokerContext]]
_entries: ContextVar[tuple[_Entry, ...]] = ContextVar("voker_context_entries", default=())


def current_context() -> VokerContext:
    """Return the context in effect here (an empty one when none was entered)."""
    return _current.get()


@contextlib.contextmanager
def restored(ctx: VokerContext) -> Iterator[VokerContext]:
    """Make ``ctx``, a context captured earlier with :func:`current_context`, the current one
    for a block - its lazy session and person included, shared rather than copied, so they are
    still resolved once. For plug-ins that carry a request's context to code that runs after
    the request (a streamed response body)."""
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _reset(token)


def _reset(token: Token[VokerContext]) -> None:
    try:
        _current.reset(token)
    except ValueError:
        # Left in another contextvars.Context than the one it was entered in (a copy of it, made
        # by a framework or an asyncio task): restore the state before entry instead of raising
        # into the application.
        old = token.old_value
        _current.set(_EMPTY if old is Token.MISSING else old)


def version_for(agent: str | None, agent_version: str | None, outer: VokerContext) -> str | None:
    """The agent version to use for ``agent``: ``agent_version`` if given, else ``outer``'s -
    but only when ``agent`` is ``outer``'s agent (or unset): a version belongs to its agent, so
    naming another agent without a version means that agent's default version."""
    if agent_version is None and (agent is None or agent == outer.agent):
        return outer.agent_version
    return agent_version


def check_client(client: Any, name: str) -> Any:
    """``client`` if it is None or a Voker client (a ``VokerClient``, or a stand-in with its
    ``events.create``); else ``TypeError`` naming the argument ``name``."""
    if client is None:
        return None
    from voker_core.api_client import ApiClient  # not at import: this module stays stdlib-only
    from voker_core.client import VokerClient

    if isinstance(client, VokerClient):
        return client
    if (
        isinstance(client, (type, ApiClient))  # the class itself; the synchronous API client
        or not callable(getattr(getattr(client, "events", None), "create", None))
    ):
        shown = (
            f"the class {client.__name__}" if isinstance(client, type) else type(client).__name__
        )
        raise TypeError(f"{name} must be a VokerClient, got {shown}")
    return client


def _check_name(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{name} must not be empty")
    return str.__str__(value)  # a str subclass (a str Enum member) as the string it holds


# What one entry of a context sets for the person and the session: a string, or a lazy value
# made for that entry (shared by the contexts nested in it), or None to inherit.
_Own = tuple["str | _Lazy | None", "str | _Lazy | None"]


class context:
    """Enter a Voker context for a block, a function, a coroutine function or a generator.

    Arguments left as ``None`` are inherited from the enclosing context. One object may be
    entered any number of times, nested or concurrently from several threads and tasks; each
    entry (and each call of a decorated function) resolves its lazy values afresh.
    """

    def __init__(
        self,
        *,
        session: SessionSource | None = None,
        agent: str | None = None,
        agent_version: str | None = None,
        person: PersonSource | None = None,
        properties: Mapping[str, Any] | None = None,
        client: VokerClient | None = None,
    ) -> None:
        if session is not None and not callable(session):
            session = _check_name(session, "session")
        self._session = session
        self._agent = _check_name(agent, "agent")
        self._agent_version = _check_name(agent_version, "agent_version")
        if person is not None and not callable(person):
            person = _check_name(person, "person")
        self._person = person
        if properties is not None and not isinstance(properties, Mapping):
            raise TypeError(f"properties must be a dict, got {type(properties).__name__}")
        self._properties = dict(properties) if properties else None
        self._client = check_client(client, "client")

    def _own(self) -> _Own:
        """This entry's person and session, lazy sources wrapped in a fresh :class:`_Lazy`."""
        person, session = self._person, self._session
        return (
            _Lazy(person, "person") if callable(person) else person,
            _Lazy(session, "session") if callable(session) else session,
        )

    def _build(self, outer: VokerContext, own: _Own) -> VokerContext:
        person, session = own
        properties: Mapping[str, Any] = outer.properties
        if self._properties:
            properties = MappingProxyType({**outer.properties, **self._properties})
        return VokerContext(
            agent=self._agent if self._agent is not None else outer.agent,
            agent_version=version_for(self._agent, self._agent_version, outer),
            properties=properties,
            client=self._client if self._client is not None else outer.client,
            _person=person if person is not None else outer._person,
            _session=session if session is not None else outer._session,
        )

    # -- with / async with ---------------------------------------------------------------------

    def __enter__(self) -> VokerContext:
        ctx = self._build(_current.get(), self._own())
        token = _current.set(ctx)
        _entries.set((*_entries.get(), (self, token)))
        return ctx

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        entries = _entries.get()
        for i in range(len(entries) - 1, -1, -1):  # this execution context's innermost entry
            owner, token = entries[i]
            if owner is self:
                _entries.set(entries[:i] + entries[i + 1 :])
                _reset(token)
                return
        # No entry of this object here: it was entered in an unrelated execution context (a
        # generator finalised elsewhere, say), and nothing of it is set in this one.

    async def __aenter__(self) -> VokerContext:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    # -- decorator -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _entered(self, own: _Own | None = None) -> Iterator[VokerContext]:
        """Enter for one call, or one generator run (entered once, in the run's own context:
        see voker_core._within)."""
        ctx = self._build(_current.get(), own if own is not None else self._own())
        token = _current.set(ctx)
        try:
            yield ctx
        finally:
            _reset(token)

    def __call__(self, func: F) -> F:
        """Use as a decorator: the function (sync, async, generator or async generator) runs
        inside the context; a generator (sync or async) in a Voker context of its own run,
        built where it is first stepped, so each item it yields is handed to the caller
        outside it. The wrapper keeps the kind of ``func``, so decorators
        (this one included) stack. A ``staticmethod``/``classmethod`` stays one; a plain
        function that returns a coroutine (an async function under a plain decorator, an
        object with an async ``__call__``) runs the coroutine inside the context too."""
        if isinstance(func, (staticmethod, classmethod)):
            return cast(F, type(func)(self(func.__func__)))
        if inspect.isasyncgenfunction(func):
            return cast(F, self._wrap_async_generator(func))

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with self._entered():
                    return await func(*args, **kwargs)

            return cast(F, async_wrapper)

        if inspect.isgeneratorfunction(func):

            @functools.wraps(func)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
                # yield from passes send/throw/close and the return value on to iter_within.
                return (yield from iter_within(self._entered, func(*args, **kwargs)))

            return cast(F, gen_wrapper)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self._entered():
                result = func(*args, **kwargs)
            if inspect.iscoroutine(result):
                # Not a coroutine function, but its work runs when awaited: there too. (Other
                # awaitables - a Task, a Future - are returned as they are: already running.)
                return self._awaited(result)
            return result

        return cast(F, wrapper)

    async def _awaited(self, coroutine: Awaitable[Any]) -> Any:
        with self._entered():
            return await coroutine

    def _wrap_async_generator(
        self, func: Callable[..., Any]
    ) -> Callable[..., AsyncGenerator[Any, Any]]:
        @functools.wraps(func)
        async def agen_wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
            # An async generator has no `yield from`: pass values sent in, exceptions thrown in
            # and aclose() on to aiter_within by hand, so the wrapper is a full async generator.
            inner = aiter_within(self._entered, func(*args, **kwargs))
            try:
                item = await inner.__anext__()
                while True:
                    try:
                        sent = yield item
                    except GeneratorExit:
                        await inner.aclose()  # runs func's finally blocks inside the context
                        raise
                    except BaseException as exc:
                        item = await inner.athrow(exc)
                    else:
                        item = await inner.asend(sent)
            except StopAsyncIteration:
                return

        return agen_wrapper
