"""Project-relative defaults, overridable by environment variables."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def default_store_root() -> str:
    return os.environ.get("CURATION_STORE", str(PROJECT_ROOT / "out" / "store"))


def default_web_inbox() -> str:
    return os.environ.get("CURATION_WEB_INBOX", str(PROJECT_ROOT / "data" / "sample" / "warc"))


def sample_persona_release_path() -> str:
    return str(PROJECT_ROOT / "data" / "sample" / "personas" / "sample-100")


def default_model_root() -> str:
    return os.environ.get("CURATION_MODELS", str(PROJECT_ROOT / "out" / "models"))


def default_reference_corpus() -> str:
    return os.environ.get("CURATION_REFERENCE", str(PROJECT_ROOT / "data" / "sample" / "reference" / "reference_ko.jsonl"))


def default_llm_cache() -> str:
    return os.environ.get("CURATION_LLM_CACHE", str(PROJECT_ROOT / "out" / "llm_cache"))
