"""Read back what landed on the devserver (over its HTTP API), check it, and print the table.

Usage::

    landed = Landed.fetch(devserver.base_url, api_key)
    problems = check(steps, landed)            # [] when every step recorded what it should
    print(render_table(steps, landed))
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from .runtime import StepResult

PAGE = 1000


@dataclass
class Landed:
    """Every event and person stored on the devserver."""

    events: list[dict[str, Any]]
    people: dict[str, dict[str, Any]]

    @classmethod
    def fetch(cls, base_url: str, api_key: str) -> Landed:
        with requests.Session() as http:
            http.headers["Authorization"] = f"Bearer {api_key}"
            events: list[dict[str, Any]] = []
            while True:
                page = http.get(
                    f"{base_url}/api/v1/events",
                    params={"limit": PAGE, "offset": len(events)},
                    timeout=10,
                )
                page.raise_for_status()
                body = page.json()
                events += body["events"]
                if not body["events"] or len(events) >= body["total"]:
                    break
            people = http.get(f"{base_url}/api/v1/people", params={"limit": PAGE}, timeout=10)
            people.raise_for_status()
        return cls(events, {p["person_id"]: p["properties"] for p in people.json()["people"]})

    def llm_events(self, agent: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event_name"] == "llm" and e["agent"] == agent]


def check(steps: Sequence[StepResult], landed: Landed) -> list[str]:
    """What is missing or wrong, one sentence per problem (empty: all good)."""
    problems = []
    for step in steps:
        events = landed.llm_events(step.agent)
        if not events:
            problems.append(f"{step.name}: nothing recorded (no llm event of agent {step.agent!r})")
            continue
        if len(events) != step.expected_llm:
            problems.append(
                f"{step.name}: {len(events)} llm event(s) of agent {step.agent!r}, "
                f"expected {step.expected_llm}"
            )
        sessions = {e["session"] for e in events}
        if step.sessions and sessions != step.sessions:
            problems.append(
                f"{step.name}: events in sessions {sorted(sessions)}, expected "
                f"{sorted(step.sessions)}"
            )
        elif len(sessions) != 1:
            problems.append(f"{step.name}: one conversation split over {len(sessions)} sessions")
        people = {e["person"] for e in events}
        if people != {step.person}:
            problems.append(
                f"{step.name}: events of person(s) {sorted(map(str, people))}, "
                f"expected {step.person!r}"
            )
    return problems


def wait_for(steps: Sequence[StepResult], fetch: Callable[[], Landed], timeout: float) -> Landed:
    """Fetch until every step's llm events are there (workers deliver on their own) or timeout."""
    deadline = time.monotonic() + timeout
    while True:
        landed = fetch()
        done = all(len(landed.llm_events(s.agent)) >= s.expected_llm for s in steps)
        if done or time.monotonic() > deadline:
            return landed
        time.sleep(0.1)


def _person_label(person: str | None, people: dict[str, dict[str, Any]]) -> str:
    if person is None:
        return "anonymous"
    properties = people.get(person) or {}
    name = properties.get("username") or properties.get("name")
    return f"{person} ({name})" if name else person


def _short(text: str, width: int = 18) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


HEADER = ("step", "session", "agent", "person", "events", "llm", "tokens", "mean latency")
RIGHT_ALIGNED = frozenset(HEADER[4:])


def rows(steps: Sequence[StepResult], landed: Landed) -> list[tuple[str, ...]]:
    """One row per session, in step order (columns as in `HEADER`)."""
    table: list[tuple[str, ...]] = []
    for step in steps:
        for session in dict.fromkeys(e["session"] for e in landed.llm_events(step.agent)):
            events = [e for e in landed.events if e["session"] == session]
            llm = [e for e in events if e["event_name"] == "llm"]
            last = llm[-1]
            version = f"/{last['agent_version']}" if last["agent_version"] else ""
            usages = [e["properties"].get("usage") or {} for e in llm]
            latencies = [
                e["properties"]["latency_ms"]
                for e in llm
                if isinstance(e["properties"].get("latency_ms"), (int, float))
            ]
            table.append(
                (
                    step.name,
                    _short(session),
                    f"{last['agent']}{version}",
                    _person_label(last["person"], landed.people),
                    str(len(events)),
                    str(len(llm)),
                    str(sum(usage.get("total_tokens") or 0 for usage in usages)),
                    f"{sum(latencies) / len(latencies):.0f} ms" if latencies else "-",
                )
            )
    return table


def render_table(steps: Sequence[StepResult], landed: Landed) -> str:
    """The summary table as text, one session per line."""
    body = rows(steps, landed)
    widths = [max(len(row[i]) for row in [HEADER, *body]) for i in range(len(HEADER))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(width) if name in RIGHT_ALIGNED else cell.ljust(width)
            for name, cell, width in zip(HEADER, cells, widths, strict=True)
        ).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(HEADER), rule, *(line(row) for row in body)])
