"""URLs of the Django example as the demo runs it: ``POST /accounts/login/``, then the site's.

The login endpoint is plain Django (``authenticate`` + ``login``, CSRF checked by the
middleware), answering JSON so that a scripted client can use it.
"""

from __future__ import annotations

from demo_site.urls import urlpatterns as site_urlpatterns
from django.contrib.auth import authenticate, login
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.http import require_POST


@require_POST
def login_view(request: HttpRequest) -> JsonResponse:
    user = authenticate(
        request,
        username=request.POST.get("username", ""),
        password=request.POST.get("password", ""),
    )
    if user is None:
        return JsonResponse({"error": "wrong username or password"}, status=401)
    login(request, user)
    return JsonResponse({"logged_in": user.get_username()})


urlpatterns = [path("accounts/login/", login_view), *site_urlpatterns]
