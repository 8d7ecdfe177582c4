"""The Flask example (``python -m examples.flask_app``, run by ``make demo``) works offline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_example_walkthrough_records_every_call() -> None:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("VOKER_", "ANTHROPIC_", "OPENAI_"))
    }
    result = subprocess.run(
        [sys.executable, "-m", "examples.flask_app"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Voker recorded 5 llm event(s)" in result.stdout
    assert "session=ticket-5678" in result.stdout
    assert "walkthrough OK" in result.stdout
