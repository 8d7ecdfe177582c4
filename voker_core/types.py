"""Records returned by :class:`voker_core.ApiClient`.

Each record is a frozen dataclass whose fields mirror the Voker API; timestamps are parsed into
timezone-aware :class:`datetime.datetime` objects (``Z`` and ``+hh:mm`` offsets both accepted).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

__all__ = ["Agent", "AgentVersion", "Fingerprint", "Person", "parse_datetime"]

# Python 3.10's fromisoformat() rejects "Z" and fractions that are not 3 or 6 digits long, so
# normalise those two cases before handing the string over.
_FRACTION = re.compile(r"\.(\d+)")


def parse_datetime(value: Any) -> datetime | None:
    """Parse an ISO-8601 timestamp from the API into an aware ``datetime``.

    ``None`` stays ``None``; a ``datetime`` passes through. A timestamp without an offset is
    taken as UTC. Raises ``ValueError`` for a string that is not ISO-8601.

    >>> parse_datetime("2024-05-01T10:00:00Z").isoformat()
    '2024-05-01T10:00:00+00:00'
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        text = value.strip()
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"
        text = _FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], text, count=1)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"not an ISO-8601 timestamp: {value!r}") from None
    else:
        raise ValueError(f"not an ISO-8601 timestamp: {value!r}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


def _require(data: Mapping[str, Any], key: str, record: str) -> Any:
    try:
        return data[key]
    except KeyError:
        raise ValueError(f"{record} response is missing {key!r}: {dict(data)!r}") from None


@dataclass(frozen=True)
class Agent:
    """An AI agent registered in Voker."""

    agent_name: str
    description: str | None
    agent_number: int
    created_at: datetime
    deprecated_at: datetime | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Agent:
        created = parse_datetime(_require(data, "created_at", "Agent"))
        assert created is not None
        return cls(
            agent_name=str(_require(data, "agent_name", "Agent")),
            description=data.get("description"),
            agent_number=int(_require(data, "agent_number", "Agent")),
            created_at=created,
            deprecated_at=parse_datetime(data.get("deprecated_at")),
        )


@dataclass(frozen=True)
class AgentVersion:
    """One version of an agent (for example a prompt revision)."""

    agent_version_name: str
    description: str | None
    agent_version_number: int
    created_at: datetime
    deprecated_at: datetime | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AgentVersion:
        created = parse_datetime(_require(data, "created_at", "AgentVersion"))
        assert created is not None
        return cls(
            agent_version_name=str(_require(data, "agent_version_name", "AgentVersion")),
            description=data.get("description"),
            agent_version_number=int(_require(data, "agent_version_number", "AgentVersion")),
            created_at=created,
            deprecated_at=parse_datetime(data.get("deprecated_at")),
        )


@dataclass(frozen=True)
class Person:
    """An end user of the host application, tracked in Voker by the application's own id."""

    person_id: str
    properties: dict[str, Any] | None
    created_at: datetime

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Person:
        created = parse_datetime(_require(data, "created_at", "Person"))
        assert created is not None
        properties = data.get("properties")
        return cls(
            person_id=str(_require(data, "person_id", "Person")),
            properties=dict(properties) if isinstance(properties, Mapping) else None,
            created_at=created,
        )


@dataclass(frozen=True)
class Fingerprint:
    """An anonymous identifier of the process that sends events."""

    fingerprint_id: str

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fingerprint:
        return cls(fingerprint_id=str(_require(data, "fingerprint_id", "Fingerprint")))
