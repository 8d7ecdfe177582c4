"""``python -m benchmarks`` (``make bench``): every benchmark, one after the other.

Each prints its own table of figures and ratios against a baseline measured in the same run:
the unwrapped provider clients and the official ``voker`` 0.0.15 distribution.
"""

from __future__ import annotations

import sys

from benchmarks import delivery, overhead, replay


def main() -> int:
    print("== Wrapper overhead on the caller's thread (benchmarks/overhead.py) ==", flush=True)
    status = overhead.main([])
    print("\n== Streamed OpenAI chat replayed in-process (benchmarks/replay.py) ==", flush=True)
    replay.main(["--rounds", "1000"])
    print("\n== Delivery: caller cost, throughput, memory (benchmarks/delivery.py) ==", flush=True)
    delivery.main()
    return status


if __name__ == "__main__":
    sys.exit(main())
