"""Partitions: web assets by crawl snapshot (registered as they arrive), personas by release."""

import dagster as dg

from resources.sources import PERSONA_RELEASE_KEYS

# Dynamic: a new Common Crawl snapshot is added when its WARC folder lands in the inbox
# (scripts/run_main.py registers the sample snapshots; a sensor does it in production).
web_snapshots = dg.DynamicPartitionsDefinition(name="web_snapshots")

# Static: releases of Nemotron-Personas-Korea are few and named in code with their source path.
persona_releases = dg.StaticPartitionsDefinition(PERSONA_RELEASE_KEYS)


def partitions_in_keep_order(partitions_def: dg.PartitionsDefinition, instance: dg.DagsterInstance) -> list[str]:
    """The order in which dedup keeps the first copy: crawl snapshots by name (CC-MAIN-YYYY-WW
    sorts by date, whatever order they were registered in), releases as listed."""
    if isinstance(partitions_def, dg.DynamicPartitionsDefinition):
        return sorted(instance.get_dynamic_partitions(partitions_def.name))
    return list(partitions_def.get_partition_keys())
