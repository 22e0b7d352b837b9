"""Where the raw inputs live: a WARC inbox (one folder per crawl snapshot), Common Crawl's
columnar index (a snapshot's records fetched by byte range), and persona releases."""

from __future__ import annotations

import posixpath
from typing import Any

import dagster as dg
from pydantic import Field

from curation.io import filesystem
from curation.sources.cc_fetch import COMMON_CRAWL_HTTPS, FetchSettings
from curation.sources.cc_index import DEFAULT_LANGUAGES, DEFAULT_MIME, indexed_snapshots, snapshot_index_path
from curation.sources.warc import WARC_SUFFIXES
from resources.paths import sample_persona_release_path

# The full dataset on the Hugging Face Hub at the revision the shipped sample was taken from;
# reading it needs network and `pip install .[hf]` (huggingface_hub provides hf:// to fsspec).
NEMOTRON_PERSONAS_KOREA_HF = (
    "hf://datasets/nvidia/Nemotron-Personas-Korea@ada0f5b53a38bb5a30cce09358adde883c1ab63a"
)


def _default_releases() -> dict[str, str]:
    return {"sample-100": sample_persona_release_path(), "hf-ada0f5b": NEMOTRON_PERSONAS_KOREA_HF}


def _list_files(root: str, suffixes: tuple[str, ...], storage_options: dict[str, Any]) -> list[str]:
    fs, path = filesystem(root, storage_options or None)
    if not fs.exists(path):
        raise FileNotFoundError(f"{root} does not exist")
    found = sorted(p for p in fs.find(path) if p.lower().endswith(suffixes))
    protocol = fs.protocol[0] if isinstance(fs.protocol, tuple) else fs.protocol
    return [p if protocol == "file" else f"{protocol}://{p}" for p in found]


class WebInbox(dg.ConfigurableResource):
    """`{root}/{snapshot}/*.warc.gz`: a new folder is a new crawl snapshot (a partition)."""

    root: str = Field(description="local folder or fsspec URL (the deployment's: $CURATION_WEB_INBOX)")
    storage_options: dict[str, Any] = Field(default_factory=dict)
    licences: str = Field(default="", description="TSV of url_prefix<TAB>licence: each page's licence, carried "
                                                  "into the training release ($CURATION_WEB_LICENCES); empty: "
                                                  "the web source's default")

    def snapshot_folder(self, snapshot: str) -> str:
        """The snapshot's folder, as its files are listed (a URL keeps its protocol)."""
        fs, path = filesystem(posixpath.join(self.root, snapshot), self.storage_options or None)
        protocol = fs.protocol[0] if isinstance(fs.protocol, tuple) else fs.protocol
        return path if protocol == "file" else f"{protocol}://{path}"

    def snapshot_files(self, snapshot: str) -> list[str]:
        files = _list_files(posixpath.join(self.root, snapshot), WARC_SUFFIXES, self.storage_options)
        if not files:
            raise FileNotFoundError(f"no .warc.gz or .warc files under {posixpath.join(self.root, snapshot)}")
        return files

    def snapshots(self) -> list[str]:
        fs, path = filesystem(self.root, self.storage_options or None)
        return sorted(posixpath.basename(p.rstrip("/")) for p in fs.ls(path, detail=False) if fs.isdir(p))


class CrawlIndex(dg.ConfigurableResource):
    """Common Crawl's columnar index as a source of snapshots: `{root}/crawl={snapshot}/subset=warc/
    *.parquet` (s3://commoncrawl/cc-index/table/cc-main/warc/ for the real one). A snapshot found
    there is curated from its selected records' byte ranges of `base` + warc_filename instead of
    from an inbox folder of whole WARC files. Off while `root` is empty (the default: no network)."""

    root: str = Field(default="", description="index root ($CURATION_CC_INDEX); empty: off")
    base: str = Field(default=COMMON_CRAWL_HTTPS, description="where warc_filename is relative to ($CURATION_CC_BASE)")
    cache: str = Field(default="", description="folder of fetched ranges ($CURATION_CC_CACHE); empty: no cache")
    languages: list[str] = Field(default_factory=lambda: list(DEFAULT_LANGUAGES),
                                 description="content_languages codes to keep (ISO 639-3)")
    primary_only: bool = Field(default=False, description="keep only rows whose first language is wanted")
    mime: str = Field(default=DEFAULT_MIME, description="content_mime_detected to keep ('' for any)")
    concurrency: int = Field(default=16, description="range requests in flight per task")
    retries: int = Field(default=5, description="attempts after the first (5xx, SlowDown, timeouts)")
    first_snapshot: str = Field(default="", description="the sensor registers only crawls named at or after this "
                                                        "(e.g. CC-MAIN-2026-05): the real index holds ~100 crawls")
    storage_options: dict[str, Any] = Field(default_factory=dict, description="fsspec options (index and base)")

    @property
    def enabled(self) -> bool:
        return bool(self.root)

    def snapshot_path(self, snapshot: str) -> str:
        return snapshot_index_path(self.root, snapshot)

    def snapshots(self) -> list[str]:
        """Crawls with index files under the root, from `first_snapshot` on."""
        if not self.enabled:
            return []
        return [name for name in indexed_snapshots(self.root, self.storage_options or None)
                if name >= self.first_snapshot]

    def has_snapshot(self, snapshot: str) -> bool:
        """Whether this one crawl has index files (without listing the others)."""
        if not self.enabled:
            return False
        fs, path = filesystem(self.snapshot_path(snapshot), self.storage_options or None)
        return fs.exists(path) and any(p.endswith(".parquet") for p in fs.find(path))

    def fetch_settings(self) -> FetchSettings:
        return FetchSettings(base=self.base, cache=self.cache or None, concurrency=self.concurrency,
                             retries=self.retries, storage_options=self.storage_options or None)


class PersonaReleases(dg.ConfigurableResource):
    """Release key -> folder (or hf:// dataset path) holding that release's Parquet files."""

    releases: dict[str, str] = Field(default_factory=_default_releases)
    storage_options: dict[str, Any] = Field(default_factory=dict)

    def local_releases(self) -> list[str]:
        """Releases readable without network (not hf://, s3://, ...), in the configured order."""
        return [key for key, path in self.releases.items() if "://" not in path or path.startswith(("file://", "memory://"))]

    def release_files(self, release: str) -> list[str]:
        if release not in self.releases:
            raise KeyError(f"unknown persona release {release!r}; configured: {sorted(self.releases)}")
        files = _list_files(self.releases[release], (".parquet",), self.storage_options)
        if not files:
            raise FileNotFoundError(f"no .parquet files under {self.releases[release]}")
        return files
