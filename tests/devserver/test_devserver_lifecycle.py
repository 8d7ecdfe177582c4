"""Starting and stopping the devserver, its command line, and the pytest plugin's fixtures."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
import requests

from voker_core.devserver import DevServer, create_app
from voker_core.testing import VokerTestServer, voker_test_server

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def make_fingerprint(base_url: str) -> str:
    body = {"language": "python", "language_version": "3", "system": "x"}
    fingerprint_id: str = requests.put(f"{base_url}/api/v1/fingerprints", json=body).json()[
        "fingerprint_id"
    ]
    return fingerprint_id


# -- DevServer lifecycle -----------------------------------------------------------------------


def test_stop_refuses_connections_and_start_comes_back_on_the_same_port() -> None:
    with DevServer() as server:
        base, port = server.base_url, server.port
        assert port > 0 and server.running
        session = requests.Session()
        fp = make_fingerprint(base)
        body = {"event_name": "e", "properties": {}, "session": "s", "fingerprint_id": fp}
        assert session.post(base + "/api/v1/events", json=body).status_code == 200

        server.stop()
        server.stop()  # idempotent
        assert not server.running
        with pytest.raises(requests.ConnectionError):
            requests.get(base + "/healthz", timeout=2)  # new connection refused
        with pytest.raises(requests.ConnectionError):
            session.get(base + "/healthz", timeout=2)  # the pooled keep-alive one is cut too
        # The readers still work while Voker is "down".
        assert len(server.events()) == 1
        assert server.person("nobody") is None

        server.start()
        assert (server.port, server.base_url) == (port, base)
        assert session.post(base + "/api/v1/events", json=body).status_code == 200
        assert len(server.events(session="s")) == 2
        session.close()


def test_restart_while_a_client_keeps_sending_loses_only_refused_requests() -> None:
    with DevServer() as server:
        fp = make_fingerprint(server.base_url)
        accepted: list[int] = []
        stop = threading.Event()

        def sender() -> None:
            with requests.Session() as session:
                i = 0
                while not stop.is_set():
                    body = {"event_name": "e", "properties": {"i": i}, "session": "s"}
                    body["fingerprint_id"] = fp
                    try:
                        response = session.post(
                            server.base_url + "/api/v1/events", json=body, timeout=2
                        )
                    except requests.RequestException:
                        pass
                    else:
                        if response.status_code == 200:
                            accepted.append(i)
                    i += 1

        thread = threading.Thread(target=sender)
        thread.start()
        time.sleep(0.2)
        server.stop()
        time.sleep(0.2)
        server.start()
        time.sleep(0.2)
        stop.set()
        thread.join(10)
        stored = [event["properties"]["i"] for event in server.events()]
        assert accepted and set(accepted) <= set(stored)  # every acknowledged event is stored
        assert stored == sorted(set(stored))  # in order, none twice
        # At most the one request in flight when the server stopped was stored unacknowledged.
        assert len(stored) - len(accepted) <= 1


def test_close_deletes_only_a_temporary_database(tmp_path: Path) -> None:
    temporary = DevServer().start()
    temp_db = Path(temporary.db_path)
    assert temp_db.exists()
    temporary.close()
    temporary.close()  # idempotent
    assert not temp_db.exists()
    with pytest.raises(RuntimeError):
        temporary.start()

    own = tmp_path / "nested" / "voker.sqlite3"
    with DevServer(own) as server:
        make_fingerprint(server.base_url)
    assert own.exists()
    # The same file serves again with its data.
    with DevServer(own) as server:
        assert len(server.fingerprints()) == 1


def test_port_in_use_raises(tmp_path: Path) -> None:
    with DevServer() as first, pytest.raises(OSError):
        DevServer(tmp_path / "db.sqlite3", port=first.port).start()


def test_request_count_counts_http_requests_only(voker_server: VokerTestServer) -> None:
    assert voker_server.request_count() == 0
    voker_server.events()  # readers go to the database, not over HTTP
    requests.get(voker_server.base_url + "/healthz")
    requests.get(voker_server.base_url + "/nope")
    assert voker_server.request_count() == 2


# -- the pytest plugin -----------------------------------------------------------------------


def test_fixture_gives_a_fresh_running_server(voker_server: VokerTestServer) -> None:
    assert isinstance(voker_server, VokerTestServer) and isinstance(voker_server, DevServer)
    assert voker_server.running
    assert voker_server.events() == [] and voker_server.agents() == []
    assert voker_server.api_key is None
    assert requests.get(voker_server.base_url + "/healthz").status_code == 200


@pytest.mark.voker_server(api_key="marker-key", latency=0.001)
def test_marker_configures_the_fixture(voker_server: VokerTestServer) -> None:
    assert voker_server.api_key == "marker-key"
    assert voker_server.latency == 0.001
    assert requests.get(voker_server.base_url + "/api/v1/agents").status_code == 401


def test_voker_env_points_the_environment_at_the_server(voker_env: VokerTestServer) -> None:
    assert os.environ["VOKER_BASE_URL"] == voker_env.base_url
    assert os.environ["VOKER_API_KEY"]
    from voker_core import ApiClient

    with ApiClient() as api:  # configured from the environment only
        api.agents.create(agent_name="from-env")
    assert [a["agent_name"] for a in voker_env.agents()] == ["from-env"]


@pytest.fixture
def suite_disables_voker(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test run with VOKER_ENABLED=false, as the README suggests for tests that send nothing."""
    monkeypatch.setenv("VOKER_ENABLED", "false")


def test_fixture_clients_deliver_when_the_suite_disables_voker(
    suite_disables_voker: None,
    voker_client: Any,
    default_voker_client: Any,
    voker_server: VokerTestServer,
) -> None:
    import voker_core

    voker_client.events.create(event_name="own", properties={}, session="s1")
    voker_core.get_client().events.create(event_name="default", properties={}, session="s1")
    assert voker_client.flush(5) and default_voker_client.flush(5)
    assert sorted(e["event_name"] for e in voker_server.events()) == ["default", "own"]


def test_wait_for_events_waits_for_late_deliveries(voker_server: VokerTestServer) -> None:
    fp = make_fingerprint(voker_server.base_url)

    def deliver_later() -> None:
        time.sleep(0.2)
        for session in ("a", "b", "a"):
            body = {"event_name": "e", "properties": {}, "session": session, "fingerprint_id": fp}
            requests.post(voker_server.base_url + "/api/v1/events", json=body)

    thread = threading.Thread(target=deliver_later)
    thread.start()
    events = voker_server.wait_for_events(2, session="a", timeout=5)
    thread.join()
    assert [e["session"] for e in events] == ["a", "a"]


def test_wait_for_events_timeout_reports_what_arrived(voker_server: VokerTestServer) -> None:
    fp = make_fingerprint(voker_server.base_url)
    body = {"event_name": "llm", "properties": {"k": 1}, "session": "other", "fingerprint_id": fp}
    requests.post(voker_server.base_url + "/api/v1/events", json=body)
    with pytest.raises(AssertionError) as failure:
        voker_server.wait_for_events(1, session="wanted", timeout=0.2)
    message = str(failure.value)
    assert "expected at least 1 event(s) matching {'session': 'wanted'}" in message
    assert "session='other'" in message and "event_name='llm'" in message


def test_voker_test_server_context_manager_outside_pytest_fixtures() -> None:
    with voker_test_server(api_key="k") as server:
        path = Path(server.db_path)
        headers = {"Authorization": "Bearer k"}
        response = requests.put(
            server.base_url + "/api/v1/people", json={"person_id": "p"}, headers=headers
        )
        assert response.status_code == 200
        assert server.people()[0]["person_id"] == "p"
    assert not server.running and not path.exists()


# -- the WSGI app under another server -----------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_create_app_runs_under_wsgiref(tmp_path: Path) -> None:
    app = create_app(tmp_path / "wsgi.sqlite3")
    httpd = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        base = f"http://127.0.0.1:{httpd.server_port}"
        created = requests.put(base + "/api/v1/agents", json={"agent_name": "wsgi bot é"})
        assert created.status_code == 200
        got = requests.get(base + "/api/v1/agents/wsgi%20bot%20%C3%A9")
        assert got.json() == created.json()
        assert app.request_count == 2
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
        app.store.close()


# -- the command line ------------------------------------------------------------------------


def _start_cli(*args: str, cwd: Path) -> tuple[subprocess.Popen[str], list[str]]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "voker_core.devserver", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith("Press Ctrl+C"):
            return process, lines
    process.kill()
    stderr = process.communicate(timeout=5)[1]
    raise AssertionError(f"devserver did not start: {lines} {stderr}")


def _exports(lines: list[str]) -> dict[str, str]:
    exports = {}
    for line in lines:
        if line.startswith("export "):
            name, _, value = line[len("export ") :].partition("=")
            exports[name] = value
    return exports


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_cli_serves_prints_exports_and_exits_cleanly(tmp_path: Path, signum: int) -> None:
    port = free_port()
    db = tmp_path / "cli.sqlite3"
    process, lines = _start_cli("--port", str(port), "--db", str(db), cwd=tmp_path)
    try:
        exports = _exports(lines)
        assert exports["VOKER_BASE_URL"] == f"http://127.0.0.1:{port}"
        assert exports["VOKER_API_KEY"] == "dev"
        assert any(line.startswith(f"Dashboard: http://127.0.0.1:{port}/") for line in lines)
        assert requests.get(exports["VOKER_BASE_URL"] + "/healthz").json()["status"] == "ok"
        agent = requests.put(
            exports["VOKER_BASE_URL"] + "/api/v1/agents",
            json={"agent_name": "cli"},
            headers={"Authorization": "Bearer anything"},
        )
        assert agent.status_code == 200
    finally:
        process.send_signal(signum)
        returncode = process.wait(timeout=15)
        process.communicate(timeout=5)
    assert returncode == 0
    assert db.exists()
    with DevServer(db) as reopened:
        assert [a["agent_name"] for a in reopened.agents()] == ["cli"]


@pytest.mark.slow
def test_cli_default_database_and_enforced_key(tmp_path: Path) -> None:
    port = free_port()
    process, lines = _start_cli("--port", str(port), "--api-key", "k 1", cwd=tmp_path)
    try:
        exports = _exports(lines)
        assert exports["VOKER_API_KEY"] == "'k 1'"  # shell-quoted
        base = exports["VOKER_BASE_URL"]
        assert requests.get(base + "/api/v1/agents").status_code == 401
        ok = requests.get(base + "/api/v1/agents", headers={"Authorization": "Bearer k 1"})
        assert ok.status_code == 200
        assert any("?key=k%201" in line for line in lines)
    finally:
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=15)
        process.communicate(timeout=5)
    assert returncode == 0
    assert (tmp_path / ".voker" / "devserver.sqlite3").exists()


@pytest.mark.slow
def test_cli_reports_a_busy_port(tmp_path: Path) -> None:
    with DevServer() as busy:
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        result = subprocess.run(
            [sys.executable, "-m", "voker_core.devserver", "--port", str(busy.port)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 2
    assert "cannot listen" in result.stderr


@pytest.mark.parametrize("where", ["a directory", "under a file"])
def test_cli_reports_a_database_it_cannot_open(tmp_path: Path, where: str) -> None:
    db = tmp_path if where == "a directory" else tmp_path / "file" / "x.db"
    (tmp_path / "file").write_text("")
    result = subprocess.run(
        [sys.executable, "-m", "voker_core.devserver", "--port", "0", "--db", str(db)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert f"cannot open the database {db}" in result.stderr
    assert "Traceback" not in result.stderr


def test_main_is_the_console_script_entry_point() -> None:
    from voker_core.devserver.__main__ import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
