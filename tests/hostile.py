"""A hostile input corpus, generated (never committed as data): what a crawl and a persona
release can throw at the pipeline.

Web snapshot (`write_hostile_snapshot`): one WARC file of gzip-per-record members holding a
good Korean page, non-HTML payloads, invalid UTF-8, a wrong declared charset, NUL bytes, an
empty page, deeply nested HTML, a 6 MB page, a 50 MB page, a record whose compressed bytes are
damaged, and a last record cut off mid-file. Persona release (`write_hostile_personas`): rows
with null, empty, NUL-laden and 50 MB narrative fields.
"""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

PROSE = ("한국어 웹 문서의 본문 문단입니다. 이 문장은 추출기가 남겨야 하는 내용이며 충분히 깁니다. "
         "서울시는 올해 하반기부터 대중교통 요금 체계를 개편한다고 밝혔다. ")
BIG = 50 * 1024 * 1024


def _page(body: str, charset: str = "utf-8") -> str:
    return f'<html><head><meta charset="{charset}"></head><body><p>{body}</p></body></html>'


def hostile_responses() -> list[tuple[str, bytes, str, str]]:
    """(url, payload, content type, status) of every response record, in file order."""
    paragraph = PROSE * 4
    return [
        ("https://hostile.kr/good", _page(paragraph).encode(), "text/html; charset=utf-8", "200 OK"),
        ("https://hostile.kr/image.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "image/png", "200 OK"),
        ("https://hostile.kr/doc.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + b"0" * 500, "application/pdf", "200 OK"),
        ("https://hostile.kr/invalid-utf8", _page(paragraph).encode()[:200] + b"\xff\xfe\xc3\x28\x80" * 200,
         "text/html; charset=utf-8", "200 OK"),
        ("https://hostile.kr/wrong-charset", _page(paragraph).encode("cp949"), "text/html; charset=utf-8", "200 OK"),
        ("https://hostile.kr/nul", _page(paragraph.replace(" ", " \x00")).encode(), "text/html", "200 OK"),
        ("https://hostile.kr/empty", b"", "text/html", "200 OK"),
        ("https://hostile.kr/nested", ("<html><body>" + "<div>" * 50_000 + paragraph + "</div>" * 50_000
                                       + "</body></html>").encode(), "text/html", "200 OK"),
        ("https://hostile.kr/six-mb", _page(paragraph * (6 * 1024 * 1024 // len(paragraph.encode()) + 1)).encode(),
         "text/html", "200 OK"),
        ("https://hostile.kr/fifty-mb", _page(paragraph * (BIG // len(paragraph.encode()) + 1)).encode(),
         "text/html", "200 OK"),
        ("https://hostile.kr/corrupt", _page(paragraph + " 손상된 레코드").encode(), "text/html", "200 OK"),
        ("https://hostile.kr/truncated", _page(paragraph + " 잘린 레코드").encode(), "text/html", "200 OK"),
    ]


def _member(writer_record) -> bytes:
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)
    writer.write_record(writer_record(writer))
    return buffer.getvalue()


def write_hostile_snapshot(folder: Path) -> dict[str, int]:
    """Writes folder/hostile.warc.gz; returns how many response records it holds, and which
    of them are damaged on disk (corrupt, truncated)."""
    folder.mkdir(parents=True, exist_ok=True)
    members = [_member(lambda w: w.create_warcinfo_record("hostile.warc.gz", {"software": "tests"}))]
    responses = hostile_responses()
    for url, payload, content_type, status in responses:
        headers = StatusAndHeaders(status, [("Content-Type", content_type)], protocol="HTTP/1.1")
        member = _member(lambda w, url=url, payload=payload, headers=headers: w.create_warc_record(
            url, "response", payload=io.BytesIO(payload), http_headers=headers))
        if url.endswith("/corrupt"):
            middle = len(member) // 2
            member = member[:middle] + bytes(b ^ 0xFF for b in member[middle:middle + 16]) + member[middle + 16:]
        elif url.endswith("/truncated"):
            member = member[: len(member) // 2]
        members.append(member)
    (folder / "hostile.warc.gz").write_bytes(b"".join(members))
    return {"responses": len(responses), "damaged": 2}


def write_hostile_personas(folder: Path, template: pa.Table) -> int:
    """A release whose narrative fields are null, empty, NUL-laden or 50 MB long (cast to the
    template's schema); returns the number of rows."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = template.slice(0, 4).to_pylist()
    rows[0]["persona"] = None
    rows[1]["persona"] = ""
    rows[2]["persona"] = PROSE.replace(" ", "\x00 ")
    rows[3]["persona"] = PROSE * (BIG // len(PROSE.encode()) + 1)
    pq.write_table(pa.Table.from_pylist(rows, schema=template.schema), folder / "hostile.parquet")
    return len(rows)
