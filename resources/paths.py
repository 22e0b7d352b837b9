"""The deployment's environment: which variables configure the resources, and their project
defaults.

The resources of `assets/definitions.py` read these variables through `dg.EnvVar`, so Dagster
resolves them when a run starts (in the run's process), never when the code location is
imported, and the UI shows which variable a field comes from. The project scripts export the
defaults below for every variable that is not set (`scripts/env.sh` evaluates this file run as
a script), so a fresh clone runs as it is; a deployment sets its own values instead.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SAMPLE = PROJECT_ROOT / "data" / "sample"

ENV_DEFAULTS: dict[str, str] = {
    "CURATION_STORE": str(PROJECT_ROOT / "out" / "store"),  # CorpusStore.root: a folder or fsspec URL
    "CURATION_WEB_INBOX": str(SAMPLE / "warc"),  # WebInbox.root: one folder per crawl snapshot
    "CURATION_WEB_LICENCES": str(SAMPLE / "web_licences.tsv"),  # WebInbox.licences: URL prefix -> licence
    "CURATION_MODELS": str(PROJECT_ROOT / "out" / "models"),  # ModelStore.root
    "CURATION_REFERENCE": str(SAMPLE / "reference" / "reference_ko.jsonl"),  # ReferenceCorpus.path
    "CURATION_LLM_CACHE": str(PROJECT_ROOT / "out" / "llm_cache"),  # LLMResource.cache_dir
    "CURATION_LLM_BASE_URL": "",  # empty: no LLM endpoint, the synthetic assets are skipped
    "CURATION_LLM_MODEL": "",
    "CURATION_REWARD_BASE_URL": "",  # reward endpoint (NIM: nvidia/nemotron-4-340b-reward); empty: judge or skip
    "CURATION_REWARD_MODEL": "",
    "CURATION_DASK": "off",  # DaskResource.cluster: off | local | tcp://scheduler:8786
    "CURATION_CC_INDEX": "",  # CrawlIndex.root, e.g. s3://commoncrawl/cc-index/table/cc-main/warc/; empty: off
    "CURATION_CC_BASE": "https://data.commoncrawl.org/",  # CrawlIndex.base: what warc_filename is relative to
    "CURATION_CC_CACHE": str(PROJECT_ROOT / "out" / "cc_cache"),  # CrawlIndex.cache: fetched ranges
}


def sample_persona_release_path() -> str:
    return str(SAMPLE / "personas" / "sample-100")


def shell_exports() -> str:
    """Shell lines that export each variable, keeping a value already set (even an empty one)."""
    return "\n".join(f'[ -n "${{{name}+x}}" ] || {name}={shlex.quote(value)}; export {name}'
                     for name, value in ENV_DEFAULTS.items())


if __name__ == "__main__":
    sys.stdout.write(shell_exports() + "\n")
