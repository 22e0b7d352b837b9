"""The new-snapshot sensor, the monthly schedules and a one-partition backfill from the CLI,
evaluated the way the daemon and a data engineer would run them."""

import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import dagster as dg
import pytest

from assets.automation import MONTHLY, ready_snapshots
from assets.definitions import defs
from assets.partitions import partitions_in_keep_order, persona_releases, web_snapshots
from curation.io import read_manifest
from resources.paths import ENV_DEFAULTS
from resources.sources import CrawlIndex, PersonaReleases, WebInbox

from conftest import REPO, SAMPLE

SENSOR = defs.resolve_sensor_def("new_web_snapshot")
RELEASE_SENSOR = defs.resolve_sensor_def("new_persona_release")
WEB_SCHEDULE = defs.resolve_schedule_def("monthly_web_recuration")
PERSONA_SCHEDULE = defs.resolve_schedule_def("monthly_persona_recuration")


@pytest.fixture
def inbox(tmp_path) -> Path:
    root = tmp_path / "inbox"
    shutil.copytree(SAMPLE / "warc" / "CC-MAIN-2026-04", root / "CC-MAIN-2026-04")
    (root / "CC-MAIN-2026-12").mkdir()  # created, WARCs not copied yet
    shutil.copytree(SAMPLE / "warc" / "CC-MAIN-2026-08", root / ".CC-MAIN-2026-08")  # copy in progress
    return root


def tick(instance, inbox: Path, index: CrawlIndex | None = None):
    resources = {"web_inbox": WebInbox(root=str(inbox)), "crawl_index": index or CrawlIndex()}
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        # Called as Dagster's testing guide does: what the sensor function returns to the daemon.
        return SENSOR(context)


def evaluate(schedule: dg.ScheduleDefinition,
             context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest] | dg.SkipReason:
    return schedule(context)


def test_ready_snapshots_skip_empty_and_in_progress_folders(inbox):
    assert ready_snapshots(WebInbox(root=str(inbox))) == ["CC-MAIN-2026-04"]
    assert ready_snapshots(WebInbox(root=str(inbox)), known={"CC-MAIN-2026-04"}) == []


def test_sensor_registers_a_new_snapshot_and_requests_its_run_once(instance, inbox):
    first = tick(instance, inbox)
    [add] = first.dynamic_partitions_requests
    assert add.partitions_def_name == web_snapshots.name and list(add.partition_keys) == ["CC-MAIN-2026-04"]
    [request] = first.run_requests
    assert request.partition_key == "CC-MAIN-2026-04" and request.run_key == "snapshot-CC-MAIN-2026-04"
    assert SENSOR.job_name == "web_snapshot"
    # The daemon applies the request; the partition then exists for the job the run targets.
    instance.add_dynamic_partitions(web_snapshots.name, list(add.partition_keys))
    job = defs.resolve_job_def(SENSOR.job_name)
    assert "CC-MAIN-2026-04" in job.partitions_def.get_partition_keys(dynamic_partitions_store=instance)

    second = tick(instance, inbox)
    assert isinstance(second, dg.SkipReason) and "no new snapshot" in second.skip_message

    # The in-progress copy is renamed into place and the empty folder fills: both are picked up.
    (inbox / ".CC-MAIN-2026-08").rename(inbox / "CC-MAIN-2026-08")
    shutil.copy(next((SAMPLE / "warc" / "CC-MAIN-2026-04").glob("*.warc.gz")), inbox / "CC-MAIN-2026-12")
    third = tick(instance, inbox)
    assert [r.partition_key for r in third.run_requests] == ["CC-MAIN-2026-08", "CC-MAIN-2026-12"]


def test_sensor_reads_an_fsspec_inbox(instance):
    import fsspec

    memory = fsspec.filesystem("memory")
    warc = next((SAMPLE / "warc" / "CC-MAIN-2026-08").glob("*.warc.gz"))
    memory.pipe("/sensor-inbox/CC-MAIN-2026-08/" + warc.name, warc.read_bytes())
    try:
        result = tick(instance, "memory://sensor-inbox")
        assert [r.partition_key for r in result.run_requests] == ["CC-MAIN-2026-08"]
    finally:
        memory.rm("/sensor-inbox", recursive=True)


def test_monthly_web_schedule_recurates_every_snapshot_once_a_month(instance):
    assert WEB_SCHEDULE.cron_schedule == MONTHLY == "0 3 1 * *" and WEB_SCHEDULE.job_name == "web_snapshot"
    december = datetime(2026, 12, 1, 3, 0)
    empty = evaluate(WEB_SCHEDULE, dg.build_schedule_context(instance=instance, scheduled_execution_time=december))
    assert isinstance(empty, dg.SkipReason) and "no web snapshot" in empty.skip_message

    instance.add_dynamic_partitions(web_snapshots.name, ["CC-MAIN-2026-08", "CC-MAIN-2026-04"])
    result = evaluate(WEB_SCHEDULE, dg.build_schedule_context(instance=instance, scheduled_execution_time=december))
    # Oldest first: dedup keeps the earliest copy, so the earlier snapshot should run first.
    assert [(r.partition_key, r.run_key) for r in result] == [
        ("CC-MAIN-2026-04", "2026-12-CC-MAIN-2026-04"), ("CC-MAIN-2026-08", "2026-12-CC-MAIN-2026-08")]
    january = evaluate(WEB_SCHEDULE, dg.build_schedule_context(
        instance=instance, scheduled_execution_time=datetime(2027, 1, 1, 3, 0)))
    assert {r.run_key for r in january}.isdisjoint(r.run_key for r in result)


RELEASES = {"sample-100": str(SAMPLE / "personas" / "sample-100"),
            "hf-ada0f5b": "hf://datasets/nvidia/Nemotron-Personas-Korea"}


def release_tick(instance, releases: dict[str, str]):
    with dg.build_sensor_context(instance=instance, resources={"persona_source": PersonaReleases(releases=releases)}
                                 ) as context:
        result = RELEASE_SENSOR(context)
    if isinstance(result, dg.SensorResult):  # what the daemon does with the result
        for request in result.dynamic_partitions_requests:
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def test_every_configured_release_becomes_a_partition_in_configured_order(instance, tmp_path):
    first = release_tick(instance, RELEASES)
    assert [list(r.partition_keys) for r in first.dynamic_partitions_requests] == [["sample-100", "hf-ada0f5b"]]
    assert [r.partition_key for r in first.run_requests] == ["sample-100"]  # hf:// needs network: not started
    assert isinstance(release_tick(instance, RELEASES), dg.SkipReason)  # nothing new on the next tick
    # A third release added to the configuration gets a partition, after the others, and its run.
    shutil.copytree(SAMPLE / "personas" / "sample-100", tmp_path / "r3")
    third = release_tick(instance, {**RELEASES, "r3": str(tmp_path / "r3")})
    assert [r.partition_key for r in third.run_requests] == ["r3"]
    assert partitions_in_keep_order(persona_releases, instance) == ["sample-100", "hf-ada0f5b", "r3"]


def test_monthly_persona_schedule_runs_registered_local_releases_only(instance, tmp_path):
    # As a context manager: it tears its resources down, leaving no instance behind for later tests.
    def scheduled():
        with dg.build_schedule_context(instance=instance, scheduled_execution_time=datetime(2026, 12, 1, 3),
                                       resources={"persona_source": PersonaReleases(releases=RELEASES)}) as context:
            return evaluate(PERSONA_SCHEDULE, context)

    assert isinstance(scheduled(), dg.SkipReason)  # nothing registered yet
    instance.add_dynamic_partitions(persona_releases.name, list(RELEASES))
    assert [r.partition_key for r in scheduled()] == ["sample-100"]
    assert PERSONA_SCHEDULE.job_name == "personas_release"


def _dagster_cli(home: Path, store: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**ENV_DEFAULTS, **os.environ, "DAGSTER_HOME": str(home), "CURATION_STORE": str(store),
           "CURATION_WEB_INBOX": str(SAMPLE / "warc")}
    dagster = Path(sys.executable).with_name("dagster")
    return subprocess.run([str(dagster), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_backfill_of_one_partition_from_the_cli(tmp_path):
    """The README's command: re-materialise one snapshot's stages; other partitions untouched,
    and running it again rewrites nothing (same content-addressed shard folders)."""
    home, store = tmp_path / "home", tmp_path / "store"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions(web_snapshots.name, ["CC-MAIN-2026-04", "CC-MAIN-2026-08"])
    command = ("asset", "materialize", "-m", "assets.definitions", "--select",
               "web/warc_records,web/extracted_text,web/pii_redacted", "--partition", "CC-MAIN-2026-08")
    first = _dagster_cli(home, store, *command)
    assert first.returncode == 0, first.stderr[-3000:]
    manifests = [read_manifest(str(store), stage, "CC-MAIN-2026-08")
                 for stage in ("web/warc_records", "web/extracted_text", "web/pii_redacted")]
    from warcio.archiveiterator import ArchiveIterator

    with next((SAMPLE / "warc" / "CC-MAIN-2026-08").glob("*.warc.gz")).open("rb") as handle:
        responses = sum(r.rec_type == "response" for r in ArchiveIterator(handle))
    assert manifests[0].rows_in == responses > 0 and manifests[2].rows_in == manifests[1].rows_kept
    with pytest.raises(FileNotFoundError):
        read_manifest(str(store), "web/warc_records", "CC-MAIN-2026-04")
    again = _dagster_cli(home, store, *command)
    assert again.returncode == 0, again.stderr[-3000:]
    rerun = [read_manifest(str(store), stage, "CC-MAIN-2026-08")
             for stage in ("web/warc_records", "web/extracted_text", "web/pii_redacted")]
    assert [(m.kept_shards, m.reject_shards) for m in rerun] == [(m.kept_shards, m.reject_shards) for m in manifests]
    # Both runs are in the instance the UI reads, with the partition and the checks they ran.
    with dg.DagsterInstance.from_config(str(home)) as instance:
        records = instance.fetch_materializations(dg.AssetKey(["web", "pii_redacted"]), limit=10).records
        assert [r.partition_key for r in records] == ["CC-MAIN-2026-08"] * 2
