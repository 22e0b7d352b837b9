"""Adds one partition to a dedup index slowly enough for a test to kill it mid-update.

    python tests/crash_index.py INDEX_ROOT PARTITION [--pause SECONDS]
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import curation.dedup.engine as engine  # noqa: E402
from curation.dedup.index import DedupIndex  # noqa: E402

from dedup_corpus import partitions, reader  # noqa: E402

SETTINGS = engine.DedupSettings(shards=8, map_rows=200)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("partition", type=int)
    parser.add_argument("--pause", type=float, default=0.0)
    args = parser.parse_args()
    if args.pause:
        write = engine.write_arrays

        def slow_write(fs, path, arrays):
            result = write(fs, path, arrays)
            time.sleep(args.pause)
            return result

        engine.write_arrays = slow_write
    index = DedupIndex.open(args.root, SETTINGS.layout())
    table = partitions()[args.partition]
    engine.deduplicate_partition(reader(table), f"p{args.partition}", SETTINGS, index)


if __name__ == "__main__":
    main()
