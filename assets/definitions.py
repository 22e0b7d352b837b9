"""The Definitions object: assets of both sources, their shared curation chain, jobs, resources."""


import dagster as dg

from assets.automation import monthly_persona_schedule, monthly_web_schedule, new_release_sensor, new_snapshot_sensor
from assets.instruct import instruct_assets
from assets.models import perplexity_model, quality_model
from assets.partitions import generation_rounds, persona_releases, release_names, web_snapshots
from assets.personas import PERSONA_DOCUMENTS, persona_documents, persona_rows
from assets.release import release_assets
from assets.stages import stage_assets
from assets.synthetic import PERSONA_QA, persona_qa, rephrased
from assets.web import EXTRACTED_TEXT, cc_selection, warc_records
from curation.catalog import CURATION_CHAIN, SCORING_CHAIN
from curation.catalog import EXTRACTED_TEXT as EXTRACTED_TEXT_SPEC
from resources.corpus_store import CorpusStore
from resources.dask import DaskResource
from resources.llm import REWARD_HOW_TO_CONFIGURE, LLMResource
from resources.models import ModelStore, ReferenceCorpus
from resources.sources import CrawlIndex, PersonaReleases, WebInbox

# Up to fuzzy dedup (no trained model needed), then the scoring stages that need the models.
# Extraction leads the web chain, so extraction through the heuristics is one fused step.
web_assets = [cc_selection, warc_records,
              *stage_assets("web", (EXTRACTED_TEXT_SPEC, *CURATION_CHAIN), web_snapshots, EXTRACTED_TEXT)]
persona_assets = [persona_rows, persona_documents,
                  *stage_assets("personas", CURATION_CHAIN, persona_releases, PERSONA_DOCUMENTS)]
web_scoring = stage_assets("web", SCORING_CHAIN, web_snapshots)
persona_scoring = stage_assets("personas", SCORING_CHAIN, persona_releases)
model_assets = [perplexity_model, quality_model]
# Generated persona QA goes through the same chain as any source, then is scored like one.
synthetic_persona_assets = [persona_qa, *stage_assets("synthetic", (*CURATION_CHAIN, *SCORING_CHAIN), persona_releases,
                                                      PERSONA_QA)]


def _job(name: str, assets: list, partitions_def, description: str):
    return dg.define_asset_job(name, selection=dg.AssetSelection.assets(*assets), partitions_def=partitions_def,
                               description=description)


web_curation_job = _job("web_curation", web_assets, web_snapshots,
                        "Web assets of one crawl snapshot up to fuzzy dedup.")
personas_curation_job = _job("personas_curation", persona_assets, persona_releases,
                             "Persona assets of one release up to fuzzy dedup.")
train_models_job = _job("train_models", model_assets, None, "Train the perplexity and quality models.")
web_scoring_job = _job("web_scoring", web_scoring, web_snapshots, "Perplexity and quality stages of one snapshot.")
personas_scoring_job = _job("personas_scoring", persona_scoring, persona_releases,
                            "Perplexity and quality stages of one persona release.")
# Curation and scoring of one partition in one run: what the sensor and the schedules start
# (the models must exist: the train_models job, run once).
web_snapshot_job = _job("web_snapshot", [*web_assets, *web_scoring], web_snapshots,
                        "Every web stage of one crawl snapshot, extraction to quality.")
personas_release_job = _job("personas_release", [*persona_assets, *persona_scoring], persona_releases,
                            "Every persona stage of one release, rows to quality.")
web_synthetic_job = _job("web_synthetic", [rephrased], web_snapshots,
                         "Nemotron-CC rephrasing of one snapshot (skipped without an LLM endpoint).")
instruct_round_job = _job("instruct_round", instruct_assets, generation_rounds,
                          "One generation round of instruction data: prompts, responses and dialogues, reward scores, "
                          "SFT conversations and preference pairs (skipped without LLM endpoints).")
assemble_release_job = _job("assemble_release", release_assets, release_names,
                            "A training release from every committed partition of each source: cross-source dedup, "
                            "decontamination, blend, shuffle, shards, token counts, dataset card.")
personas_synthetic_job = _job("personas_synthetic", synthetic_persona_assets, persona_releases,
                              "Persona-grounded QA of one release, then its curation chain (skipped without an "
                              "LLM endpoint).")


def default_resources() -> dict:
    """The deployment's resources. Paths, endpoint and cluster come from the environment through
    dg.EnvVar: resolved when a run starts, shown as their variable in the UI, never read at
    import (resources/paths.py lists the variables and the defaults the project scripts export)."""
    return {"corpus_store": CorpusStore(root=dg.EnvVar("CURATION_STORE")),
            "web_inbox": WebInbox(root=dg.EnvVar("CURATION_WEB_INBOX"), licences=dg.EnvVar("CURATION_WEB_LICENCES")),
            "persona_source": PersonaReleases(),
            "model_store": ModelStore(root=dg.EnvVar("CURATION_MODELS")),
            "reference_corpus": ReferenceCorpus(path=dg.EnvVar("CURATION_REFERENCE")),
            "llm": LLMResource(base_url=dg.EnvVar("CURATION_LLM_BASE_URL"), model=dg.EnvVar("CURATION_LLM_MODEL"),
                               cache_dir=dg.EnvVar("CURATION_LLM_CACHE")),
            "reward_llm": LLMResource(base_url=dg.EnvVar("CURATION_REWARD_BASE_URL"),
                                      model=dg.EnvVar("CURATION_REWARD_MODEL"),
                                      cache_dir=dg.EnvVar("CURATION_LLM_CACHE"),
                                      configure_hint=REWARD_HOW_TO_CONFIGURE),
            "dask": DaskResource(cluster=dg.EnvVar("CURATION_DASK")),
            "crawl_index": CrawlIndex(root=dg.EnvVar("CURATION_CC_INDEX"), base=dg.EnvVar("CURATION_CC_BASE"),
                                      cache=dg.EnvVar("CURATION_CC_CACHE"))}


defs = dg.Definitions(
    assets=[*web_assets, *persona_assets, *model_assets, *web_scoring, *persona_scoring, rephrased,
            *synthetic_persona_assets, *instruct_assets, *release_assets],
    jobs=[web_curation_job, personas_curation_job, train_models_job, web_scoring_job, personas_scoring_job,
          web_synthetic_job, personas_synthetic_job, web_snapshot_job, personas_release_job, instruct_round_job,
          assemble_release_job],
    sensors=[new_snapshot_sensor(web_snapshot_job), new_release_sensor(personas_release_job)],
    schedules=[monthly_web_schedule(web_snapshot_job), monthly_persona_schedule(personas_release_job)],
    resources=default_resources(),
)
