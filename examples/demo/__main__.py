"""``python -m examples.demo [--db PATH] [--offline] [--serve] [--verbose]``: see the package doc.

Exit status: 0 when every step's events landed as expected, 1 when one did not (the message names
it), 130 when interrupted. Run it from the repository root (``examples`` is not installed); the
default database is the repository's ``.voker/demo.sqlite3``, the one ``make devserver`` serves.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType

from voker_core.devserver import DevServer

from .console import Console
from .runtime import API_KEY, Demo, StepFailed, StepResult
from .services import ROOT, CeleryWorker, RedisServer, reset_database

DEFAULT_DB = ROOT / ".voker" / "demo.sqlite3"
DEVSERVER_HINT = "make devserver"
DEVSERVER_DEFAULT_URL = "http://127.0.0.1:8787/"
TOTAL_STEPS = 8
#: Signals that end the demo like Ctrl-C does: through the cleanup of everything it started.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m examples.demo",
        description="Offline end-to-end walkthrough: Django, Flask, LangChain and Celery "
        "recording into a local Voker devserver.",
    )
    parser.add_argument(
        "--db",
        type=Path,
        default=DEFAULT_DB,
        help="devserver database, reset at start "
        "(default: the repository's .voker/demo.sqlite3, which `make devserver` serves)",
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        help="use the stand-in model server even when OPENAI_API_KEY/ANTHROPIC_API_KEY are set",
    )
    parser.add_argument(
        "--serve", action="store_true", help="keep the devserver up afterwards (Ctrl-C stops)"
    )
    parser.add_argument("--verbose", action="store_true", help="library logs and tracebacks")
    return parser


def _quiet_logging(verbose: bool) -> None:
    """Progress lines only: request logs and library chatter stay below the output."""
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
        return
    for name in ("werkzeug", "django", "celery", "kombu", "httpx"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _shown(path: Path) -> Path:
    """``path`` relative to the repository when inside it (shorter, and what Make uses)."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _signals(handler: Callable[[int, FrameType | None], None] | int) -> Iterator[None]:
    previous = {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _provider_keys(offline: bool) -> tuple[bool, bool]:
    """Whether the real OpenAI / Anthropic APIs are used (their keys are set, not --offline)."""
    if offline:
        return False, False
    return bool(os.environ.get("OPENAI_API_KEY")), bool(os.environ.get("ANTHROPIC_API_KEY"))


def _start_devserver(db: Path, stack: contextlib.ExitStack, out: Console) -> DevServer:
    """Step 1: the devserver on a fresh database, and the process-wide client pointed at it."""
    import voker_core

    reset_database(db)
    devserver = DevServer(db).start()
    stack.callback(devserver.close)
    out.step("Voker devserver", f"{devserver.base_url}  (database {_shown(db)}, reset)")
    # The apps find Voker through the environment, as they would in production; settings left
    # in the caller's shell (a disabled client, another server) must not change the walkthrough.
    for key in [k for k in os.environ if k.startswith(("VOKER_", "DEMO_")) and k != "VOKER_DEBUG"]:
        del os.environ[key]
    os.environ.update(VOKER_BASE_URL=devserver.base_url, VOKER_API_KEY=API_KEY)
    client = voker_core.configure()
    stack.callback(client.close, 10)  # runs before devserver.close: delivers what is left
    return devserver


def _start_models(offline: bool, stack: contextlib.ExitStack, out: Console) -> tuple[bool, bool]:
    """Step 2: the stand-in model server for each provider without a real key."""
    real_openai, real_anthropic = _provider_keys(offline)
    if real_openai and real_anthropic:
        out.step("Model providers", "the real OpenAI and Anthropic APIs (their keys are set)")
        return real_openai, real_anthropic
    from voker_core.testing.fake_llm import FakeLLMServer

    from .stand_in import support_reply

    fake = stack.enter_context(FakeLLMServer(default=support_reply))
    stand_in_env = fake.environ()
    apis = []
    for name, real in (("OpenAI", real_openai), ("Anthropic", real_anthropic)):
        if not real:
            apis.append(name)
            for key in (f"{name.upper()}_BASE_URL", f"{name.upper()}_API_KEY"):
                os.environ[key] = stand_in_env[key]
    noun = "APIs" if len(apis) > 1 else "API"
    out.step("Stand-in model server", f"{fake.base_url}  ({' + '.join(apis)} {noun}, offline)")
    if real_openai:
        out.note(
            "OPENAI_API_KEY is set: Django and Celery call the real OpenAI API (--offline: no)"
        )
    if real_anthropic:
        out.note("ANTHROPIC_API_KEY is set: Flask calls the real Anthropic API (--offline: no)")
    return real_openai, real_anthropic


def _start_celery(demo: Demo) -> None:
    """Step 3: redis-server and a worker, booting while the other steps run; else eager mode."""
    why = "no redis-server installed (`make system-deps` installs it)"
    if RedisServer.available():
        try:
            redis = demo.stack.enter_context(RedisServer.start(demo.workdir))
        except RuntimeError as exc:
            why = str(exc)
        else:
            os.environ["DEMO_CELERY_BROKER"] = demo.redis_url = redis.url
            paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
            demo.worker = demo.stack.enter_context(
                CeleryWorker.start("examples.celery_app.tasks", env, demo.workdir / "celery.log")
            )
            demo.out.step("Celery worker", f"booting in the background (broker {redis.url})")
            return
    os.environ["DEMO_CELERY_EAGER"] = "1"
    demo.out.step("Celery", "the task will run eagerly in the request (task_always_eager)")
    demo.out.note(f"{why}: no worker process")


def _setup(
    args: argparse.Namespace, stack: contextlib.ExitStack, workdir: Path, out: Console
) -> Demo:
    """Steps 1-3: the devserver, the model servers, the Celery worker."""
    devserver = _start_devserver(args.db.resolve(), stack, out)
    real_openai, real_anthropic = _start_models(args.offline, stack, out)
    demo = Demo(
        out=out,
        devserver=devserver,
        workdir=workdir,
        stack=stack,
        real_openai=real_openai,
        real_anthropic=real_anthropic,
    )
    _start_celery(demo)
    return demo


def _run_steps(demo: Demo) -> list[StepResult]:
    from . import step_celery, step_django, step_flask, step_langchain

    return [step.run(demo) for step in (step_django, step_flask, step_langchain, step_celery)]


def _report(demo: Demo, steps: Sequence[StepResult], started: float, serve: bool) -> int:
    import voker_core

    from .summary import Landed, check, render_table, wait_for

    demo.out.step("Flush and read back", "from the devserver's HTTP API")
    voker_core.get_client().flush(10)
    landed = wait_for(steps, lambda: Landed.fetch(demo.devserver.base_url, API_KEY), timeout=20)
    demo.out.line()
    demo.out.line(render_table(steps, landed))
    demo.out.line()
    problems = check(steps, landed)
    if problems:
        demo.out.line("demo FAILED: some steps did not record what they should:")
        for problem in problems:
            demo.out.line(f"  - {problem}")
        return 1
    sessions = len({e["session"] for e in landed.events})
    demo.out.line(
        f"OK: {len(landed.events)} events in {sessions} sessions, every step recorded "
        f"({time.monotonic() - started:.0f} s)."
    )
    lasts = "" if serve else "  (stops with the demo; `python -m examples.demo --serve` keeps it)"
    demo.out.line(f"Dashboard:     {demo.devserver.base_url}/{lasts}")
    db = Path(demo.devserver.db_path)
    hint = DEVSERVER_HINT if db == DEFAULT_DB else f"python -m voker_core.devserver --db {db}"
    demo.out.line(f"Browse later:  {hint}  then open {DEVSERVER_DEFAULT_URL}  ({_shown(db)})")
    return 0


def _serve_until_interrupted(demo: Demo) -> None:
    demo.out.line(f"\nServing the dashboard at {demo.devserver.base_url}/ - Ctrl-C stops.")
    try:
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        demo.out.line("")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _quiet_logging(args.verbose)
    out = Console(TOTAL_STEPS)
    out.line("Voker demo: Django, Flask, LangChain and Celery recording into a local Voker server.")
    out.line("No account, no API keys, no network needed.\n")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="voker-demo-") as tmp, _signals(_raise_interrupt):
        stack = contextlib.ExitStack()
        try:
            demo = _setup(args, stack, Path(tmp), out)
            status = _report(demo, _run_steps(demo), started, args.serve)
            if status == 0 and args.serve:
                _serve_until_interrupted(demo)
            return status
        except KeyboardInterrupt:
            out.line("\ninterrupted: stopping everything the demo started")
            return 130
        except StepFailed as exc:
            out.line(f"\ndemo FAILED at {out.current}: {exc}")
            return 1
        except Exception as exc:
            if args.verbose:
                traceback.print_exc()
            out.line(f"\ndemo FAILED at {out.current}: {type(exc).__name__}: {exc}")
            if not args.verbose:
                out.line(
                    "(`python -m examples.demo --verbose` shows the traceback and library logs)"
                )
            return 1
        finally:
            with _signals(signal.SIG_IGN):  # a second Ctrl-C must not leave servers behind
                stack.close()


if __name__ == "__main__":
    sys.exit(main())
