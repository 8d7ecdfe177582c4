"""``PeopleSync`` (what the Django and Flask plug-ins use) against the devserver over real HTTP.

Each process has its own cache of the people it has sent, so a person's first sight in a process
is not their first sight by Voker: the properties the process has must be stored even when the
person exists already (``people.create`` of an existing person is a no-op).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from voker_core import VokerClient
from voker_core.people_sync import PeopleSync


@pytest.fixture
def second_process(voker_server: Any) -> Iterator[VokerClient]:
    """Another client on the same server: a second worker process, or this one restarted."""
    client = VokerClient(api_key="test-key", base_url=voker_server.base_url, enabled=True)
    try:
        yield client
    finally:
        client.close(timeout=5)


def warm(client: VokerClient) -> None:
    """Make the client create its fingerprint, so request counts show only what follows."""
    client.events.create(event_name="warm-up", properties={}, session="warm-up")
    assert client.flush(5)


def test_properties_changed_before_another_process_first_sees_the_person_are_stored(
    voker_client: VokerClient, second_process: VokerClient, voker_server: Any
) -> None:
    PeopleSync(voker_client).sync("user-7", {"plan": "free", "seats": 1})
    assert voker_client.flush(5)
    PeopleSync(second_process).sync("user-7", {"plan": "pro", "seats": 1})  # upgraded since
    assert second_process.flush(5)
    assert voker_server.person("user-7")["properties"] == {"plan": "pro", "seats": 1}


def test_a_person_the_cache_forgot_is_sent_again_with_current_properties(
    voker_client: VokerClient, voker_server: Any
) -> None:
    sync = PeopleSync(voker_client, max_people=1)
    sync.sync("user-1", {"plan": "free"})
    sync.sync("user-2", {"plan": "free"})  # user-1 is forgotten
    sync.sync("user-1", {"plan": "pro"})
    assert voker_client.flush(5)
    assert voker_server.person("user-1")["properties"] == {"plan": "pro"}


def test_first_sight_costs_two_requests_with_properties_one_without_then_none(
    voker_client: VokerClient, voker_server: Any
) -> None:
    warm(voker_client)
    sync = PeopleSync(voker_client)
    before = voker_server.request_count()
    sync.sync("with", {"plan": "pro"})  # create + update, in that order
    sync.sync("without")  # create only
    sync.sync("empty", {})  # create only: nothing to update
    for person_id in ("with", "without", "empty"):
        sync.sync(person_id, None)
    sync.sync("with", {"plan": "pro"})  # unchanged
    assert voker_client.flush(5)
    assert voker_server.request_count() - before == 4
    # (Different people are delivered concurrently: their order is not kept.)
    assert {p["person_id"]: p["properties"] for p in voker_server.people()} == {
        "with": {"plan": "pro"},
        "without": {},
        "empty": {},
    }
