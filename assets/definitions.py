"""The Definitions object: assets of both sources, their shared curation chain, jobs, resources."""


import dagster as dg

from assets.partitions import persona_releases, web_snapshots
from assets.personas import PERSONA_DOCUMENTS, persona_documents, persona_rows
from assets.stages import curation_chain
from assets.web import EXTRACTED_TEXT, extracted_text, warc_records
from resources.corpus_store import CorpusStore
from resources.sources import PersonaReleases, WebInbox

web_assets = [warc_records, extracted_text, *curation_chain("web", EXTRACTED_TEXT, web_snapshots)]
persona_assets = [persona_rows, persona_documents, *curation_chain("personas", PERSONA_DOCUMENTS, persona_releases)]

web_curation_job = dg.define_asset_job(
    "web_curation", selection=dg.AssetSelection.groups("web"), partitions_def=web_snapshots,
    description="Every web asset for one crawl snapshot.",
)
personas_curation_job = dg.define_asset_job(
    "personas_curation", selection=dg.AssetSelection.groups("personas"), partitions_def=persona_releases,
    description="Every persona asset for one release.",
)


def default_resources() -> dict:
    return {"corpus_store": CorpusStore(), "web_inbox": WebInbox(), "persona_source": PersonaReleases()}


defs = dg.Definitions(
    assets=[*web_assets, *persona_assets],
    jobs=[web_curation_job, personas_curation_job],
    resources=default_resources(),
)
