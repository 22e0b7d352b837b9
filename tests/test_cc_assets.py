"""A snapshot curated from Common Crawl's index: web/cc_selection -> web/warc_records by byte
range -> the usual chain, accounted for end to end; the same records as from whole files."""

import shutil

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from cc_crawl import SNAPSHOT, write_crawl
from range_server import RangeServer

from assets.automation import ready_snapshots
from assets.definitions import web_assets
from curation.io import read_manifest, shard_paths
from resources.sources import CrawlIndex, WebInbox

from conftest import Materialiser

SELECTION = dg.AssetKey(["web", "cc_selection"])
RECORDS = dg.AssetKey(["web", "warc_records"])
# Up to the heuristics: what the index path changes, without the dedup index of a whole run.
FRONT = [a for a in web_assets if not {k.path[-1] for k in a.keys} & {"exact_deduplicated", "fuzzy_deduplicated"}]


def read(store: str, stage: str, kind: str = "kept") -> pa.Table:
    manifest = read_manifest(store, stage, SNAPSHOT)
    paths = shard_paths(store, manifest, kind)
    return pa.concat_tables([pq.read_table(p) for p in paths]) if paths else None


def test_an_indexed_snapshot_is_fetched_by_range_and_accounted_for(tmp_path, materialise):
    crawl = write_crawl(tmp_path / "commoncrawl")
    index = CrawlIndex(root=str(crawl["index_root"]), base=f"file://{crawl['root']}/", cache=str(tmp_path / "cache"))
    assert ready_snapshots(WebInbox(root=str(tmp_path / "no-inbox")), index=index) == [SNAPSHOT]
    result = materialise(FRONT, SNAPSHOT, crawl_index=index)
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    store = materialise.store
    selection = read_manifest(store, "web/cc_selection", SNAPSHOT)
    records = read_manifest(store, "web/warc_records", SNAPSHOT)
    assert selection.extra["mode"] == "index" and selection.rows_kept > 0
    assert records.rows_in == selection.rows_kept == records.rows_kept  # every selected record fetched
    assert records.extra["fetched"] == selection.rows_kept and records.extra["fetch_failed"] == 0
    assert records.extra["bytes_fetched"] == selection.extra["bytes_to_fetch"] > 0
    assert read_manifest(store, "web/extracted_text", SNAPSHOT).rows_in == records.rows_kept
    # The same records, ids included, as curating the whole WARC files from an inbox folder.
    inbox = tmp_path / "inbox" / SNAPSHOT
    shutil.copytree(crawl["root"] / "crawl-data", inbox / "crawl-data")
    whole = tmp_path / "whole"
    whole.mkdir()
    folder = Materialiser(whole, materialise.instance)
    assert folder([*FRONT], SNAPSHOT, web_inbox=WebInbox(root=str(tmp_path / "inbox"))).success
    whole_records = read(folder.store, "web/warc_records")
    fetched = read(store, "web/warc_records")
    assert read_manifest(folder.store, "web/cc_selection", SNAPSHOT).extra["mode"] == "folder"
    same = whole_records.filter(pc.is_in(whole_records.column("id"), fetched.column("id")))
    assert same.num_rows == fetched.num_rows
    key = [("id", "ascending")]
    assert same.sort_by(key).equals(fetched.sort_by(key))


def test_a_range_that_cannot_be_fetched_is_a_reject_of_warc_records(tmp_path, materialise):
    crawl = write_crawl(tmp_path / "commoncrawl")
    with RangeServer(crawl["root"]) as server:
        server.fail_next("404")  # the first range is gone for good
        index = CrawlIndex(root=str(crawl["index_root"]), base=server.base_url, concurrency=1, retries=1)
        result = materialise([a for a in web_assets if set(a.keys) <= {SELECTION, RECORDS}], SNAPSHOT,
                             crawl_index=index)
    assert result.success
    store = materialise.store
    selection = read_manifest(store, "web/cc_selection", SNAPSHOT)
    records = read_manifest(store, "web/warc_records", SNAPSHOT)
    assert records.rows_in == selection.rows_kept == records.rows_kept + 1
    assert records.rejects_by_reason == {"fetch_failed": 1}
    [reject] = read(store, "web/warc_records", "rejects").to_pylist()
    assert reject["stage"] == "warc_records" and "HTTP 404" in reject["details"]
    accounting = [e for e in result.get_asset_check_evaluations() if e.check_name == "accounting"]
    assert accounting and all(e.passed for e in accounting)
