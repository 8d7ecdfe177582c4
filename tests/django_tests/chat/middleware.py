"""A token-authentication middleware as API projects write them: it sets ``request.user``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.http import HttpRequest


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
