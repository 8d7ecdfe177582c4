"""OpenAPI 3.1 description of the devserver's HTTP API (served at ``GET /openapi.json``).

The Voker API v1 calls (DESIGN §2) plus the devserver-only read endpoints (DESIGN §7). A test
checks that the paths and methods here are exactly those of ``routing.ROUTES``.

Usage::

    document = build_openapi()
    document["paths"]["/api/v1/events"]["post"]["summary"]
"""

from __future__ import annotations

from typing import Any

from voker_core._version import __version__

__all__ = ["build_openapi"]

JSON = dict[str, Any]

_STR: JSON = {"type": "string"}
_NULLABLE_STR: JSON = {"type": ["string", "null"]}
_TIME: JSON = {"type": "string", "format": "date-time"}
_NULLABLE_TIME: JSON = {"type": ["string", "null"], "format": "date-time"}
_OBJECT: JSON = {"type": "object", "additionalProperties": True}


def _ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


def _schema(properties: JSON, required: list[str]) -> JSON:
    return {"type": "object", "properties": properties, "required": required}


def _json(schema: JSON) -> JSON:
    return {"content": {"application/json": {"schema": schema}}}


def _ok(description: str, schema: JSON) -> JSON:
    return {"description": description, **_json(schema)}


def _error(description: str) -> JSON:
    return {"description": description, **_json(_ref("Error"))}


def _param(name: str, where: str = "path", description: str = "") -> JSON:
    param: JSON = {"name": name, "in": where, "required": where == "path", "schema": _STR}
    if description:
        param["description"] = description
    return param


def _page_params() -> list[JSON]:
    return [
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 0, "maximum": 1000, "default": 100},
        },
        {
            "name": "offset",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 0, "default": 0},
        },
    ]


def _list_of(key: str, item: str) -> JSON:
    return _schema(
        {key: {"type": "array", "items": _ref(item)}, "total": {"type": "integer"}}, [key, "total"]
    )


_COMMON_ERRORS: JSON = {
    "400": _error("Malformed request (invalid-json, invalid-query, invalid-path)"),
    "401": _error("Missing or wrong API key (unauthorized), when the server enforces one"),
    "413": _error("Body larger than 8 MiB (payload-too-large)"),
    "422": _error("Validation failed (validation-error, session-id-empty)"),
}

_SCHEMAS: JSON = {
    "Error": _schema(
        {
            "detail": _schema(
                {"type": _STR, "message": _STR, "field": _STR},
                ["type", "message"],
            )
        },
        ["detail"],
    ),
    "Agent": _schema(
        {
            "agent_name": _STR,
            "description": _NULLABLE_STR,
            "agent_number": {"type": "integer"},
            "created_at": _TIME,
            "deprecated_at": _NULLABLE_TIME,
        },
        ["agent_name", "description", "agent_number", "created_at", "deprecated_at"],
    ),
    "AgentVersion": _schema(
        {
            "agent_version_name": _STR,
            "description": _NULLABLE_STR,
            "agent_version_number": {"type": "integer"},
            "created_at": _TIME,
            "deprecated_at": _NULLABLE_TIME,
        },
        [
            "agent_version_name",
            "description",
            "agent_version_number",
            "created_at",
            "deprecated_at",
        ],
    ),
    "Person": _schema(
        {"person_id": _STR, "properties": _OBJECT, "created_at": _TIME},
        ["person_id", "properties", "created_at"],
    ),
    "Fingerprint": _schema({"fingerprint_id": _STR}, ["fingerprint_id"]),
    "StoredFingerprint": _schema(
        {"fingerprint_id": _STR, "created_at": _TIME, "payload": _OBJECT},
        ["fingerprint_id", "created_at", "payload"],
    ),
    "Event": _schema(
        {
            "event_id": _STR,
            "event_name": _STR,
            "properties": _OBJECT,
            "session": _STR,
            "agent": _NULLABLE_STR,
            "agent_version": _NULLABLE_STR,
            "person": _NULLABLE_STR,
            "fingerprint_id": _STR,
            "created_at": _TIME,
        },
        [
            "event_id",
            "event_name",
            "properties",
            "session",
            "agent",
            "agent_version",
            "person",
            "fingerprint_id",
            "created_at",
        ],
    ),
    "Session": _schema(
        {
            "session": _STR,
            "agent": _NULLABLE_STR,
            "agents": {"type": "array", "items": _STR},
            "person": _NULLABLE_STR,
            "people": {"type": "array", "items": _STR},
            "event_count": {"type": "integer"},
            "event_names": {"type": "object", "additionalProperties": {"type": "integer"}},
            "first_seen": _TIME,
            "last_seen": _TIME,
        },
        ["session", "agents", "event_count", "first_seen", "last_seen"],
    ),
    "CreateFingerprint": _schema(
        {
            "language": _STR,
            "language_version": _STR,
            "system": _STR,
            "voker_sdk_version": _STR,
            "openai_sdk_version": _STR,
            "anthropic_sdk_version": _STR,
            "gemini_sdk_version": _STR,
            "all_packages": {"type": "object", "additionalProperties": _STR},
            "git_repository_url": _STR,
            "git_branch": _STR,
            "git_commit_hash": _STR,
            "git_commit_date": _STR,
        },
        ["language", "language_version", "system"],
    ),
    "CreateEvent": _schema(
        {
            "event_name": _STR,
            "properties": _OBJECT,
            "session": {"type": "string", "minLength": 1},
            "fingerprint_id": _STR,
            "agent": _STR,
            "agent_version": _STR,
            "person": _STR,
        },
        ["event_name", "properties", "session", "fingerprint_id"],
    ),
    "CreatePerson": _schema({"person_id": _STR, "properties": _OBJECT}, ["person_id"]),
    "UpdatePerson": _schema({"properties": _OBJECT}, ["properties"]),
    "CreateAgent": _schema({"agent_name": _STR, "description": _NULLABLE_STR}, ["agent_name"]),
    "CreateAgentVersion": _schema(
        {"agent_version_name": _STR, "description": _NULLABLE_STR}, ["agent_version_name"]
    ),
}


def _op(
    summary: str,
    ok: JSON,
    *,
    body: str | None = None,
    params: list[JSON] | None = None,
    errors: JSON | None = None,
    secured: bool = True,
) -> JSON:
    operation: JSON = {"summary": summary, "responses": {"200": ok}}
    if body is not None:
        operation["requestBody"] = {"required": True, **_json(_ref(body))}
    if params:
        operation["parameters"] = params
    if secured:
        operation["responses"].update(_COMMON_ERRORS)
    if errors:
        operation["responses"].update(errors)
    if not secured:
        operation["security"] = []
    return operation


def build_openapi() -> JSON:
    """The OpenAPI 3.1 document (a fresh dict each call)."""
    agent = _param("agent_name")
    version = _param("agent_version_name")
    person = _param("person_id")
    not_found_agent = {"404": _error("agent-not-found")}
    paths: JSON = {
        "/api/v1/fingerprints": {
            "put": _op(
                "Create a fingerprint of the sending client",
                _ok("The new fingerprint", _ref("Fingerprint")),
                body="CreateFingerprint",
            )
        },
        "/api/v1/fingerprints/{fingerprint_id}": {
            "get": _op(
                "Read a stored fingerprint (devserver only)",
                _ok("The fingerprint and its payload", _ref("StoredFingerprint")),
                params=[_param("fingerprint_id")],
                errors={"404": _error("fingerprint-not-found")},
            )
        },
        "/api/v1/events": {
            "post": _op(
                "Create an event; unknown agents, versions and people are created",
                _ok(
                    "The stored event (the same one again for a repeated Idempotency-Key)",
                    _ref("Event"),
                ),
                body="CreateEvent",
                params=[
                    _param(
                        "Idempotency-Key",
                        "header",
                        "Events sent with the same key are stored once",
                    )
                ],
                errors={"404": _error("fingerprint-not-found")},
            ),
            "get": _op(
                "List events, oldest first (devserver only)",
                _ok("A page of events", _list_of("events", "Event")),
                params=[
                    *(
                        _param(name, "query", "exact match")
                        for name in ("session", "agent", "agent_version", "person", "event_name")
                    ),
                    *_page_params(),
                ],
            ),
        },
        "/api/v1/sessions": {
            "get": _op(
                "List sessions, most recently active first (devserver only)",
                _ok("A page of sessions", _list_of("sessions", "Session")),
                params=[
                    _param("agent", "query", "exact match"),
                    _param("person", "query", "exact match"),
                    *_page_params(),
                ],
            )
        },
        "/api/v1/people": {
            "put": _op(
                "Create a person (no-op returning the stored one if it exists)",
                _ok("The person", _ref("Person")),
                body="CreatePerson",
            ),
            "get": _op(
                "List people (devserver only)",
                _ok("A page of people", _list_of("people", "Person")),
                params=_page_params(),
            ),
        },
        "/api/v1/people/{person_id}": {
            "get": _op(
                "Read a person",
                _ok("The person", _ref("Person")),
                params=[person],
                errors={"404": _error("person-not-found")},
            ),
            "put": _op(
                "Merge properties into a person's",
                _ok("The updated person", _ref("Person")),
                body="UpdatePerson",
                params=[person],
                errors={"404": _error("person-not-found")},
            ),
        },
        "/api/v1/agents": {
            "put": _op(
                "Create an agent (no-op returning the stored one if it exists)",
                _ok("The agent", _ref("Agent")),
                body="CreateAgent",
            ),
            "get": _op(
                "List agents (devserver only)",
                _ok("A page of agents", _list_of("agents", "Agent")),
                params=_page_params(),
            ),
        },
        "/api/v1/agents/{agent_name}": {
            "get": _op(
                "Read an agent",
                _ok("The agent", _ref("Agent")),
                params=[agent],
                errors=not_found_agent,
            )
        },
        "/api/v1/agents/{agent_name}/agent-versions": {
            "put": _op(
                "Create a version of an existing agent (no-op if it exists)",
                _ok("The agent version", _ref("AgentVersion")),
                body="CreateAgentVersion",
                params=[agent],
                errors=not_found_agent,
            ),
            "get": _op(
                "List an agent's versions (devserver only)",
                _ok("A page of versions", _list_of("agent_versions", "AgentVersion")),
                params=[agent, *_page_params()],
                errors=not_found_agent,
            ),
        },
        "/api/v1/agents/{agent_name}/agent-versions/{agent_version_name}": {
            "get": _op(
                "Read an agent version",
                _ok("The agent version", _ref("AgentVersion")),
                params=[agent, version],
                errors={"404": _error("agent-not-found or agent-version-not-found")},
            )
        },
        "/healthz": {
            "get": _op(
                "Liveness check",
                _ok(
                    "The server is up",
                    _schema({"status": _STR, "version": _STR}, ["status", "version"]),
                ),
                secured=False,
            )
        },
        "/openapi.json": {
            "get": _op("This document", _ok("OpenAPI 3.1 document", _OBJECT), secured=False)
        },
        "/": {
            "get": {
                "summary": "Dashboard (HTML): sessions; also /sessions/{id}, /agents, /people",
                "parameters": [
                    _param("session", "query", "redirect to this session's page"),
                    _param("agent", "query", "only sessions with an event of this agent"),
                    _param("version", "query", "... of this agent version"),
                    _param("person", "query", "... of this person"),
                    _param("errors", "query", "1: only sessions with a failed call"),
                    _param("page", "query", "1-based page number"),
                    _param("limit", "query", "sessions per page (default 50, at most 500)"),
                    _param("key", "query", "the API key, when the server enforces one"),
                ],
                "responses": {
                    "200": {"description": "HTML page", "content": {"text/html": {}}},
                    "302": {"description": "?session= moved to /sessions/{id}"},
                    "401": _error("Missing or wrong API key (unauthorized)"),
                },
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Voker API (local devserver)",
            "version": __version__,
            "description": "The Voker HTTP API v1 as served by voker_core.devserver, plus "
            "devserver-only read endpoints. Path parameters are percent-encoded.",
        },
        "servers": [{"url": "http://127.0.0.1:8787"}],
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }
