"""Where trained models live, and the reference prose they are trained from."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
from pydantic import Field


class ModelStore(dg.ConfigurableResource):
    """A local folder: fastText and KenLM load models from local files."""

    root: str = Field(description="local folder (the deployment's: $CURATION_MODELS)")

    def folder(self, name: str) -> Path:
        return Path(self.root) / name


class ReferenceCorpus(dg.ConfigurableResource):
    """JSONL of clean Korean prose (`text` per line): the positive class of the quality
    classifier and the language model's training text."""

    path: str = Field(description="JSONL file (the deployment's: $CURATION_REFERENCE)")

    def texts(self) -> Iterator[str]:
        with open(self.path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    try:
                        yield json.loads(line)["text"]
                    except (ValueError, KeyError) as error:
                        raise ValueError(f"{self.path}:{number}: not a JSON object with 'text' ({error})") from error
