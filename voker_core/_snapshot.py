"""Cheap structural copies of call arguments, taken on the caller's thread.

Serialisation happens later on the delivery worker, so what we keep must not change when the
application mutates its own lists and dicts afterwards (the common ``messages.append(reply)``
right after a call). Copying the containers is enough: strings and numbers are immutable, and
provider objects (pydantic models) are not mutated in place by ordinary code.
"""

from __future__ import annotations

from typing import Any

__all__ = ["snapshot"]

_MAX_DEPTH = 64


def snapshot(value: Any, _depth: int = 0) -> Any:
    """Copy dicts, lists and tuples recursively; keep every other object as it is.

    Cycles and absurd nesting stop the copy at ``_MAX_DEPTH`` (the serialiser cuts them later).
    """
    if _depth >= _MAX_DEPTH:
        return value
    cls = type(value)
    if cls is dict:
        return {k: snapshot(v, _depth + 1) for k, v in value.items()}
    if cls is list:
        return [snapshot(v, _depth + 1) for v in value]
    if cls is tuple:
        return tuple(snapshot(v, _depth + 1) for v in value)
    return value
