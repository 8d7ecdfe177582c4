"""ApiClient against the devserver over real HTTP: every call of the wire contract."""

from __future__ import annotations

import math
import os
import platform
import uuid
from datetime import date, datetime, timezone
from typing import Any

import pytest

from voker_core import (
    Agent,
    AgentNotFoundError,
    AgentVersion,
    AgentVersionNotFoundError,
    ApiClient,
    AuthenticationError,
    ConfigurationError,
    FingerprintNotFoundError,
    Person,
    PersonNotFoundError,
    SessionIdEmptyError,
)
from voker_core.devserver.server import DevServer

WEIRD_IDS = [
    "a/b",
    "what?x=1",
    "hash#tag",
    "100%",
    "with spaces",
    "émoji 🚀",
    "../../etc/passwd",
    "日本語",
    ".",
    "..",
]


@pytest.fixture
def api(voker_server: Any) -> Any:
    with ApiClient(api_key="test-key", base_url=voker_server.base_url) as client:
        yield client


def test_agents_create_get_and_create_twice_is_a_noop(api: ApiClient) -> None:
    first = api.agents.create(agent_name="support-bot", description="Answers tickets")
    assert isinstance(first, Agent)
    assert first.agent_name == "support-bot"
    assert first.description == "Answers tickets"
    assert isinstance(first.created_at, datetime) and first.created_at.tzinfo is not None
    assert first.deprecated_at is None

    again = api.agents.create(agent_name="support-bot", description="ignored")
    assert again.agent_number == first.agent_number
    assert again.description == "Answers tickets"
    assert api.agents.get(agent_name="support-bot") == first


def test_agent_versions_create_get(api: ApiClient) -> None:
    api.agents.create(agent_name="bot")
    v1 = api.agent_versions.create(agent_name="bot", agent_version_name="v1", description="first")
    assert isinstance(v1, AgentVersion)
    assert (v1.agent_version_name, v1.description) == ("v1", "first")
    assert api.agent_versions.create(agent_name="bot", agent_version_name="v1") == v1
    assert api.agent_versions.get(agent_name="bot", agent_version_name="v1") == v1


def test_people_create_get_update_merges(api: ApiClient) -> None:
    created = api.people.create(person_id="user-1", properties={"plan": "free", "age": 30})
    assert isinstance(created, Person)
    assert created.properties == {"plan": "free", "age": 30}
    assert api.people.create(person_id="user-1", properties={"plan": "x"}) == created
    updated = api.people.update(person_id="user-1", properties={"plan": "pro", "team": "a"})
    assert updated.properties == {"plan": "pro", "age": 30, "team": "a"}
    assert api.people.get(person_id="user-1").properties == updated.properties


def test_fingerprint_and_event_land(api: ApiClient, voker_server: Any) -> None:
    fingerprint = api.fingerprints.create()
    assert fingerprint.fingerprint_id
    stored = voker_server.fingerprints()
    assert [f["fingerprint_id"] for f in stored] == [fingerprint.fingerprint_id]
    api.events.create(
        event_name="llm",
        properties={"model": "m", "nested": {"a": [1, 2]}},
        session="s-1",
        fingerprint_id=fingerprint.fingerprint_id,
        agent="bot",
        agent_version="v9",
        person="p-1",
    )
    api.events.create(
        event_name="custom",
        properties={},
        session="s-1",
        fingerprint_id=fingerprint.fingerprint_id,
    )
    events = voker_server.events(session="s-1")
    assert [e["event_name"] for e in events] == ["llm", "custom"]
    assert events[0]["properties"] == {"model": "m", "nested": {"a": [1, 2]}}
    assert (events[0]["agent"], events[0]["agent_version"], events[0]["person"]) == (
        "bot",
        "v9",
        "p-1",
    )
    assert events[1]["agent"] is None and events[1]["person"] is None
    # The event created its agent, version and person.
    assert api.agents.get(agent_name="bot").agent_name == "bot"
    assert api.agent_versions.get(agent_name="bot", agent_version_name="v9")
    assert api.people.get(person_id="p-1").person_id == "p-1"


def test_non_json_properties_are_converted_like_voker_client_does(
    api: ApiClient, voker_server: Any
) -> None:
    # The same dict VokerClient accepts: no bare TypeError from json, no invalid JSON for NaN.
    when = datetime(2024, 5, 1, 12, 30, tzinfo=timezone.utc)
    ident = uuid.UUID(int=7)
    fingerprint = api.fingerprints.create().fingerprint_id
    api.events.create(
        event_name="e",
        properties={"at": when, "id": ident, "tags": {"b", "a"}, "score": math.nan},
        session="s",
        fingerprint_id=fingerprint,
    )
    [event] = voker_server.events()
    assert event["properties"] == {
        "at": "2024-05-01T12:30:00+00:00",
        "id": str(ident),
        "tags": ["a", "b"],
        "score": "NaN",
    }
    person = api.people.create(person_id="p", properties={"signed_up": date(2024, 5, 1)})
    assert person.properties == {"signed_up": "2024-05-01"}
    updated = api.people.update(person_id="p", properties={"seen": {3}})
    assert updated.properties == {"signed_up": "2024-05-01", "seen": [3]}


def test_fingerprint_none_overrides_are_left_out(api: ApiClient, voker_server: Any) -> None:
    # git_branch=None means "no branch": the key is absent (the API 422s a null).
    fingerprint = api.fingerprints.create(git_branch=None, language_version=None, extra="x")
    [stored] = voker_server.fingerprints()
    assert stored["fingerprint_id"] == fingerprint.fingerprint_id
    payload = stored["payload"]
    assert "git_branch" not in payload
    assert payload["language_version"] == platform.python_version()  # required: kept
    assert payload["extra"] == "x"
    assert None not in payload.values()


def test_each_not_found_kind_has_its_own_error(api: ApiClient) -> None:
    with pytest.raises(AgentNotFoundError) as agent_err:
        api.agents.get(agent_name="nope")
    assert agent_err.value.status_code == 404
    with pytest.raises(AgentNotFoundError):
        api.agent_versions.create(agent_name="nope", agent_version_name="v1")
    api.agents.create(agent_name="bot")
    with pytest.raises(AgentVersionNotFoundError):
        api.agent_versions.get(agent_name="bot", agent_version_name="nope")
    with pytest.raises(PersonNotFoundError):
        api.people.get(person_id="ghost")
    with pytest.raises(PersonNotFoundError):
        api.people.update(person_id="ghost", properties={"a": 1})
    with pytest.raises(FingerprintNotFoundError) as fp_err:
        api.events.create(event_name="e", properties={}, session="s", fingerprint_id="unknown")
    assert fp_err.value.body["detail"]["type"] == "fingerprint-not-found"


def test_empty_session_raises_session_id_empty(api: ApiClient) -> None:
    fingerprint = api.fingerprints.create()
    with pytest.raises(SessionIdEmptyError) as err:
        api.events.create(
            event_name="e", properties={}, session="", fingerprint_id=fingerprint.fingerprint_id
        )
    assert err.value.status_code == 422


@pytest.mark.parametrize("weird", WEIRD_IDS)
def test_weird_names_round_trip(api: ApiClient, weird: str) -> None:
    assert api.people.create(person_id=weird, properties={"k": weird}).person_id == weird
    assert api.people.get(person_id=weird).properties == {"k": weird}
    assert api.people.update(person_id=weird, properties={"x": 1}).properties == {
        "k": weird,
        "x": 1,
    }
    assert api.agents.create(agent_name=weird).agent_name == weird
    assert api.agents.get(agent_name=weird).agent_name == weird
    version = api.agent_versions.create(agent_name=weird, agent_version_name=weird)
    assert version.agent_version_name == weird
    assert api.agent_versions.get(agent_name=weird, agent_version_name=weird) == version


def test_wrong_key_with_enforced_key_raises_authentication_error(tmp_path: Any) -> None:
    with DevServer(tmp_path / "db.sqlite3", api_key="right-key") as server:
        with ApiClient(api_key="wrong-key", base_url=server.base_url) as api:
            with pytest.raises(AuthenticationError) as err:
                api.agents.create(agent_name="bot")
        assert err.value.status_code == 401
        with ApiClient(api_key="right-key", base_url=server.base_url) as api:
            assert api.agents.create(agent_name="bot").agent_name == "bot"


def test_missing_key_raises_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOKER_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="VOKER_API_KEY"):
        ApiClient()


def test_key_and_base_url_from_environment(
    voker_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOKER_API_KEY", "env-key")
    monkeypatch.setenv("VOKER_BASE_URL", voker_server.base_url + "/")
    with ApiClient() as api:
        assert api.base_url == voker_server.base_url
        assert api.agents.create(agent_name="from-env").agent_name == "from-env"
    # An explicit argument beats the environment.
    with ApiClient(base_url="http://127.0.0.1:9") as api:
        assert api.base_url == "http://127.0.0.1:9"


def test_bad_arguments_raise_at_once_naming_the_argument(api: ApiClient) -> None:
    with pytest.raises(TypeError, match="agent_name"):
        api.agents.create(agent_name=123)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="properties"):
        api.people.update(person_id="p", properties=["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="person_id"):
        api.people.get(person_id="")
    with pytest.raises(TypeError, match="nonsense"):
        ApiClient(api_key="k", nonsense=1)  # type: ignore[call-arg]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_client_used_before_a_fork_answers_each_process_its_own_requests(
    api: ApiClient,
) -> None:
    """gunicorn --preload, multiprocessing and Celery prefork fork a process whose ApiClient
    already holds a keep-alive connection. Each child opens its own (before, they shared the
    parent's socket and read one another's answers: agents.get("fork-a") named "fork-b")."""
    names = ["fork-a", "fork-b", "fork-c", "fork-d"]
    for name in names:
        api.agents.create(agent_name=name)  # the parent now holds a pooled connection
    children = []
    for name in names:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through its exit status
            wrong = 0
            try:
                for _ in range(100):
                    wrong += api.agents.get(agent_name=name).agent_name != name
            except BaseException:
                os._exit(2)
            os._exit(1 if wrong else 0)
        children.append(pid)
    statuses = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
    assert statuses == [0, 0, 0, 0]
    assert api.agents.get(agent_name="fork-a").agent_name == "fork-a"  # the parent's still works
