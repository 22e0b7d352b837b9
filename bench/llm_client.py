"""Client throughput of curation.llm.LLMClient against the local test server (tests/openai_server.py,
run in its own process) answering every chat request after a fixed latency.

    python bench/llm_client.py [--latency 0.1] [--concurrency 1 32 128] [--seconds 8]

For each concurrency C, C * (seconds / latency) requests (cache off) go through `run_all`; the
physical limit is C / latency requests/s. Prints and writes bench/results/llm_client.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curation.llm import LLMClient, LLMConfig  # noqa: E402

SERVER = """
import sys, time
sys.path.insert(0, {tests!r})
from openai_server import FakeOpenAI
server = FakeOpenAI(delay_s={latency}).start()
print(server.base_url, flush=True)
time.sleep(10**6)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32, 128])
    parser.add_argument("--seconds", type=float, default=8.0, help="target duration per concurrency")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "llm_client.json"))
    args = parser.parse_args()
    server = subprocess.Popen([sys.executable, "-c", SERVER.format(tests=str(ROOT / "tests"), latency=args.latency)],
                              stdout=subprocess.PIPE, text=True)
    try:
        base_url = server.stdout.readline().strip()
        runs = []
        for concurrency in args.concurrency:
            requests = max(concurrency, int(concurrency * args.seconds / args.latency))
            config = LLMConfig(base_url=base_url, model="bench", max_concurrency=concurrency, max_tokens=16)
            with LLMClient(config) as client:
                start = time.perf_counter()
                results = client.run_all([[{"role": "user", "content": f"요청 {i}"}] for i in range(requests)])
                seconds = time.perf_counter() - start
            failed = sum(isinstance(r, Exception) for r in results)
            runs.append({"concurrency": concurrency, "requests": requests, "failed": failed,
                         "seconds": round(seconds, 2), "requests_per_s": round(requests / seconds, 1),
                         "limit_per_s": round(concurrency / args.latency, 1),
                         "share_of_limit": round(requests / seconds / (concurrency / args.latency), 3)})
            print(json.dumps(runs[-1]), flush=True)
    finally:
        server.kill()
    summary = {"latency_s": args.latency, "client": "curation.llm.LLMClient (urllib in a thread pool, asyncio "
               "semaphore)", "runs": runs}
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
