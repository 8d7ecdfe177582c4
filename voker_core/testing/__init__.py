"""Test helpers for applications that use Voker (and for this project's own suite).

The pytest plugin (``voker_core.testing.plugin``, registered through the ``pytest11`` entry point)
provides the ``voker_server`` and ``voker_env`` fixtures. Outside pytest::

    from voker_core.testing import voker_test_server

    with voker_test_server() as server:
        ...                                   # send events to server.base_url
        server.wait_for_events(1, session="s1")

Names are imported lazily so that loading the plugin in every pytest run stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from voker_core.testing.server import VokerTestServer, voker_test_server

__all__ = ["VokerTestServer", "voker_test_server"]

_LAZY = {
    "VokerTestServer": "voker_core.testing.server",
    "voker_test_server": "voker_core.testing.server",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
