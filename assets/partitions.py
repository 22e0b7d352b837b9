"""Partitions: web assets by crawl snapshot, personas by release, both registered as they
arrive (by the sensors, or by scripts/run_main.py for the sample)."""

import dagster as dg

from resources.sources import PersonaReleases

# A new Common Crawl snapshot is added when its WARC folder lands in the inbox.
web_snapshots = dg.DynamicPartitionsDefinition(name="web_snapshots")

# A release of Nemotron-Personas-Korea is added when it is configured (PersonaReleases.releases):
# a release added to the configuration gets a partition, in the order the releases are listed.
persona_releases = dg.DynamicPartitionsDefinition(name="persona_releases")
# Instruction-data generation rounds, named by the user (r1, r2, ...): Add partition in the UI,
# or `dagster asset materialize --partition r1` after registering it.
generation_rounds = dg.DynamicPartitionsDefinition(name="generation_rounds")
# Training releases, named by the user (e.g. 2026-12): each assembles every committed partition.
release_names = dg.DynamicPartitionsDefinition(name="release_names")


def unregistered_releases(releases: PersonaReleases, instance: dg.DagsterInstance) -> list[str]:
    """Configured releases that are not partitions yet, in configured order."""
    known = set(instance.get_dynamic_partitions(persona_releases.name))
    return [name for name in releases.releases if name not in known]


def partitions_in_keep_order(partitions_def: dg.PartitionsDefinition, instance: dg.DagsterInstance) -> list[str]:
    """The order in which dedup keeps the first copy: crawl snapshots by name (CC-MAIN-YYYY-WW
    sorts by date, whatever order they were registered in); other dynamic partitions (persona
    releases) in the order they were registered, which is the order they were configured."""
    if isinstance(partitions_def, dg.DynamicPartitionsDefinition):
        keys = instance.get_dynamic_partitions(partitions_def.name)
        return sorted(keys) if partitions_def.name == web_snapshots.name else list(keys)
    return list(partitions_def.get_partition_keys())
