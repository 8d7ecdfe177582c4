"""Targets for multiprocessing children in ``test_processes.py`` (importable by name, as the
``forkserver`` and ``spawn`` start methods need)."""

from __future__ import annotations

import os
import sys

from voker_core import VokerClient


def record(base_url: str, session: str, count: int, how: str) -> None:
    """Queue ``count`` events on a new client, then end the child as ``how`` says."""
    client = VokerClient(api_key="k", base_url=base_url)
    for i in range(count):
        client.events.create(event_name="child", properties={"i": i}, session=session)
    if how == "exit":
        sys.exit(0)
    if how == "_exit":
        os._exit(0)
    # "return": the target returns, as most do
