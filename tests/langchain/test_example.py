"""The LangChain example runs offline and records what it says it records."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "langchain_agent" / "agent.py"


def test_example_agent_runs_and_records_its_events() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOKER_")}
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)], env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "agent: Light rain and 9°C in Oslo: take an umbrella." in result.stdout
    assert "all events recorded" in result.stdout
