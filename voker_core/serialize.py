"""Turn anything an application hands us into a JSON-safe value, without ever raising.

Every event property goes through :func:`to_jsonable` on the delivery worker (never on the
caller's thread), so provider responses, pydantic models, dataclasses and the like can be passed
as they are::

    >>> from datetime import datetime, timezone
    >>> to_jsonable({"at": datetime(2024, 5, 1, tzinfo=timezone.utc), "tags": {"a"}})
    {'at': '2024-05-01T00:00:00+00:00', 'tags': ['a']}
    >>> to_jsonable({"image": "data:image/png;base64," + "A" * 5000}, max_bytes=200)["image"]
    'data:image/png;base64,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA…[truncated 4968 chars]'

Rules:

- JSON input (dicts with string keys, lists, strings, finite numbers, bools, None) comes back
  equal to what went in, except what no JSON encoder can write: an unpaired UTF-16 surrogate
  in a string (``os.fsdecode`` of a file name with an undecodable byte gives one) becomes
  U+FFFD, and an int of more than 4300 digits (Python's default limit for ``str()`` of an int,
  which ``json`` obeys) becomes a string giving its magnitude,
  ``"3.31628e+5735…[integer of 5736 digits]"``.
- Pydantic v2 models use ``model_dump(mode="json")``; dataclasses become dicts of their fields;
  datetimes/dates/times become ISO-8601 strings; bytes become base64 text; sets, frozensets,
  tuples and deques become lists; enums become their value; UUID, Decimal and paths become
  strings; objects with ``to_dict()`` / ``model_dump()`` / ``dict()`` are converted through it.
- Provider "not given" sentinels (OpenAI's ``NotGiven``/``Omit``, Anthropic's ``NotGiven``) are
  recognised by class name, without importing the SDKs: dict entries holding one are left out.
- Reference cycles and nesting deeper than :data:`MAX_DEPTH` are cut with a marker string.
- Anything else becomes its ``repr``; a ``repr`` that raises becomes ``"<unrepresentable T>"``.
  A value whose conversion fails (a closed ``shelve`` whose ``items()`` raises, say) becomes
  its ``repr`` in the same way, alone: the other entries of its container are kept.
- With ``max_bytes``, the encoded size is capped: base64 blobs and data URLs are shortened first,
  then the longest strings and dict keys, each keeping a prefix and a visible
  ``"…[truncated N chars]"`` marker; then long containers are cut too. A dict stays a dict and a
  list a list whatever it takes (the API rejects ``properties`` that are not an object): the last
  resort is ``{"…": "<the start of its JSON>…[truncated N chars]"}``.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import enum
import json
import logging
import math
import re
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import PurePath
from typing import Any

__all__ = ["MAX_DEPTH", "to_jsonable", "utf8_safe"]

logger = logging.getLogger("voker")

MAX_DEPTH = 32
"""Containers nested deeper than this are replaced by a marker."""

CYCLE_MARKER = "…[circular reference]"
DEPTH_MARKER = f"…[nested deeper than {MAX_DEPTH} levels]"

# Class names of the "argument not given" sentinels of the provider SDKs. Matching by name keeps
# this module free of SDK imports (and keeps working when an SDK moves the class).
_SENTINEL_NAMES = frozenset(
    {"NotGiven", "NotGivenType", "_NotGiven", "Omit", "_Omit", "PydanticUndefinedType"}
)

_SCALARS = (str, int, float, bool, type(None))

_REPR_LIMIT = 10_000


class _Skip:
    """Returned for a sentinel: the enclosing dict leaves the key out, a list writes null."""


_SKIP = _Skip()


def _is_sentinel(obj: Any) -> bool:
    return type(obj).__name__ in _SENTINEL_NAMES


def utf8_safe(text: str) -> str:
    r"""``text`` with every unpaired UTF-16 surrogate replaced by U+FFFD, so that it encodes as
    UTF-8 (a surrogate pair spelled as two code points becomes the character it encodes).

    Cheap for the usual string: an ASCII one is returned after an O(1) check, and only a string
    that fails to encode is rebuilt.

    >>> utf8_safe("report-\udcff.pdf") == "report-\ufffd.pdf"
    True
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # UTF-16 can carry surrogates (with surrogatepass); decoding it back pairs what pairs
        # and replaces the rest.
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def _safe_repr(obj: Any) -> str:
    try:
        text = repr(obj)
    except Exception:
        return f"<unrepresentable {type(obj).__name__}>"
    if not isinstance(text, str):  # a broken __repr__ returning something else
        return f"<unrepresentable {type(obj).__name__}>"
    if len(text) > _REPR_LIMIT:
        text = text[:_REPR_LIMIT] + f"…[truncated {len(text) - _REPR_LIMIT} chars]"
    return utf8_safe(text)


def _fallback(obj: Any) -> str:
    """What a value becomes when converting it raised: its ``repr``, as for unknown objects."""
    logger.debug("voker: could not convert %s to JSON", type(obj).__name__, exc_info=True)
    return _safe_repr(obj)


# Ints longer than this many digits are sent as a string: it is Python's default limit for
# int -> str, which json.dumps obeys, and so does json.loads on a server written in Python.
_MAX_INT_DIGITS = 4300
# Ints this short always print: every int -> str limit Python allows is at least 640 digits.
_PRINTABLE_INT_BITS = 2000
_SHORT_INT = 1 << _PRINTABLE_INT_BITS


def _int(value: int) -> int | str:
    """``value``, or when it is too long to put in JSON (more than :data:`_MAX_INT_DIGITS`
    digits, or more than this interpreter lets ``str()`` write), a string giving its magnitude
    and length: ``"3.31628e+5735…[integer of 5736 digits]"``.

    The digits come from ``math.log10``, which is O(1): the exact decimal conversion of a huge
    int is quadratic (the very cost Python's limit is there to avoid).
    """
    if value.bit_length() <= _PRINTABLE_INT_BITS:
        return value
    log = math.log10(abs(value))
    exponent = math.floor(log)
    if exponent < _MAX_INT_DIGITS:
        try:
            str(value)  # what json.dumps will do: it fails past a lowered local limit
        except ValueError:
            pass
        else:
            return value
    mantissa = f"{10 ** (log - exponent):.5f}"
    if mantissa.startswith("10"):  # rounded up to the next power of ten
        mantissa, exponent = "1.00000", exponent + 1
    sign = "-" if value < 0 else ""
    return f"{sign}{mantissa}e+{exponent}…[integer of {exponent + 1} digits]"


def _float(value: float) -> float | str:
    if math.isfinite(value):
        return value
    # NaN/Infinity are not JSON; keep them readable instead of producing invalid JSON.
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _key(key: Any) -> str:
    """A dict key as JSON has it: ``json.dumps`` spells None/bool/number keys this way too."""
    if isinstance(key, str):
        return utf8_safe(str(key))
    if isinstance(key, enum.Enum):
        return _key(key.value)
    if key is None or isinstance(key, bool):
        return json.dumps(key)
    if isinstance(key, int):
        return str(_int(int(key)))
    if isinstance(key, float):
        converted = _float(key)
        return converted if isinstance(converted, str) else repr(converted)
    if isinstance(key, (uuid.UUID, Decimal, PurePath, _dt.date, _dt.time)):
        return utf8_safe(str(key))
    return _safe_repr(key)


def _converter_method(obj: Any) -> Callable[[], Any] | None:
    """A method that turns an object into plain data, if it has a well-known one."""
    cls = type(obj)
    if callable(getattr(cls, "model_dump", None)):
        return lambda: _model_dump(obj)
    for name in ("to_dict", "dict", "tolist"):
        if callable(getattr(cls, name, None)):
            return getattr(obj, name)  # type: ignore[no-any-return]
    return None


def _model_dump(obj: Any) -> Any:
    # warnings=False: a field holding a value of another type than declared (openai's
    # ParsedChatCompletion.parsed, say) must not make pydantic warn in the user's logs.
    try:
        return obj.model_dump(mode="json", warnings=False)
    except TypeError:
        pass  # a model_dump() of another library, without these keywords
    except Exception:
        # A field pydantic cannot put in JSON mode (an arbitrary type): dump to Python objects
        # and let the converter handle the rest.
        try:
            return obj.model_dump(warnings=False)
        except TypeError:
            pass
    try:
        return obj.model_dump(mode="json")
    except Exception:
        return obj.model_dump()


class _Converter:
    """One conversion: tracks the containers on the current path to cut cycles.

    ``check_text=False`` leaves string values unchecked for lone surrogates: the caller finds
    them when it encodes the result anyway (:func:`_fit` does) and cleans up only then.
    """

    __slots__ = ("_active", "_check_text")

    def __init__(self, *, check_text: bool) -> None:
        self._active: set[int] = set()
        self._check_text = check_text

    def convert(self, obj: Any, depth: int) -> Any:
        # Exact-type checks first: the overwhelmingly common JSON case stays cheap.
        cls = type(obj)
        if cls is str:
            # isascii() is O(1): only other text pays for the check for lone surrogates.
            return utf8_safe(obj) if self._check_text and not obj.isascii() else obj
        if cls is bool or obj is None:
            return obj
        if cls is int:
            return obj if -_SHORT_INT < obj < _SHORT_INT else _int(obj)
        if cls is float:
            return _float(obj)
        if cls is dict or cls is list:
            return self._container(obj, depth)
        if isinstance(obj, enum.Enum):
            return self.convert(obj.value, depth)
        if isinstance(obj, str):
            return utf8_safe(str(obj))
        if isinstance(obj, bool):
            return bool(obj)
        if isinstance(obj, int):
            return _int(int(obj))
        if isinstance(obj, float):
            return _float(float(obj))
        if _is_sentinel(obj):
            return _SKIP
        if isinstance(obj, _dt.datetime | _dt.date | _dt.time):
            return obj.isoformat()
        if isinstance(obj, _dt.timedelta):
            return obj.total_seconds()
        if isinstance(obj, (bytes, bytearray, memoryview)):
            return base64.b64encode(bytes(obj)).decode("ascii")
        if isinstance(obj, (uuid.UUID, Decimal, PurePath)):
            return utf8_safe(str(obj))  # a path may hold an undecodable byte
        if isinstance(obj, tuple) and hasattr(cls, "_fields") and hasattr(cls, "_asdict"):
            return self._nested(obj, depth, obj._asdict)  # type: ignore[attr-defined]  # namedtuple: a dict reads best
        if isinstance(obj, (Mapping, list, tuple, set, frozenset, deque)):
            return self._container(obj, depth)
        if isinstance(obj, type):
            return _safe_repr(obj)
        if dataclasses.is_dataclass(obj):
            return self._nested(
                obj,
                depth,
                lambda: {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)},
            )
        method = _converter_method(obj)
        if method is not None:
            return self._nested(obj, depth, method)
        return _safe_repr(obj)

    def _nested(self, obj: Any, depth: int, produce: Callable[[], Any]) -> Any:
        """Convert what ``produce`` returns, treating ``obj`` as a container for cycle checks."""
        ident = id(obj)
        if ident in self._active:
            return CYCLE_MARKER
        if depth >= MAX_DEPTH:
            return DEPTH_MARKER
        self._active.add(ident)
        try:
            try:
                plain = produce()
            except Exception:
                return _safe_repr(obj)
            if plain is obj:
                return _safe_repr(obj)
            # depth + 1: a method returning yet another convertible object must not recurse
            # without bound.
            result = self.convert(plain, depth + 1)
            return None if result is _SKIP else result
        finally:
            self._active.discard(ident)

    def _container(self, obj: Any, depth: int) -> Any:
        ident = id(obj)
        if ident in self._active:
            return CYCLE_MARKER
        if depth >= MAX_DEPTH:
            return DEPTH_MARKER
        self._active.add(ident)
        try:
            # Each entry is converted on its own: one that fails becomes its repr, and the rest
            # of the container (an event's other properties) is kept.
            if isinstance(obj, Mapping):
                out: dict[str, Any] = {}
                for key, value in list(obj.items()):
                    try:
                        converted = self.convert(value, depth + 1)
                    except Exception:
                        converted = _fallback(value)
                    if converted is not _SKIP:
                        out[_key(key)] = converted
                return out
            items = list(obj)
            if isinstance(obj, (set, frozenset)):
                try:
                    items = sorted(items)
                except Exception:
                    pass  # unorderable members: keep iteration order
            result = []
            for item in items:
                try:
                    converted = self.convert(item, depth + 1)
                except Exception:
                    converted = _fallback(item)
                result.append(None if converted is _SKIP else converted)
            return result
        finally:
            self._active.discard(ident)


def to_jsonable(obj: Any, *, max_bytes: int | None = None) -> Any:
    """Return a JSON-safe copy of ``obj`` (see the module docstring). Never raises.

    ``max_bytes`` caps the UTF-8 size of ``json.dumps`` of the result by truncating strings
    (blobs first) and, if that is not enough, containers, always with a visible marker.
    """
    try:
        # With a size cap, _fit encodes the result anyway: lone surrogates are found there.
        value = _Converter(check_text=max_bytes is None).convert(obj, 0)
        if value is _SKIP:
            value = None
    except RecursionError:
        value = DEPTH_MARKER
    except Exception:
        value = _fallback(obj)
    if isinstance(obj, Mapping) and not isinstance(value, dict):
        # Event properties must stay a JSON object, even when converting them failed.
        value = {"…": value}
    if max_bytes is not None:
        try:
            value = _fit(value, max_bytes)
        except Exception:
            logger.debug("voker: could not shrink a value to %d bytes", max_bytes, exc_info=True)
            text = _safe_repr(value)
            if isinstance(value, (dict, list)):
                value = _last_resort(value, text, max_bytes)
            else:
                value = _truncate(text, max(0, max_bytes // 2))
    return value


# --- size capping ----------------------------------------------------------------------------

_BLOB_MIN = 256
_DATA_URL = re.compile(r"data:[\w.+-]+/[\w.+-]+(?:;[\w.+-]+=[\w.+-]+)*;base64,", re.ASCII)
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]+={0,2}", re.ASCII)
_MIN_KEEP = 16  # never cut a string shorter than this
_KEEP_BLOB = 32  # chars of a blob kept before its marker (enough to recognise its type)


def _encoded_size(value: Any) -> int:
    return _measure(value)[0]


def _measure(value: Any) -> tuple[int, int]:
    """The UTF-8 size in bytes of the JSON of ``value``, and its length in characters.

    Raises ``UnicodeEncodeError`` for a lone surrogate (see :func:`_without_surrogates`).
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return len(text.encode("utf-8")), len(text)


def _without_surrogates(value: Any) -> Any:
    """A converted value with :func:`utf8_safe` applied to every string and dict key in it."""
    if isinstance(value, str):
        return utf8_safe(value)
    if isinstance(value, dict):
        return {utf8_safe(key): _without_surrogates(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_surrogates(item) for item in value]
    return value


def _marker(removed: int) -> str:
    return f"…[truncated {removed} chars]"


_CHARS_MARKER = re.compile(r"…\[truncated (\d+) chars\]\Z")


def _truncate(text: str, keep: int) -> str:
    """Keep ``keep`` chars and add a marker counting the rest (and any earlier truncation)."""
    keep = max(0, keep)
    earlier = 0
    match = _CHARS_MARKER.search(text)
    if match is not None:
        earlier = int(match.group(1))
        text = text[: match.start()]
    if len(text) <= keep:
        return text + _marker(earlier) if earlier else text
    return text[:keep] + _marker(len(text) - keep + earlier)


def _is_blob(text: str) -> bool:
    """A data URL, or a long run of base64 that looks like encoded binary rather than text."""
    if len(text) < _BLOB_MIN:
        return False
    if _DATA_URL.match(text) is not None:
        return True
    if _BASE64.fullmatch(text) is None:
        return False
    # Encoded binary mixes cases and digits everywhere; a long word or hex digest does not.
    sample = text[:_BLOB_MIN]
    return (
        any(c.isdigit() for c in sample)
        and any(c.isupper() for c in sample)
        and any(c.islower() for c in sample)
    )


_Slot = tuple[Any, Any]  # (container, key or index) holding a string


def _string_slots(value: Any, slots: list[_Slot]) -> None:
    """Collect every place in ``value`` that holds a string (iteratively: depth is bounded anyway)."""
    stack = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            for key, item in current.items():
                if isinstance(item, str):
                    slots.append((current, key))
                elif isinstance(item, (dict, list)):
                    stack.append(item)
        elif isinstance(current, list):
            for index, item in enumerate(current):
                if isinstance(item, str):
                    slots.append((current, index))
                elif isinstance(item, (dict, list)):
                    stack.append(item)


def _dicts(value: Any) -> list[dict[str, Any]]:
    """Every dict in ``value``, ``value`` included (their keys may need shortening)."""
    found: list[dict[str, Any]] = []
    stack = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            found.append(current)
            stack.extend(v for v in current.values() if isinstance(v, (dict, list)))
        elif isinstance(current, list):
            stack.extend(v for v in current if isinstance(v, (dict, list)))
    return found


def _shorten_keys(container: dict[str, Any], limit: int) -> bool:
    """Cut the keys of ``container`` longer than ``limit`` (plus a marker's room) to ``limit``
    chars and a marker, keeping the order and every entry (a cut key that collides with another
    key gets a ``~2``, ``~3``... before its marker). Returns whether any key changed."""
    long_keys = {key for key in container if len(key) > limit + len(_marker(len(key)))}
    if not long_keys:
        return False
    items = list(container.items())
    taken = {key for key, _ in items if key not in long_keys}
    container.clear()
    for key, item in items:
        if key in long_keys:
            base = short = _truncate(key, limit)
            marker = _CHARS_MARKER.search(base)
            cut = marker.start() if marker is not None else len(base)
            counter = 2
            while short in taken:
                short = f"{base[:cut]}~{counter}{base[cut:]}"
                counter += 1
            key = short
        taken.add(key)
        container[key] = item
    return True


def _last_resort(value: dict[str, Any] | list[Any], text: str, max_bytes: int) -> Any:
    """``value`` could not be shrunk in place: keep the start of its JSON ``text``, still inside
    a dict (or list), so that the result keeps the type the API expects."""

    def wrap(text: str) -> dict[str, Any] | list[Any]:
        return {"…": text} if isinstance(value, dict) else [text]

    # Bytes left for the string once the wrapper (which counts the string's quotes) is paid for.
    room = max_bytes - _encoded_size(wrap("")) + 2
    wrapped = wrap(_fit_string(text, room) if room > 2 else "")
    if _encoded_size(wrapped) <= max_bytes:
        return wrapped
    return {} if isinstance(value, dict) else []


def _fit(value: Any, max_bytes: int) -> Any:
    """``value`` cut to ``max_bytes`` (see :func:`to_jsonable`), its lone surrogates replaced."""
    try:
        size = _encoded_size(value)
    except UnicodeEncodeError:
        value = _without_surrogates(value)
        size = _encoded_size(value)
    if size <= max_bytes:
        return value
    if isinstance(value, str):
        return _fit_string(value, max_bytes)
    if not isinstance(value, (dict, list)):
        return value  # a lone number/bool/None is as small as it gets

    slots: list[_Slot] = []
    _string_slots(value, slots)
    dicts = _dicts(value)

    # 1. Blobs (base64, data URLs) carry no analytics value beyond their type and length.
    for container, key in slots:
        text = container[key]
        if _is_blob(text):
            prefix = _DATA_URL.match(text)
            keep = prefix.end() + _KEEP_BLOB if prefix else _KEEP_BLOB
            container[key] = _truncate(text, keep)
    size, chars = _measure(value)

    # 2. Cap the longest strings - values and dict keys alike (a retrieved passage may well be
    #    a key of a score map) - at a common length, lowered until the value fits. When even
    #    short strings would not make it fit, the bulk is in many small items: halve the
    #    longest container and try again.
    for _ in range(128):
        if size <= max_bytes:
            return value
        lengths = [len(c[k]) for c, k in slots]
        lengths.extend(len(key) for container in dicts for key in container)
        lengths.sort(reverse=True)
        # Strings are cut in characters but the cap is in bytes: text in most languages takes
        # two to four bytes a character, so the excess is converted at the value's average (a
        # mix of scripts that misses is corrected by the next round).
        limit = _water_level(lengths, math.ceil((size - max_bytes) * chars / size))
        if limit is not None:
            for container, key in slots:
                text = container[key]
                if len(text) > limit + len(_marker(len(text))):
                    container[key] = _truncate(text, limit)
            renamed = False
            for container in dicts:
                renamed = _shorten_keys(container, limit) or renamed
            if renamed:  # the slots name the old keys
                slots = []
                _string_slots(value, slots)
        else:
            longest = _longest_container(value)
            if longest is None or len(longest) <= 1:
                break
            _halve(longest)
            slots = []
            _string_slots(value, slots)
            dicts = _dicts(value)
        size, chars = _measure(value)
    if size <= max_bytes:
        return value
    # Never turn the container into a string: the API rejects non-object properties.
    return _last_resort(value, json.dumps(value, ensure_ascii=False), max_bytes)


def _water_level(lengths: list[int], excess: int) -> int | None:
    """The length L such that cutting every string longer than L to L removes ``excess`` chars
    (plus room for the markers). None when cutting strings to the minimum is not enough."""
    marker_room = len(_marker(10**7))
    removed = 0
    for index, length in enumerate(lengths):
        following = max(lengths[index + 1] if index + 1 < len(lengths) else 0, _MIN_KEEP)
        if length <= _MIN_KEEP:
            break
        count = index + 1
        # Lowering the level from `length` to `following` removes this much from `count` strings.
        step = (length - following) * count
        needed = excess - removed + marker_room * count
        if step >= needed:
            return max(_MIN_KEEP, length - math.ceil(needed / count))
        removed += step
    return None


def _longest_container(value: Any) -> dict[str, Any] | list[Any] | None:
    best: dict[str, Any] | list[Any] | None = None
    stack = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            if best is None or len(current) > len(best):
                best = current
            stack.extend(v for v in current.values() if isinstance(v, (dict, list)))
        elif isinstance(current, list):
            if best is None or len(current) > len(best):
                best = current
            stack.extend(v for v in current if isinstance(v, (dict, list)))
    return best


_ITEMS_MARKER = re.compile(r"…\[truncated (\d+) (?:items|keys)\]")


def _halve(container: dict[str, Any] | list[Any]) -> None:
    """Keep the first half of a container, ending it with a marker counting what was cut."""
    earlier = 0
    if isinstance(container, list):
        if container and isinstance(container[-1], str):
            match = _ITEMS_MARKER.fullmatch(container[-1])
            if match:
                earlier = int(match.group(1))
                container.pop()
        keep = len(container) // 2
        removed = len(container) - keep + earlier
        del container[keep:]
        container.append(f"…[truncated {removed} items]")
    else:
        previous = container.pop("…", None)
        if isinstance(previous, str):
            match = _ITEMS_MARKER.fullmatch(previous)
            earlier = int(match.group(1)) if match else 0
        keys = list(container)
        keep = len(keys) // 2
        for key in keys[keep:]:
            del container[key]
        container["…"] = f"…[truncated {len(keys) - keep + earlier} keys]"


def _fit_string(text: str, max_bytes: int) -> str:
    keep = min(len(text), max_bytes)
    while keep > 0 and _encoded_size(_truncate(text, keep)) > max_bytes:
        keep = keep * 3 // 4
    return _truncate(text, keep)
