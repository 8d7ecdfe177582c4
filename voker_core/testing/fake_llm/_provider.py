"""The interface every provider module implements for the fake server."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from ._common import CallInfo
from ._types import ResolvedReply


class Provider(ABC):
    """Turns a request body into a `CallInfo` and a `ResolvedReply` into the provider's wire format."""

    api: ClassVar[str]
    """The `api` label recorded on requests (matches DESIGN §5's `api` values)."""
    tool_id_prefix: ClassVar[str | None]
    """Prefix of generated tool-call ids; `None`: the provider sends no id unless scripted."""
    reports_cache_creation: ClassVar[bool] = True
    """Whether the wire usage has a cache-write count (Gemini's has none)."""

    @abstractmethod
    def match(self, path: str) -> dict[str, str] | None:
        """Route parameters if this provider serves `POST path`, else `None`."""

    def refuse(
        self, body: Mapping[str, Any], params: Mapping[str, str], query: Mapping[str, list[str]]
    ) -> tuple[int, str] | None:
        """`(status, message)` if the service refuses this request before any model runs (an
        argument its API version does not know...); answered with `error_body`, and no
        scripted reply is used up. Default: none refused."""
        return None

    def kept(self, call: CallInfo, reply: ResolvedReply, serial: int) -> tuple[str, Any] | None:
        """`(id, body)` of what this (non-streamed) answer leaves on the service for a later
        `GET <request path>/<id>`: a background response's finished state. Default: nothing."""
        return None

    @abstractmethod
    def describe(
        self, body: Mapping[str, Any], params: Mapping[str, str], query: Mapping[str, list[str]]
    ) -> CallInfo:
        """Summarise the request (model, stream, prompt size, last user text, schema)."""

    @abstractmethod
    def render(self, call: CallInfo, reply: ResolvedReply, serial: int) -> Any:
        """The non-streaming JSON response body."""

    @abstractmethod
    def render_stream(
        self, call: CallInfo, reply: ResolvedReply, serial: int, chunk_size: int | None
    ) -> list[bytes]:
        """The streamed response as wire frames (each sent as one chunk); `chunk_size` is the
        number of characters per text delta (`None`: one word per delta)."""

    @abstractmethod
    def error_body(self, status: int, message: str, error_type: str | None, serial: int) -> Any:
        """The provider-shaped error body for an HTTP error status."""
