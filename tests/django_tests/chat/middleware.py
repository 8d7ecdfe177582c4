"""A token-authentication middleware as API projects write them: it sets ``request.user``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.http import HttpRequest
from django.utils.functional import LazyObject


class TokenAuthMiddleware:
    """``X-Api-Token: <username>`` makes that user ``request.user`` (after Django's auth)."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> Any:
        token = request.headers.get("X-Api-Token")
        if token:
            request.user = get_user_model().objects.get(username=token)
        return self.get_response(request)


class LazyTokenUser(LazyObject):
    """A token's user, loaded on first use (a query), as some authentication libraries do."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.__dict__["_token"] = token  # not proxied: LazyObject proxies other attributes

    def _setup(self) -> None:
        self._wrapped = get_user_model().objects.get(username=self.__dict__["_token"])


class LazyTokenAuthMiddleware(TokenAuthMiddleware):
    """As :class:`TokenAuthMiddleware`, with a lazy ``request.user``."""

    def __call__(self, request: HttpRequest) -> Any:
        token = request.headers.get("X-Api-Token")
        if token:
            request.user = LazyTokenUser(token)
        return self.get_response(request)
