"""Offline walkthrough of the Flask example: ``python -m examples.flask_app [--serve]``.

Starts a fake Anthropic server and a local Voker devserver on free ports, points the app at them
through ``ANTHROPIC_BASE_URL`` / ``VOKER_BASE_URL``, serves the app with a threaded server, and
plays a few visitors against it over HTTP:

- Ada logs in and chats twice (one conversation, kept in Flask's session cookie), then asks
  billing (same conversation, billing agent);
- Alan's front end sends its own conversation id in ``X-Voker-Session``;
- an anonymous visitor chats (a conversation, no person).

Then it prints what Voker recorded, read back from the devserver, and exits non-zero if anything
is missing. ``--serve`` keeps everything running afterwards so you can try the app and open the
devserver's dashboard; stop with Ctrl-C.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading

import requests
from werkzeug.serving import make_server

from voker_core.devserver import DevServer
from voker_core.testing.fake_llm import FakeLLMServer

EXPECTED_EVENTS = 5


def visit(base_url: str) -> None:
    """Three visitors, five Claude calls."""
    with requests.Session() as ada:  # a browser: keeps the Flask session cookie
        ada.post(f"{base_url}/login/ada", timeout=10).raise_for_status()
        for message in ["My order has not arrived", "It was order 1234"]:
            reply = ada.post(f"{base_url}/chat", json={"message": message}, timeout=30)
            print(f"  ada   /chat         -> {reply.json()['reply']}")
        reply = ada.post(
            f"{base_url}/billing/ask", json={"message": "Why two charges?"}, timeout=30
        )
        print(f"  ada   /billing/ask  -> {reply.json()['reply']}")
    with requests.Session() as alan:
        alan.post(f"{base_url}/login/alan", timeout=10).raise_for_status()
        reply = alan.post(
            f"{base_url}/chat",
            json={"message": "Reset my password"},
            headers={"X-Voker-Session": "ticket-5678"},
            timeout=30,
        )
        print(f"  alan  /chat         -> {reply.json()['reply']}")
    reply = requests.post(f"{base_url}/chat", json={"message": "Opening hours?"}, timeout=30)
    print(f"  guest /chat         -> {reply.json()['reply']}")


def report(devserver: DevServer) -> bool:
    events = devserver.events(event_name="llm")
    print(f"\nVoker recorded {len(events)} llm event(s):")
    for event in events:
        props = event["properties"]
        message = props["inputs"]["messages"][-1]["content"]
        print(
            f"  session={event['session'][:12]:<12} agent={event['agent']}/{event['agent_version']}"
            f" person={event['person']} model={props['model']} "
            f"tokens={props['usage']['total_tokens']} input={message!r}"
        )
    people = {p["person_id"]: p["properties"] for p in devserver.people()}
    print(f"people: {people}")
    print(f"agents: {[a['agent_name'] for a in devserver.agents()]}")
    sessions = {e["session"] for e in events}
    ok = (
        len(events) == EXPECTED_EVENTS
        and "ticket-5678" in sessions
        and len(sessions) == 3
        and set(people) == {"user-1", "user-2"}
        and {e["agent"] for e in events} == {"support-bot", "billing-bot"}
    )
    print("walkthrough OK" if ok else "walkthrough FAILED: see the events above")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.flask_app", description=__doc__)
    parser.add_argument("--serve", action="store_true", help="keep serving after the walkthrough")
    parser.add_argument("--port", type=int, default=0, help="port for the app (default: free)")
    args = parser.parse_args(argv)
    if not args.serve:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # keep the walkthrough readable

    with FakeLLMServer() as fake_llm, DevServer() as devserver:
        # The app reads its configuration from the environment, as it would in production.
        os.environ.update(fake_llm.environ())
        os.environ["VOKER_BASE_URL"] = devserver.base_url
        os.environ["VOKER_API_KEY"] = "demo-key"

        from voker_core.client import get_client

        from .app import create_app

        app = create_app()
        server = make_server("127.0.0.1", args.port, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="flask-example", daemon=True)
        thread.start()
        base_url = f"http://127.0.0.1:{server.server_port}"
        print(
            f"app on {base_url}, fake Anthropic on {fake_llm.anthropic_base_url}, "
            f"Voker devserver on {devserver.base_url}\n"
        )
        try:
            visit(base_url)
            get_client().flush(10)
            ok = report(devserver)
            if args.serve:
                print(f"\nserving: app {base_url}  dashboard {devserver.base_url}/  (Ctrl-C stops)")
                try:
                    threading.Event().wait()
                except KeyboardInterrupt:
                    pass
        finally:
            server.shutdown()
            thread.join(5)
            server.server_close()
            get_client().close(5)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
