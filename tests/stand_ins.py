"""Stand-in objects the tests hand to the SDK in place of real ones."""

from __future__ import annotations

from typing import Any


class _BrokenEvents:
    def create(self, **kwargs: Any) -> None:
        raise RuntimeError("broken Voker client")


class BrokenVokerClient:
    """A stand-in Voker client (its public ``events.create``) whose every use fails: recording
    must not disturb the call it records."""

    capture_content = True
    events = _BrokenEvents()
