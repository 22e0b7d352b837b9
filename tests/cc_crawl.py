"""A small crawl as Common Crawl publishes it, for tests: .warc.gz files under
crawl-data/SNAPSHOT/segments/.../warc/ (warcinfo, then request + response per page, each record
its own gzip member) and the columnar index of their response records under
cc-index/table/cc-main/warc/crawl=SNAPSHOT/subset=warc/, with CLD2-style content_languages."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from hostile import PROSE

SNAPSHOT = "CC-MAIN-2099-01"


@dataclass(frozen=True)
class Page:
    url: str
    text: str
    languages: str  # what the index says (CLD2), e.g. "kor,eng"
    mime: str = "text/html"
    status: int = 200


def html(text: str) -> bytes:
    paragraphs = "".join(f"<p>{line}</p>" for line in text.split("\n") if line.strip())
    head = '<head><meta charset="utf-8"><title>t</title></head>'
    return f'<html lang="ko">{head}<body>{paragraphs}</body></html>'.encode()


def pages(n_files: int = 3, per_file: int = 8) -> list[list[Page]]:
    english = "The city council announced a new public transport plan for next year.\n" * 6
    japanese = "東京都は来年から新しい交通計画を始めると発表しました。\n" * 6
    files = []
    for f in range(n_files):
        chosen = []
        for i in range(per_file):
            kind = (f * per_file + i) % 8
            url = f"https://site{f}.example.kr/{i}"
            if kind in (0, 1, 2):
                chosen.append(Page(url, PROSE * (2 + kind) + f" {f}-{i}", "kor"))
            elif kind == 3:
                chosen.append(Page(url, PROSE * 3 + f" {f}-{i}\n" + english, "kor,eng"))
            elif kind == 4:  # Korean second: only --primary-only drops it
                chosen.append(Page(url, english + PROSE + f" {f}-{i}", "eng,kor"))
            elif kind == 5:
                chosen.append(Page(url, japanese, "jpn"))
            elif kind == 6:  # a Korean PDF: the MIME filter drops it
                chosen.append(Page(url, PROSE * 2 + f" {f}-{i}", "kor", mime="application/pdf"))
            else:  # a redirect to a Korean page: the status filter drops it
                chosen.append(Page(url, PROSE + f" {f}-{i}", "kor", status=301))
        files.append(chosen)
    return files


def write_crawl(root: Path, layout: list[list[Page]] | None = None, row_group_size: int = 4,
                digest_bytes: int = 32) -> dict:
    """Writes the WARC files and the index under `root`; returns paths and the index table.
    `digest_bytes`: random bytes (as hex) of the content_digest column per row, which cc-select
    never reads (large, it makes reading whole row groups visible)."""
    layout = pages() if layout is None else layout
    rows = []
    warc_files = []
    for number, chosen in enumerate(layout):
        relative = f"crawl-data/{SNAPSHOT}/segments/1700000000.{number}/warc/CC-MAIN-{number:05d}.warc.gz"
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        writer = WARCWriter(buffer, gzip=True)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "tests"}))
        for page in chosen:
            writer.write_record(writer.create_warc_record(page.url, "request",
                                                          payload=io.BytesIO(b"GET / HTTP/1.1\r\n\r\n")))
            start = buffer.tell()
            reason = "OK" if page.status == 200 else "Moved Permanently"
            headers = StatusAndHeaders(f"{page.status} {reason}", [("Content-Type", page.mime)], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(page.url, "response", payload=io.BytesIO(html(page.text)),
                                                          http_headers=headers))
            rows.append({"url_surtkey": page.url[::-1], "url": page.url, "fetch_status": page.status,
                         "content_mime_detected": page.mime, "content_languages": page.languages,
                         "warc_filename": relative, "warc_record_offset": start,
                         "warc_record_length": buffer.tell() - start, "subset": "warc",
                         # what makes reading a whole row group expensive: a column cc-select never reads
                         "content_digest": random.Random(start).randbytes(digest_bytes).hex()})
        path.write_bytes(buffer.getvalue())
        warc_files.append(path)
    index = pa.Table.from_pylist(rows).cast(pa.schema([
        ("url_surtkey", pa.string()), ("url", pa.string()), ("fetch_status", pa.int16()),
        ("content_mime_detected", pa.string()), ("content_languages", pa.string()), ("warc_filename", pa.string()),
        ("warc_record_offset", pa.int32()), ("warc_record_length", pa.int32()), ("subset", pa.string()),
        ("content_digest", pa.string())]))
    index_dir = root / "cc-index" / "table" / "cc-main" / "warc" / f"crawl={SNAPSHOT}" / "subset=warc"
    index_dir.mkdir(parents=True, exist_ok=True)
    # Sorted by SURT key as Common Crawl sorts it; two files, small row groups.
    index = index.sort_by("url_surtkey")
    half = index.num_rows // 2
    for number, part in enumerate((index.slice(0, half), index.slice(half))):
        pq.write_table(part, index_dir / f"part-{number:05d}.c000.gz.parquet", row_group_size=row_group_size)
    # A third file whose every row is a PDF: its row groups' statistics exclude text/html.
    pdfs = index.filter(pc.equal(index.column("content_mime_detected"), "application/pdf"))
    pq.write_table(pdfs, index_dir / "part-00002.c000.gz.parquet", row_group_size=1)
    return {"root": root, "index_root": root / "cc-index" / "table" / "cc-main" / "warc", "index_dir": index_dir,
            "warc_files": warc_files, "index": index, "layout": layout}
