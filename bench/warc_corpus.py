"""The bench corpus as Common Crawl would hand it over: .warc.gz files of HTML pages.

Each document of a bench/corpus.py folder becomes one HTTP response record (gzip per record,
with its request record, as Common Crawl writes them) whose HTML holds the document's lines as
paragraphs inside page chrome: a navigation bar, a header, a sidebar of links and a footer, as
Korean sites have them, so that extraction has boilerplate to remove. Deterministic: URLs,
record ids and dates come from the document id, so the same corpus gives the same bytes.

    python bench/warc_corpus.py CORPUS_DIR [--out CORPUS_DIR/warc] [--records-per-file 10000]
"""

from __future__ import annotations

import argparse
import html
import io
import json
import random
import uuid
from pathlib import Path

import pyarrow.parquet as pq
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

SEED = 7553
MENU = ["홈", "뉴스", "정치", "경제", "사회", "문화", "스포츠", "연예", "로그인", "회원가입", "고객센터", "공지사항"]
FOOTER = ["회사소개", "이용약관", "개인정보처리방침", "청소년보호정책", "ⓒ 2026 예시미디어. All rights reserved.",
          "무단 전재 및 재배포 금지"]


def page(doc_id: str, text: str, rng: random.Random) -> bytes:
    menu = " | ".join(f'<a href="/{i}">{html.escape(m)}</a>' for i, m in enumerate(rng.sample(MENU, 8)))
    related = "".join(f'<li><a href="/a/{rng.randrange(10**6)}">{html.escape(m)} 관련 기사</a></li>'
                      for m in rng.sample(MENU, 4))
    paragraphs = "".join(f"<p>{html.escape(line)}</p>" for line in text.split("\n") if line.strip())
    title = html.escape(text.split("\n", 1)[0][:40])
    return (f'<!DOCTYPE html><html lang="ko"><head><meta charset="utf-8"><title>{title}</title>'
            f'<script>var page="{doc_id}";</script></head><body><nav>{menu}</nav>'
            f"<header><h1>{title}</h1></header><main><article>{paragraphs}</article>"
            f'<aside><h2>많이 본 기사</h2><ul>{related}</ul></aside></main>'
            f"<footer>{' · '.join(FOOTER)}</footer></body></html>").encode()


def write(corpus: Path, out: Path, records_per_file: int = 10_000) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.warc.gz"):
        old.unlink()
    rng = random.Random(SEED)
    files, records, handle, writer = 0, 0, None, None
    for shard in sorted(corpus.glob("part-*.parquet")):
        for batch in pq.ParquetFile(shard).iter_batches(columns=["id", "text"], batch_size=10_000):
            for doc_id, text in zip(batch.column("id").to_pylist(), batch.column("text").to_pylist()):
                if records % records_per_file == 0:
                    if handle is not None:
                        handle.close()
                    handle = (out / f"bench-{files:05d}.warc.gz").open("wb")
                    writer = WARCWriter(handle, gzip=True)
                    files += 1
                url = f"https://site{int(doc_id) % 997 if doc_id.isdigit() else 0}.example.kr/articles/{doc_id}"
                date = {"WARC-Date": "2026-01-20T10:00:00Z"}
                request_id = f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, url + '#request')}>"
                request = writer.create_warc_record(
                    url, "request", payload=io.BytesIO(b"GET / HTTP/1.1\r\n\r\n"),
                    warc_headers_dict={**date, "WARC-Record-ID": request_id})
                headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")],
                                           protocol="HTTP/1.1")
                response = writer.create_warc_record(
                    url, "response", payload=io.BytesIO(page(doc_id, text or "", rng)), http_headers=headers,
                    warc_headers_dict={**date, "WARC-Record-ID": f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, url)}>"})
                writer.write_record(request)
                writer.write_record(response)
                records += 1
    if handle is not None:
        handle.close()
    card = {"documents": records, "files": files, "bytes": sum(p.stat().st_size for p in out.glob("*.warc.gz"))}
    (out / "warc.json").write_text(json.dumps(card))
    return card


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--records-per-file", type=int, default=10_000)
    args = parser.parse_args()
    print(json.dumps(write(args.corpus, args.out or args.corpus / "warc", args.records_per_file)))


if __name__ == "__main__":
    main()
