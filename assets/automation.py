"""What runs without a person: a sensor that turns a new crawl snapshot folder into a partition
and curates it, and monthly schedules that re-curate every partition (after a model retrain or
a threshold change, a re-run rewrites only what changed: shard folders are content-addressed).

Both need `dagster-daemon` (bash scripts/daemon.sh, or `dagster dev`); in the UI they are under
Automation, the sensor on by default, the schedules off until someone turns them on.
"""

from __future__ import annotations

import dagster as dg

from assets.partitions import persona_releases, unregistered_releases, web_snapshots
from curation.sources.warc import probe_warc
from resources.sources import CrawlIndex, PersonaReleases, WebInbox

MONTHLY = "0 3 1 * *"  # 03:00 on the 1st: Common Crawl publishes roughly monthly
SENSOR_INTERVAL_SECONDS = 300


def ready_snapshots(inbox: WebInbox, known: set[str] = frozenset(), index: CrawlIndex | None = None) -> list[str]:
    """Snapshots not in `known`: folders of the inbox that hold at least one readable WARC file
    (it starts as gzip or as a WARC record; a folder of 0-byte or foreign files is not a
    snapshot), and, with `index` configured, snapshots with index files under its root
    (crawl=NAME/subset=warc/*.parquet). A folder whose name starts with '.' or '_' is a copy in
    progress (copy into `.CC-MAIN-...`, then rename): not a snapshot yet. Known folders are not
    listed again: a crawl has ~90k WARC files per snapshot, and only files up to the first
    readable one are opened."""
    ready = [name for name in (index.snapshots() if index is not None else []) if name not in known]
    try:
        folders = inbox.snapshots()
    except FileNotFoundError:  # an index-only deployment may have no inbox yet
        folders = []
    for name in folders:
        if name in ready:
            continue
        if name in known or name.startswith((".", "_")):
            continue
        try:
            files = inbox.snapshot_files(name)
        except FileNotFoundError:
            continue  # empty so far; picked up on a later tick
        if any(probe_warc(url, inbox.storage_options or None) is None for url in files):
            ready.append(name)
    return sorted(ready)


def new_snapshot_sensor(job: dg.UnresolvedAssetJobDefinition) -> dg.SensorDefinition:
    @dg.sensor(name="new_web_snapshot", job=job, minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Registers each new snapshot (a folder of the web inbox, or a crawl of the "
                           "configured Common Crawl index) as a web_snapshots partition and requests its "
                           "curation run.")
    def new_web_snapshot(context: dg.SensorEvaluationContext, web_inbox: WebInbox,
                         crawl_index: CrawlIndex) -> dg.SensorResult | dg.SkipReason:
        registered = set(context.instance.get_dynamic_partitions(web_snapshots.name))
        new = ready_snapshots(web_inbox, known=registered, index=crawl_index if crawl_index.enabled else None)
        if not new:
            where = web_inbox.root + (f" or in the index {crawl_index.root}" if crawl_index.enabled else "")
            return dg.SkipReason(f"no new snapshot under {where} ({len(registered)} registered)")
        context.log.info(f"new snapshots under {web_inbox.root}: {', '.join(new)}")
        return dg.SensorResult(
            dynamic_partitions_requests=[web_snapshots.build_add_request(new)],
            # run_key: the daemon never starts a second run for the same snapshot.
            run_requests=[dg.RunRequest(partition_key=name, run_key=f"snapshot-{name}") for name in new])

    return new_web_snapshot


def new_release_sensor(job: dg.UnresolvedAssetJobDefinition) -> dg.SensorDefinition:
    @dg.sensor(name="new_persona_release", job=job, minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Registers each persona release of the configuration (persona_source.releases) as a "
                           "persona_releases partition, in configured order, and requests the curation run of "
                           "the new ones readable without network.")
    def new_persona_release(context: dg.SensorEvaluationContext,
                            persona_source: PersonaReleases) -> dg.SensorResult | dg.SkipReason:
        new = unregistered_releases(persona_source, context.instance)
        if not new:
            return dg.SkipReason(f"every configured persona release is registered ({len(persona_source.releases)})")
        local = set(persona_source.local_releases())
        context.log.info(f"new persona releases: {', '.join(new)}")
        return dg.SensorResult(
            dynamic_partitions_requests=[persona_releases.build_add_request(new)],
            run_requests=[dg.RunRequest(partition_key=name, run_key=f"release-{name}")
                          for name in new if name in local])

    return new_persona_release


def monthly_web_schedule(job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    @dg.schedule(name="monthly_web_recuration", cron_schedule=MONTHLY, job=job, execution_timezone="Asia/Seoul",
                 description="Re-curates every registered crawl snapshot, oldest first (dedup keeps the "
                             "earliest copy, so earlier snapshots run first under the run queue).")
    def monthly_web_recuration(context: dg.ScheduleEvaluationContext):
        snapshots = sorted(context.instance.get_dynamic_partitions(web_snapshots.name))
        if not snapshots:
            return dg.SkipReason("no web snapshot registered yet")
        month = context.scheduled_execution_time.strftime("%Y-%m")
        return [dg.RunRequest(partition_key=name, run_key=f"{month}-{name}") for name in snapshots]

    return monthly_web_recuration


def monthly_persona_schedule(job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    @dg.schedule(name="monthly_persona_recuration", cron_schedule=MONTHLY, job=job, execution_timezone="Asia/Seoul",
                 description="Re-curates the persona releases whose source is reachable without network "
                             "(hf:// releases need network: run them by hand).")
    def monthly_persona_recuration(context: dg.ScheduleEvaluationContext, persona_source: PersonaReleases):
        registered = set(context.instance.get_dynamic_partitions(persona_releases.name))
        releases = [name for name in persona_source.local_releases() if name in registered]
        if not releases:
            return dg.SkipReason("no local persona release registered (the new_persona_release sensor registers "
                                 "the configured ones)")
        month = context.scheduled_execution_time.strftime("%Y-%m")
        return [dg.RunRequest(partition_key=name, run_key=f"{month}-{name}") for name in releases]

    return monthly_persona_recuration

