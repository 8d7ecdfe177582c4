"""The voker_core pieces the web plug-ins share: people sync, agents setting, lazy sessions.

(They live in voker_core so Django and Flask use one implementation; tested here with real
delivery to the devserver.)
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

import voker_core
from voker_core.agents_sync import AgentSpec, parse_agents, register_agents
from voker_core.people_sync import PeopleSync, people_sync_for


def warm(client: Any) -> None:
    """Make the client create its fingerprint, so request counts show only what follows."""
    client.events.create(event_name="warm-up", properties={}, session="warm-up")
    assert client.flush(5)


def test_people_sync_creates_once_and_updates_on_change(
    voker_client: Any, voker_server: Any
) -> None:
    warm(voker_client)
    before = voker_server.request_count()
    sync = people_sync_for(voker_client)
    assert people_sync_for(voker_client) is sync  # one per client

    props = {"email": "a@example.com", "tags": ["x"]}
    sync.sync("p/1", props)
    props["email"] = "mutated-after-the-call@example.com"  # the caller's dict is not kept
    sync.sync("p/1", {"tags": ["x"], "email": "a@example.com"})  # same, other key order
    sync.sync("p/1", None)  # nothing known here: nothing sent
    assert voker_client.flush(5)
    assert voker_server.request_count() - before == 2
    assert voker_server.person("p/1")["properties"] == {"email": "a@example.com", "tags": ["x"]}

    sync.sync("p/1", {"email": "b@example.com"})
    sync.sync("p/1", {"email": "b@example.com"})
    assert voker_client.flush(5)
    assert voker_server.request_count() - before == 3
    assert voker_server.person("p/1")["properties"]["email"] == "b@example.com"

    sync.sync("p/2")  # created without properties, then updated when some are known
    sync.sync("p/2", {"plan": "pro"})
    assert voker_client.flush(5)
    assert voker_server.request_count() - before == 5
    assert voker_server.person("p/2")["properties"] == {"plan": "pro"}


def test_people_sync_is_bounded_and_thread_safe(voker_client: Any, voker_server: Any) -> None:
    sync = PeopleSync(voker_client, max_people=3)
    for i in range(5):
        sync.sync(f"user-{i}", {"i": i})
    assert len(sync) == 3

    shared = PeopleSync(voker_client)
    barrier = threading.Barrier(8)

    def hammer() -> None:
        barrier.wait(5)
        for _ in range(50):
            shared.sync("hot", {"n": 1})

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    warm(voker_client)
    assert {p["person_id"] for p in voker_server.people()} == {f"user-{i}" for i in range(5)} | {
        "hot"
    }
    assert voker_server.person("hot")["properties"] == {"n": 1}
    with pytest.raises(ValueError):
        PeopleSync(voker_client, max_people=0)


def test_parse_agents_accepts_the_documented_shape() -> None:
    specs = parse_agents(
        {
            "support-bot": {"description": "Answers", "versions": {"v1": "first", "v2": None}},
            "triage-bot": None,
        },
        setting="VOKER_AGENTS",
    )
    assert specs == (
        AgentSpec("support-bot", "Answers", (("v1", "first"), ("v2", None))),
        AgentSpec("triage-bot"),
    )
    assert parse_agents(None) == parse_agents("") == ()
    assert parse_agents('{"a": {"versions": {"v1": null}}}') == (
        AgentSpec("a", None, (("v1", None),)),
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["a"], "AGENTS must be a dict"),
        ({"": {}}, "non-empty"),
        ({"a": "text"}, r"AGENTS\['a'\] must be a dict"),
        ({"a": {"versions": ["v1"]}}, r"\['versions'\] must be a dict"),
        ({"a": {"description": 1}}, "description must be a string"),
        ({"a": {"descripton": "x"}}, "unknown key"),
    ],
)
def test_parse_agents_rejects_bad_shapes(value: Any, message: str) -> None:
    with pytest.raises(voker_core.ConfigurationError, match=message):
        parse_agents(value)


def test_register_agents_creates_agents_before_versions(
    voker_client: Any, voker_server: Any
) -> None:
    register_agents(
        voker_client, parse_agents({"bot": {"description": "d", "versions": {"v1": "one"}}})
    )
    assert voker_client.flush(5)
    assert [(a["agent_name"], a["description"]) for a in voker_server.agents()] == [("bot", "d")]
    assert [
        (v["agent_version_name"], v["description"]) for v in voker_server.agent_versions("bot")
    ] == [("v1", "one")]


def test_context_session_may_be_lazy_and_is_resolved_once(
    voker_client: Any, voker_server: Any
) -> None:
    calls: list[int] = []

    def session() -> str:
        calls.append(1)
        return "lazy-session"

    with voker_core.context(session=session, agent="bot"):
        assert calls == []  # entering resolves nothing
        with voker_core.context(agent="inner-bot"):
            voker_client.events.create(event_name="custom", properties={"n": 1})
        voker_client.events.create(event_name="custom", properties={"n": 2})
        assert voker_core.current_context().session == "lazy-session"
    assert calls == [1]
    assert voker_client.flush(5)
    events = voker_server.events(session="lazy-session")
    assert [(e["agent"], e["properties"]["n"]) for e in events] == [("inner-bot", 1), ("bot", 2)]

    with voker_core.context(session=lambda: "  "):
        assert voker_core.current_context().session is None  # blank means none
