"""Command line: ``python -m voker_core.devserver`` / ``voker-devserver``.

Usage::

    voker-devserver [--host 127.0.0.1] [--port 8787] [--db .voker/devserver.sqlite3]
                    [--api-key KEY] [--latency SECONDS]

Prints the ``export VOKER_BASE_URL=...`` / ``export VOKER_API_KEY=...`` lines to paste into a shell
and the dashboard URL, then serves until SIGINT or SIGTERM (exit status 0).
"""

from __future__ import annotations

import argparse
import logging
import shlex
import signal
import sqlite3
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from urllib.parse import quote

from voker_core.devserver.server import DevServer

__all__ = ["main"]

DEFAULT_DB = ".voker/devserver.sqlite3"
#: The key printed when none is enforced: the server accepts any, a client still needs one.
ANY_KEY = "dev"
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voker-devserver",
        description="Local Voker server: the Voker HTTP API on SQLite, for development and tests.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (default %(default)s)"
    )
    parser.add_argument("--port", type=int, default=8787, help="TCP port (default %(default)s)")
    parser.add_argument("--db", default=DEFAULT_DB, help="SQLite database (default %(default)s)")
    parser.add_argument(
        "--api-key", default=None, help="require this API key (default: accept any key)"
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="seconds to wait before each answer, to simulate a network (default 0)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the devserver until SIGINT/SIGTERM; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    server = DevServer(
        args.db, host=args.host, port=args.port, api_key=args.api_key, latency=args.latency
    )
    try:
        _ = server.app  # opens (creating if needed) the database, before listening
    except (OSError, sqlite3.Error) as exc:
        print(f"voker-devserver: cannot open the database {args.db}: {exc}", file=sys.stderr)
        server.close()
        return 2
    try:
        server.start()
    except OSError as exc:
        print(f"voker-devserver: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        server.close()
        return 2

    stopping = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = {signum: signal.signal(signum, _on_signal) for signum in _STOP_SIGNALS}

    key = args.api_key if args.api_key is not None else ANY_KEY
    dashboard = server.base_url + "/"
    if args.api_key is not None:
        dashboard += "?key=" + quote(args.api_key, safe="")
    print(f"Voker devserver listening on {server.base_url} (database: {server.db_path})")
    print(f"export VOKER_BASE_URL={shlex.quote(server.base_url)}")
    print(f"export VOKER_API_KEY={shlex.quote(key)}")
    print(f"Dashboard: {dashboard}")
    print("Press Ctrl+C to stop.", flush=True)
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        server.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print("Voker devserver stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
