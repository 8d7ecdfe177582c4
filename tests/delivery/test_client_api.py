"""VokerClient's public behaviour, checked against what lands on a real devserver."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pydantic
import pytest

import voker_core
from tests.delivery.conftest import run_python
from voker_core import DeliveryStats, VokerClient


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Usage:
    input_tokens: int
    output_tokens: int


class Reply(pydantic.BaseModel):
    text: str
    at: dt.datetime


# --- arguments ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "names"),
    [
        ({"event_name": "e", "properties": {}, "session": ""}, ValueError, "session"),
        ({"event_name": "e", "properties": {}, "session": "   "}, ValueError, "session"),
        ({"event_name": "e", "properties": {}, "session": 42}, TypeError, "session"),
        ({"event_name": "e", "properties": {}}, TypeError, "session"),
        ({"event_name": 1, "properties": {}, "session": "s"}, TypeError, "event_name"),
        ({"event_name": "", "properties": {}, "session": "s"}, ValueError, "event_name"),
        ({"event_name": " \t\n", "properties": {}, "session": "s"}, ValueError, "event_name"),
        ({"event_name": "e", "properties": [1], "session": "s"}, TypeError, "properties"),
        ({"event_name": "e", "properties": "x", "session": "s"}, TypeError, "properties"),
        ({"event_name": "e", "session": "s", "agent": 3}, TypeError, "agent"),
        (
            {"event_name": "e", "session": "s", "agent": "a", "agent_version": b"v"},
            TypeError,
            "agent_version",
        ),
        ({"event_name": "e", "session": "s", "agent_version": "v1"}, ValueError, "agent"),
        ({"event_name": "e", "session": "s", "person": 7}, TypeError, "person"),
    ],
)
def test_bad_event_arguments_raise_at_once_and_send_nothing(
    voker_server: Any,
    make_client: Callable[..., VokerClient],
    kwargs: dict[str, Any],
    error: type[Exception],
    names: str,
) -> None:
    client = make_client(base_url=voker_server.base_url)
    with pytest.raises(error, match=names):
        client.events.create(**kwargs)
    assert client.stats.queued == 0
    assert client.flush(2)
    assert voker_server.request_count() == 0


def test_bad_write_arguments_raise(
    voker_server: Any, make_client: Callable[..., VokerClient]
) -> None:
    client = make_client(base_url=voker_server.base_url)
    with pytest.raises(ValueError, match="person_id"):
        client.people.create(person_id="")
    with pytest.raises(TypeError, match="properties"):
        client.people.update(person_id="p", properties=["x"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="agent_name"):
        client.agents.create(agent_name=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="description"):
        client.agents.create(agent_name="a", description=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="agent_version_name"):
        client.agent_versions.create(agent_name="a", agent_version_name="")
    assert client.stats.queued == 0


@pytest.mark.parametrize(
    ("options", "error", "name"),
    [
        ({"max_queue_size": 0}, ValueError, "max_queue_size"),
        ({"flush_timeout": "soon"}, TypeError, "flush_timeout"),
        ({"before_send": 3}, TypeError, "before_send"),
        ({"base_url": "ftp://x"}, ValueError, "base_url"),
        ({"base_url": ""}, ValueError, "base_url"),
        ({"base_url": "  "}, ValueError, "base_url"),
        ({"no_such_option": 1}, TypeError, "no_such_option"),
    ],
)
def test_bad_options_raise_naming_the_option(
    options: dict[str, Any], error: type[Exception], name: str
) -> None:
    with pytest.raises(error, match=name):
        VokerClient(api_key="k", **options)


# --- what lands -----------------------------------------------------------------------------


def test_event_lands_with_every_field(
    voker_server: Any, make_client: Callable[..., VokerClient]
) -> None:
    client = make_client(base_url=voker_server.base_url)
    client.events.create(
        event_name="feedback",
        properties={"score": 5, "tags": ["a"]},
        session="s-1",
        agent="bot",
        agent_version="v1",
        person="user/7 ü",
    )
    assert client.flush(5)
    [event] = voker_server.events()
    assert event["event_name"] == "feedback"
    assert event["properties"] == {"score": 5, "tags": ["a"]}
    assert (event["session"], event["agent"], event["agent_version"], event["person"]) == (
        "s-1",
        "bot",
        "v1",
        "user/7 ü",
    )
    assert event["fingerprint_id"] == voker_server.fingerprints()[0]["fingerprint_id"]
    assert client.stats == DeliveryStats(queued=1, sent=1)


class Agents(str, enum.Enum):
    """How applications often name their agents: str() of a member is "Agents.SUPPORT"."""

    SUPPORT = "support-bot"


def test_names_given_as_str_enum_members_land_as_their_value(
    voker_server: Any, make_client: Callable[..., VokerClient]
) -> None:
    client = make_client(base_url=voker_server.base_url)
    client.agents.create(agent_name=Agents.SUPPORT, description="Answers support questions")
    client.events.create(event_name="explicit", session="s-enum", agent=Agents.SUPPORT)
    with voker_core.context(session="s-enum", agent=Agents.SUPPORT, person=Agents.SUPPORT):
        client.events.create(event_name="from-context")
    assert client.flush(5)

    events = voker_server.wait_for_events(2, session="s-enum")
    assert {(e["event_name"], e["agent"]) for e in events} == {
        ("explicit", "support-bot"),
        ("from-context", "support-bot"),
    }
    assert [e["person"] for e in events if e["event_name"] == "from-context"] == ["support-bot"]
    assert [agent["agent_name"] for agent in voker_server.agents()] == ["support-bot"]


def test_mutating_arguments_after_create_does_not_change_what_is_stored(
    voker_server: Any, make_client: Callable[..., VokerClient]
) -> None:
    client = make_client(base_url=voker_server.base_url)
    messages = [{"role": "user", "content": "hi"}]
    properties: dict[str, Any] = {"messages": messages, "meta": {"n": 1}, "tags": {"x"}}
    client.events.create(event_name="llm", properties=properties, session="s")
    messages.append({"role": "assistant", "content": "hello"})
    messages[0]["content"] = "changed"
    properties["meta"]["n"] = 2
    properties["tags"].add("y")
    properties["new"] = True
    person_props = {"plan": "free"}
    client.people.create(person_id="p", properties=person_props)
    person_props["plan"] = "pro"
    assert client.flush(5)
    [event] = voker_server.events()
    assert event["properties"] == {
        "messages": [{"role": "user", "content": "hi"}],
        "meta": {"n": 1},
        "tags": ["x"],
    }
    assert voker_server.person("p")["properties"] == {"plan": "free"}


def test_non_json_properties_are_converted_on_the_worker(
    voker_server: Any, make_client: Callable[..., VokerClient]
) -> None:
    client = make_client(base_url=voker_server.base_url)
    when = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
    ident = uuid.UUID(int=1)

    class Opaque:
        def __repr__(self) -> str:
            return "<Opaque>"

    client.events.create(
        event_name="llm",
        session="s",
        properties={
            "reply": Reply(text="hi", at=when),
            "usage": Usage(3, 4),
            "color": Color.RED,
            "when": when,
            "id": ident,
            "raw": b"\x00\x01",
            "pair": (1, 2),
            "opaque": Opaque(),
            "nan": float("nan"),
        },
    )
    assert client.flush(5)
    [event] = voker_server.events()
    assert event["properties"] == {
        "reply": {"text": "hi", "at": "2024-05-01T12:00:00Z"},
        "usage": {"input_tokens": 3, "output_tokens": 4},
        "color": "red",
        "when": "2024-05-01T12:00:00+00:00",
        "id": str(ident),
        "raw": "AAE=",
        "pair": [1, 2],
        "opaque": "<Opaque>",
        "nan": "NaN",
    }


def test_oversized_properties_are_truncated_with_a_marker_not_rejected(
    voker_server: Any, make_client: Callable[..., VokerClient]
) -> None:
    client = make_client(base_url=voker_server.base_url, max_event_bytes=4096)
    image = "data:image/png;base64," + "iVBORw0KGgo" * 10_000
    client.events.create(
        event_name="llm",
        session="s",
        properties={"image": image, "text": "word " * 5000, "model": "gpt"},
    )
    assert client.flush(5)
    [event] = voker_server.events()
    props = event["properties"]
    assert props["model"] == "gpt"
    assert props["image"].startswith("data:image/png;base64,iVBOR")
    assert f"[truncated {len(image) - len(props['image'].split('…')[0])} chars]" in props["image"]
    assert "…[truncated" in props["text"] and props["text"].startswith("word word")
    assert len(props["text"]) > 1000  # the text kept what the budget allows once the blob is cut


def test_a_long_dict_key_is_truncated_and_properties_stay_an_object(
    voker_server: Any, make_client: Callable[..., VokerClient]
) -> None:
    # The bulk is in keys (retrieved passages used as the keys of a score map): the keys are
    # cut, with a marker, rather than the whole properties turned into a string the API rejects.
    client = make_client(base_url=voker_server.base_url, max_event_bytes=2000)
    passage = "a retrieved passage used as a dict key " + "lorem ipsum " * 250
    scores = {passage + "one": 0.93, passage + "two": 0.5}
    client.events.create(event_name="retrieval", session="s", properties={"scores": scores, "k": 2})
    assert client.flush(5)
    assert (client.stats.sent, client.stats.failed) == (1, 0)
    [event] = voker_server.events()
    props = event["properties"]
    assert props["k"] == 2
    assert sorted(props["scores"].values()) == [0.5, 0.93]  # both entries kept, apart
    for key in props["scores"]:
        assert key.startswith("a retrieved passage used as a dict key lorem ipsum")
        assert "…[truncated " in key


# --- context ---------------------------------------------------------------------------------


def test_events_take_session_agent_and_person_from_the_context(
    voker_server: Any, make_client: Callable[..., VokerClient]
) -> None:
    client = make_client(base_url=voker_server.base_url)
    calls = []

    def load_person() -> str:
        calls.append(1)
        return "user-9"

    with voker_core.context(
        session="ctx-s", agent="ctx-agent", agent_version="v2", person=load_person
    ):
        client.events.create(event_name="a", properties={"n": 1})
        client.events.create(event_name="b", properties={"n": 2}, session="explicit", agent="other")
        with voker_core.context(person="inner-person"):
            client.events.create(event_name="c")
    assert client.flush(5)
    events = {e["event_name"]: e for e in voker_server.events()}
    assert {k: events["a"][k] for k in ("session", "agent", "agent_version", "person")} == {
        "session": "ctx-s",
        "agent": "ctx-agent",
        "agent_version": "v2",
        "person": "user-9",
    }
    assert (events["b"]["session"], events["b"]["agent"], events["b"]["person"]) == (
        "explicit",
        "other",
        "user-9",
    )
    assert events["c"]["person"] == "inner-person"
    assert events["c"]["properties"] == {}
    assert calls == [1]  # the lazy person was resolved once


def test_an_explicit_other_agent_does_not_inherit_the_context_version(
    voker_server: Any, make_client: Callable[..., VokerClient]
) -> None:
    # A version belongs to its agent: the context's v7 is support-bot's, not billing-bot's.
    client = make_client(base_url=voker_server.base_url)
    with voker_core.context(session="s", agent="support-bot", agent_version="v7"):
        client.events.create(event_name="other-agent", agent="billing-bot")
        client.events.create(event_name="same-agent", agent="support-bot")
        client.events.create(event_name="explicit", agent="billing-bot", agent_version="v2")
        client.events.create(event_name="from-context")
    assert client.flush(5)
    filed = {e["event_name"]: (e["agent"], e["agent_version"]) for e in voker_server.events()}
    assert filed == {
        "other-agent": ("billing-bot", "default"),
        "same-agent": ("support-bot", "v7"),
        "explicit": ("billing-bot", "v2"),
        "from-context": ("support-bot", "v7"),
    }
    billing_versions = {v["agent_version_name"] for v in voker_server.agent_versions("billing-bot")}
    assert "v7" not in billing_versions


def test_context_properties_are_merged_into_events(
    voker_server: Any, make_client: Callable[..., VokerClient]
) -> None:
    client = make_client(base_url=voker_server.base_url)
    shared = {"plan": ["pro"]}
    with voker_core.context(session="s", properties={"tenant": "acme", "shared": shared}):
        with voker_core.context(properties={"region": "eu", "tenant": "inner"}):
            client.events.create(event_name="thumbs_up", properties={"message_id": 42})
            client.events.create(event_name="override", properties={"tenant": "explicit"})
        client.events.create(event_name="bare")
        shared["plan"].append("mutated after create")  # the event keeps what it was given
    assert client.flush(5)
    props = {e["event_name"]: e["properties"] for e in voker_server.events()}
    assert props == {
        "thumbs_up": {
            "tenant": "inner",
            "shared": {"plan": ["pro"]},
            "region": "eu",
            "message_id": 42,
        },
        "override": {"tenant": "explicit", "shared": {"plan": ["pro"]}, "region": "eu"},
        "bare": {"tenant": "acme", "shared": {"plan": ["pro"]}},
    }


def test_no_session_anywhere_is_a_type_error(make_client: Callable[..., VokerClient]) -> None:
    client = make_client(base_url="http://127.0.0.1:9")
    with voker_core.context(agent="bot"), pytest.raises(TypeError, match="session"):
        client.events.create(event_name="e", properties={})


def test_a_failing_person_callable_does_not_break_the_caller(
    voker_server: Any, make_client: Callable[..., VokerClient], caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(base_url=voker_server.base_url)

    def broken() -> str:
        raise RuntimeError("user table down")

    with voker_core.context(session="s", person=broken):
        client.events.create(event_name="e", properties={})
    assert client.flush(5)
    [event] = voker_server.events()
    assert event["person"] is None
    assert "resolving the context's person failed" in caplog.text


# --- ordering of dependent writes ---------------------------------------------------------


def test_agent_before_versions_and_person_before_update_even_when_slow(
    voker_server: Any, faulty: Any, make_client: Callable[..., VokerClient]
) -> None:
    # The agent and person creations are slowed down; the versions, updates and events queued
    # after them must still wait, or the server would create bare records first.
    faulty.slow(1, delay=0.4, path_prefix="/api/v1/agents")
    faulty.slow(1, delay=0.4, path_prefix="/api/v1/people")
    client = make_client(base_url=faulty.base_url, timeout=5)
    client.agents.create(agent_name="bot", description="Answers tickets")
    client.agent_versions.create(agent_name="bot", agent_version_name="v1", description="first")
    client.people.create(person_id="p1", properties={"email": "a@example.com"})
    client.people.update(person_id="p1", properties={"plan": "pro"})
    client.events.create(
        event_name="llm", properties={}, session="s", agent="bot", agent_version="v1", person="p1"
    )
    assert client.flush(10)
    [agent] = voker_server.agents()
    assert agent["description"] == "Answers tickets"
    [version] = voker_server.agent_versions("bot")
    assert version["description"] == "first"
    assert voker_server.person("p1")["properties"] == {"email": "a@example.com", "plan": "pro"}
    assert voker_server.events()[0]["agent_version"] == "v1"
    assert client.stats.sent == 5


# --- modes and hooks -------------------------------------------------------------------------


def test_without_key_the_client_is_disabled_with_one_warning(
    voker_server: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VOKER_API_KEY", raising=False)
    with caplog.at_level(logging.WARNING, logger="voker"):
        client = VokerClient(base_url=voker_server.base_url)
        for _ in range(3):
            client.events.create(event_name="e", properties={}, session="s")
        client.people.create(person_id="p")
        with pytest.raises(ValueError, match="session"):
            client.events.create(event_name="e", properties={}, session="")
        assert client.flush()
        client.close()
    assert not client.enabled
    assert [r.getMessage() for r in caplog.records if r.name == "voker"] == [
        "voker: no API key (set VOKER_API_KEY or pass api_key=); Voker events are discarded"
    ]
    assert voker_server.request_count() == 0
    assert not [t for t in threading.enumerate() if t.name == "voker-delivery"]


def test_enabled_false_sends_nothing(
    voker_server: Any, make_client: Callable[..., VokerClient]
) -> None:
    client = make_client(base_url=voker_server.base_url, enabled=False)
    client.events.create(event_name="e", properties={}, session="s")
    assert client.flush(1)
    assert not client.enabled
    assert voker_server.request_count() == 0


def test_before_send_can_edit_drop_and_fail_without_reaching_the_caller(
    voker_server: Any, make_client: Callable[..., VokerClient]
) -> None:
    seen_threads = set()

    def before_send(event: dict[str, Any]) -> dict[str, Any] | None:
        seen_threads.add(threading.current_thread().name)
        kind = event["properties"].get("kind")
        if kind == "drop":
            return None
        if kind == "boom":
            raise RuntimeError("bug in the hook")
        if kind == "bad":
            return "not a dict"  # type: ignore[return-value]
        event["properties"].pop("secret", None)
        event["properties"]["scrubbed"] = True
        return event

    client = make_client(base_url=voker_server.base_url, before_send=before_send)
    for kind in ("keep", "drop", "boom", "bad"):
        client.events.create(
            event_name=kind, properties={"kind": kind, "secret": "pw"}, session="s"
        )
    assert client.flush(5)
    [event] = voker_server.events()
    assert event["event_name"] == "keep"
    assert event["properties"] == {"kind": "keep", "scrubbed": True}
    stats = client.stats
    assert (stats.sent, stats.dropped, stats.filtered) == (1, 3, 3)
    assert seen_threads == {"voker-delivery"}


def test_debug_logs_every_event(
    voker_server: Any, make_client: Callable[..., VokerClient], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="voker"):
        client = make_client(base_url=voker_server.base_url, debug=True)
        for i in range(3):
            client.events.create(event_name=f"e{i}", properties={"i": i}, session="s")
        assert client.flush(5)
    sent = [r.getMessage() for r in caplog.records if "sent event" in r.getMessage()]
    assert len(sent) == 3 and "'e0'" in sent[0]


def test_capture_content_option(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOKER_CAPTURE_CONTENT", "false")
    assert VokerClient(api_key="k", base_url="http://127.0.0.1:9").capture_content is False
    assert VokerClient(api_key="k", capture_content=True).capture_content is True


# --- flush, close, stats, threads ------------------------------------------------------------


def test_worker_starts_lazily_and_is_shared(
    voker_server: Any, make_client: Callable[..., VokerClient]
) -> None:
    def delivery_threads() -> int:
        return sum(1 for t in threading.enumerate() if t.name == "voker-delivery")

    before = delivery_threads()
    client = make_client(base_url=voker_server.base_url, max_concurrency=2)
    assert delivery_threads() == before  # nothing started by construction
    for i in range(200):
        client.events.create(event_name="e", properties={"i": i}, session=f"s{i % 20}")
    assert client.flush(10)
    assert before < delivery_threads() <= before + 2
    client.close(2)
    time.sleep(0.1)
    assert delivery_threads() == before
    assert len(voker_server.events()) == 200


def test_close_is_idempotent_and_later_calls_are_dropped(
    voker_server: Any, make_client: Callable[..., VokerClient]
) -> None:
    with make_client(base_url=voker_server.base_url) as client:
        client.events.create(event_name="before", properties={}, session="s")
    client.close()
    client.events.create(event_name="after", properties={}, session="s")
    assert [e["event_name"] for e in voker_server.events()] == ["before"]
    assert client.stats.dropped == 1 and client.stats.sent == 1


def test_flush_returns_false_when_time_runs_out(
    voker_server: Any, faulty: Any, make_client: Callable[..., VokerClient]
) -> None:
    faulty.slow(1, delay=1.0, path_prefix="/api/v1/events")
    client = make_client(base_url=faulty.base_url, timeout=5)
    client.events.create(event_name="e", properties={}, session="s")
    started = time.monotonic()
    assert client.flush(0.3) is False
    assert time.monotonic() - started < 0.8
    assert client.flush(5) is True
    assert len(voker_server.events()) == 1


def test_permanent_rejections_are_counted_and_dropped(
    make_client: Callable[..., VokerClient], caplog: pytest.LogCaptureFixture
) -> None:
    from voker_core.testing.server import voker_test_server

    with voker_test_server(api_key="right") as server:
        client = make_client(api_key="wrong", base_url=server.base_url)
        for i in range(5):
            client.events.create(event_name="e", properties={"i": i}, session="s")
        client.agents.create(agent_name="bot")
        assert client.flush(5)
        stats = client.stats
        assert (stats.sent, stats.failed, stats.pending) == (0, 6, 0)
        assert server.events() == []
    assert "rejected" in caplog.text


# --- the default client ----------------------------------------------------------------------


def test_get_client_is_one_instance_across_threads(voker_server: Any) -> None:
    # A fresh interpreter, so that no default client exists yet.
    result = run_python(
        """
        import threading
        import voker_core

        barrier = threading.Barrier(8)
        seen = []

        def grab():
            barrier.wait()
            seen.append(voker_core.get_client())

        threads = [threading.Thread(target=grab) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len({id(c) for c in seen}) == 1, seen
        client = seen[0]
        assert client.enabled and client.settings.base_url == voker_core.get_client().settings.base_url
        client.events.create(event_name="from-env", properties={}, session="s")
        """,
        env={"VOKER_API_KEY": "env-key", "VOKER_BASE_URL": voker_server.base_url},
    )
    assert result.returncode == 0, result.stderr
    assert [e["event_name"] for e in voker_server.events()] == ["from-env"]


def test_a_blank_voker_base_url_means_the_default_url(voker_server: Any) -> None:
    # VOKER_BASE_URL= (a blank line of a .env template) must not make get_client() raise on
    # every use; it counts as unset, as a blank VOKER_API_KEY does.
    result = run_python(
        """
        import voker_core
        from voker_core.config import DEFAULT_BASE_URL

        client = voker_core.get_client()
        assert client.settings.base_url == DEFAULT_BASE_URL, client.settings.base_url
        assert voker_core.ApiClient(api_key="k").base_url == DEFAULT_BASE_URL
        client.close(0)
        """,
        env={"VOKER_API_KEY": "env-key", "VOKER_BASE_URL": ""},
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_configure_replaces_and_closes_the_previous_default(voker_server: Any) -> None:
    first = voker_core.configure(api_key="k", base_url=voker_server.base_url)
    try:
        assert voker_core.get_client() is first
        first.events.create(event_name="queued-before-reconfigure", properties={}, session="s")
        second = voker_core.configure(api_key="k", base_url=voker_server.base_url)
        assert voker_core.get_client() is second
        # configure() closed the first client, which delivered what it had queued.
        assert [e["event_name"] for e in voker_server.events()] == ["queued-before-reconfigure"]
        first.events.create(event_name="after-close", properties={}, session="s")
        assert first.stats.dropped == 1
    finally:
        voker_core.configure(enabled=False)
