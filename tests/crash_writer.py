"""Writes one stage partition the way the assets do (a library stage over batches into a
PartitionWriter), slowly enough for a test to kill it mid-write.

    python tests/crash_writer.py STORE_ROOT [--pause SECONDS]
"""

import argparse
import random
import sys
import time
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation.heuristics import HeuristicFilter  # noqa: E402
from curation.io import PartitionWriter  # noqa: E402

WORDS = ["서울시는", "올해", "하반기부터", "대중교통", "요금", "체계를", "개편한다고", "밝혔다.", "시민들은", "변화를",
         "환영했다.", "ㅋㅋㅋㅋㅋ", "무료", "쿠폰"]
BATCHES, ROWS = 20, 50


def batches():
    rng = random.Random(7)
    for b in range(BATCHES):
        texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 40))) for _ in range(ROWS)]
        yield pa.table({"id": [f"doc-{b:02d}-{i:03d}" for i in range(ROWS)], "text": texts})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("--pause", type=float, default=0.0)
    args = parser.parse_args()
    stage = HeuristicFilter()
    with PartitionWriter(args.root, "web/heuristic_filtered", "CC-CRASH", rows_per_shard=120) as writer:
        for batch in batches():
            kept, rejected, _ = stage.process(batch)
            writer.write_kept(kept)
            writer.write_rejects(rejected)
            time.sleep(args.pause)
        writer.commit(rows_in=BATCHES * ROWS)


if __name__ == "__main__":
    main()
