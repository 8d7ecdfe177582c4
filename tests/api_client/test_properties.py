"""Property-based tests of record parsing and path encoding."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import unquote

from hypothesis import given
from hypothesis import strategies as st

from voker_core._transport import encode_path
from voker_core.types import Agent, Person, parse_datetime

aware = st.datetimes(
    min_value=datetime(1971, 1, 1),
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from(
        [timezone.utc, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
    ),
)


@given(aware)
def test_offset_timestamps_parse_to_the_same_instant(moment: datetime) -> None:
    assert parse_datetime(moment.isoformat()) == moment


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)))
def test_z_timestamps_are_utc(moment: datetime) -> None:
    text = moment.isoformat() + "Z"
    parsed = parse_datetime(text)
    assert parsed == moment.replace(tzinfo=timezone.utc)


@given(st.integers(min_value=1, max_value=9), aware)
def test_any_fraction_length_parses(digits: int, moment: datetime) -> None:
    base = moment.replace(microsecond=0, tzinfo=None).isoformat()
    text = f"{base}.{'1' * digits}Z"
    parsed = parse_datetime(text)
    assert parsed is not None and parsed.tzinfo is not None


@given(st.text(min_size=1), st.integers(min_value=0, max_value=10**9), aware)
def test_agent_round_trips_from_json(name: str, number: int, created: datetime) -> None:
    agent = Agent.from_dict(
        {
            "agent_name": name,
            "description": None,
            "agent_number": number,
            "created_at": created.isoformat(),
            "deprecated_at": None,
        }
    )
    assert (agent.agent_name, agent.agent_number, agent.created_at) == (name, number, created)


@given(
    st.dictionaries(st.text(), st.one_of(st.none(), st.integers(), st.text(), st.booleans())),
    aware,
)
def test_person_properties_survive(properties: dict[str, object], created: datetime) -> None:
    person = Person.from_dict(
        {"person_id": "p", "properties": properties, "created_at": created.isoformat()}
    )
    assert person.properties == properties


@given(st.text(min_size=1))
def test_encoded_segment_is_one_segment_and_decodes_back(segment: str) -> None:
    encoded = encode_path(segment)
    assert "/" not in encoded and "?" not in encoded and "#" not in encoded
    assert unquote(encoded, errors="surrogatepass") == segment or max(segment) >= "\ud800"
