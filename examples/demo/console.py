"""The demo's user-facing output: one progress line per step, a few indented details.

Usage::

    out = Console(total_steps=8)
    out.step("Voker devserver", "http://127.0.0.1:8787")   # [1/8] Voker devserver  http://...
    out.detail("grace", "My order has not arrived")        #       grace: My order has not ...
    out.note("redis-server not found: running the task eagerly")

Lines are flushed at once so that progress shows while a step runs (and when piped).
"""

from __future__ import annotations

import sys
import textwrap
from typing import TextIO

WIDTH = 100


class Console:
    """Numbered progress lines and indented details on ``stream`` (stdout by default)."""

    def __init__(self, total_steps: int, stream: TextIO | None = None) -> None:
        self.total = total_steps
        self.number = 0
        self.current = ""  # the running step, "[n/total] title", for failure messages
        self.stream = stream if stream is not None else sys.stdout

    def line(self, text: str = "") -> None:
        print(text, file=self.stream, flush=True)

    def step(self, title: str, info: str = "") -> None:
        """Start the next numbered step."""
        self.number += 1
        self.current = f"[{self.number}/{self.total}] {title}"
        self.line(f"{self.current:<41} {info}".rstrip())

    def detail(self, who: str, text: str) -> None:
        """An indented ``who: text`` line, wrapped to the terminal width."""
        first = f"      {who:>6}: "
        self.line(
            textwrap.fill(text, WIDTH, initial_indent=first, subsequent_indent=" " * len(first))
        )

    def note(self, text: str) -> None:
        """An indented remark (fallbacks, real providers in use)."""
        self.line(textwrap.fill(text, WIDTH, initial_indent="      ", subsequent_indent="      "))
