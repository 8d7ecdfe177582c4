"""Delivery benchmark: voker-integrations' ``VokerClient`` vs the official ``voker==0.0.15``.

    .venv/bin/python benchmarks/delivery.py            # prints a table (about 1-2 minutes)

Both SDKs speak the same protocol to the same local devserver, which runs in its own process and
sleeps 5 ms before every answer (a network round trip). Every figure comes from a fresh
interpreter, so one SDK's threads and memory never touch the other's.

1. Caller-thread cost of ``client.events.create(...)`` with a small properties dict: p50 and
   p99 over 5,000 calls, after 200 warm-up calls, while the SDK's worker delivers in the
   background.
2. Time to deliver and drain 2,000 events at ``close()``: 100 sessions x 20 consecutive events,
   timed from creating the client to ``close()`` returning; afterwards every event must be on
   the server exactly once with each session's events in creation order.
3. Peak RSS while 100,000 events (about 1 KB of properties each) are attempted with Voker down
   (connection refused). The official SDK's run is capped at 60 s.
"""

from __future__ import annotations

import os
import platform
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import devserver_process, free_port, print_table, run_child

LATENCY = 0.005
CALLS = 5_000
WARMUP = 200
SESSIONS = 100
PER_SESSION = 20
ATTEMPTED = 100_000
OFFICIAL_CAP_SECONDS = 60.0

# How each SDK is imported and how a client is built (default options for both); the rest of
# each child is the same code for both.
_IMPORTS = {
    "ours": "from voker_core import VokerClient",
    "official": "from voker.client import VokerClient",
}
_CLIENTS = {
    sdk: f"{imp}\nclient = VokerClient(api_key='k', base_url=URL)" for sdk, imp in _IMPORTS.items()
}

_CALLER_COST = """
import json, os, time
URL = {url!r}
{client}
for i in range({warmup}):
    client.events.create(event_name="llm", properties={{"model": "m", "tokens": i}}, session=f"warm-{{i % 100}}")
time.sleep(0.2)
sessions = [f"cost-{{s}}" for s in range(100)]
samples = []
clock = time.perf_counter_ns
for i in range({calls}):
    props = {{"model": "gpt-4o-mini", "input_tokens": i, "output_tokens": 42, "finish_reason": "stop"}}
    started = clock()
    client.events.create(event_name="llm", properties=props, session=sessions[i % 100])
    samples.append(clock() - started)
samples.sort()
print(json.dumps({{"p50": samples[len(samples) // 2] / 1000, "p99": samples[int(len(samples) * 0.99)] / 1000}}), flush=True)
os._exit(0)   # leave the backlog behind: only the caller's cost is measured here
"""

_DRAIN = """
import json, time
URL = {url!r}
{imports}
started = time.perf_counter()
client = VokerClient(api_key="k", base_url=URL)
for s in range({sessions}):
    for i in range({per_session}):
        client.events.create(event_name="llm", properties={{"i": i, "text": "hello " * 10}}, session=f"{run}-{{s}}")
queued = time.perf_counter()
client.close({close_args})
done = time.perf_counter()
print(json.dumps({{"total": done - started, "enqueue": queued - started}}), flush=True)
"""

_RSS = """
import json, os, resource, time
URL = {url!r}

def peak_rss_kib():
    # VmHWM belongs to this process image; ru_maxrss on Linux also counts the parent's RSS at
    # fork time (before exec), which would make a child of a large benchmark runner look large.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

{client}
for i in range(10):
    client.events.create(event_name="warm", properties={{}}, session="warm")
time.sleep(0.3)
baseline = peak_rss_kib()
fill = "lorem ipsum dolor sit amet " * 36
started = time.perf_counter()
attempted = 0
capped = False
for i in range({attempted}):
    client.events.create(
        event_name="llm",
        properties={{"model": "gpt-4o-mini", "i": i, "messages": [{{"role": "user", "content": f"question {{i}}: " + fill}}]}},
        session=f"s{{i % 100}}",
    )
    attempted += 1
    if i % 1024 == 0 and time.perf_counter() - started > {cap}:
        capped = True
        break
elapsed = time.perf_counter() - started
peak = peak_rss_kib()
held = client.stats.pending if hasattr(client, "stats") else client._queue.qsize()
print(json.dumps({{"baseline_kib": baseline, "peak_kib": peak, "attempted": attempted, "held": held, "elapsed": elapsed, "capped": capped}}), flush=True)
os._exit(0)
"""


def _caller_cost(sdk: str, url: str) -> dict[str, float]:
    code = _CALLER_COST.format(url=url, client=_CLIENTS[sdk], warmup=WARMUP, calls=CALLS)
    result: dict[str, float] = run_child(code)
    return result


def _drain(sdk: str, url: str, db_path: str) -> dict[str, Any]:
    run = f"drain-{sdk}"
    code = _DRAIN.format(
        url=url,
        imports=_IMPORTS[sdk],
        sessions=SESSIONS,
        per_session=PER_SESSION,
        run=run,
        close_args="timeout=300" if sdk == "ours" else "",
    )
    result: dict[str, Any] = run_child(code, timeout=600)
    result["check"] = _check_drain(db_path, run)
    return result


def _check_drain(db_path: str, run: str) -> str:
    """Every event stored once, each session in creation order: 'ok' or what went wrong."""
    from voker_core.devserver import DevServer

    reader = DevServer(db_path)
    try:
        events = [e for e in reader.events() if e["session"].startswith(run + "-")]
    finally:
        reader.close()
    expected = SESSIONS * PER_SESSION
    seen = Counter((e["session"], e["properties"]["i"]) for e in events)
    if len(events) != expected or len(seen) != expected:
        return f"{len(events)} stored, {len(seen)} distinct (expected {expected})"
    order: dict[str, list[int]] = defaultdict(list)
    for event in events:
        order[event["session"]].append(event["properties"]["i"])
    broken = [s for s, seq in order.items() if seq != sorted(seq)]
    return "ok" if not broken else f"{len(broken)} session(s) out of order"


def _rss(sdk: str) -> dict[str, Any]:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there: Voker is down
    cap = 1e9 if sdk == "ours" else OFFICIAL_CAP_SECONDS
    code = _RSS.format(url=url, client=_CLIENTS[sdk], attempted=ATTEMPTED, cap=cap)
    result: dict[str, Any] = run_child(code, timeout=300)
    return result


def _mib(kib: float) -> str:
    return f"{kib / 1024:.1f}"


def _ratio(ours: float, official: float, *, higher_is_better: bool = False) -> str:
    if ours <= 0 or official <= 0:
        return "n/a"
    value = ours / official if higher_is_better else official / ours
    return f"{value:.1f}x {'better' if value >= 1 else 'worse'}"


def main() -> None:
    print(
        f"Delivery benchmark - devserver latency {LATENCY * 1000:.0f} ms per request, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPU(s), "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    results: dict[str, dict[str, Any]] = {"ours": {}, "official": {}}
    with devserver_process(latency=LATENCY) as (url, db_path):
        for sdk in ("ours", "official"):
            print(f"  caller cost ({sdk}) ...", flush=True)
            results[sdk]["cost"] = _caller_cost(sdk, url)
        for sdk in ("ours", "official"):
            print(f"  drain 2,000 events ({sdk}) ...", flush=True)
            results[sdk]["drain"] = _drain(sdk, url, db_path)
    for sdk in ("ours", "official"):
        print(f"  RSS with Voker down ({sdk}) ...", flush=True)
        results[sdk]["rss"] = _rss(sdk)

    ours, official = results["ours"], results["official"]
    events = SESSIONS * PER_SESSION
    ours_rate = events / ours["drain"]["total"]
    official_rate = events / official["drain"]["total"]
    ours_growth = ours["rss"]["peak_kib"] - ours["rss"]["baseline_kib"]
    official_growth = official["rss"]["peak_kib"] - official["rss"]["baseline_kib"]
    official_attempted = official["rss"]["attempted"]
    capped_note = (
        f" (capped at {OFFICIAL_CAP_SECONDS:.0f} s: {official_attempted:,} attempted)"
        if official["rss"]["capped"]
        else ""
    )
    rows = [
        [
            "events.create caller cost p50 (us)",
            f"{ours['cost']['p50']:.1f}",
            f"{official['cost']['p50']:.1f}",
            _ratio(ours["cost"]["p50"], official["cost"]["p50"]),
        ],
        [
            "events.create caller cost p99 (us)",
            f"{ours['cost']['p99']:.1f}",
            f"{official['cost']['p99']:.1f}",
            _ratio(ours["cost"]["p99"], official["cost"]["p99"]),
        ],
        [
            f"deliver + drain {events:,} events at close() (s)",
            f"{ours['drain']['total']:.2f}",
            f"{official['drain']['total']:.2f}",
            _ratio(ours["drain"]["total"], official["drain"]["total"]),
        ],
        [
            "throughput (events/s)",
            f"{ours_rate:.0f}",
            f"{official_rate:.0f}",
            _ratio(ours_rate, official_rate, higher_is_better=True),
        ],
        [
            "  stored once, sessions in order",
            ours["drain"]["check"],
            official["drain"]["check"],
            "",
        ],
        [
            f"peak RSS, {ATTEMPTED:,} events attempted, Voker down (MiB)",
            _mib(ours["rss"]["peak_kib"]),
            _mib(official["rss"]["peak_kib"]) + capped_note,
            _ratio(ours["rss"]["peak_kib"], official["rss"]["peak_kib"]),
        ],
        [
            "  RSS growth during the attempts (MiB)",
            _mib(ours_growth),
            _mib(official_growth),
            # Below 1 MiB the growth is noise (page rounding), not a figure to divide by.
            _ratio(max(ours_growth, 1024), max(official_growth, 1024)),
        ],
        [
            "  events held in memory afterwards",
            f"{ours['rss']['held']:,} (max_queue_size; rest dropped+counted)",
            f"{official['rss']['held']:,} (unbounded queue)",
            "",
        ],
        [
            "  time to attempt them (s)",
            f"{ours['rss']['elapsed']:.1f}",
            f"{official['rss']['elapsed']:.1f}",
            "",
        ],
    ]
    print()
    print_table(["metric", "voker-integrations", "voker 0.0.15 (official)", "ratio"], rows)


if __name__ == "__main__":
    main()
