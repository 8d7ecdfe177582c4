"""Step: an anonymous visitor chats with the Flask example (wrapped Anthropic client).

The app is ``examples.flask_app.app.create_app()``, unchanged, served over real HTTP; the visitor is
a cookie-keeping HTTP client, so both turns are one conversation (an id in Flask's session) with no
person attached.
"""

from __future__ import annotations

import requests

from .runtime import Demo, StepResult
from .services import ThreadedWSGIServer

TURNS = ("Hello, what are your support hours?", "Great. Do you ship to Norway?")


def run(demo: Demo) -> StepResult:
    provider = "real Anthropic API" if demo.real_anthropic else "stand-in"
    demo.out.step("Flask: anonymous visitor, 2 turns", f"wrapped Anthropic client ({provider})")
    from examples.flask_app.app import create_app

    site = demo.stack.enter_context(ThreadedWSGIServer(create_app(), "flask"))
    with requests.Session() as browser:
        for message in TURNS:
            response = browser.post(f"{site.url}/chat", json={"message": message}, timeout=60)
            response.raise_for_status()
            demo.out.detail("guest", message)
            demo.out.detail("bot", response.json()["reply"])
    return StepResult("Flask", agent="support-bot", expected_llm=len(TURNS))
