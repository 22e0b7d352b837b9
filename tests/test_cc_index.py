"""The Common Crawl index path without network: a local index (Parquet) whose rows point into
local .warc.gz files, served over file:// and by a local HTTP server that answers Range
requests and injects faults."""

import json
import subprocess
import sys

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from cc_crawl import SNAPSHOT, write_crawl
from fsspec.implementations.local import LocalFileSystem
from range_server import RangeServer

from curation.sources.cc_fetch import FetchProgress, FetchSettings, RangeFetcher, fetched_record_batches
from curation.sources.cc_index import (
    CrawlIndexError,
    SelectionStats,
    indexed_snapshots,
    select_file,
    select_records,
    snapshot_index_path,
)
from curation.sources.warc import WarcFileStats, record_batches


@pytest.fixture
def crawl(tmp_path):
    return write_crawl(tmp_path / "commoncrawl")


def selection(crawl, **kwargs) -> pa.Table:
    return pa.concat_tables(list(select_records([str(crawl["index_dir"])], **kwargs)))


def expected_urls(crawl, primary_only=False) -> set[str]:
    return {page.url for chosen in crawl["layout"] for page in chosen
            if page.mime == "text/html" and page.status == 200
            and ("kor" == page.languages.split(",")[0] if primary_only else "kor" in page.languages.split(","))}


def test_selection_keeps_korean_html_200_rows_sorted_by_warc_file(crawl):
    chosen = selection(crawl)
    assert set(chosen.column("url").to_pylist()) == expected_urls(crawl)
    assert chosen.num_rows == len(expected_urls(crawl)) > 0
    primary = selection(crawl, primary_only=True)
    assert set(primary.column("url").to_pylist()) == expected_urls(crawl, primary_only=True)
    assert primary.num_rows < chosen.num_rows  # "eng,kor" pages are gone
    both = selection(crawl, languages=["kor", "jpn"])
    assert both.num_rows > chosen.num_rows
    assert all(name.startswith(f"crawl-data/{SNAPSHOT}/") for name in chosen.column("warc_filename").to_pylist())
    for part in select_records([str(crawl["index_dir"])]):  # each file's selection in WARC-file order
        keys = list(zip(part.column("warc_filename").to_pylist(), part.column("warc_record_offset").to_pylist()))
        assert keys == sorted(keys)
    # "kor" must be a whole code of the list, not a substring of another
    assert language_rows(["korx,eng", "xkor", "eng,kor", "kor"]) == [False, False, True, True]


def language_rows(values):
    from curation.sources.cc_index import language_condition

    return language_condition(pa.array(values), ["kor"], primary_only=False).to_pylist()


class CountingFileSystem(LocalFileSystem):
    """Local files, counting the bytes read through them."""

    protocol = "counting"
    bytes_read = 0

    def _open(self, path, mode="rb", **kwargs):
        handle = super()._open(path, mode, **kwargs)
        read = handle.read

        def counted(*args):
            data = read(*args)
            CountingFileSystem.bytes_read += len(data)
            return data

        handle.read = counted
        return handle


def test_reading_pushes_columns_and_row_groups_down(tmp_path):
    # Large unread values, so that a whole-row-group read would dwarf pyarrow's 64 KiB footer reads.
    crawl = write_crawl(tmp_path / "commoncrawl", digest_bytes=100_000)
    fsspec.register_implementation("counting", CountingFileSystem, clobber=True)
    pdf_file = crawl["index_dir"] / "part-00002.c000.gz.parquet"
    assert pq.ParquetFile(pdf_file).num_row_groups >= 2
    CountingFileSystem.bytes_read = 0
    assert select_file(f"counting://{pdf_file}").num_rows == 0
    pruned = CountingFileSystem.bytes_read
    full_file = crawl["index_dir"] / "part-00000.c000.gz.parquet"
    CountingFileSystem.bytes_read = 0
    assert select_file(f"counting://{full_file}").num_rows > 0
    projected = CountingFileSystem.bytes_read
    digest_bytes = sum(pq.ParquetFile(full_file).metadata.row_group(i).column(9).total_compressed_size
                       for i in range(pq.ParquetFile(full_file).num_row_groups))
    # Without pushdown a reader takes the whole file; here the unread content_digest column
    # (most of the file) and, for the PDF file, every row group stay unread (footer only).
    assert digest_bytes > 0.9 * full_file.stat().st_size
    assert projected < 0.25 * full_file.stat().st_size
    assert pruned < 0.25 * pdf_file.stat().st_size


def test_a_path_without_index_files_is_a_clear_error(tmp_path):
    with pytest.raises(CrawlIndexError, match="no index Parquet files"):
        list(select_records([str(tmp_path)]))
    (tmp_path / "x.parquet").write_bytes(b"")
    pq.write_table(pa.table({"url": ["u"]}), tmp_path / "x.parquet")
    with pytest.raises(CrawlIndexError, match="not a Common Crawl index file"):
        list(select_records([str(tmp_path / "x.parquet")]))


def test_snapshots_are_found_under_the_index_root(crawl):
    assert indexed_snapshots(str(crawl["index_root"])) == [SNAPSHOT]
    assert snapshot_index_path(str(crawl["index_root"]), SNAPSHOT) == str(crawl["index_dir"])


def whole_file_rows(crawl) -> pa.Table:
    files = [str(path) for path in crawl["warc_files"]]
    kept = [k for k, _, _ in record_batches(files, SNAPSHOT, WarcFileStats(), root=str(crawl["root"]))]
    return pa.concat_tables(kept)


def fetched_rows(crawl, settings, client=None):
    stats = WarcFileStats()
    chosen = select_records([str(crawl["index_dir"])])
    triples = list(fetched_record_batches(chosen, SNAPSHOT, stats, settings, client))
    kept = pa.concat_tables([k for k, _, _ in triples])
    rejected = pa.concat_tables([r for _, r, _ in triples])
    return kept, rejected, stats


def test_file_and_http_ranges_give_the_records_a_whole_file_read_gives(crawl, tmp_path):
    whole = whole_file_rows(crawl)
    chosen = set(selection(crawl).column("url").to_pylist())
    expected = whole.filter(pc.is_in(whole.column("url"), pa.array(sorted(chosen))))
    from_file, rejected, _ = fetched_rows(crawl, FetchSettings(base=f"file://{crawl['root']}/", concurrency=4))
    assert rejected.num_rows == 0
    key = [("warc_file", "ascending"), ("id", "ascending")]
    assert from_file.sort_by(key).equals(expected.sort_by(key))  # ids, payloads, everything
    with RangeServer(crawl["root"]) as server:
        from_http, rejected, _ = fetched_rows(crawl, FetchSettings(base=server.base_url, concurrency=4))
        assert all(wanted and wanted.startswith("bytes=") for _, wanted in server.requests)
        assert len(server.requests) == len(chosen)
    assert rejected.num_rows == 0 and from_http.equals(from_file)


def test_retries_then_rejects_with_the_location_and_the_cache_fetches_nothing_twice(crawl, tmp_path):
    chosen = selection(crawl)
    missing = pa.table({name: [value] for name, value in zip(chosen.column_names, [
        f"crawl-data/{SNAPSHOT}/segments/x/warc/gone.warc.gz", 0, 500, "https://gone.kr/", "kor", "text/html"])},
        schema=chosen.schema)
    with RangeServer(crawl["root"]) as server:
        settings = FetchSettings(base=server.base_url, cache=str(tmp_path / "cache"), retries=4, backoff_s=0.001,
                                 concurrency=1)
        server.fail_next("503", times=2)
        server.fail_next("truncated")
        server.fail_next("500")
        stats = WarcFileStats()
        progress = FetchProgress(total=chosen.num_rows + 1)
        triples = list(fetched_record_batches([pa.concat_tables([chosen, missing])], SNAPSHOT, stats, settings,
                                              progress=progress))
        kept = pa.concat_tables([k for k, _, _ in triples])
        rejected = pa.concat_tables([r for _, r, _ in triples])
        # accounting: every selected row is a record or a reject
        assert kept.num_rows + rejected.num_rows == chosen.num_rows + 1
        assert kept.num_rows == chosen.num_rows and progress.records == chosen.num_rows and progress.failed == 1
        [reject] = rejected.to_pylist()
        assert reject["reason"] == "fetch_failed"
        details = json.loads(reject["details"])
        assert details["warc_file"].endswith("gone.warc.gz") and details["offset"] == 0
        assert "HTTP 404" in details["error"] and "after 1 attempts" in details["error"]  # 404 is final
        assert stats.bad_records_by_reason["fetch_failed"] == 1
        assert len(server.requests) == chosen.num_rows + 4 + 1  # 4 faults retried, the 404 once
        first = len(server.requests)
        again = list(fetched_record_batches([chosen], SNAPSHOT, WarcFileStats(), settings))
        assert len(server.requests) == first  # all from the cache
        assert pa.concat_tables([k for k, _, _ in again]).equals(kept)


def test_a_request_that_times_out_is_retried(crawl):
    chosen = selection(crawl).slice(0, 1)
    with RangeServer(crawl["root"], timeout_sleep_s=1.0) as server:
        server.fail_next("timeout")
        fetcher = RangeFetcher(FetchSettings(base=server.base_url, timeout_s=0.2, backoff_s=0.001))
        [result] = fetcher.fetch_chunk(chosen)
    assert result.data is not None and result.attempts == 2


def test_a_range_without_a_response_record_is_one_reject_and_a_server_ignoring_range_is_refused(crawl):
    import zlib

    first = crawl["warc_files"][0]
    data = first.read_bytes()
    rest = zlib.decompressobj(wbits=31)
    rest.decompress(data)
    warcinfo_length = len(data) - len(rest.unused_data)  # the file's first member: its warcinfo record
    chosen = selection(crawl).slice(0, 2)
    name = str(first.relative_to(crawl["root"]))
    pointing_at_warcinfo = pa.table({"warc_filename": [name], "warc_record_offset": [0],
                                     "warc_record_length": [warcinfo_length], "url": ["-"],
                                     "content_languages": ["kor"], "content_mime_detected": ["text/html"]},
                                    schema=chosen.schema)
    stats = WarcFileStats()
    triples = list(fetched_record_batches([pa.concat_tables([chosen, pointing_at_warcinfo])], SNAPSHOT, stats,
                                          FetchSettings(base=f"file://{crawl['root']}/")))
    kept = sum(k.num_rows for k, _, _ in triples)
    rejected = pa.concat_tables([r for _, r, _ in triples])
    assert kept == 2 and rejected.column("reason").to_pylist() == ["no_response_record"]
    with RangeServer(crawl["root"], ignore_range=True) as server:
        [result] = RangeFetcher(FetchSettings(base=server.base_url)).fetch_chunk(chosen.slice(0, 1))
        assert result.data is None and "ignored the Range header" in result.error and len(server.requests) == 1


def test_retries_give_up_after_the_limit(crawl):
    chosen = selection(crawl).slice(0, 1)
    with RangeServer(crawl["root"]) as server:
        server.fail_next("503", times=10)
        fetcher = RangeFetcher(FetchSettings(base=server.base_url, retries=2, backoff_s=0.001), sleep=lambda s: None)
        [result] = fetcher.fetch_chunk(chosen)
        assert result.data is None and result.error == "HTTP 503" and result.attempts == 3
        assert len(server.requests) == 3


def test_fetching_on_dask_gives_the_same_records(crawl):
    from distributed import Client, LocalCluster

    settings = FetchSettings(base=f"file://{crawl['root']}/", chunk_rows=3)
    here, _, _ = fetched_rows(crawl, settings)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        there, _, _ = fetched_rows(crawl, settings, client)
    assert there.equals(here)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "curation", *args], capture_output=True, text=True)


def test_cli_selects_fetches_into_warc_files_and_accounts_for_every_row(crawl, tmp_path):
    out = tmp_path / "selection.parquet"
    done = run_cli("cc-select", str(crawl["index_dir"]), "--out", str(out))
    assert done.returncode == 0, done.stderr
    selected = pq.read_table(out)
    assert f"{selected.num_rows} records selected from 3 index files" in done.stdout
    fetched_dir = tmp_path / "fetched"
    with RangeServer(crawl["root"]) as server:
        server.fail_next("404")  # the first range fails for good
        done = run_cli("cc-fetch", str(out), "--base", server.base_url, "--out", str(fetched_dir), "--chunk-rows", "4",
                       "--concurrency", "1")
    assert done.returncode == 0, done.stderr
    assert "records/s" in done.stderr and "MB/s" in done.stderr
    summary = json.loads((fetched_dir / "fetch.json").read_text())
    assert summary["selected"] == selected.num_rows == summary["fetched"] + summary["rejected"]
    assert summary["rejected"] == 1
    rejects = pq.read_table(fetched_dir / "rejects.parquet")
    assert rejects.num_rows == 1 and rejects.column("reason").to_pylist() == ["fetch_failed"]
    # the .warc.gz files hold exactly the fetched records, readable as any WARC file
    files = sorted(str(p) for p in fetched_dir.glob("part-*.warc.gz"))
    kept = pa.concat_tables([k for k, _, _ in record_batches(files, SNAPSHOT, WarcFileStats())])
    assert kept.num_rows == summary["fetched"]
    assert set(kept.column("url").to_pylist()) | set(rejects.column("url").to_pylist()) == set(
        selected.column("url").to_pylist())
    # a re-run fetches nothing: the cache answers (no server at all now)
    again = run_cli("cc-fetch", str(out), "--base", "http://127.0.0.1:9/", "--out", str(fetched_dir),
                    "--chunk-rows", "4", "--retries", "0")
    assert again.returncode == 0, again.stderr
    assert json.loads((fetched_dir / "fetch.json").read_text())["rejected"] == 1  # only the one never fetched


def test_selection_stats(crawl):
    stats = SelectionStats()
    tables = list(select_records([str(crawl["index_dir"])], stats=stats))
    assert stats.rows_selected == sum(t.num_rows for t in tables) and len(stats.index_files) == 3
    assert stats.bytes_to_fetch == sum(pc.sum(t.column("warc_record_length")).as_py() or 0 for t in tables)
