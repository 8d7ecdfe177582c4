"""Request-body checks for the local Voker server, and the error every failed check raises.

Every problem with a request becomes an :class:`ApiError`, which the app renders as
``{"detail": {"type": <kind>, "message": <text>, ...}}`` with its HTTP status, so a client always
learns what was wrong and never gets a 500 or a half-stored record.

Usage::

    body = parse_json_body(raw_bytes)          # ApiError 400 invalid-json
    obj = require_object(body)                 # ApiError 422 validation-error
    name = required_str(obj, "agent_name")     # ApiError 422 validation-error (field named)
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, NoReturn

__all__ = [
    "ApiError",
    "optional_object",
    "optional_str",
    "parse_json_body",
    "require_object",
    "required_str",
    "session_id",
]


class ApiError(Exception):
    """An error answer: HTTP ``status``, API error ``kind`` and a human ``message``.

    ``extra`` keys (e.g. ``field``) are added to the ``detail`` object; ``headers`` to the response.
    """

    def __init__(
        self,
        status: int,
        kind: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.headers = dict(headers or {})
        self.extra = extra

    def detail(self) -> dict[str, Any]:
        """The ``detail`` object of the error body."""
        return {"type": self.kind, "message": self.message, **self.extra}


def _invalid(field: str, message: str) -> NoReturn:
    raise ApiError(422, "validation-error", f"{field}: {message}", field=field)


def _reject_constant(name: str) -> NoReturn:
    # NaN and Infinity are not JSON; storing them would make our own responses unparsable.
    raise ValueError(f"{name} is not valid JSON")


def _finite(text: str) -> float:
    # A number too large for a float (1e999) parses as infinity: stored, it would be written
    # back as the non-JSON token Infinity.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is too large")
    return value


def parse_json_body(raw: bytes) -> Any:
    """Decode a UTF-8 JSON body; any failure is a 400 ``invalid-json`` saying why."""
    if not raw.strip():
        raise ApiError(400, "invalid-json", "the request body is empty; send a JSON object")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid-json", f"the request body is not UTF-8: {exc}") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite)
    except json.JSONDecodeError as exc:
        raise ApiError(400, "invalid-json", f"the request body is not valid JSON: {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "invalid-json", f"the request body is not usable JSON: {exc}") from None
    try:
        # Lone surrogates ("\ud800") parse but cannot be stored or sent back as UTF-8.
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(
            400, "invalid-json", "the request body contains an unpaired UTF-16 surrogate escape"
        ) from None
    except RecursionError:
        raise ApiError(400, "invalid-json", "the request body is nested too deeply") from None
    return value


def require_object(body: Any) -> dict[str, Any]:
    """The body itself must be a JSON object."""
    if not isinstance(body, dict):
        raise ApiError(
            422,
            "validation-error",
            f"the request body must be a JSON object, not {_json_type(body)}",
            field="body",
        )
    return body


def required_str(obj: Mapping[str, Any], field: str, *, non_empty: bool = True) -> str:
    """A string field that must be present (and, by default, not blank)."""
    if field not in obj:
        _invalid(field, "is required")
    value = obj[field]
    if not isinstance(value, str):
        _invalid(field, f"must be a string, not {_json_type(value)}")
    if non_empty and not value.strip():
        _invalid(field, "must not be empty")
    return value


def optional_str(
    obj: Mapping[str, Any], field: str, *, allow_null: bool = False, non_empty: bool = True
) -> str | None:
    """A string field that may be absent; ``null`` only where the API allows it."""
    if field not in obj:
        return None
    value = obj[field]
    if value is None:
        if allow_null:
            return None
        # DESIGN §2: optional keys are absent, not null, when unset.
        _invalid(field, "must be a string, or absent when unset (not null)")
    if not isinstance(value, str):
        _invalid(field, f"must be a string, not {_json_type(value)}")
    if non_empty and not value.strip():
        _invalid(field, "must not be empty")
    return value


def optional_object(
    obj: Mapping[str, Any], field: str, *, required: bool = False
) -> dict[str, Any] | None:
    """An object field; absent (or null) gives None unless ``required``."""
    value = obj.get(field)
    if value is None:
        if required:
            _invalid(field, "is required and must be a JSON object")
        return None
    if not isinstance(value, dict):
        _invalid(field, f"must be a JSON object, not {_json_type(value)}")
    return value


def session_id(obj: Mapping[str, Any]) -> str:
    """The event's ``session``: a string, and a blank one is the API's ``session-id-empty``."""
    if "session" not in obj or obj["session"] is None:
        _invalid("session", "is required")
    value = obj["session"]
    if not isinstance(value, str):
        _invalid("session", f"must be a string, not {_json_type(value)}")
    if not value.strip():
        raise ApiError(
            422, "session-id-empty", "session must not be empty or whitespace", field="session"
        )
    return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
