"""The main job: materialise the whole asset graph on the shipped sample data.

Registers every snapshot folder of the web inbox as a dynamic partition, then runs the web
chain for each snapshot and the persona chain for each local persona release, in process,
against the Dagster instance in $DAGSTER_HOME (runs appear in the UI afterwards).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import dagster as dg

from assets.definitions import default_resources, defs
from assets.partitions import generation_rounds, persona_releases, release_names, unregistered_releases, web_snapshots
from curation.io import read_manifest

# Step events go to the instance (and the UI) anyway; the console shows one line per stage.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


MAIN_ROUND = "r1"
MAIN_RELEASE = "sample-release"

def main() -> int:
    if not os.environ.get("DAGSTER_HOME"):
        print("DAGSTER_HOME is not set; run through scripts/main.sh", file=sys.stderr)
        return 2
    instance = dg.DagsterInstance.get()
    # The deployment's resources, their environment variables resolved as a run would.
    resources = {name: resource.process_config_and_initialize() for name, resource in default_resources().items()
                 if name in ("web_inbox", "persona_source", "corpus_store", "llm")}
    inbox, personas, store = resources["web_inbox"], resources["persona_source"], resources["corpus_store"]
    snapshots = inbox.snapshots()
    new = [s for s in snapshots if not instance.has_dynamic_partition(web_snapshots.name, s)]
    if new:
        instance.add_dynamic_partitions(web_snapshots.name, new)
    # Every configured release becomes a partition (as the new_persona_release sensor does);
    # releases on remote paths (hf://) need network, so the main job runs the local ones.
    if unregistered_releases(personas, instance):
        instance.add_dynamic_partitions(persona_releases.name, unregistered_releases(personas, instance))
    releases = personas.local_releases()
    # One instruction-data generation round (skipped, like the synthetic jobs, without endpoints).
    if not instance.has_dynamic_partition(generation_rounds.name, MAIN_ROUND):
        instance.add_dynamic_partitions(generation_rounds.name, [MAIN_ROUND])
    # and a training release of everything curated
    if not instance.has_dynamic_partition(release_names.name, MAIN_RELEASE):
        instance.add_dynamic_partitions(release_names.name, [MAIN_RELEASE])
    runs, failed_checks, checks_run = [], [], 0
    # Curate up to dedup, train the models (their negatives are the web documents), then score.
    # The synthetic jobs need an LLM endpoint; without one their assets are skipped, not failed.
    plan = (("web_curation", snapshots), ("personas_curation", releases), ("train_models", [None]),
            ("web_scoring", snapshots), ("personas_scoring", releases),
            ("web_synthetic", snapshots), ("personas_synthetic", releases), ("instruct_round", [MAIN_ROUND]),
            ("assemble_release", [MAIN_RELEASE]))
    for job_name, keys in plan:
        job = defs.resolve_job_def(job_name)
        for key in keys:
            result = job.execute_in_process(instance=instance, partition_key=key, raise_on_error=False,
                                            run_config=QUIET_CONSOLE)
            runs.append((job_name, key, result.run_id, result.success))
            for evaluation in result.get_asset_check_evaluations():
                checks_run += 1
                if not evaluation.passed:
                    failed_checks.append(f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name} [{key}] "
                                         f"({evaluation.severity.value})")
            print(f"{'ok    ' if result.success else 'FAILED'} {job_name} [{key or '-'}] run {result.run_id}")
    print("\nOutputs (kept documents / rejects per stage, Parquet):")
    # Grouped by source, each in data-flow order: the order a reader follows the data.
    in_flow_order = list(defs.resolve_asset_graph().toposorted_asset_keys)
    for asset_key in sorted(in_flow_order, key=lambda k: (k.path[0], in_flow_order.index(k))):
        stage = "/".join(asset_key.path)
        if asset_key.path[0] == "models":
            continue
        keys = snapshots if asset_key.path[0] == "web" else releases  # personas and synthetic
        for key in keys:
            try:
                m = read_manifest(store.root, stage, key)
            except FileNotFoundError:
                continue
            reasons = ", ".join(f"{r}={n}" for r, n in m.rejects_by_reason.items()) or "-"
            print(f"  {stage:32s} {key:16s} in={m.rows_in:5d} kept={m.rows_kept:5d} "
                  f"rejected={m.rows_rejected:4d} ({reasons})")
    print(f"\nAsset checks: {checks_run - len(failed_checks)} of {checks_run} passed"
          + "".join(f"\n  failed: {name}" for name in failed_checks))
    llm_missing = resources["llm"].unavailable_reason()
    if llm_missing:
        print(f"\nSynthetic assets (web/rephrased, synthetic/*) skipped: {llm_missing}")
    try:
        release = read_manifest(store.root, "release/training_release", MAIN_RELEASE)
        folder = os.path.join(store.root, "release", "training_release", MAIN_RELEASE)
        by_source = ", ".join(f"{k}={v}" for k, v in release.extra.get("documents_out", {}).items())
        print(f"\nRelease {MAIN_RELEASE}: {release.rows_kept} documents ({by_source}), "
              f"{sum(release.extra.get('tokens_out', {}).values())} tokens, {len(release.kept_shards)} shard(s)\n"
              f"  card:   {os.path.join(folder, 'README.md')}")
        card = Path(folder, "README.md").read_text(encoding="utf-8")
        # the card's summary: its opening, the sources table and the licences carried through
        print("\n".join("  " + line for line in card.split("## Rejects of the release")[0].strip().splitlines()[1:]))
    except FileNotFoundError:
        pass
    print(f"\nStore:         {store.root}")
    print(f"Dagster home:  {os.environ['DAGSTER_HOME']} (runs recorded there)")
    print("Browse:        bash scripts/ui.sh  ->  http://127.0.0.1:3000")
    return 0 if all(ok for *_, ok in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
