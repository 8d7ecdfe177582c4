"""Values JSON cannot write, through both clients to the devserver over real HTTP.

A lone surrogate in a string (``os.fsdecode`` of a file name with an undecodable byte), an int
past Python's 4300-digit ``str()`` limit, a mapping whose ``items()`` raises: each must degrade
alone, never cost the event, its other properties, or a raw exception from ``ApiClient``.
"""

from __future__ import annotations

import math
import os
import shelve
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from voker_core import ApiClient

LONE = os.fsdecode(b"report-\xff.pdf")  # 'report-\udcff.pdf': no UTF-8 form
CLEAN = "report-\ufffd.pdf"
HUGE = math.factorial(2000)  # 5736 digits
HUGE_TEXT = "3.31628e+5735…[integer of 5736 digits]"


@pytest.fixture
def api(voker_server: Any) -> Iterator[ApiClient]:
    with ApiClient(api_key="test-key", base_url=voker_server.base_url, max_retries=0) as client:
        yield client


@pytest.fixture
def closed_shelf(tmp_path: Path) -> Any:
    with shelve.open(str(tmp_path / "cache")) as shelf:
        shelf["k"] = 1
    return shelf  # closed: its items() raises


def test_voker_client_delivers_lone_surrogates_replaced(
    voker_client: Any, voker_server: Any
) -> None:
    voker_client.events.create(
        event_name="upload", properties={"file": LONE, LONE: 3}, session="s1"
    )
    assert voker_client.flush(5)
    [event] = voker_server.events(session="s1")
    assert event["properties"] == {"file": CLEAN, CLEAN: 3}
    assert voker_client.stats.failed == 0


def test_voker_client_delivers_a_session_and_person_with_lone_surrogates(
    voker_client: Any, voker_server: Any
) -> None:
    """A session or person id taken from a file name (os.fsdecode) is sent with U+FFFD (the
    event was rejected with 400 before: ASCII escapes of a surrogate are not valid JSON text
    for the server)."""
    voker_client.events.create(event_name="upload", properties={}, session=LONE, person=LONE)
    assert voker_client.flush(5)
    [event] = voker_server.events(session=CLEAN)
    assert event["person"] == CLEAN
    assert voker_client.stats.failed == 0


def test_voker_client_degrades_only_the_bad_value(
    voker_client: Any, voker_server: Any, closed_shelf: Any
) -> None:
    for session, bad in (("huge", HUGE), ("shelf", closed_shelf)):
        voker_client.events.create(
            event_name="calc",
            properties={"user": "u1", "nested": {"plan": "pro", "result": bad}},
            session=session,
        )
    assert voker_client.flush(5)
    [huge] = voker_server.events(session="huge")
    assert huge["properties"] == {"user": "u1", "nested": {"plan": "pro", "result": HUGE_TEXT}}
    [shelf] = voker_server.events(session="shelf")
    assert shelf["properties"]["user"] == "u1"
    assert shelf["properties"]["nested"]["plan"] == "pro"
    assert shelf["properties"]["nested"]["result"].startswith("<shelve.")


def test_api_client_sends_lone_surrogates_replaced(api: ApiClient, voker_server: Any) -> None:
    fingerprint = api.fingerprints.create(git_branch=LONE).fingerprint_id
    api.events.create(
        event_name="upload",
        properties={"file": LONE, "size": 3},
        session=f"s-{LONE}",
        person=LONE,
        fingerprint_id=fingerprint,
    )
    [event] = voker_server.events()
    assert event["properties"] == {"file": CLEAN, "size": 3}
    assert (event["session"], event["person"]) == (f"s-{CLEAN}", CLEAN)
    assert voker_server.fingerprints()[0]["payload"]["git_branch"] == CLEAN
    # In a path segment too: no UnicodeEncodeError from the percent-encoding.
    assert api.people.get(person_id=LONE).person_id == CLEAN
    assert api.people.update(person_id=LONE, properties={"f": LONE}).properties == {"f": CLEAN}


def test_api_client_degrades_only_the_bad_value(
    api: ApiClient, voker_server: Any, closed_shelf: Any
) -> None:
    fingerprint = api.fingerprints.create().fingerprint_id
    api.events.create(
        event_name="calc",
        properties={"user": "u1", "result": HUGE, "cache": closed_shelf},
        session="s",
        fingerprint_id=fingerprint,
    )
    [event] = voker_server.events()
    assert event["properties"]["user"] == "u1"
    assert event["properties"]["result"] == HUGE_TEXT
    assert event["properties"]["cache"].startswith("<shelve.")
    person = api.people.create(person_id="p", properties={"plan": "pro", "score": HUGE})
    assert person.properties == {"plan": "pro", "score": HUGE_TEXT}
