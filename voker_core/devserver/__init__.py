"""The local Voker server: the Voker HTTP API v1 on SQLite, stdlib only (DESIGN §7).

Run it from a shell::

    python -m voker_core.devserver --port 8787       # or: voker-devserver

or inside a process (tests, demos, benchmarks)::

    from voker_core.devserver import DevServer

    with DevServer() as server:
        ...  # point a client at server.base_url, then read server.events()

``create_app(db_path)`` gives the bare WSGI application for any WSGI server (ids containing ``/``
need a server that passes the raw request target as ``RAW_URI``/``REQUEST_URI``, as ours does).

Behaviour where DESIGN §2 is silent (the hosted API may differ in these details):

- Every success is ``200`` with a JSON body; ``events.create`` returns the stored event.
- An event naming an agent but no version is filed under the version ``"default"`` (created on
  first use), and the stored event's ``agent_version`` says ``"default"``.
- An event with ``agent_version`` but no ``agent`` is a 422 ``validation-error``.
- Optional string fields must be absent, not ``null``, when unset (422 otherwise) — DESIGN §2
  asks clients for exactly that; ``description`` may be ``null``.
- A repeated ``Idempotency-Key`` returns the first event again with ``Idempotent-Replayed: true``
  (even if the body differs); a rejected event does not use up its key.
- Error kinds beyond §2: 400 ``invalid-json``, ``invalid-query``, ``invalid-path``; 401
  ``unauthorized``; 404 ``not-found``; 405 ``method-not-allowed``; 413 ``payload-too-large``
  (bodies over 8 MiB); 422 ``validation-error`` (with ``field``); 503 ``storage-busy``.
- List endpoints answer ``{"<records>": [...], "total": n}`` with ``limit`` (default 100, at most
  1000) and ``offset``; unknown query parameters are a 400. Sessions come most recently active
  first, everything else oldest first.
- With an API key enforced, ``/healthz`` and ``/openapi.json`` stay open and the dashboard
  accepts the key as ``?key=`` (it is opened in a browser).
"""

from voker_core.devserver.app import VokerApp, create_app
from voker_core.devserver.server import DevServer
from voker_core.devserver.store import Store

__all__ = ["DevServer", "Store", "VokerApp", "create_app"]
