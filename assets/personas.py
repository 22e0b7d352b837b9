"""Persona source assets: Nemotron-Personas-Korea rows of a release, then one document per
narrative field."""


from collections.abc import Iterator

import dagster as dg
import pyarrow as pa

from assets.partitions import persona_releases
from assets.stage_runner import partition_asset, upstream_batches, write_partition
from curation.io import iter_parquet_batches
from curation.sources.personas import PERSONA_ROW_SCHEMA, conform_persona_batch
from curation.sources.personas import persona_documents as documents_of
from curation.spec import StageSpec
from resources.corpus_store import CorpusStore
from resources.sources import PersonaReleases

PERSONA_ROWS_SPEC = StageSpec(
    name="persona_rows", kind="source",
    description="Nemotron-Personas-Korea rows of one release, checked against the 26-column schema.",
    preview=("uuid", "sex", "age", "province", "occupation", "persona"),
    required_columns=tuple(PERSONA_ROW_SCHEMA.names), checks=frozenset({"persona_marginals"}),
)
PERSONA_DOCUMENTS_SPEC = StageSpec(
    name="persona_documents", kind="source",
    description="One document per narrative field of each persona, with uuid and demographics as columns.",
    preview=("id", "uuid", "persona_field", "sex", "age", "province", "text"),
)
PERSONA_ROWS = dg.AssetKey(["personas", PERSONA_ROWS_SPEC.name])
PERSONA_DOCUMENTS = dg.AssetKey(["personas", PERSONA_DOCUMENTS_SPEC.name])


def _conformed(files: list[str], storage_options: dict) -> Iterator[pa.Table]:
    for url in files:
        for batch in iter_parquet_batches([url], storage_options=storage_options or None):
            yield conform_persona_batch(batch, url)


@partition_asset(PERSONA_ROWS, persona_releases, PERSONA_ROWS_SPEC)
def persona_rows(context: dg.AssetExecutionContext, corpus_store: CorpusStore,
                 persona_source: PersonaReleases) -> dg.MaterializeResult:
    files = persona_source.release_files(context.partition_key)
    return write_partition(context, PERSONA_ROWS_SPEC, corpus_store, _conformed(files, persona_source.storage_options),
                           extra=lambda: {"source_files": [f.rsplit("/", 1)[-1] for f in files]})


@partition_asset(PERSONA_DOCUMENTS, persona_releases, PERSONA_DOCUMENTS_SPEC, deps=[PERSONA_ROWS])
def persona_documents(context: dg.AssetExecutionContext, corpus_store: CorpusStore) -> dg.MaterializeResult:
    batches = (documents_of(rows, context.partition_key)
               for rows in upstream_batches(context, corpus_store, PERSONA_ROWS))
    return write_partition(context, PERSONA_DOCUMENTS_SPEC, corpus_store, batches)
