"""The caller-thread copy of event properties: cheap, structural, never raises.

``VokerClient`` copies what the caller hands it before returning, so that mutating a dict after
``events.create(...)`` does not change what is sent. Only containers are copied (dicts, lists and
other mappings, tuples; sets become lists); everything else is kept by reference and converted to JSON
later, on the delivery worker, by :func:`voker_core.serialize.to_jsonable`. Cyclic and shared
containers keep their shape (a memo maps each original to its copy) — except that a dict of
plain values inside a list (a chat message: the hot path, about 0.2 µs each) is copied directly,
so one such dict listed twice becomes two equal copies. Copying stops below
:data:`SNAPSHOT_DEPTH` levels, past the depth the serialiser keeps anyway.

>>> original = {"messages": [{"role": "user", "content": "hi"}]}
>>> copy = snapshot(original)
>>> original["messages"].append({"role": "assistant", "content": "hello"})
>>> len(copy["messages"])
1

:func:`freeze` is the cheaper copy for a value read back once, later: plain data (dicts, lists,
tuples, strings, numbers... - a chat request's arguments, typically) is marshalled in one
C-level pass, about four times faster than walking it, and :func:`thaw` rebuilds an equal value
on the delivery thread. Anything marshal does not take falls back to :func:`snapshot`.

>>> frozen = freeze(original)
>>> original["messages"].clear()
>>> thaw(frozen)["messages"][0]["content"]
'hi'
"""

from __future__ import annotations

import marshal
from collections.abc import Mapping
from typing import Any

from voker_core.serialize import MAX_DEPTH

__all__ = ["SNAPSHOT_DEPTH", "Frozen", "freeze", "snapshot", "thaw"]

SNAPSHOT_DEPTH = MAX_DEPTH + 2

_ATOMIC = frozenset({str, int, float, bool, type(None), bytes})
# Containers freeze() hands to marshal (which refuses the whole value if anything inside is not
# plain data; raising costs more than not trying, so other objects skip it).
_MARSHALLED = frozenset({dict, list, tuple, set, frozenset})


def snapshot(value: Any) -> Any:
    """Copy the containers of ``value`` (see the module docstring)."""
    if type(value) in _ATOMIC:
        return value
    try:
        return _copy(value, 0, {})
    except RuntimeError:
        # Another thread resized a dict while we walked it; its C-level copy() is atomic.
        try:
            return _copy(_shallow(value), 0, {})
        except Exception:
            return value
    except Exception:
        return value


class Frozen(bytes):
    """A marshalled copy of plain data; :func:`thaw` turns it back into a value.

    A ``bytes`` subclass, so that making one runs no Python code (this is on every recorded
    call's path)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<frozen {len(self)} bytes>"


def freeze(value: Any) -> Any:
    """A copy of ``value`` that later changes to ``value`` do not reach, for :func:`thaw`.

    Exact dicts, lists, tuples, sets, strings, bytes, numbers, bools and None are marshalled
    (one atomic C-level pass; strings are copied too). Anything else - a pydantic model, an
    enum, a ``str`` subclass, a provider sentinel - makes marshal refuse the whole value, which
    is then copied by :func:`snapshot` instead.
    """
    if type(value) not in _MARSHALLED:
        return snapshot(value)  # atomic values as they are; other objects without a try
    try:
        return Frozen(marshal.dumps(value))
    except Exception:  # ValueError: an object marshal does not take (or nesting too deep)
        return snapshot(value)


def thaw(value: Any) -> Any:
    """The value a :func:`freeze` copy stands for (a fresh copy each call); other values as
    they are."""
    if type(value) is Frozen:
        return marshal.loads(value)
    return value


def _shallow(value: Any) -> Any:
    if isinstance(value, dict):
        return value.copy()
    if isinstance(value, list):
        return value[:]
    return value


def _copy(value: Any, depth: int, memo: dict[int, Any]) -> Any:
    cls = type(value)
    if cls in _ATOMIC or depth > SNAPSHOT_DEPTH:
        return value
    ident = id(value)
    done = memo.get(ident)
    if done is not None:
        return done
    # The C-level copies do most of the work; only values that are themselves containers (or
    # other objects) are visited again.
    if cls is dict:
        out: dict[Any, Any] = value.copy()
        memo[ident] = out
        # A leaf (every value atomic, the usual chat message) is checked at C speed.
        if not _ATOMIC.issuperset(map(type, out.values())):
            for key, item in out.items():
                if type(item) not in _ATOMIC:
                    out[key] = _copy(item, depth + 1, memo)
        return out
    if cls is list:
        items: list[Any] = value[:]
        memo[ident] = items
        if not _ATOMIC.issuperset(map(type, items)):
            for index, item in enumerate(items):
                if type(item) is dict and _ATOMIC.issuperset(map(type, item.values())):
                    # A leaf dict (a chat message) cannot be part of a cycle: copy it without
                    # the memo. The same leaf listed twice becomes two equal copies.
                    items[index] = item.copy()
                elif type(item) not in _ATOMIC:
                    items[index] = _copy(item, depth + 1, memo)
        return items
    if isinstance(value, Mapping) and not hasattr(value, "model_dump"):
        mapped: dict[Any, Any] = {}
        memo[ident] = mapped
        for key, item in value.items():
            mapped[key] = item if type(item) in _ATOMIC else _copy(item, depth + 1, memo)
        return mapped
    if isinstance(value, (list, set, frozenset)):
        listed: list[Any] = []
        memo[ident] = listed
        for item in value:
            listed.append(item if type(item) in _ATOMIC else _copy(item, depth + 1, memo))
        return listed
    if cls is tuple:
        # Tuples stay tuples (callers may rely on the type); a tuple cannot contain itself
        # without a mutable container in between, which the memo handles.
        return tuple(
            item if type(item) in _ATOMIC else _copy(item, depth + 1, memo) for item in value
        )
    return value
