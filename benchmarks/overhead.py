"""Wrapper overhead on the caller's thread: wrapped vs. unwrapped provider clients.

    .venv/bin/python -m benchmarks.overhead [--only openai] [--processes 3] [--budget SECONDS]

The fake LLM server and the Voker devserver run in their own processes (as a provider and Voker
would), so this process holds only what an application would: the provider SDK, the wrapper
and its delivery thread. Each scenario makes the same request with every variant - the
unwrapped SDK client, ``voker_core``'s drop-in, and the official ``voker`` 0.0.15 wrapper -
round after round, each round in a shuffled order, timing each call's wall time on the caller's
thread (a streamed call: until its last chunk has been read). Between two calls, untimed, the
Voker clients' background delivery is let finish, so that it never lands in another call.

Columns: ``+median``/``+p90`` are a variant's median/p90 minus the unwrapped client's (the
overhead); ``paired`` is the median of per-round differences (call minus the same round's
unwrapped call), which is less sensitive to load drifting during the run; ``+cpu`` is the
median CPU time of the caller's thread minus the unwrapped client's (what the wrapper itself
costs, without the network waits and scheduling noise of wall time); ``ratio`` is
median / unwrapped median. On a busy machine rerun, or compare ``paired``.

The whole measurement runs in ``--processes`` fresh processes one after the other (3 by
default), each with its own servers, and every figure printed is the median over them: on a
shared VM the same code measures tens of µs apart from one process to the next.

The OpenAI streaming scenario also times the unwrapped client passing
``stream_options={"include_usage": True}`` itself: what a streamed chat's usage costs a client
that parses it (the server adds a ``"usage":null`` to every chunk and one more event, which the
SDK decodes and builds a chunk for). Our wrapper asks for the same usage but cuts the usage
event and the nulls out of the response bytes before the SDK reads them, so this row is a
point of comparison, not a floor under our figure.

Adding a provider: write ``def my_scenarios(env: Env) -> list[Scenario]`` (see
``openai_scenarios``) and append it to ``SCENARIO_FACTORIES``.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from benchmarks._common import REPO_ROOT, devserver_process

TARGET_ADDED_US = 50.0
AGENT, SESSION = "bench-agent", "bench-session"
UNWRAPPED, OURS, OFFICIAL = "unwrapped", "voker_core", "official voker 0.0.15"
# A reference, not a wrapper: the unwrapped client asking for stream usage itself (and parsing
# it; the wrapper cuts it from the bytes instead).
UNWRAPPED_WITH_USAGE = "unwrapped+include_usage"


def conversation(turns: int = 20) -> list[dict[str, str]]:
    """A ``turns``-message chat history ending with a user message."""
    messages = [{"role": "system", "content": "You are a helpful support agent for ACME."}]
    for i in range(1, turns):
        role = "user" if i % 2 else "assistant"
        messages.append(
            {"role": role, "content": f"Message {i}: a short sentence of ordinary length here."}
        )
    if messages[-1]["role"] != "user":
        messages[-1]["role"] = "user"
    return messages


@dataclass
class Variant:
    """One way of making the scenario's call."""

    name: str
    call: Callable[[], object]


@dataclass
class Scenario:
    """The same request made by several variants; the first is the unwrapped baseline."""

    name: str
    variants: list[Variant]


@dataclass
class Env:
    """What scenario factories get: servers' URLs and a place to register clean-ups.

    Make Voker clients with ``our_voker_client()`` / ``official_voker_client()``: between two
    timed calls the benchmark lets their background delivery finish (:meth:`drain`, untimed),
    so that one variant's delivery thread does not slow the next variant's call down.
    """

    fake_llm_url: str
    voker_url: str
    stack: ExitStack
    voker_clients: list[Any] = field(default_factory=list)
    official_clients: list[Any] = field(default_factory=list)

    def our_voker_client(self) -> Any:
        from voker_core import VokerClient

        client = VokerClient(api_key="bench-key", base_url=self.voker_url)
        self.voker_clients.append(client)
        return client

    def official_voker_client(self) -> Any:
        from voker.client import VokerClient as OfficialVokerClient

        client = OfficialVokerClient(api_key="bench-key", base_url=self.voker_url)
        self.official_clients.append(client)
        self.stack.callback(client.close)
        return client

    def drain(self) -> None:
        """Wait (untimed) until the Voker clients have delivered what they queued."""
        for client in self.voker_clients:
            client.flush(10)
        for client in self.official_clients:
            # The official queue has no flush (nor task_done): wait until it is empty *and* its
            # one worker thread is blocked in queue.get() again, i.e. done posting the event it
            # took last. (Waiting only for an empty queue let that POST run into the next timed
            # call - always another variant's, which flattered the official wrapper.)
            official_queue = client._queue
            worker = client._event_worker
            while worker.is_alive() and not (
                official_queue.empty() and official_queue.not_empty._waiters
            ):
                time.sleep(0.0002)


# -- scenarios ------------------------------------------------------------------------------------


def openai_scenarios(env: Env) -> list[Scenario]:
    import openai
    from voker.ai.provider_openai import OpenAI as OfficialOpenAI

    from voker_core.ai.provider_openai import OpenAI

    options = {"api_key": "bench-key", "base_url": f"{env.fake_llm_url}/v1", "max_retries": 0}
    plain = env.stack.enter_context(openai.OpenAI(**options))
    ours = env.stack.enter_context(OpenAI(voker_client=env.our_voker_client(), **options))
    official = env.stack.enter_context(
        OfficialOpenAI(voker_client=env.official_voker_client(), **options)
    )
    request: dict[str, Any] = {"model": "gpt-4.1-mini", "messages": conversation(20)}
    voker = {"voker_agent": AGENT, "voker_session": SESSION}

    def streamed(client: Any, **extra: Any) -> Callable[[], object]:
        def call() -> object:
            for _ in client.chat.completions.create(**request, **extra, stream=True):
                pass
            return None

        return call

    return [
        Scenario(
            "openai chat.completions.create",
            [
                Variant(UNWRAPPED, lambda: plain.chat.completions.create(**request)),
                Variant(OURS, lambda: ours.chat.completions.create(**request, **voker)),
                Variant(OFFICIAL, lambda: official.chat.completions.create(**request, **voker)),
            ],
        ),
        Scenario(
            "openai chat.completions.create(stream=True)",
            [
                Variant(UNWRAPPED, streamed(plain)),
                Variant(OURS, streamed(ours, **voker)),
                Variant(OFFICIAL, streamed(official, **voker)),
                Variant(
                    UNWRAPPED_WITH_USAGE,
                    streamed(plain, stream_options={"include_usage": True}),
                ),
            ],
        ),
    ]


# -- Anthropic and Gemini scenarios (owned by the Anthropic/Gemini wrappers) -----------------------


def _if_it_works(variant: Variant) -> list[Variant]:
    """``[variant]``, or ``[]`` (with a note) if its call fails - the official 0.0.15 wrapper
    breaks on some SDK versions (Anthropic streams with anthropic 2.x raise a ``TypeError``)."""
    try:
        variant.call()
    except Exception as exc:
        print(f"note: {variant.name} left out: {type(exc).__name__}: {exc}", file=sys.stderr)
        return []
    return [variant]


def anthropic_scenarios(env: Env) -> list[Scenario]:
    """``messages.create``, plain and ``stream=True``: the system prompt plus 19 messages."""
    import anthropic
    from voker.ai.provider_anthropic import Anthropic as OfficialAnthropic

    from voker_core.ai.provider_anthropic import Anthropic

    options = {"api_key": "bench-key", "base_url": env.fake_llm_url, "max_retries": 0}
    plain = env.stack.enter_context(anthropic.Anthropic(**options))
    ours = env.stack.enter_context(Anthropic(voker_client=env.our_voker_client(), **options))
    official = env.stack.enter_context(
        OfficialAnthropic(voker_client=env.official_voker_client(), **options)
    )
    system, *messages = conversation(20)
    request: dict[str, Any] = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 512,
        "system": system["content"],
        "messages": messages,
    }
    voker = {"voker_agent": AGENT, "voker_session": SESSION}

    def streamed(client: Any, **extra: Any) -> Callable[[], object]:
        def call() -> object:
            for _ in client.messages.create(**request, **extra, stream=True):
                pass
            return None

        return call

    return [
        Scenario(
            "anthropic messages.create",
            [
                Variant(UNWRAPPED, lambda: plain.messages.create(**request)),
                Variant(OURS, lambda: ours.messages.create(**request, **voker)),
                Variant(OFFICIAL, lambda: official.messages.create(**request, **voker)),
            ],
        ),
        Scenario(
            "anthropic messages.create(stream=True)",
            [
                Variant(UNWRAPPED, streamed(plain)),
                Variant(OURS, streamed(ours, **voker)),
                *_if_it_works(Variant(OFFICIAL, streamed(official, **voker))),
            ],
        ),
    ]


def gemini_scenarios(env: Env) -> list[Scenario]:
    """``models.generate_content`` and ``generate_content_stream``: 20 contents."""
    from google import genai

    from voker_core.ai.provider_gemini import Client

    try:
        from voker.ai.provider_gemini import Client as OfficialClient
    except ImportError as exc:  # 0.0.15 imports a module google-genai 3.x no longer has
        print(f"note: {OFFICIAL} left out of the Gemini scenarios: {exc}", file=sys.stderr)
        OfficialClient = None

    options: dict[str, Any] = {
        "api_key": "bench-key",
        "http_options": {"base_url": env.fake_llm_url},
    }
    # Held for the whole run: a dropped google-genai client closes its connections.
    plain = genai.Client(**options)
    ours = Client(voker_client=env.our_voker_client(), **options)
    official = None
    if OfficialClient is not None:
        official = OfficialClient(voker_client=env.official_voker_client(), **options)
    for client in (plain, ours, official):
        if client is not None:
            env.stack.callback(client.close)
    system, *turns = conversation(20)
    request: dict[str, Any] = {
        "model": "gemini-2.5-flash",
        "contents": [
            {
                "role": "model" if m["role"] == "assistant" else "user",
                "parts": [{"text": m["content"]}],
            }
            for m in [{"role": "user", "content": system["content"]}, *turns]
        ],
    }
    voker = {"voker_agent": AGENT, "voker_session": SESSION}

    def streamed(client: Any, **extra: Any) -> Callable[[], object]:
        def call() -> object:
            for _ in client.models.generate_content_stream(**request, **extra):
                pass
            return None

        return call

    return [
        Scenario(
            "gemini models.generate_content",
            [
                Variant(UNWRAPPED, lambda: plain.models.generate_content(**request)),
                Variant(OURS, lambda: ours.models.generate_content(**request, **voker)),
                *(
                    [
                        Variant(
                            OFFICIAL, lambda: official.models.generate_content(**request, **voker)
                        )
                    ]
                    if official is not None
                    else []
                ),
            ],
        ),
        Scenario(
            "gemini models.generate_content_stream",
            [
                Variant(UNWRAPPED, streamed(plain)),
                Variant(OURS, streamed(ours, **voker)),
                *([Variant(OFFICIAL, streamed(official, **voker))] if official is not None else []),
            ],
        ),
    ]


#: One factory per provider; each returns its scenarios.
SCENARIO_FACTORIES: list[Callable[[Env], list[Scenario]]] = [
    openai_scenarios,
    anthropic_scenarios,
    gemini_scenarios,
]


# -- measuring ------------------------------------------------------------------------------------


@dataclass
class Row:
    scenario: str
    variant: str
    calls: int
    median_us: float
    p90_us: float
    added_median_us: float  # median minus the unwrapped client's median
    added_p90_us: float  # p90 minus the unwrapped client's p90
    paired_us: float  # median of (this call - the unwrapped call of the same round)
    added_cpu_us: float  # median caller-thread CPU time minus the unwrapped client's
    ratio: float  # median / the unwrapped client's median
    # The lowest and highest paired figure of the processes combined (combine() fills them).
    paired_low_us: float | None = None
    paired_high_us: float | None = None


def _p90(values: Sequence[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def measure(
    scenario: Scenario, env: Env, iterations: int, warmup: int, budget: float, seed: int = 0
) -> list[Row]:
    """Time every variant ``iterations`` times (fewer if ``budget`` seconds run out, but at
    least 100): each round calls every variant once, in a shuffled order.

    Every timed call follows the same untimed step - a call of the baseline (unwrapped)
    variant, then letting background delivery finish - so that no variant pays for what
    another left behind. (Timing each call straight after the previous one's drain let the cost
    a wrapper's delivery leaves - the caller thread waking up cold after the drain - fall on
    the next call, which the shuffle made the baseline about 9 times out of 10: both wrappers
    looked 50-80 µs cheaper than they are.)
    """
    variants = scenario.variants
    baseline = variants[0]
    for _ in range(warmup):
        for variant in variants:
            variant.call()
            env.drain()
    samples: dict[str, list[float]] = {v.name: [] for v in variants}
    cpu: dict[str, list[float]] = {v.name: [] for v in variants}
    order = list(variants)
    shuffle = random.Random(1234 + seed).shuffle  # a different order in each process
    gc.collect()
    clock, cpu_clock = time.perf_counter_ns, time.thread_time_ns
    deadline = time.monotonic() + budget
    for i in range(iterations):
        if i >= 100 and time.monotonic() > deadline:
            break
        shuffle(order)
        for variant in order:
            baseline.call()  # the same predecessor for every timed call (see above)
            env.drain()
            started, cpu_started = clock(), cpu_clock()
            variant.call()
            cpu_used, elapsed = cpu_clock() - cpu_started, clock() - started
            samples[variant.name].append(elapsed / 1000.0)
            cpu[variant.name].append(cpu_used / 1000.0)
            env.drain()
    base = samples[variants[0].name]
    base_median, base_p90 = statistics.median(base), _p90(base)
    base_cpu = statistics.median(cpu[variants[0].name])
    rows = []
    for variant in variants:
        values = samples[variant.name]
        median, p90 = statistics.median(values), _p90(values)
        paired = statistics.median(v - b for v, b in zip(values, base, strict=True))
        rows.append(
            Row(
                scenario.name,
                variant.name,
                len(values),
                median,
                p90,
                median - base_median,
                p90 - base_p90,
                paired,
                statistics.median(cpu[variant.name]) - base_cpu,
                median / base_median,
            )
        )
    return rows


def render(rows: list[Row]) -> str:
    header = (
        f"{'scenario':<44} {'variant':<22} {'calls':>6} {'median µs':>10} {'p90 µs':>10} "
        f"{'+median µs':>11} {'+p90 µs':>9} {'paired µs':>10} {'+cpu µs':>8} {'ratio':>6}"
    )
    lines = [header, "-" * len(header)]
    last = None
    for row in rows:
        name = row.scenario if row.scenario != last else ""
        last = row.scenario
        lines.append(
            f"{name:<44} {row.variant:<22} {row.calls:>6} {row.median_us:>10.1f} "
            f"{row.p90_us:>10.1f} {row.added_median_us:>+11.1f} {row.added_p90_us:>+9.1f} "
            f"{row.paired_us:>+10.1f} {row.added_cpu_us:>+8.1f} {row.ratio:>6.3f}"
        )
    return "\n".join(lines)


def verdicts(rows: list[Row]) -> list[str]:
    """One line per scenario: is our median overhead within the target and below the official?"""
    out = []
    by_scenario: dict[str, dict[str, Row]] = {}
    for row in rows:
        by_scenario.setdefault(row.scenario, {})[row.variant] = row
    for name, variants in by_scenario.items():
        ours = variants.get(OURS)
        if ours is None:
            continue
        low = ours.paired_low_us if ours.paired_low_us is not None else ours.paired_us
        high = ours.paired_high_us if ours.paired_high_us is not None else ours.paired_us
        checks = [
            f"added median {ours.added_median_us:+.1f} µs (paired {ours.paired_us:+.1f}, "
            f"{low:+.1f}…{high:+.1f} over the processes; target ≤ {TARGET_ADDED_US:.0f})"
        ]
        usage_reference = variants.get(UNWRAPPED_WITH_USAGE)
        if usage_reference is not None:
            checks.append(
                f"unwrapped asking for usage itself {usage_reference.added_median_us:+.1f} µs "
                f"(paired {usage_reference.paired_us:+.1f})"
            )
        # PASS only when every figure is within the target; MISS when every one is above it;
        # otherwise this VM's noise (±30-50 µs run to run) leaves it undecided.
        within = max(ours.added_median_us, high) <= TARGET_ADDED_US
        above = min(ours.added_median_us, low) > TARGET_ADDED_US
        official = variants.get(OFFICIAL)
        if official is not None:
            below_official = ours.added_median_us < official.added_median_us
            within = within and below_official
            above = above or not below_official
            checks.append(
                f"official {official.added_median_us:+.1f} µs (paired {official.paired_us:+.1f})"
            )
        verdict = "PASS" if within else "MISS" if above else "UNSURE"
        out.append(f"{verdict:<6} {name}: " + ", ".join(checks))
    return out


def combine(runs: list[list[Row]]) -> list[Row]:
    """Rows of several processes' runs -> one row per variant: the median of each figure over
    the processes (calls summed). The same code measures differently from one process to the
    next on a busy VM (memory layout, CPU placement); a median over processes steadies that."""
    grouped: dict[tuple[str, str], list[Row]] = {}
    for rows in runs:
        for row in rows:
            grouped.setdefault((row.scenario, row.variant), []).append(row)
    out = []
    for (scenario, variant), rows in grouped.items():

        def mid(name: str, rows: list[Row] = rows) -> float:
            return statistics.median(getattr(row, name) for row in rows)

        out.append(
            Row(
                scenario,
                variant,
                sum(row.calls for row in rows),
                mid("median_us"),
                mid("p90_us"),
                mid("added_median_us"),
                mid("added_p90_us"),
                mid("paired_us"),
                mid("added_cpu_us"),
                mid("ratio"),
                min(row.paired_us for row in rows),
                max(row.paired_us for row in rows),
            )
        )
    return out


def _run_child(args: argparse.Namespace, notes: set[str], seed: int) -> list[Row]:
    """One measuring process (this module with ``--child``), its rows read from its stdout;
    its notes (variants left out) are printed once."""
    command = [
        sys.executable,
        "-m",
        "benchmarks.overhead",
        "--child",
        f"--iterations={args.iterations}",
        f"--warmup={args.warmup}",
        f"--budget={args.budget}",
        f"--only={args.only}",
        f"--seed={seed}",
    ]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    for line in done.stderr.splitlines():
        if line.startswith("note:") and line not in notes:
            notes.add(line)
            print(line, file=sys.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"a benchmark process failed:\n{done.stderr[-2000:]}")
    return [Row(**fields) for fields in json.loads(done.stdout.splitlines()[-1])]


def _measure_all(args: argparse.Namespace) -> list[Row]:
    """Every selected scenario, in this process, against fresh servers."""
    with ExitStack() as stack:
        fake_url = stack.enter_context(fake_llm_process())
        voker_url, _ = stack.enter_context(devserver_process())
        env = Env(fake_url, voker_url, stack)
        rows: list[Row] = []
        for factory in SCENARIO_FACTORIES:
            for scenario in factory(env):
                if args.only not in scenario.name:
                    continue
                rows.extend(
                    measure(scenario, env, args.iterations, args.warmup, args.budget, args.seed)
                )
        for client in env.voker_clients:
            client.close(timeout=10)
    return rows


# -- servers --------------------------------------------------------------------------------------


@contextmanager
def fake_llm_process() -> Iterator[str]:
    """Run the fake LLM server (``python -m voker_core.testing.fake_llm``) in its own process;
    yield its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "voker_core.testing.fake_llm", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO_ROOT,
    )
    try:
        assert process.stdout is not None
        url = None
        while url is None:
            line = process.stdout.readline()
            if not line:
                raise RuntimeError("the fake LLM server exited before printing its address")
            found = re.search(r"on (http://[^\s]+?)\.?\s", line)
            url = found.group(1) if found else None
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000, help="rounds per scenario")
    parser.add_argument("--warmup", type=int, default=50, help="untimed rounds first")
    parser.add_argument(
        "--budget", type=float, default=20.0, help="seconds per scenario (at least 100 rounds)"
    )
    parser.add_argument(
        "--only", default="", help="run only the scenarios whose name contains this text"
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=3,
        help="measure in this many processes, one after the other, and report the median",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps([dataclasses.asdict(row) for row in _measure_all(args)]))
        return 0
    started = time.monotonic()
    notes: set[str] = set()
    runs = [_run_child(args, notes, seed) for seed in range(max(1, args.processes))]
    rows = combine(runs)
    elapsed = time.monotonic() - started

    print(
        "Wall time per call on the caller's thread, variants interleaved call by call, "
        f"20-message requests; median of {len(runs)} processes ({elapsed:.0f} s; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)\n"
    )
    print(render(rows))
    print()
    for line in verdicts(rows):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
