"""Run the fake LLM server from the command line (the offline demo's stand-in model server).

    python -m voker_core.testing.fake_llm --port 8788 [--reply "Canned answer"]

Prints the environment variables that point the OpenAI, Anthropic and Gemini SDKs at it, then
serves until interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import logging
import threading
from collections.abc import Sequence

from ._server import FakeLLMServer


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, start the server, print its environment, serve until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m voker_core.testing.fake_llm",
        description="Local fake OpenAI / Anthropic / Gemini API server (no network, no keys).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8788, help="0 picks a free port")
    parser.add_argument("--reply", default=None, help="canned reply text (default: echo)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(message)s")
    server = FakeLLMServer(host=args.host, port=args.port)
    if args.reply is not None:
        server.set_default(text=args.reply)
    server.start()
    print(f"Fake LLM server on {server.base_url}. Point the SDKs at it with:")
    for name, value in server.environ().items():
        print(f"export {name}={value}")
    print("Ctrl-C to stop.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
