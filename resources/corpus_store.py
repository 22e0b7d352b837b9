"""CorpusStore: where every asset writes its Parquet shards and manifests (local or fsspec)."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pyarrow as pa
from pydantic import Field

from curation.io import (
    DEFAULT_BATCH_ROWS,
    MANIFEST_NAME,
    Manifest,
    PartitionWriter,
    filesystem,
    iter_parquet_batches,
    partition_dir,
    read_manifest,
    shard_paths,
)


class CorpusStore(dg.ConfigurableResource):
    """A root folder or URL (s3://bucket/prefix, gs://...) holding `{stage}/{partition}/`.

    `storage_options` go to fsspec (credentials are better left to the environment, e.g.
    AWS_PROFILE, so that they never appear in run configuration).
    """

    root: str = Field(description="local folder or fsspec URL (the deployment's: $CURATION_STORE)")
    storage_options: dict[str, Any] = Field(default_factory=dict)
    rows_per_shard: int = 50_000

    def writer(self, stage: str, partition: str) -> PartitionWriter:
        return PartitionWriter(self.root, stage, partition, rows_per_shard=self.rows_per_shard,
                               storage_options=self.storage_options or None)

    def manifest(self, stage: str, partition: str) -> Manifest:
        return read_manifest(self.root, stage, partition, self.storage_options or None)

    def partitions(self, stage: str) -> list[str]:
        """Partitions of `stage` that have a committed manifest, by folder name."""
        fs, path = filesystem(posixpath.join(self.root, stage), self.storage_options or None)
        if not fs.exists(path):
            return []
        return sorted(posixpath.basename(p.rstrip("/")) for p in fs.ls(path, detail=False)
                      if fs.exists(posixpath.join(p, MANIFEST_NAME)))

    def partition_url(self, stage: str, partition: str) -> str:
        return partition_dir(self.root, stage, partition)

    def shards(self, manifest: Manifest, kind: str = "kept") -> list[str]:
        return shard_paths(self.root, manifest, kind)

    def iter_batches(self, manifest: Manifest, kind: str = "kept", columns: list[str] | None = None,
                     batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pa.Table]:
        return iter_parquet_batches(self.shards(manifest, kind), columns=columns, batch_rows=batch_rows,
                                    storage_options=self.storage_options or None)
