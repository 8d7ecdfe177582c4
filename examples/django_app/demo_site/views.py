"""The demo's views: a chat page and its JSON endpoint.

The endpoint calls the Voker-wrapped OpenAI client with no ``voker_*`` argument: the middleware
gives the call the visitor's session (their Django session), the logged-in user as the person,
and the agent from ``settings.VOKER``.
"""

from __future__ import annotations

import functools
import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.utils.html import escape
from django.views.decorators.http import require_POST

from voker_core.ai.provider_openai import OpenAI

MODEL = "gpt-4.1-mini"

PAGE = """<!doctype html>
<title>Voker demo chat</title>
<h1>Voker demo chat</h1>
<form id="f"><input id="m" size="60" autofocus placeholder="Say something">
<button>Send</button></form>
<pre id="log"></pre>
<script>
document.getElementById("f").onsubmit = async (e) => {
  e.preventDefault();
  const input = document.getElementById("m"), log = document.getElementById("log");
  const message = input.value; input.value = "";
  log.textContent += "you: " + message + "\\n";
  const r = await fetch("/chat/", {method: "POST", headers: {"X-CSRFToken": "%(csrf)s",
    "Content-Type": "application/json"}, body: JSON.stringify({message})});
  log.textContent += "bot: " + (await r.json()).reply + "\\n";
};
</script>
"""


@functools.cache
def openai_client() -> OpenAI:
    # OPENAI_API_KEY and OPENAI_BASE_URL come from the environment.
    return OpenAI()


def index(request: HttpRequest) -> HttpResponse:
    return HttpResponse(PAGE % {"csrf": escape(get_token(request))})


@require_POST
def chat(request: HttpRequest) -> JsonResponse:
    message = str(json.loads(request.body or b"{}").get("message") or "hello")
    completion = openai_client().chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "Answer in one short paragraph."},
            {"role": "user", "content": message},
        ],
    )
    return JsonResponse({"reply": completion.choices[0].message.content})
