"""Step: a logged-in user chats three turns with the Django example (wrapped OpenAI client).

The site (``examples/django_app`` with ``voker_django``'s middleware) runs in this process on a
fresh SQLite database, served over real HTTP by a threaded WSGI server. The user is created with
a random password and logs in through a real form post (CSRF included); the chat then carries
the Django session cookie, so the three turns are one Voker session whose person is the user.
"""

from __future__ import annotations

import os
import secrets
import sys

import requests

from .runtime import Demo, StepFailed, StepResult
from .services import ROOT, ThreadedWSGIServer

USER = {
    "username": "grace",
    "email": "grace@example.com",
    "first_name": "Grace",
    "last_name": "Hopper",
}
TURNS = (
    "Hi! My order #1042 still hasn't arrived, it's been a week.",
    "Can I still change the delivery address?",
    "Perfect, thanks for the quick help!",
)


def _start_site(demo: Demo) -> tuple[str, str, str, str]:
    """Set Django up on a fresh database with one user; returns (site URL, username, password,
    the user's Voker person id)."""
    sys.path.insert(0, str(ROOT / "examples" / "django_app"))  # the example's `demo_site`
    os.environ["DJANGO_SETTINGS_MODULE"] = "examples.demo.django_settings"
    os.environ["DEMO_DB"] = str(demo.workdir / "django.sqlite3")
    import django

    django.setup()
    from django.contrib.auth.models import User  # the example's user model
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application

    call_command("migrate", verbosity=0, interactive=False)
    password = secrets.token_urlsafe(12)
    user = User.objects.create_user(password=password, **USER)
    site = demo.stack.enter_context(ThreadedWSGIServer(get_wsgi_application(), "django"))
    return site.url, user.get_username(), password, str(user.pk)  # voker_django's default id


def run(demo: Demo) -> StepResult:
    provider = "real OpenAI API" if demo.real_openai else "stand-in"
    demo.out.step("Django: logged-in user, 3 turns", f"wrapped OpenAI client ({provider})")
    url, username, password, person = _start_site(demo)
    with requests.Session() as browser:
        browser.get(f"{url}/", timeout=10).raise_for_status()  # sets the CSRF cookie
        login = browser.post(
            f"{url}/accounts/login/",
            data={"username": username, "password": password},
            headers={"X-CSRFToken": browser.cookies["csrftoken"]},
            timeout=10,
        )
        if login.status_code != 200:
            raise StepFailed(f"Django login failed: HTTP {login.status_code} {login.text[:200]}")
        for message in TURNS:
            response = browser.post(
                f"{url}/chat/",
                json={"message": message},
                # Django rotates the CSRF token at login: always send the current one.
                headers={"X-CSRFToken": browser.cookies["csrftoken"]},
                timeout=60,
            )
            response.raise_for_status()
            demo.out.detail(username, message)
            demo.out.detail("bot", response.json()["reply"])
        # Voker gets an id derived from the session cookie, never the cookie (a credential).
        from voker_django import session_id_for

        session = session_id_for(browser.cookies["sessionid"])
    return StepResult(
        "Django", agent="demo-chat", sessions={session}, expected_llm=len(TURNS), person=person
    )
