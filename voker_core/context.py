"""The Voker context: who and what the current work belongs to.

Plug-ins (Django middleware, Flask extension, Celery signals) *set* the context; the provider
wrappers, the LangChain handler and ``VokerClient.events.create`` *read* it, so application code
does not have to pass ``voker_session=`` everywhere::

    import voker_core

    with voker_core.context(session="conv-42", agent="support-bot", person="user-7"):
        client.chat.completions.create(model="gpt-4.1-mini", messages=[...])  # no voker_* kwargs

    @voker_core.context(agent="billing-bot")     # also a decorator, sync or async
    def answer(question): ...

Contexts nest: an inner context's non-None fields override the outer ones and its ``properties``
are merged over the outer ones; a context naming a different agent without a version does not
inherit the outer agent's version (a version belongs to its agent). The state lives in a
:class:`contextvars.ContextVar`, so every thread and every asyncio task sees its own context
(asyncio tasks start with a copy of their creator's).

``person`` may be a zero-argument callable (or an object with an async ``aresolve()`` method),
resolved the first time an event needs it and at most once per context, so a web request that
makes no LLM call never touches the user table. ``session`` may likewise be a zero-argument
callable (synchronous only: it is read where the session is needed, e.g. by
``current_context().session``), so a web plug-in can create a session cookie only for requests
that record something. A nested context that does not set a field shares the outer one's lazy
value, so it is still resolved once.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import threading
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast, runtime_checkable

if TYPE_CHECKING:
    from voker_core.client import VokerClient

__all__ = ["PersonSource", "SessionSource", "VokerContext", "context", "current_context"]

F = TypeVar("F", bound=Callable[..., Any])


@runtime_checkable
class AsyncPersonResolver(Protocol):
    """A lazy person that can also be resolved without blocking an event loop."""

    def __call__(self) -> str | None: ...

    async def aresolve(self) -> str | None: ...


PersonSource = str | Callable[[], str | None] | AsyncPersonResolver
SessionSource = str | Callable[[], str | None]

_UNRESOLVED: Any = object()


class _Lazy:
    """Resolves a person or session callable once; shared by a context and the ones nested in it."""

    __slots__ = ("_lock", "_source", "_value")

    def __init__(self, source: Callable[[], Any]) -> None:
        self._source = source
        self._value: Any = _UNRESOLVED
        self._lock = threading.Lock()

    def _accept(self, value: Any) -> str | None:
        if value is not None and not isinstance(value, str):
            value = str(value)
        if value is not None and not value.strip():
            value = None  # an empty id means "none", as it would for an explicit argument
        self._value = value
        return cast("str | None", value)

    def resolve(self) -> str | None:
        if self._value is not _UNRESOLVED:
            return cast("str | None", self._value)
        with self._lock:
            if self._value is _UNRESOLVED:
                result = self._source()
                if inspect.isawaitable(result):
                    # A coroutine cannot be awaited from synchronous code; close it so Python
                    # does not warn, and treat the person as unknown here.
                    close = getattr(result, "close", None)
                    if close is not None:
                        close()
                    return None
                return self._accept(result)
            return cast("str | None", self._value)

    async def aresolve(self) -> str | None:
        if self._value is not _UNRESOLVED:
            return cast("str | None", self._value)
        source = self._source
        if isinstance(source, AsyncPersonResolver):
            result: Any = await source.aresolve()
        else:
            result = source()
            if inspect.isawaitable(result):
                result = await result
        if self._value is _UNRESOLVED:
            self._accept(result)
        return cast("str | None", self._value)


@dataclass(frozen=True)
class VokerContext:
    """The effective context at one point of execution (immutable).

    ``person`` may still be lazy: read it with :meth:`resolve_person` (or ``await
    aresolve_person()`` in async code), which resolves it at most once. ``session`` may be lazy
    too; reading the property resolves it (once). ``repr`` leaves both out so that printing a
    context never triggers a resolution.
    """

    agent: str | None = None
    agent_version: str | None = None
    properties: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    client: VokerClient | None = None
    _person: str | _Lazy | None = field(default=None, repr=False)
    _session: str | _Lazy | None = field(default=None, repr=False)

    @property
    def session(self) -> str | None:
        """The session id (calls a lazy session source the first time it is read)."""
        if isinstance(self._session, _Lazy):
            return self._session.resolve()
        return self._session

    @property
    def has_person(self) -> bool:
        """Whether a person (resolved or lazy) is set."""
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


_EMPTY = VokerContext()
_current: ContextVar[VokerContext] = ContextVar("voker_context", default=_EMPTY)


def current_context() -> VokerContext:
    """Return the context in effect here (an empty one when none was entered)."""
    return _current.get()


def _reset(token: Token[VokerContext]) -> None:
    try:
        _current.reset(token)
    except ValueError:
        # Left in another contextvars.Context than the one it was entered in (a generator
        # resumed elsewhere, a framework that copies contexts): restore the state before entry
        # instead of raising into the application.
        old = token.old_value
        _current.set(_EMPTY if old is Token.MISSING else old)


def version_for(agent: str | None, agent_version: str | None, outer: VokerContext) -> str | None:
    """The agent version to use for ``agent``: ``agent_version`` if given, else ``outer``'s -
    but only when ``agent`` is ``outer``'s agent (or unset): a version belongs to its agent, so
    naming another agent without a version means that agent's default version."""
    if agent_version is None and (agent is None or agent == outer.agent):
        return outer.agent_version
    return agent_version


def _check_name(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{name} must not be empty")
    return value


class context:
    """Enter a Voker context for a block, a function or a coroutine function.

    Arguments left as ``None`` are inherited from the enclosing context.
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
        self._client = client
        # Tokens of the active `with` entries of this object, innermost last. The decorator does
        # not use them: each decorated call enters and leaves on its own (see _entered).
        self._tokens: list[Token[VokerContext]] = []

    def _build(self, outer: VokerContext) -> VokerContext:
        person: str | _Lazy | None = outer._person
        if self._person is not None:
            person = _Lazy(self._person) if callable(self._person) else self._person
        session: str | _Lazy | None = outer._session
        if self._session is not None:
            session = _Lazy(self._session) if callable(self._session) else self._session
        properties: Mapping[str, Any] = outer.properties
        if self._properties:
            properties = MappingProxyType({**outer.properties, **self._properties})
        return VokerContext(
            agent=self._agent if self._agent is not None else outer.agent,
            agent_version=version_for(self._agent, self._agent_version, outer),
            properties=properties,
            client=self._client if self._client is not None else outer.client,
            _person=person,
            _session=session,
        )

    def __enter__(self) -> VokerContext:
        ctx = self._build(_current.get())
        self._tokens.append(_current.set(ctx))
        return ctx

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._tokens:
            _reset(self._tokens.pop())

    @contextlib.contextmanager
    def _entered(self) -> Iterator[VokerContext]:
        token = _current.set(self._build(_current.get()))
        try:
            yield _current.get()
        finally:
            _reset(token)

    async def __aenter__(self) -> VokerContext:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, func: F) -> F:
        """Use as a decorator: the function (sync, async or generator) runs inside the context."""
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with self._entered():
                    return await func(*args, **kwargs)

            return cast(F, async_wrapper)

        if inspect.isgeneratorfunction(func):

            @functools.wraps(func)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
                with self._entered():
                    yield from func(*args, **kwargs)

            return cast(F, gen_wrapper)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self._entered():
                return func(*args, **kwargs)

        return cast(F, wrapper)
