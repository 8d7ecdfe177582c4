"""Configuration, resolved in one place: explicit argument > environment variable > default.

Every client (``ApiClient``, ``VokerClient``) and plug-in reads its options through
:meth:`Settings.resolve`, so the precedence rule and the validation messages exist once.

>>> s = Settings.resolve(api_key="sk-test", flush_timeout=2)
>>> s.flush_timeout
2.0
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypedDict

__all__ = ["DEFAULT_BASE_URL", "ClientOptions", "ConfigureOptions", "Settings", "parse_bool"]

DEFAULT_BASE_URL = "https://evals.voker.ai"

BeforeSend = Callable[[dict[str, Any]], "dict[str, Any] | None"]


class ClientOptions(TypedDict, total=False):
    """The keyword options of ``VokerClient(...)`` beside ``api_key``/``base_url`` (see
    :class:`Settings` for their defaults). Typed so that a type checker catches a misspelt
    one; at run time an unknown option is a ``TypeError`` naming it."""

    enabled: bool
    capture_content: bool
    debug: bool
    timeout: float
    max_retries: int
    max_queue_size: int
    flush_timeout: float
    max_event_bytes: int
    max_concurrency: int
    before_send: BeforeSend | None


class ConfigureOptions(ClientOptions, total=False):
    """The keyword options of ``voker_core.configure(...)``: a client's, key and URL included."""

    api_key: str | None
    base_url: str | None


_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f", ""}


def parse_bool(value: Any, *, name: str) -> bool:
    """Interpret a bool option that may come from an environment variable or a settings file."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise ValueError(f"{name} must be a boolean (true/false), got {value!r}")


def _positive_number(value: Any, *, name: str, allow_zero: bool = False) -> float:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if number < 0 or (number == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return number


def _positive_int(value: Any, *, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise TypeError(f"{name} must be an integer, got {value!r}") from None
    if number <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return number


@dataclass(frozen=True)
class Settings:
    """The resolved options of a client. Build it with :meth:`resolve`."""

    api_key: str | None = None
    base_url: str = DEFAULT_BASE_URL
    enabled: bool = True
    capture_content: bool = True
    debug: bool = False
    timeout: float = 10.0
    max_retries: int = 2
    max_queue_size: int = 10_000
    flush_timeout: float = 5.0
    max_event_bytes: int = 1024 * 1024
    max_concurrency: int = 16
    before_send: BeforeSend | None = field(default=None, compare=False)

    # option name -> environment variable consulted when the option is not passed
    ENV: Mapping[str, str] = field(
        default_factory=lambda: {
            "api_key": "VOKER_API_KEY",
            "base_url": "VOKER_BASE_URL",
            "enabled": "VOKER_ENABLED",
            "capture_content": "VOKER_CAPTURE_CONTENT",
            "debug": "VOKER_DEBUG",
        },
        repr=False,
        compare=False,
    )

    @classmethod
    def option_names(cls) -> frozenset[str]:
        """The keyword options a client accepts."""
        return frozenset(f.name for f in fields(cls) if f.name != "ENV")

    @classmethod
    def resolve(cls, environ: Mapping[str, str] | None = None, **explicit: Any) -> Settings:
        """Resolve options: an explicit non-None argument wins, then the environment, then the default.

        Unknown option names raise ``TypeError``; bad values raise ``TypeError``/``ValueError``
        naming the option, at once, in the caller.
        """
        env = os.environ if environ is None else environ
        unknown = set(explicit) - cls.option_names()
        if unknown:
            names = ", ".join(sorted(unknown))
            valid = ", ".join(sorted(cls.option_names()))
            raise TypeError(f"unknown Voker option(s): {names} (valid options: {valid})")
        defaults = cls()
        values: dict[str, Any] = {}
        for name in cls.option_names():
            value = explicit.get(name)
            source = name
            if value is None and name in defaults.ENV and defaults.ENV[name] in env:
                value = env[defaults.ENV[name]]
                source = defaults.ENV[name]
                if name == "base_url" and not value.strip():
                    # VOKER_BASE_URL= (a blank line in a .env or compose template) means
                    # "unset", as a blank VOKER_API_KEY does; an explicit base_url="" stays an
                    # error below.
                    continue
            if value is None:
                continue
            values[name] = cls._validate(name, value, source)
        return cls(**values)

    @staticmethod
    def _validate(name: str, value: Any, source: str) -> Any:
        if name == "api_key":
            if not isinstance(value, str):
                raise TypeError(f"{source} must be a string, got {type(value).__name__}")
            return value.strip() or None
        if name == "base_url":
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{source} must be a non-empty URL string, got {value!r}")
            url = value.strip().rstrip("/")
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{source} must start with http:// or https://, got {value!r}")
            return url
        if name in ("enabled", "capture_content", "debug"):
            return parse_bool(value, name=source)
        if name in ("timeout", "flush_timeout"):
            return _positive_number(value, name=source)
        if name == "max_retries":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{source} must be an integer >= 0, got {value!r}")
            return value
        if name in ("max_queue_size", "max_event_bytes", "max_concurrency"):
            return _positive_int(value, name=source)
        if name == "before_send":
            if not callable(value):
                raise TypeError(f"{source} must be callable, got {type(value).__name__}")
            return value
        raise AssertionError(name)  # pragma: no cover - option_names() and this list agree
