"""OpenAI chat, replayed in-process: caller-thread CPU without the network's noise.

    .venv/bin/python -m benchmarks.replay [--rounds 2000]

The fake LLM server answers each kind of request once; after that the SDK's own HTTP client
gets those recorded bytes from a mock transport (a stream one SSE frame per read, as over the
network), so a call costs only the client's Python - the SDK's and the wrapper's. Events still go to a
real devserver (its own process) and are let deliver between calls, untimed; every timed call
follows the same untimed step (an unwrapped call, then delivery let finish). Each round calls
every variant once in a shuffled order and times the caller thread's CPU
(``time.thread_time``); every figure is the median over the rounds of (variant - the same
round's unwrapped call).

Non-streamed ``create``: ``unwrapped`` (the baseline) and ``voker_core``. Streamed:

* ``unwrapped``: the SDK's client, the baseline;
* ``unwrapped+include_usage``: the same, asking for usage itself (the SDK decodes the extra
  event and a ``"usage":null`` in every chunk);
* ``unwrapped+include_usage, usage cut``: the same, with the wrapper's byte filter cutting
  that usage out before the SDK's decoder (what asking for usage costs our wrapper);
* ``voker_core``: our wrapper, recording the call.

This is a diagnostic next to ``benchmarks/overhead.py`` (whose wall-time figures over real
HTTP are the ones the target is checked against): it tells where our overhead goes.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Any

from benchmarks._common import devserver_process, print_table
from benchmarks.overhead import AGENT, SESSION, conversation, fake_llm_process

MODEL = "gpt-4.1-mini"
USAGE = {"include_usage": True}


def _recorded_bodies(llm_url: str) -> dict[bool | None, bytes]:
    """The fake server's streamed answer, without and with ``include_usage`` (keys False and
    True), and its non-streamed one (key None)."""
    import requests

    bodies = {}
    for usage in (False, True, None):
        body: dict[str, Any] = {"model": MODEL, "messages": conversation()}
        if usage is not None:
            body["stream"] = True
        if usage:
            body["stream_options"] = USAGE
        answer = requests.post(
            f"{llm_url}/v1/chat/completions",
            json=body,
            headers={"Authorization": "Bearer bench"},
            timeout=10,
        )
        answer.raise_for_status()
        bodies[usage] = answer.content
    return bodies


def _replaying_http_client(bodies: dict[bool | None, bytes]) -> Any:
    """An instance of the SDK's own HTTP client class (``httpx`` or its successor) whose
    transport answers from ``bodies``."""
    import openai

    probe = openai.OpenAI(api_key="bench")
    # The SDK wraps the library's Client class: the first base from another package is it.
    roots = [cls.__module__.split(".")[0] for cls in type(probe._client).__mro__]
    http = sys.modules[next(root for root in roots if root != "openai")]
    probe.close()

    def answer(request: Any) -> Any:
        sent = json.loads(request.content)
        if not sent.get("stream"):
            return http.Response(
                200, content=bodies[None], headers={"content-type": "application/json"}
            )
        options = sent.get("stream_options") or {}
        body = bodies[bool(options.get("include_usage"))]
        # One read per SSE frame, as over the network (the fake server writes each frame on
        # its own): the byte filter runs once per read, as it does there.
        frames = [frame + b"\n\n" for frame in body.split(b"\n\n") if frame]
        return http.Response(
            200, content=iter(frames), headers={"content-type": "text/event-stream"}
        )

    return http.Client(transport=http.MockTransport(answer))


def variants(
    bodies: dict[bool | None, bytes], voker_client: Any
) -> tuple[dict[str, Callable[[], object]], dict[str, Callable[[], object]]]:
    """``(non-streamed, streamed)`` variants, each with its ``unwrapped`` baseline."""
    import openai

    from voker_core.ai._openai._translate import ChatStreamRecorder, _UsageEventFilter
    from voker_core.ai._recorder import LLMCall
    from voker_core.ai.provider_openai import OpenAI

    options = {"api_key": "bench", "base_url": "http://replay/v1", "max_retries": 0}
    plain = openai.OpenAI(http_client=_replaying_http_client(bodies), **options)
    ours = OpenAI(voker_client=voker_client, http_client=_replaying_http_client(bodies), **options)
    messages = conversation()
    # A recorder that is never finished: it only receives the usage event the filter cuts.
    sink = ChatStreamRecorder(
        LLMCall.begin(
            api="replay",
            provider="openai",
            kwargs={"voker_agent": AGENT, "voker_session": SESSION},
            voker_client=voker_client,
        )
    )

    def unwrapped() -> object:
        return list(plain.chat.completions.create(model=MODEL, messages=messages, stream=True))

    def with_usage() -> object:
        stream = plain.chat.completions.create(
            model=MODEL, messages=messages, stream=True, stream_options=USAGE
        )
        return list(stream)

    def usage_cut() -> object:
        stream = plain.chat.completions.create(
            model=MODEL, messages=messages, stream=True, extra_body={"stream_options": USAGE}
        )
        stream._decoder = _UsageEventFilter(stream._decoder, sink)
        return list(stream)

    def wrapped() -> object:
        stream = ours.chat.completions.create(
            model=MODEL, messages=messages, stream=True, voker_agent=AGENT, voker_session=SESSION
        )
        return list(stream)

    def unwrapped_create() -> object:
        return plain.chat.completions.create(model=MODEL, messages=messages)

    def wrapped_create() -> object:
        return ours.chat.completions.create(
            model=MODEL, messages=messages, voker_agent=AGENT, voker_session=SESSION
        )

    created = {"unwrapped": unwrapped_create, "voker_core": wrapped_create}
    streamed = {
        "unwrapped": unwrapped,
        "unwrapped+include_usage": with_usage,
        "unwrapped+include_usage, usage cut": usage_cut,
        "voker_core": wrapped,
    }
    return created, streamed


def measure(
    calls: dict[str, Callable[[], object]], voker_client: Any, rounds: int, warmup: int
) -> dict[str, list[float]]:
    """Caller-thread CPU µs of every call, variants shuffled round by round."""
    for _ in range(warmup):
        for call in calls.values():
            call()
            voker_client.flush(10)
    cpu: dict[str, list[float]] = {name: [] for name in calls}
    order = list(calls)
    shuffle = random.Random(1234).shuffle
    gc.collect()
    unwrapped = calls["unwrapped"]
    for _ in range(rounds):
        shuffle(order)
        for name in order:
            # The same untimed predecessor for every timed call: an unwrapped call, then
            # delivery let finish (else the cost of waking up after our delivery falls on
            # whichever variant comes next).
            unwrapped()
            voker_client.flush(10)
            started = time.thread_time_ns()
            calls[name]()
            cpu[name].append((time.thread_time_ns() - started) / 1000.0)
    voker_client.flush(10)
    return cpu


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=100)
    args = parser.parse_args(argv)

    from voker_core import VokerClient

    with ExitStack() as stack:
        llm_url = stack.enter_context(fake_llm_process())
        voker_url, _ = stack.enter_context(devserver_process())
        voker_client = VokerClient(api_key="bench-key", base_url=voker_url)
        stack.callback(voker_client.close)
        created, streamed = variants(_recorded_bodies(llm_url), voker_client)
        results = [
            ("chat.completions.create", measure(created, voker_client, args.rounds, args.warmup)),
            (
                "chat.completions.create(stream=True)",
                measure(streamed, voker_client, args.rounds, args.warmup),
            ),
        ]
    print(
        "OpenAI chat, 20-message request, replayed in-process; caller-thread CPU, "
        f"{args.rounds} rounds"
    )
    rows = []
    for scenario, cpu in results:
        base = cpu["unwrapped"]
        for name, values in cpu.items():
            paired = statistics.median(v - b for v, b in zip(values, base, strict=True))
            rows.append([scenario, name, f"{statistics.median(values):.1f}", f"{paired:+.1f}"])
            scenario = ""
    print_table(["scenario", "variant", "median CPU µs", "paired over unwrapped µs"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
