"""What every step of the demo gets (`Demo`) and gives back (`StepResult`).

Usage::

    def run(demo: Demo) -> StepResult:
        demo.out.step("Flask: anonymous visitor", "wrapped Anthropic client")
        ...
        return StepResult("flask", agent="support-bot", sessions={session}, expected_llm=2)
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from voker_core.devserver import DevServer

from .console import Console
from .services import CeleryWorker

API_KEY = "demo-key"  # the devserver accepts any key; the SDK still wants one


@dataclass
class Demo:
    """Shared state of one demo run."""

    out: Console
    devserver: DevServer
    workdir: Path  # temporary files (the Django database, the worker's log)
    stack: contextlib.ExitStack  # everything started, stopped in reverse order
    real_openai: bool = False
    real_anthropic: bool = False
    redis_url: str | None = None  # None: Celery runs its task eagerly
    worker: CeleryWorker | None = None


@dataclass
class StepResult:
    """What a step expects to find on the devserver afterwards."""

    name: str
    agent: str
    sessions: set[str] = field(default_factory=set)
    expected_llm: int = 1
    person: str | None = None  # the person of every llm event of the step (None: anonymous)


class StepFailed(RuntimeError):
    """A step could not finish; the message says why (printed without a traceback)."""
