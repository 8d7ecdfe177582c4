"""``instrument()`` options and context bookkeeping, in-process (eager tasks, no worker).

The worker-level scenarios (prefork, threads and solo pools) are in ``test_celery.py``.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery

import voker_core
from voker_core.client import VokerClient
from voker_core.integrations import celery as voker_celery
from voker_core.integrations.celery import HEADER, instrument


@pytest.fixture(autouse=True)
def fresh_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """App-less options are process-wide: keep this module's out of the other tests."""
    monkeypatch.setattr(voker_celery, "_defaults", voker_celery._Options())
    monkeypatch.setattr(voker_celery, "_extra_clients", [])


_app_numbers = itertools.count()


def _eager_app(name: str = "opts") -> Celery:
    # A name of its own per app: task names are registered process-wide by name.
    app = Celery(f"{name}{next(_app_numbers)}", broker="memory://", backend="cache+memory://")
    app.conf.task_always_eager = True
    return app


def _job(app: Celery) -> Any:
    @app.task(name=f"{app.main}.job")
    def job() -> None:
        voker_core.get_client().events.create(event_name="job", properties={}, session="s-job")

    return job


def _count_flushes(client: VokerClient, monkeypatch: pytest.MonkeyPatch) -> list[float | None]:
    calls: list[float | None] = []
    real = client.flush

    def flush(timeout: float | None = None) -> bool:
        calls.append(timeout)
        return real(timeout)

    monkeypatch.setattr(client, "flush", flush)
    return calls


@pytest.fixture
def default_flushes(
    default_voker_client: VokerClient, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[float | None]]:
    yield _count_flushes(default_voker_client, monkeypatch)


# -- repeated calls merge ------------------------------------------------------------------------


@pytest.mark.voker_server(latency=0.3)
def test_second_instrument_call_keeps_flush_after_task(
    default_voker_client: VokerClient, voker_server: Any
) -> None:
    app = _eager_app()
    instrument(app, flush_after_task=True)
    instrument(app)  # a second import path, or a plug-in instrumenting the app again
    _job(app).delay().get()
    # The devserver answers after 0.3 s: only a flush at the task's end has delivered by now.
    assert len(voker_server.events(event_name="job")) == 1


@pytest.mark.voker_server(latency=0.3)
def test_flask_plugin_keeps_the_apps_flush_after_task(
    default_voker_client: VokerClient, voker_server: Any
) -> None:
    from flask import Flask

    from voker_flask import Voker

    celery_app = _eager_app("flask-proj")
    instrument(celery_app, flush_after_task=True)  # proj/celery.py, as docs/celery.md shows
    flask_app = Flask(__name__)
    flask_app.config.update(VOKER_CELERY=True)
    flask_app.extensions["celery"] = celery_app  # where Flask's Celery guide keeps it
    Voker(flask_app)  # calls instrument(celery_app, client=...) without flush_after_task
    _job(celery_app).delay().get()
    assert len(voker_server.events(event_name="job")) == 1


def test_explicit_option_overrides_and_omitted_one_keeps(
    default_flushes: list[float | None],
) -> None:
    app = _eager_app()
    job = _job(app)
    instrument(app, flush_after_task=True)
    instrument(app)
    job.delay().get()
    assert len(default_flushes) == 1
    instrument(app, flush_after_task=False)
    job.delay().get()
    assert len(default_flushes) == 1
    instrument(app, flush_after_task=True)
    job.delay().get()
    assert len(default_flushes) == 2


def test_clients_add_up_across_calls(
    default_flushes: list[float | None],
    voker_client: VokerClient,
    voker_server: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = VokerClient(api_key="test-key", base_url=voker_server.base_url)
    try:
        first, second = (
            _count_flushes(voker_client, monkeypatch),
            _count_flushes(other, monkeypatch),
        )
        app = _eager_app()
        instrument(app, flush_after_task=True, client=voker_client)
        instrument(app, client=other)
        instrument(app, client=other)  # the same client twice is flushed once
        _job(app).delay().get()
        assert (len(default_flushes), len(first), len(second)) == (1, 1, 1)
        # Both are closed at worker process shutdown, with the default client.
        assert voker_celery._clients(every=True) == [
            voker_core.get_client(),
            voker_client,
            other,
        ]
    finally:
        other.close(timeout=5)


# -- options without an app are every app's defaults ----------------------------------------------


@pytest.mark.voker_server(latency=0.3)
def test_flush_after_task_without_app_applies_to_every_app(
    default_voker_client: VokerClient, voker_server: Any
) -> None:
    instrument(flush_after_task=True)  # e.g. next to Django's VOKER = {"CELERY": True}
    app = _eager_app()  # never instrumented by name
    _job(app).delay().get()
    assert len(voker_server.events(event_name="job")) == 1


def test_apps_own_option_wins_over_the_default(
    default_flushes: list[float | None],
) -> None:
    instrument(flush_after_task=True)
    quiet, loud = _eager_app("quiet"), _eager_app("loud")
    instrument(quiet, flush_after_task=False)
    instrument(loud)  # says nothing: the default applies
    _job(quiet).delay().get()
    assert default_flushes == []
    _job(loud).delay().get()
    assert len(default_flushes) == 1


def test_client_without_app_is_flushed_for_every_app(
    default_flushes: list[float | None],
    voker_client: VokerClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    own = _count_flushes(voker_client, monkeypatch)
    instrument(flush_after_task=True, client=voker_client)
    _job(_eager_app()).delay().get()
    assert (len(default_flushes), len(own)) == (1, 1)


def test_instrument_without_options_changes_nothing(
    default_flushes: list[float | None],
) -> None:
    instrument()  # what the Django plug-in calls
    _job(_eager_app()).delay().get()
    assert default_flushes == []


# -- each execution leaves what it entered ---------------------------------------------------------


def test_two_live_executions_with_one_task_id_each_leave_their_own_context() -> None:
    # What a threads-pool worker does when a retry (same id) starts while its first attempt is
    # still running: two threads trace the same task id at once, and the first ends first.
    # task.apply() runs Celery's real tracer, signals included; the header is the published one.
    app = _eager_app("overlap")
    instrument(app)
    first_running, second_running, first_done = (threading.Event() for _ in range(3))
    seen: dict[str, Any] = {}

    @app.task(name="overlap.body")
    def body(tag: str) -> None:
        seen[f"{tag} inside"] = voker_core.current_context().session
        if tag == "first":
            first_running.set()
            assert second_running.wait(10)
        else:
            second_running.set()
            assert first_done.wait(10)

    def execute(tag: str) -> None:
        headers = {HEADER: {"session": f"s-{tag}", "person": f"p-{tag}"}}
        body.apply(args=(tag,), task_id="same-id", headers=headers)
        ctx = voker_core.current_context()
        seen[f"{tag} after"] = (ctx.session, ctx.person)
        if tag == "first":
            first_done.set()

    first = threading.Thread(target=execute, args=("first",))
    first.start()
    assert first_running.wait(10)
    second = threading.Thread(target=execute, args=("second",))
    second.start()
    first.join(10)
    second.join(10)
    assert seen == {
        "first inside": "s-first",
        "second inside": "s-second",
        "first after": (None, None),
        "second after": (None, None),
    }
    assert len(voker_celery._entered) == 0


# -- the message header --------------------------------------------------------------------------


def test_the_header_suits_every_broker_and_keeps_the_properties_exact() -> None:
    """Properties travel as one JSON string: an AMQP table (RabbitMQ) takes no int beyond 64
    bits, and a property like ``uuid4().int`` must not make ``delay()`` raise."""
    import amqp
    from celery import signals

    app = Celery(f"hdr{next(_app_numbers)}", broker="memory://")
    job = _job(app)
    instrument(app)
    published: list[dict[str, Any]] = []

    def capture(headers: dict[str, Any] | None = None, **_: Any) -> None:
        published.append(dict(headers or {}))

    signals.before_task_publish.connect(capture, weak=False)
    properties = {"trace": 2**100 + 7, "tags": ["a", "b"], "nested": {"x": 1.5}}
    try:
        with voker_core.context(session="s-hdr", agent="a", properties=properties):
            # A queue of its own: the memory transport's queues are process-wide.
            job.apply_async(queue="voker-header-test")
    finally:
        signals.before_task_publish.disconnect(capture)
        with app.connection_for_write() as connection:
            connection.SimpleQueue("voker-header-test").clear()
    (headers,) = published
    amqp.Message(b"{}", application_headers=headers)._serialize_properties()  # what RabbitMQ gets
    header = headers[HEADER]
    assert (header["session"], header["agent"]) == ("s-hdr", "a")
    assert json.loads(header["properties"]) == properties


def test_instrument_refuses_bad_arguments_naming_them() -> None:
    with pytest.raises(TypeError, match=r"^app must be a Celery app or None, got str"):
        instrument("proj")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^flush_after_task must be True, False or None, got str"):
        instrument(_eager_app(), flush_after_task="false")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^client must be a VokerClient, got str"):
        instrument(_eager_app(), client="http://voker")  # type: ignore[arg-type]
