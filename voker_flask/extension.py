"""The ``Voker`` Flask extension: every LLM call in a request gets its session, person and agent.

::

    from flask import Flask
    from voker_flask import Voker

    voker = Voker()                      # app factory style (or: voker = Voker(app))

    def create_app():
        app = Flask(__name__)
        app.config.update(SECRET_KEY="...", VOKER_AGENT="support-bot")
        voker.init_app(app)
        return app

    @voker.person_loader                 # optional; Flask-Login's current_user is the default
    def person():
        return str(g.user.id), {"email": g.user.email}

Before each request (ahead of the app's other ``before_request`` functions) the extension enters
a :func:`voker_core.context` holding the request's session (:mod:`voker_flask.sessions`), lazy
person (:mod:`voker_flask.people`), agent and client; it leaves it at teardown, which Flask runs
even when the view raises. Flask stops its teardown chain at the first function that raises,
though, so ``init_app`` also wraps ``app.wsgi_app`` (:class:`RequestScope`): each request runs in
a copy of the thread's ``contextvars.Context``, and whatever it leaves set is dropped when the
WSGI call returns - nothing leaks into the next request served by the same thread.
The wrapped provider clients (``voker_core.ai.provider_openai`` ...) read that context, so views
need no ``voker_*`` arguments. Async views (``flask[async]``) see the same context. A streamed
response's body, which the server produces after teardown, runs inside it too (the last
``after_request`` function wraps it; see :meth:`VokerState.bind_body`).

Each app keeps its own state in ``app.extensions["voker"]`` (a :class:`VokerState`): settings
(:mod:`voker_flask.config`) and, when the app's config sets ``VOKER_API_KEY``, ``VOKER_BASE_URL``
or ``VOKER_CAPTURE_CONTENT``, a ``VokerClient`` of its own; otherwise the process-wide
``voker_core.get_client()`` is used. Voker failures never break a request: everything here is
guarded and the client only enqueues.
"""

from __future__ import annotations

import contextvars
import importlib
import logging
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from flask import Flask, Response, current_app, g, request

import voker_core
from voker_core.agents_sync import register_agents
from voker_flask._cli import registers_at_startup
from voker_flask._streaming import StreamedBody, reenter
from voker_flask.agents import agent as _agent
from voker_flask.agents import declares_records, view_agent
from voker_flask.agents import streams_llm as _streams_llm
from voker_flask.config import FlaskSettings, read_config
from voker_flask.people import PersonLoader, PersonResolver
from voker_flask.sessions import LazySession, SessionLoader, header_session, request_session

if TYPE_CHECKING:
    from collections.abc import Iterable

    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from voker_core.client import VokerClient

__all__ = ["EXTENSION_KEY", "RequestScope", "Voker", "VokerState"]

logger = logging.getLogger("voker.flask")

EXTENSION_KEY = "voker"
_G_CONTEXTS = "_voker_contexts"
_G_LAZY_SESSION = "_voker_lazy_session"

L = TypeVar("L", bound=Callable[..., Any])
T = TypeVar("T")


def _default_client() -> VokerClient:
    from voker_core.client import get_client

    return get_client()


class RequestScope:
    """``app.wsgi_app`` wrapper: each request runs in a fresh copy of the caller's
    :class:`contextvars.Context` (``init_app`` installs it).

    The request's Voker context is left by a ``teardown_request`` function, but Flask runs the
    teardown functions (a blueprint's first) only until one raises; the context would then stay
    set in the thread, which serves the next request (gunicorn sync and gthread workers, the
    test client) and runs code outside requests. In a copy, whatever the request leaves set is
    dropped when this call returns, whatever its teardown chain did - contexts a view entered
    and never left included.

    The server iterates the response body after this call, outside the copy: a streamed body
    gets the request's Voker context back from :class:`~voker_flask._streaming.StreamedBody`,
    and Flask's ``stream_with_context`` pushes its contexts while the body runs, so neither
    needs the copy. Async views run inside it (asgiref copies the context in and back).
    """

    __slots__ = ("wsgi_app",)

    def __init__(self, wsgi_app: WSGIApplication) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return contextvars.copy_context().run(self.wsgi_app, environ, start_response)


class VokerState:
    """Per-app state, at ``app.extensions["voker"]``."""

    def __init__(self, *, app: Flask, extension: Voker, settings: FlaskSettings) -> None:
        self.extension = extension
        self.settings = settings
        self.app_name = app.name
        self.own_client: VokerClient | None = extension._client
        if self.own_client is None and settings.wants_own_client:
            from voker_core.client import VokerClient

            self.own_client = VokerClient(**settings.client_options)
        self._person = PersonResolver(loader=lambda: extension._person_loader, client=self.client)
        self._warn_lock = threading.Lock()
        self._warned_no_session = False
        self._warned_late_session = False

    def client(self) -> VokerClient:
        """The client this app's events go to (its own, else the process-wide default)."""
        return self.own_client if self.own_client is not None else _default_client()

    def close(self, timeout: float | None = None) -> None:
        """Flush and close the app's own client (the shared default client is left alone)."""
        if self.own_client is not None:
            self.own_client.close(timeout=timeout)

    # -- per request ----------------------------------------------------------------------------

    def enter(self, **fields: Any) -> None:
        """Enter a ``voker_core.context(**fields)`` until the end of the current request."""
        ctx = voker_core.context(**fields)
        stack: list[voker_core.context] | None = g.get(_G_CONTEXTS)
        if stack is None:
            stack = []
            setattr(g, _G_CONTEXTS, stack)
        ctx.__enter__()  # only once teardown is sure to find it
        stack.append(ctx)

    def _no_session_source(self) -> None:
        with self._warn_lock:
            if self._warned_no_session:
                return
            self._warned_no_session = True
        logger.warning(
            "voker: app %r has no SECRET_KEY, so Flask's session cannot keep a Voker session id, "
            "and no session_loader gave one; each such request is its own session. Set "
            "SECRET_KEY, send the %s header or register @voker.session_loader.",
            self.app_name,
            self.settings.session_header,
        )

    def _late_session(self, path: str) -> None:
        with self._warn_lock:
            warned, self._warned_late_session = self._warned_late_session, True
        if warned:
            logger.debug("voker: %s recorded after its headers were sent; no session", path)
            return
        logger.warning(
            "voker: %s recorded an event after its response's headers were sent (a streamed "
            "body?), for a visitor without a Voker session: it gets a session of its own (no "
            "cookie could be set). Decorate the view with @voker.streams_llm or "
            "@voker.agent(...) to set the session before the headers leave.",
            path,
        )

    def push(self) -> None:
        """``before_request``: enter the request's context. Never breaks the request."""
        # Start a fresh stack. An app context pushed around several requests (a test fixture's
        # ``with app.app_context():``) shares ``g`` between them, and a request whose teardown
        # chain raised left its stack there; its contexts died with that request's
        # contextvars.Context (see RequestScope), so they are dropped, not left.
        g.pop(_G_CONTEXTS, None)
        g.pop(_G_LAZY_SESSION, None)
        try:
            lazy: LazySession | None = None
            session: Any = header_session(request, self.settings.session_header)
            if session is None:
                session = lazy = LazySession(
                    app=current_app._get_current_object(),  # type: ignore[attr-defined]
                    flask_session=request_session(),
                    loader=lambda: self.extension._session_loader,
                    no_session_source=self._no_session_source,
                    late=self._late_session,
                )
            setattr(g, _G_LAZY_SESSION, lazy)
            self.enter(
                session=session,
                agent=self.settings.agent,
                agent_version=self.settings.agent_version,
                person=self._person,
                client=self.own_client,
            )
        except Exception:
            logger.warning("voker: could not set up the request's context (ignored)", exc_info=True)

    def bind_body(self, response: Response) -> Response:
        """``after_request`` (the last one): a streamed body keeps the request's context.

        Flask leaves the request (and its Voker context) before the server iterates a streamed
        body, so the body is wrapped to enter the context around each of its steps: the
        request's session, person and agent, its blueprints' agents and the view's
        ``@voker.agent``. ``send_file`` bodies (``direct_passthrough``) call no LLM and are left
        to the server's file wrapper.

        The body records after the headers (and the session cookie) have left, and without the
        request (``g``, ``request``, Flask-Login's user). So for a view that declares its body
        records (``@voker.streams_llm`` or ``@voker.agent``, as in the Django plug-in) the
        session and the person are resolved now, while the request is live; a ``HEAD``
        request's body never runs, so it is skipped. Other streamed responses (a CSV export)
        stay lazy: no cookie, no person loader. Should such a body record anyway, it gets the id
        already in the visitor's Flask session, else one of its own (logged), and whatever
        person can be resolved without the request. The request is never re-entered (that would
        run the app's teardown functions twice). Never breaks the response.
        """
        if _G_CONTEXTS not in g:
            return response  # push() failed: nothing to keep
        lazy: LazySession | None = g.get(_G_LAZY_SESSION)
        try:
            if response.is_streamed and not response.direct_passthrough:
                view = (
                    current_app.view_functions.get(request.endpoint) if request.endpoint else None
                )
                choice = view_agent(view)
                if choice is None:
                    effective = voker_core.current_context()
                else:  # the core's own rules merge the view's agent over the request's context
                    with voker_core.context(agent=choice[0], agent_version=choice[1]) as effective:
                        pass
                if request.method != "HEAD" and declares_records(view):
                    _ = effective.session  # the request's own lazy values: resolved once
                    effective.resolve_person()
                response.response = StreamedBody(reenter(effective), response.response)
        except Exception:
            logger.warning(
                "voker: could not keep the context of a streamed response (ignored)",
                exc_info=True,
            )
        finally:
            if lazy is not None:  # the cookie is saved right after this hook
                lazy.headers_sent(request.path)
        return response

    def pop(self, exc: BaseException | None = None) -> None:
        """``teardown_request``: leave every context entered for this request, innermost first."""
        stack: list[voker_core.context] | None = g.pop(_G_CONTEXTS, None)
        while stack:
            try:
                stack.pop().__exit__(None, None, None)
            except Exception:
                logger.warning("voker: could not leave a request context", exc_info=True)


class Voker:
    """The Flask extension. ``Voker(app)``, or ``Voker()`` then ``init_app(app)`` per app.

    ``client=`` sends every app's events to that ``VokerClient`` (else see :class:`VokerState`).
    Loaders registered on the extension apply to every app it is initialised on.
    """

    def __init__(self, app: Flask | None = None, *, client: VokerClient | None = None) -> None:
        self._client = client
        self._person_loader: PersonLoader | None = None
        self._session_loader: SessionLoader | None = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> VokerState:
        """Read and check the app's config, install the request hooks, register its agents
        (in processes that serve requests: not in ``flask`` CLI commands other than ``run``).

        Raises ``voker_core.ConfigurationError`` for a bad ``VOKER_*`` value and ``RuntimeError``
        when the app already has the extension.
        """
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError(f"Voker is already initialised on app {app.name!r}")
        settings = read_config(app.config)
        state = VokerState(app=app, extension=self, settings=settings)
        app.extensions[EXTENSION_KEY] = state
        # First, so that the app's own before_request functions already run inside the context.
        app.before_request_funcs.setdefault(None, []).insert(0, state.push)
        # Flask runs after_request functions last-registered first: at index 0 this one runs
        # last, so it wraps the body the app's own hooks (compression ...) may have replaced.
        app.after_request_funcs.setdefault(None, []).insert(0, state.bind_body)
        app.teardown_request(state.pop)
        # Flask skips the rest of the teardown chain (state.pop included) when one function
        # raises; this makes sure the request's context goes away anyway.
        app.wsgi_app = RequestScope(app.wsgi_app)  # type: ignore[method-assign]
        if settings.agents and registers_at_startup(sys.argv):
            # The client only enqueues; its worker creates agents, then versions, off this
            # thread. Not in `flask routes` & co. (see voker_flask._cli).
            register_agents(state.client(), settings.agents)
        if settings.celery:
            self.instrument_celery(app)
        return state

    # -- registration decorators ----------------------------------------------------------------

    def person_loader(self, func: L) -> L:
        """Register the function that says who the current request is for (see voker_flask.people)."""
        if not callable(func):
            raise TypeError("person_loader expects a function")
        self._person_loader = func
        return func

    def session_loader(self, func: L) -> L:
        """Register a function returning the request's session id (or None), used when Flask's
        session is unusable (no ``SECRET_KEY``) and no session header was sent."""
        if not callable(func):
            raise TypeError("session_loader expects a function")
        self._session_loader = func
        return func

    @staticmethod
    def agent(name: str, version: str | None = None) -> Callable[[T], T]:
        """Set the agent (and version) of a view, a class-based view or a blueprint."""
        return _agent(name, version)

    @staticmethod
    def streams_llm(view: T) -> T:
        """Declare that a view's (or a class-based view's) streamed body calls a model, so its
        session cookie and person are set before the headers leave (see voker_flask.agents)."""
        return _streams_llm(view)

    # -- Celery ---------------------------------------------------------------------------------

    @staticmethod
    def instrument_celery(app: Flask, celery_app: Any = None) -> bool:
        """Hook to the Celery integration (``VOKER_CELERY = True`` calls it from ``init_app``).

        Runs ``voker_core.integrations.celery.instrument`` for ``celery_app`` (default:
        ``app.extensions["celery"]``, where Flask's Celery guide keeps it; the signals it connects
        are process-wide, so tasks of a Celery app created later are covered too) with this app's
        own client, if it has one, to flush in worker processes. Tasks queued during a request
        then run in its Voker context. Returns whether it did; never raises.
        """
        # HOOK(celery): imported only here, on demand, because Celery is an optional extra.
        try:
            celery_integration = importlib.import_module("voker_core.integrations.celery")
        except ImportError:
            logger.warning(
                "voker: VOKER_CELERY is on but Celery support is unavailable "
                "(pip install 'voker-integrations[celery]')",
                exc_info=True,
            )
            return False
        state = app.extensions.get(EXTENSION_KEY)
        target = celery_app if celery_app is not None else app.extensions.get("celery")
        try:
            celery_integration.instrument(
                target, client=state.own_client if isinstance(state, VokerState) else None
            )
        except Exception:
            logger.warning("voker: could not instrument Celery (ignored)", exc_info=True)
            return False
        return True
