"""The one ``llm`` event recorder shared by every provider wrapper and the LangChain handler.

A wrapper translates provider objects; everything else happens here, once:

* which agent / session / version / person / properties a call belongs to (explicit ``voker_*``
  arguments, then the current :func:`voker_core.context`), with a ``TypeError`` naming what is
  missing *before* any request is made;
* timing (``started_at``, ``latency_ms``, ``time_to_first_token_ms``);
* the single usage rule of the design (``input_tokens`` counts cached tokens too; cache and
  reasoning counts are subsets);
* errors, ``capture_content``, the user's properties, and emission through the client.

Typical use by a wrapper (the sync and async paths differ only by the ``await``)::

    call = LLMCall.begin(api="openai-chat-completions", provider="openai",
                         kwargs=kwargs, voker_client=self._voker_client)
    call.resolve()                   # lazy session/person; or: await call.aresolve()
    try:
        response = create(**call.provider_kwargs)
    except BaseException as exc:
        call.fail(exc)
        raise
    call.succeed(output=response, model=response.model, usage=Usage.from_counts(...))

Every method after :meth:`LLMCall.begin` runs under a guard: a bug here is logged on the
``voker`` logger and never reaches the caller or replaces the provider's result.
"""

from __future__ import annotations

import functools
import inspect
import io
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from types import CodeType, ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, cast

from voker_core._snapshot import Frozen, freeze, snapshot, thaw
from voker_core.context import _current, _Lazy, version_for

if TYPE_CHECKING:
    from voker_core.client import VokerClient

__all__ = [
    "VOKER_KWARGS",
    "Associations",
    "LLMCall",
    "Outcome",
    "Usage",
    "error_info",
    "guarded",
    "normalise_finish_reason",
    "refused_before_request",
    "request_code_of",
    "resolve_associations",
    "split_voker_kwargs",
    "stainless_request_code",
]

logger = logging.getLogger("voker")

# Keywords every wrapped call accepts; removed before the provider is called.
VOKER_KWARGS = frozenset(
    {"voker_agent", "voker_session", "voker_agent_version", "voker_person", "voker_properties"}
)

R = TypeVar("R")


def guarded(func: Callable[..., R]) -> Callable[..., R | None]:
    """Run recording code so that its failures are logged, never raised into the caller."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> R | None:
        try:
            return func(*args, **kwargs)
        except Exception:
            logger.warning("voker: failed to record an LLM call (ignored)", exc_info=True)
            return None

    return wrapper


def split_voker_kwargs(kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a call's keyword arguments into ``(provider_kwargs, voker_kwargs)``.

    Returns new dicts: the caller's mapping is never modified.
    """
    provider: dict[str, Any] = {}
    voker: dict[str, Any] = {}
    for key, value in kwargs.items():
        (voker if key in VOKER_KWARGS else provider)[key] = value
    return provider, voker


def _check_optional_str(value: Any, prefix: str, name: str) -> str | None:
    """``value`` if it is None or a non-blank string; else an error naming ``prefix + name``
    (formatted only then: this runs four times per recorded call)."""
    if value is None or (type(value) is str and value and not value.isspace()):
        return value  # the usual case
    if not isinstance(value, str):
        raise TypeError(f"{prefix}{name} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{prefix}{name} must not be empty")
    return str.__str__(value)  # a str subclass (a str Enum member) as the string it holds


def _check_names(
    prefix: str, session: Any, agent: Any, agent_version: Any, person: Any
) -> tuple[Any, Any, Any, Any]:
    """The four explicit names, each checked by :func:`_check_optional_str` (raises naming the
    bad one); called only when one is not None or a plain non-blank string."""
    return (
        _check_optional_str(session, prefix, "session"),
        _check_optional_str(agent, prefix, "agent"),
        _check_optional_str(agent_version, prefix, "agent_version"),
        _check_optional_str(person, prefix, "person"),
    )


def _missing_session(prefix: str) -> TypeError:
    return TypeError(
        f"missing {prefix}session: pass {prefix}session=... or call inside "
        "voker_core.context(session=...) (the Django/Flask integrations set it per request)"
    )


@dataclass(slots=True)  # no instance dict to allocate: one is made per recorded call
class Associations:
    """Who and what one recorded call belongs to.

    The session and the person may still be lazy (a web request's, created or looked up only
    when a call needs them): :meth:`LLMCall.invoke` / :meth:`~LLMCall.ainvoke` resolve them
    before the request - the async one without blocking the event loop.
    """

    _session: Any  # a str, or a VokerContext whose lazy session is resolved on demand
    agent: str | None
    agent_version: str | None
    properties: dict[str, Any]
    client: VokerClient | None
    _person: Any = None  # a str, or a VokerContext whose lazy person is resolved on demand
    _person_resolved: bool = False
    _session_resolved: bool = True
    _prefix: str = "voker_"
    _session_fallback: str | None = None  # used when a lazy session gives none

    @property
    def session(self) -> str:
        """The session id (resolving a lazy one; ``TypeError`` if it resolves to none)."""
        if not self._session_resolved:
            return self.resolve_session()
        return cast(str, self._session)

    def resolve_session(self) -> str:
        if not self._session_resolved:
            self._accept_session(self._session.session)
        return cast(str, self._session)

    async def aresolve_session(self) -> str:
        if not self._session_resolved:
            self._accept_session(await self._session.aresolve_session())
        return cast(str, self._session)

    @property
    def lazy(self) -> bool:
        """Whether a lazy session or person is still to be resolved."""
        return not (self._session_resolved and self._person_resolved)

    def _accept_session(self, value: str | None) -> None:
        if value is None:
            value = self._session_fallback
            if value is None:
                raise _missing_session(self._prefix)
        self._session, self._session_resolved = value, True

    def resolve_person(self) -> str | None:
        if not self._person_resolved:
            source = self._person
            self._person = source.resolve_person() if hasattr(source, "resolve_person") else source
            self._person_resolved = True
        return cast("str | None", self._person)

    async def aresolve_person(self) -> str | None:
        if not self._person_resolved:
            source = self._person
            if hasattr(source, "aresolve_person"):
                self._person = await source.aresolve_person()
            self._person_resolved = True
        return cast("str | None", self._person)


def resolve_associations(
    *,
    session: str | None = None,
    agent: str | None = None,
    agent_version: str | None = None,
    person: str | None = None,
    properties: Mapping[str, Any] | None = None,
    client: VokerClient | None = None,
    require_agent: bool = True,
    argument_prefix: str = "voker_",
    session_fallback: str | None = None,
) -> Associations:
    """Combine explicit values with the current context (explicit wins).

    Raises ``TypeError`` naming the missing argument when no session (or, with
    ``require_agent``, no agent) is found either way; ``session_fallback`` is the session when
    the context's lazy one resolves to none (else that is the ``TypeError``, when resolved).
    """
    # Runs before every recorded LLM call: the usual case makes no call of ours from here
    # (each costs more than its work, on a thread that has just run the provider SDK's code).
    ctx = _current.get()  # current_context(), without its frame
    for value in (session, agent, agent_version, person):
        if value is not None and (type(value) is not str or not value or value.isspace()):
            session, agent, agent_version, person = _check_names(
                argument_prefix, session, agent, agent_version, person
            )
            break
    own_session: Any = ctx._session
    own_person: Any = ctx._person
    if type(own_session) is _Lazy or type(own_person) is _Lazy:  # a web request's, say
        own_session, lazy_session, own_person, lazy_person = ctx.peek()
    else:
        lazy_session = lazy_person = False
    # A lazy session or person (a web request's, which may need a query) is resolved by
    # LLMCall.(a)resolve(), still before the request, and without blocking an event loop.
    if session is None:
        if lazy_session:
            session = ctx  # type: ignore[assignment]
        elif own_session is None:
            raise _missing_session(argument_prefix)
        else:
            session = own_session
    else:
        lazy_session = False
    if person is None:
        person = ctx if lazy_person else own_person  # type: ignore[assignment]
    else:
        lazy_person = False
    version = version_for(agent, agent_version, ctx)
    if agent is None:
        agent = ctx.agent
        if agent is None and require_agent:
            raise TypeError(
                f"missing {argument_prefix}agent: pass {argument_prefix}agent=... or call "
                "inside voker_core.context(agent=...)"
            )
    if properties is not None and not isinstance(properties, Mapping):
        raise TypeError(
            f"{argument_prefix}properties must be a dict, got {type(properties).__name__}"
        )
    # Copied now: the event is built later, on the delivery thread.
    outer = ctx.properties
    merged = snapshot({**outer, **(properties or {})}) if properties or outer else {}
    return Associations(
        session,
        agent,
        version,
        merged,
        client if client is not None else ctx.client,
        person,
        not lazy_person,
        not lazy_session,
        argument_prefix,
        session_fallback,
    )


def _count(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Usage:
    """Token usage normalised by one rule for every provider.

    ``input_tokens`` counts *all* input tokens, cached ones included; ``cache_read_input_tokens``
    and ``cache_creation_input_tokens`` are subsets of it; ``reasoning_tokens`` is a subset of
    ``output_tokens``. Counts a provider does not report are ``None``.
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    reasoning_tokens: int | None = None

    @classmethod
    def from_counts(
        cls,
        *,
        input_tokens: Any = None,
        output_tokens: Any = None,
        total_tokens: Any = None,
        cache_read_input_tokens: Any = None,
        cache_creation_input_tokens: Any = None,
        reasoning_tokens: Any = None,
        input_excludes_cache: bool = False,
    ) -> Usage:
        """Build from a provider's counts.

        Pass ``input_excludes_cache=True`` for providers (Anthropic) whose input count leaves
        out cached tokens: the cache counts are then added into ``input_tokens``.
        """
        inp = _count(input_tokens)
        out = _count(output_tokens)
        read = _count(cache_read_input_tokens)
        creation = _count(cache_creation_input_tokens)
        if input_excludes_cache and inp is not None:
            inp += (read or 0) + (creation or 0)
        total = _count(total_tokens)
        if input_excludes_cache or total is None:
            total = inp + out if inp is not None and out is not None else total
        return cls(
            input_tokens=inp,
            output_tokens=out,
            total_tokens=total,
            cache_read_input_tokens=read,
            cache_creation_input_tokens=creation,
            reasoning_tokens=_count(reasoning_tokens),
        )

    def as_dict(self) -> dict[str, int | None]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "reasoning_tokens": self.reasoning_tokens,
        }


# Every provider's stop reasons -> the one vocabulary of ``finish_reason`` (OpenAI's words).
_FINISH_REASONS = {
    # Anthropic
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    # Gemini (enum names)
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
    "MODEL_ARMOR": "content_filter",
    # OpenAI's legacy name
    "function_call": "tool_calls",
}


def normalise_finish_reason(reason: Any) -> str | None:
    """Map a provider's stop reason onto ``stop``, ``length``, ``tool_calls``,
    ``content_filter`` (anything else passes through, lower-cased)."""
    if reason is None:
        return None
    name = str(getattr(reason, "value", reason))
    if not name:
        return None
    return _FINISH_REASONS.get(name, name.lower())


def error_info(exc: BaseException | Mapping[str, Any]) -> dict[str, Any]:
    """The ``error`` property of a failed call: ``{type, message, status_code}`` (given as a
    mapping: a failure the provider reported without an exception, see ``Outcome.error``)."""
    if isinstance(exc, Mapping):
        return dict(exc)
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(exc, "code", None)  # google-genai's APIError
    if not isinstance(status, int) or isinstance(status, bool):
        status = None
    try:
        message = str(exc)
    except Exception:
        message = repr(exc)
    return {"type": type(exc).__name__, "message": message, "status_code": status}


class Outcome(NamedTuple):
    """What a provider call produced: its output, model, usage and finish reason.

    Providers' ``translate`` functions (a response -> ``Outcome``) and stream recorders return it.
    """

    output: Any = None
    model: str | None = None
    usage: Usage | None = None
    finish_reason: str | None = None
    # A stream's: when its first token arrived (time.perf_counter), if the caller's thread
    # left finding it to the delivery thread (stream recorders keep every item's arrival).
    first_token_at: float | None = None
    # A failure the provider reported in its answer rather than raised (a Responses API
    # ``status: "failed"`` or stream ``error`` event): the event's ``error``, as error_info's.
    error: dict[str, Any] | None = None


_PLAIN_CONTAINERS = (dict, list)

_STAND_IN: Any = object()  # no ``_delivery``: not a VokerClient (a test's stand-in)

# Guards every call's ``done`` flag: held for two lines, once per call, so one lock serves all
# (a lock per call cost its creation on every call). Re-entrant: a stream abandoned and
# collected, or a signal handler, may end a call on a thread that is inside this lock already.
_DONE_LOCK = threading.RLock()

# The SDKs' per-request transport options: not the call's content, and where proxies and
# gateways put their keys (``Helicone-Auth``, ``api-key``...), so never recorded in ``inputs``.
# (Dropped on the delivery thread; ``extra_body`` is merged into the request body: kept.)
_TRANSPORT_OPTIONS = ("extra_headers", "extra_query", "timeout")


def _list_iterators(kwargs: dict[str, Any]) -> bool:
    """Replace one-shot iterators among ``kwargs``' values (``messages=(m for m in ...)``:
    the SDKs take any iterable) by lists of their items, in place; whether there were any.

    The provider then gets the list, and the event the same items, not a generator's repr.
    ``kwargs`` is the wrapper's own dict, not the caller's. Files (``io`` objects iterate
    too) are left alone."""
    found = False
    for key, value in kwargs.items():
        if isinstance(value, Iterator) and not isinstance(value, io.IOBase):
            kwargs[key] = list(value)
            found = True
    return found


def _accepts(method: Callable[..., Any], kwargs: Mapping[str, Any]) -> bool:
    """Whether ``method``'s signature takes ``kwargs`` (True when it cannot be read).

    Only asked after a ``TypeError`` (never on the path of a call that succeeds)."""
    try:
        signature = inspect.signature(method)
    except (TypeError, ValueError):
        return True
    try:
        signature.bind(**kwargs)
    except TypeError:
        return False
    return True


def stainless_request_code(base_client: ModuleType) -> frozenset[CodeType]:
    """The ``request_code`` of :meth:`LLMCall.invoke` for an SDK generated by Stainless (OpenAI,
    Anthropic): every request it makes goes through ``SyncAPIClient.request`` or
    ``AsyncAPIClient.request`` of its ``_base_client`` module. Computed once, at import.

    A method missing from some SDK version is left out; an empty set turns the check off."""
    return request_code_of(
        *(
            getattr(getattr(base_client, name, None), "request", None)
            for name in ("SyncAPIClient", "AsyncAPIClient")
        )
    )


def request_code_of(*methods: Any) -> frozenset[CodeType]:
    """The code objects of ``methods``, an SDK's request methods (the ``request_code`` of
    :meth:`LLMCall.invoke`); a method an SDK version lacks (None) is left out."""
    codes: set[CodeType] = set()
    for method in methods:
        code = getattr(inspect.unwrap(method), "__code__", None) if callable(method) else None
        if isinstance(code, CodeType):
            codes.add(code)
    return frozenset(codes)


def refused_before_request(exc: BaseException, request_code: Collection[CodeType]) -> bool:
    """Whether ``exc`` was raised by the SDK before any request: its traceback never entered
    one of the SDK's request methods (``request_code``; empty: never said)."""
    return bool(request_code) and not _passed_through(exc.__traceback__, request_code)


def _passed_through(traceback: TracebackType | None, code: Collection[CodeType]) -> bool:
    """Whether ``traceback`` (an exception's, from where it was caught down to where it was
    raised) has a frame running one of ``code``."""
    while traceback is not None:
        if traceback.tb_frame.f_code in code:
            return True
        traceback = traceback.tb_next
    return False


def _default_client() -> VokerClient:
    from voker_core.client import get_client

    return get_client()


class LLMCall:
    """One LLM call being recorded. Records exactly one event, whichever way the call ends."""

    __slots__ = (
        "_client",
        "_ending",
        "_first_token_at",
        "_started",
        "_started_wall",
        "api",
        "assoc",
        "done",
        "inputs",
        "provider",
        "provider_kwargs",
        "requested_model",
        "stream",
    )

    def __init__(
        self,
        *,
        api: str,
        provider: str,
        assoc: Associations,
        inputs: Any,
        stream: bool = False,
        requested_model: str | None = None,
        provider_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.api = api
        self.provider = provider
        self.assoc = assoc
        self.inputs = inputs
        self.stream = stream
        self.requested_model = requested_model
        self.provider_kwargs = provider_kwargs if provider_kwargs is not None else {}
        self._started_wall = time.time()  # formatted (started_at) on the delivery thread
        self._started = time.perf_counter()
        self._first_token_at: float | None = None
        self.done = False  # True once recorded (read freely; set under _DONE_LOCK, once)

    @classmethod
    def begin(
        cls,
        *,
        api: str,
        provider: str,
        kwargs: Mapping[str, Any],
        voker_client: VokerClient | None = None,
        stream: bool | None = None,
        inputs: Any = None,
        defaults: Mapping[str, Any] | None = None,
    ) -> LLMCall:
        """Start recording a wrapped provider call made with ``kwargs``.

        ``defaults`` supplies ``voker_*`` values (e.g. a Gemini chat's) that the call's own
        keywords override. Raises ``TypeError`` when agent or session cannot be found.
        ``provider_kwargs`` on the result is what to hand to the provider.
        """
        provider_kwargs: dict[str, Any] = {}  # split_voker_kwargs(), without its frame
        voker: dict[str, Any] = {}
        for key, value in kwargs.items():
            (voker if key in VOKER_KWARGS else provider_kwargs)[key] = value
        if defaults:
            given = {k: v for k, v in voker.items() if v is not None}
            voker = {k: v for k, v in defaults.items() if v is not None}
            if given.get("voker_agent", voker.get("voker_agent")) != voker.get("voker_agent"):
                voker.pop("voker_agent_version", None)  # a version belongs to its agent
            voker.update(given)
        get = voker.get
        assoc = resolve_associations(
            session=get("voker_session"),
            agent=get("voker_agent"),
            agent_version=get("voker_agent_version"),
            person=get("voker_person"),
            properties=get("voker_properties"),
            client=voker_client,
        )
        model = provider_kwargs.get("model")
        streamed = bool(provider_kwargs.get("stream")) if stream is None else stream
        # Copied now, once: the event is built on the delivery thread, after the caller may
        # have changed its messages (appending the reply is the usual first thing it does).
        # Thawed there (properties()).
        if inputs is None:
            frozen = freeze(provider_kwargs)
            if type(frozen) is not Frozen and _list_iterators(provider_kwargs):
                frozen = freeze(provider_kwargs)
        else:
            frozen = freeze(inputs)
        return cls(
            api=api,
            provider=provider,
            assoc=assoc,
            inputs=frozen,
            stream=streamed,
            requested_model=model if type(model) is str else None,
            provider_kwargs=provider_kwargs,
        )

    # -- associations ------------------------------------------------------------------------

    def resolve(self) -> None:
        """Resolve a lazy session and person before the request (sync code).

        ``TypeError`` when a lazy session gives none; a failing person source is logged and
        the call recorded without a person.
        """
        self.assoc.resolve_session()
        try:
            self.assoc.resolve_person()
        except Exception:
            self._no_person()

    async def aresolve(self) -> None:
        """:meth:`resolve` without blocking the event loop (async sources are awaited)."""
        await self.assoc.aresolve_session()
        try:
            await self.assoc.aresolve_person()
        except Exception:
            self._no_person()

    def _no_person(self) -> None:
        logger.warning("voker: resolving the person failed; recording without one", exc_info=True)
        self.assoc._person, self.assoc._person_resolved = None, True

    # -- the provider call -------------------------------------------------------------------

    def invoke(
        self,
        method: Callable[..., R],
        kwargs: Mapping[str, Any],
        request_code: Collection[CodeType] = (),
    ) -> R:
        """Resolve the session and the person, then call the provider; a failure is recorded
        and re-raised unchanged. The caller settles the result (it knows the provider's types).

        ``request_code``: the code objects of the provider SDK's request method(s) (e.g.
        :func:`stainless_request_code`); a failure that never entered one was the SDK refusing
        the call's arguments before any request, and records nothing (see :meth:`_failed`).
        ``TypeError`` (nothing recorded, no request made) when a lazy session gives none.
        """
        assoc = self.assoc
        if not (assoc._session_resolved and assoc._person_resolved):
            self.resolve()
        try:
            return method(**kwargs)
        except BaseException as exc:
            self._failed(method, kwargs, exc, request_code)
            raise

    async def ainvoke(
        self,
        method: Callable[..., Awaitable[R]],
        kwargs: Mapping[str, Any],
        request_code: Collection[CodeType] = (),
    ) -> R:
        """:meth:`invoke` for coroutine methods; the session and the person are resolved
        without blocking the event loop."""
        assoc = self.assoc
        if not (assoc._session_resolved and assoc._person_resolved):
            await self.aresolve()
        try:
            return await method(**kwargs)
        except BaseException as exc:
            self._failed(method, kwargs, exc, request_code)
            raise

    def _failed(
        self,
        method: Callable[..., Any],
        kwargs: Mapping[str, Any],
        exc: BaseException,
        request_code: Collection[CodeType],
    ) -> None:
        """Record the failure ``exc`` of ``method(**kwargs)`` - unless the SDK refused the call
        before making any request: then there is no LLM call to record, only the caller's
        exception, which it gets unchanged. Refused are an unknown or missing keyword (the
        signature does not take them) and, given the SDK's ``request_code``, any exception
        that never passed through it: arguments the SDK checks itself (a pydantic class as
        ``response_format`` of OpenAI's ``create``, a non-strict tool given to ``parse``...).
        An error raised once the request was under way (a status error, a response that fails
        validation) went through it, and is recorded.

        Decided here, after the exception, so a call that succeeds pays nothing for it.
        """
        if (isinstance(exc, TypeError) and not _accepts(method, kwargs)) or (
            refused_before_request(exc, request_code)
        ):
            self.discard()
        else:
            self.fail(exc)

    # -- timing --------------------------------------------------------------------------------

    def request_started(self) -> None:
        """The request is being made now: restart the clocks. For lazy streams (``.stream()``
        managers, generators), begun - and checked - when created, but sent when entered or
        first iterated: the time in between is the caller's, not the model's."""
        self._started_wall = time.time()
        self._started = time.perf_counter()

    def discard(self) -> None:
        """End the call without an event: it never made its request (a lazy stream closed
        before its first step). Later endings do nothing, as after a recorded one."""
        with _DONE_LOCK:
            self.done = True

    def mark_first_token(self) -> None:
        """Note the arrival of the first streamed token (later calls are ignored)."""
        if self._first_token_at is None:
            self._first_token_at = time.perf_counter()

    # -- ending --------------------------------------------------------------------------------

    def succeed(
        self,
        *,
        output: Any,
        model: str | None = None,
        usage: Usage | None = None,
        finish_reason: str | None = None,
        extra: Mapping[str, Any] | None = None,
        ended: float | None = None,
    ) -> None:
        """The call returned (or a stream ended, was closed or was abandoned).

        ``ended`` is a :func:`time.perf_counter` value for when the call really ended (a stream
        closed or collected later: its last chunk); default now.
        """
        self.end(
            output, model=model, usage=usage, finish_reason=finish_reason, extra=extra, ended=ended
        )

    def fail(
        self,
        exc: BaseException,
        *,
        output: Any = None,
        model: str | None = None,
        usage: Usage | None = None,
        extra: Mapping[str, Any] | None = None,
        ended: float | None = None,
        translate: Callable[[Any], Outcome] | None = None,
    ) -> None:
        """The call raised ``exc``. The event is still sent; the caller re-raises ``exc``.

        With ``translate``, ``output`` is handed to it on the delivery thread (as for
        :meth:`succeed_with`) for the partial output, model and usage.
        """
        self.end(output, translate, error=exc, model=model, usage=usage, extra=extra, ended=ended)

    def succeed_with(
        self, result: Any, translate: Callable[[Any], Outcome], *, ended: float | None = None
    ) -> None:
        """The call returned the provider's ``result``: record it.

        ``translate(result)`` reads the output, model, usage and finish reason later, on the
        delivery thread, so the caller's thread only notes the time. ``result`` is kept by
        reference until then (provider response objects are the caller's to read, not to edit).
        ``ended``: as for :meth:`succeed`.
        """
        self.end(result, translate, ended=ended)

    def end(
        self,
        output: Any,
        translate: Callable[[Any], Outcome] | None = None,
        *,
        error: BaseException | None = None,
        model: str | None = None,
        usage: Usage | None = None,
        finish_reason: str | None = None,
        extra: Mapping[str, Any] | None = None,
        ended: float | None = None,
    ) -> None:
        """Record how the call ended and queue its event - once, whichever ending comes first
        (later calls do nothing). :meth:`succeed`, :meth:`fail` and :meth:`succeed_with` are
        the usual spellings; a wrapper's hot path may call this directly.

        The caller's thread only notes what it is given; the rest - ``translate(output)`` for
        the output, model, usage and finish reason, the usage rule, formatting times and
        errors - is done by :meth:`__call__`, on the delivery thread. (One frame: this runs
        after every recorded call.)
        """
        if ended is None:
            ended = time.perf_counter()
        with _DONE_LOCK:
            if self.done:
                return
            self.done = True
        if type(output) in _PLAIN_CONTAINERS:  # a wrapper's own dict: cheap to copy
            output = snapshot(output)
        self._ending = (ended, output, model, usage, finish_reason, error, extra, translate)
        try:
            assoc = self.assoc
            client = assoc.client
            if client is None:
                client = _default_client()
            self._client = client
            # Both resolved already, before the request, unless the call failed before it.
            session = assoc._session if assoc._session_resolved else assoc.resolve_session()
            person = assoc._person if assoc._person_resolved else assoc.resolve_person()
            delivery = getattr(client, "_delivery", _STAND_IN)
            if delivery is _STAND_IN:  # a stand-in client object: its public API, built here
                client.events.create(
                    event_name="llm",
                    properties=self(),
                    session=session,
                    agent=assoc.agent,
                    agent_version=assoc.agent_version,
                    person=person,
                )
            elif delivery is not None:  # None: a disabled client
                delivery.submit_event(
                    "llm", self, session, assoc.agent, assoc.agent_version, person
                )
        except Exception:
            logger.warning("voker: failed to record an LLM call (ignored)", exc_info=True)

    def properties(
        self,
        ended: float,
        output: Any,
        model: str | None,
        usage: Usage | None,
        finish_reason: str | None,
        error: BaseException | Mapping[str, Any] | None,
        extra: Mapping[str, Any] | None,
        capture_content: bool,
    ) -> dict[str, Any]:
        """The event's properties (user properties first; the recorder's keys win)."""
        props: dict[str, Any] = dict(self.assoc.properties)
        props.update(
            api=self.api,
            provider=self.provider,
            model=model or self.requested_model,
        )
        if capture_content:
            inputs = thaw(self.inputs)
            if type(inputs) is dict:
                for name in _TRANSPORT_OPTIONS:
                    inputs.pop(name, None)
            props["inputs"] = inputs
            props["output"] = output
        props["stream"] = self.stream
        props["started_at"] = (
            datetime.fromtimestamp(self._started_wall, timezone.utc)
            .isoformat()
            .replace("+00:00", "Z")
        )
        props["latency_ms"] = round((ended - self._started) * 1000.0, 3)
        if self.stream:
            props["time_to_first_token_ms"] = (
                round((self._first_token_at - self._started) * 1000.0, 3)
                if self._first_token_at is not None
                else None
            )
        props["usage"] = usage.as_dict() if usage is not None else None
        props["finish_reason"] = finish_reason
        props["error"] = error_info(error) if error is not None else None
        if extra:
            props.update(extra)
        return props

    def __call__(self) -> dict[str, Any]:
        """The event's properties, built from what :meth:`end` noted (on the delivery
        thread)."""
        ended, output, model, usage, finish_reason, raised, extra, translate = self._ending
        error: BaseException | Mapping[str, Any] | None = raised
        if translate is not None:
            try:
                found = translate(output)
                output, usage = found.output, found.usage or usage
                finish_reason = found.finish_reason or finish_reason
                model = found.model or model
                if error is None and found.error is not None:
                    error = found.error
                if self._first_token_at is None:
                    self._first_token_at = found.first_token_at
            except Exception:
                logger.warning(
                    "voker: failed to read a provider's response; recorded without it",
                    exc_info=True,
                )
                output = None
        self._ending = (ended, None, None, None, None, raised, extra, None)  # drop the response
        return self.properties(
            ended,
            output,
            model,
            usage,
            finish_reason,
            error,
            extra,
            capture_content=self._client.capture_content,
        )
