"""Event content is untrusted: every page shows it as text, and the CSP forbids scripts anyway.

The payload goes everywhere a user or a model can put text: session id, agent and version
names, person id and properties, messages, model output, tool names and arguments, errors, and
properties that end up in HTML attributes (``started_at`` becomes a ``title``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

from tests.dashboard.conftest import XSS, Send, xss_llm_event
from tests.dashboard.html_tree import conversation, parse
from voker_core import ApiClient

ATTRIBUTE_BREAKER = '"><img src=x onerror=window.__xss=3>'


def _store_hostile_data(api: ApiClient, send: Send) -> None:
    api.agents.create(agent_name="bot" + XSS, description=XSS)
    api.agent_versions.create(agent_name="bot" + XSS, agent_version_name="v" + XSS, description=XSS)
    api.people.create(person_id="p" + XSS, properties={XSS: XSS, "name": ATTRIBUTE_BREAKER})
    event = xss_llm_event()
    event["started_at"] = ATTRIBUTE_BREAKER
    event["model"] = XSS
    event["output"]["choices"][0]["message"]["tool_calls"] = [
        {"id": "c1", "type": "function", "function": {"name": XSS, "arguments": XSS}}
    ]
    event["error"] = {"type": XSS, "message": XSS, "status_code": XSS}
    event[XSS] = XSS
    send(
        session="s" + XSS,
        properties=event,
        agent="bot" + XSS,
        agent_version="v" + XSS,
        person="p" + XSS,
    )
    send(session="s" + XSS, event_name=XSS, properties={XSS: [XSS], "run_id": XSS})
    send(
        session="s" + XSS,
        event_name="tool",
        properties={"name": XSS, "input": XSS, "output": {XSS: XSS}, "error": XSS},
    )


def _pages(base: str) -> dict[str, str]:
    session = quote("s" + XSS, safe="")
    return {
        "sessions": base + "/",
        "filtered": base + "/?agent=" + quote("bot" + XSS) + "&person=" + quote("p" + XSS),
        "session": base + "/sessions/" + session,
        "agents": base + "/agents",
        "people": base + "/people",
        "missing": base + "/sessions/" + quote(XSS, safe=""),
    }


def test_hostile_content_is_text_on_every_page(
    http: requests.Session, voker_server: Any, api: ApiClient, send: Send
) -> None:
    _store_hostile_data(api, send)
    for name, url in _pages(voker_server.base_url).items():
        response = http.get(url)
        assert response.status_code == (404 if name == "missing" else 200), name
        body = response.text.lower()
        # No markup from the data: our pages contain no script or img elements at all.
        assert "<script" not in body and "<img" not in body, name
        assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in response.text, name
        # ... and nothing escaped twice: the parsed text is the payload itself.
        assert XSS in parse(response.text).text(), name


def test_hostile_messages_render_verbatim_in_the_conversation(
    http: requests.Session, voker_server: Any, api: ApiClient, send: Send
) -> None:
    _store_hostile_data(api, send)
    page = http.get(_pages(voker_server.base_url)["session"]).text
    turns = conversation(page)
    assert turns[0] == ("user", XSS)
    assert turns[1] == ("assistant", XSS)
    assert turns[2] == ("call", f"Tool call \u00b7 {XSS} {XSS}")
    assert ("error", f"{XSS} HTTP {XSS} {XSS}") in turns
    # The attribute breaker stayed inside its attribute.
    titles = [node.attrs.get("title") for node in parse(page).iter() if "title" in node.attrs]
    assert ATTRIBUTE_BREAKER in titles


def test_security_headers_on_every_page(
    http: requests.Session, voker_server: Any, api: ApiClient, send: Send
) -> None:
    _store_hostile_data(api, send)
    for name, url in _pages(voker_server.base_url).items():
        headers = http.get(url).headers
        csp = [part.strip() for part in headers["Content-Security-Policy"].split(";")]
        assert "default-src 'none'" in csp, name
        assert "style-src 'unsafe-inline'" in csp, name
        assert not any(part.startswith("script-src") for part in csp), name
        assert "frame-ancestors 'none'" in csp and "form-action 'self'" in csp, name
        assert headers["X-Content-Type-Options"] == "nosniff", name
        assert headers["Referrer-Policy"] == "no-referrer", name
        assert headers["Content-Type"] == "text/html; charset=utf-8", name
    # The JSON API is unchanged: no HTML headers there.
    api_headers = http.get(voker_server.base_url + "/api/v1/sessions").headers
    assert api_headers["Content-Type"] == "application/json"
    assert "Content-Security-Policy" not in api_headers
