"""The demo's verdict: a step whose events did not land (or landed wrongly) fails the demo, by name.

``examples.demo.summary.check`` decides the demo's exit status from what the devserver returned;
these events have the devserver's read shape.
"""

from __future__ import annotations

from typing import Any

from examples.demo.runtime import StepResult
from examples.demo.summary import HEADER, Landed, check, render_table


def _llm(session: str, agent: str, person: str | None, tokens: int = 10) -> dict[str, Any]:
    return {
        "event_name": "llm",
        "session": session,
        "agent": agent,
        "agent_version": "v1",
        "person": person,
        "properties": {"usage": {"total_tokens": tokens}, "latency_ms": 250.0},
    }


STEPS = [
    StepResult("Django", agent="demo-chat", sessions={"s-django"}, expected_llm=2, person="1"),
    StepResult("Celery", agent="ticket-triage", sessions={"s-task"}, person="customer-17"),
]


def test_all_recorded_means_no_problem_and_a_row_per_session() -> None:
    landed = Landed(
        events=[
            _llm("s-django", "demo-chat", "1", 30),
            _llm("s-django", "demo-chat", "1", 12),
            _llm("s-task", "ticket-triage", "customer-17"),
        ],
        people={"1": {"username": "grace"}},
    )
    assert check(STEPS, landed) == []
    lines = render_table(STEPS, landed).splitlines()
    assert lines[0].split() == " ".join(HEADER).split()
    django_row = ["Django", "s-django", "demo-chat/v1", "1", "(grace)", "2", "2", "42", "250", "ms"]
    assert lines[2].split() == django_row
    assert lines[3].split()[:4] == ["Celery", "s-task", "ticket-triage/v1", "customer-17"]


def test_a_step_that_recorded_nothing_is_named() -> None:
    landed = Landed(
        events=[_llm("s-django", "demo-chat", "1"), _llm("s-django", "demo-chat", "1")],
        people={},
    )
    assert check(STEPS, landed) == [
        "Celery: nothing recorded (no llm event of agent 'ticket-triage')"
    ]


def test_a_task_call_outside_the_request_session_or_person_is_a_problem() -> None:
    landed = Landed(
        events=[
            _llm("s-django", "demo-chat", "1"),
            _llm("s-django", "demo-chat", "1"),
            _llm("s-other", "ticket-triage", None),
        ],
        people={},
    )
    problems = check(STEPS, landed)
    assert len(problems) == 2
    assert problems[0].startswith("Celery: events in sessions ['s-other'], expected ['s-task']")
    assert problems[1] == "Celery: events of person(s) ['None'], expected 'customer-17'"


def test_a_missing_turn_is_a_problem() -> None:
    landed = Landed(
        events=[_llm("s-django", "demo-chat", "1"), _llm("s-task", "ticket-triage", "customer-17")],
        people={},
    )
    assert check(STEPS, landed) == ["Django: 1 llm event(s) of agent 'demo-chat', expected 2"]
