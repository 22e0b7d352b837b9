"""Crash safety: a stage killed mid-write (SIGKILL, no clean-up runs) leaves no partial shard
visible, and re-running the partition gives byte-identical outputs to an uninterrupted run."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from curation.io import read_manifest, shard_paths

WRITER = Path(__file__).with_name("crash_writer.py")
STAGE, PARTITION = "web/heuristic_filtered", "CC-CRASH"


def run_writer(root: Path) -> None:
    subprocess.run([sys.executable, str(WRITER), str(root)], check=True, timeout=120)


def kill_mid_write(root: Path) -> None:
    """Start the writer and SIGKILL it once it has written shards but not yet committed."""
    process = subprocess.Popen([sys.executable, str(WRITER), str(root), "--pause", "0.2"])
    partition = root / STAGE / PARTITION
    deadline = time.monotonic() + 60
    while not list(partition.glob("attempt-*/*/part-00001.parquet")):
        assert process.poll() is None, "the writer finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()


def files(root: Path) -> dict[str, bytes]:
    folder = root / STAGE / PARTITION
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_killed_first_run_leaves_nothing_visible_and_rerun_is_byte_identical(tmp_path):
    clean, crashed = tmp_path / "clean", tmp_path / "crashed"
    run_writer(clean)
    kill_mid_write(crashed)
    assert list((crashed / STAGE / PARTITION).glob("attempt-*/rejects/*.parquet"))  # it died mid-write
    with pytest.raises(FileNotFoundError):  # readers see no partition, not a partial one
        read_manifest(str(crashed), STAGE, PARTITION)
    run_writer(crashed)
    assert files(crashed) == files(clean)  # manifest and every shard, byte for byte; orphan gone
    manifest = read_manifest(str(crashed), STAGE, PARTITION)
    assert manifest.rows_in == 1000 == manifest.rows_kept + manifest.rows_rejected


def test_killed_rerun_leaves_the_committed_partition_readable(tmp_path):
    run_writer(tmp_path)
    committed = files(tmp_path)
    kill_mid_write(tmp_path)
    manifest = read_manifest(str(tmp_path), STAGE, PARTITION)
    assert all(Path(p).exists()
               for p in shard_paths(str(tmp_path), manifest) + shard_paths(str(tmp_path), manifest, "rejects"))
    # Left behind: the dead run's attempt folder and its lease, which the next run takes over.
    left = {k: v for k, v in files(tmp_path).items() if not k.startswith("attempt-") and k != "lease.json"}
    assert left == committed
    run_writer(tmp_path)
    assert files(tmp_path) == committed
    run_writer(tmp_path)
    assert files(tmp_path) == committed
