"""The ``voker_*`` keywords every wrapped provider call takes, as a ``TypedDict`` for type
checkers (the provider modules add them to the SDKs' own request types)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from typing_extensions import TypedDict

__all__ = ["VokerArgs"]


class VokerArgs(TypedDict, total=False):
    """The Voker keywords every wrapped call accepts (removed before the provider is called).

    ``voker_agent`` and ``voker_session`` are required unless the current
    ``voker_core.context(...)`` provides them.
    """

    voker_agent: str
    voker_session: str
    voker_agent_version: str
    voker_person: str
    voker_properties: Mapping[str, Any]
