"""The Common Crawl index path against whole WARC files on the same crawl: what the language
prefilter of the index misses, and the bytes each path reads.

    python bench/cc_index.py [WARC_DIR] [--pages 10000] [--korean-share 0.1] [--out bench/results/cc_index.json]

WARC_DIR: a folder of .warc.gz; by default a crawl generated here from the shipped pack
(data/bench), in which Korean is a minority as on the web (--korean-share of --pages): Korean
prose in Korean page chrome (60 % of the Korean pages), Korean prose in English chrome (25 %),
and one short Korean comment inside long English chrome (15 %: the case a page-level detector
misses); the other pages are English, Japanese and Chinese paragraphs in English chrome. Its
columnar index is built here as
Common Crawl builds its own: one row per response record with url, fetch_status,
content_mime_detected (the HTTP Content-Type's media type), warc_filename, offset and length,
and content_languages from CLD2 (pycld2, on the HTML, as Common Crawl runs it; up to three
ISO 639-3 codes by share). Then, on one core:
  - whole files: every record read, extracted, language-identified (our LanguageFilter);
  - index path: cc-select (kor) -> ranges fetched over file:// -> the same extraction and
    language ID.
Reported: pages our language ID keeps as Korean on the whole-file path, how many of them the
index path also has (recall of CLD2's prefilter, and the pages it misses with their CLD2
labels), and the bytes each path reads (WARC bytes, plus the index columns the selection reads).
"""

from __future__ import annotations

import argparse
import html
import io
import json
import os
import random
import sys
import time
import zlib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import pycld2  # noqa: E402
from warcio.archiveiterator import ArchiveIterator  # noqa: E402
from warcio.statusandheaders import StatusAndHeaders  # noqa: E402
from warcio.warcwriter import WARCWriter  # noqa: E402

from curation.extract import HtmlTextExtractor  # noqa: E402
from curation.langid import LanguageFilter  # noqa: E402
from curation.sources.cc_fetch import FetchSettings, fetched_record_batches  # noqa: E402
from curation.sources.cc_index import SelectionStats, select_records  # noqa: E402
from curation.sources.warc import WarcFileStats, record_batches  # noqa: E402

ISO_639_3 = {"ko": "kor", "en": "eng", "ja": "jpn", "zh": "zho", "zh-Hant": "zho", "de": "deu", "fr": "fra",
             "es": "spa", "ru": "rus", "vi": "vie", "th": "tha", "id": "ind", "it": "ita", "pt": "por"}
SNAPSHOT = "bench"


def cld2_languages(html: bytes) -> str:
    try:
        _, _, details = pycld2.detect(html.decode("utf-8", "replace"), isPlainText=False, bestEffort=True)
    except pycld2.error:
        return ""
    return ",".join(ISO_639_3.get(code, code) for _, code, percent, _ in details if code != "un" and percent > 0)


EN_MENU = ["Home", "News", "World", "Business", "Technology", "Sports", "Sign in", "Register", "Help", "Contact"]
EN_FOOTER = ("About us | Terms of use | Privacy policy | Cookie settings | Accessibility | Careers | Advertise "
             "with us | Copyright 2026 Example Media Group. All rights reserved. Reproduction without permission "
             "is prohibited. Follow us on social media for the latest updates and breaking news stories.")
KO_MENU = ["홈", "뉴스", "정치", "경제", "사회", "문화", "스포츠", "로그인", "회원가입", "고객센터"]
KO_FOOTER = "회사소개 | 이용약관 | 개인정보처리방침 | 청소년보호정책 | ⓒ 2026 예시미디어. 무단 전재 및 재배포 금지"


def _page(paragraphs: list[str], korean_chrome: bool, rng: random.Random) -> bytes:
    menu = " | ".join(f'<a href="/{i}">{m}</a>' for i, m in enumerate(rng.sample(KO_MENU if korean_chrome else EN_MENU,
                                                                             6)))
    footer = KO_FOOTER if korean_chrome else EN_FOOTER
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return (f'<html><head><meta charset="utf-8"><title>page</title></head><body><nav>{menu}</nav>'
            f"<main><article>{body}</article></main><footer>{footer}</footer></body></html>").encode()


def mixed_crawl(out: Path, pages: int, korean_share: float, seed: int = 20) -> Path:
    """A .warc.gz crawl from the shipped pack where Korean is `korean_share` of the pages."""
    rng = random.Random(seed)
    data = ROOT / "data" / "bench"

    def texts(name: str) -> list[str]:
        with (data / name).open(encoding="utf-8") as handle:
            return [json.loads(line)["text"] for line in handle]

    prose = texts("reference_ko.jsonl") + texts("chatbot_qa.jsonl")
    comments = [t for t in texts("nsmc_reviews.jsonl") if 10 <= len(t) <= 80]
    foreign = [json.loads(line)["text"] for line in (data / "mixed_lang.jsonl").open(encoding="utf-8")
               if not json.loads(line)["id"].startswith("mixed-ko")]
    out.mkdir(parents=True, exist_ok=True)
    with (out / "mixed-00000.warc.gz").open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        for number in range(pages):
            roll = rng.random()
            if roll < korean_share * 0.60:
                body = _page(rng.sample(prose, rng.randint(2, 5)), True, rng)
            elif roll < korean_share * 0.85:
                body = _page(rng.sample(prose, rng.randint(2, 5)), False, rng)
            elif roll < korean_share:
                body = _page([rng.choice(comments)], False, rng)
            else:
                body = _page(rng.sample(foreign, rng.randint(2, 5)), False, rng)
            url = f"https://site{number % 211}.example.com/p/{number}"
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body),
                                                          http_headers=headers))
    return out


def build_index(warc_dir: Path, out: Path) -> Path:
    """One index Parquet file for the response records of every .warc.gz under warc_dir."""
    rows = []
    for path in sorted(warc_dir.rglob("*.warc.gz")):
        data = path.read_bytes()
        name = str(path.relative_to(warc_dir))
        offset = 0
        while offset < len(data):
            decompressor = zlib.decompressobj(wbits=31)
            decompressor.decompress(data[offset:])
            length = len(data) - offset - len(decompressor.unused_data)
            member = data[offset:offset + length]
            for record in ArchiveIterator(io.BytesIO(member)):
                if record.rec_type != "response":
                    continue
                content_type = (record.http_headers.get_header("Content-Type") or "") if record.http_headers else ""
                status = int(record.http_headers.get_statuscode()) if record.http_headers else 0
                payload = record.content_stream().read()
                rows.append({"url": record.rec_headers.get_header("WARC-Target-URI"), "fetch_status": status,
                             "content_mime_detected": content_type.split(";")[0].strip().lower(),
                             "content_languages": cld2_languages(payload), "warc_filename": name,
                             "warc_record_offset": offset, "warc_record_length": length})
            offset += length
    out.mkdir(parents=True, exist_ok=True)
    index = out / "part-00000.parquet"
    pq.write_table(pa.Table.from_pylist(rows).sort_by("url"), index, row_group_size=10_000)
    return index


def korean(batches) -> tuple[pa.Table, float, Counter]:
    """Extraction and language ID over (records, rejects, stats) batches: the Korean pages' ids
    and urls, the seconds it took (reading included), and the pages dropped by reason."""
    extractor, language = HtmlTextExtractor(), LanguageFilter()
    start = time.perf_counter()
    kept, dropped = [], Counter()
    for records, _, _ in batches:
        extracted, _, extract_stats = extractor.process(records)
        chosen, _, language_stats = language.process(extracted)
        kept.append(chosen.select(["id", "url"]))
        dropped.update(extract_stats.rejects_by_reason)
        dropped.update(language_stats.rejects_by_reason)
    return pa.concat_tables(kept), time.perf_counter() - start, dropped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warc_dir", nargs="?", default=None, help="default: a generated mixed-language crawl")
    parser.add_argument("--pages", type=int, default=10_000)
    parser.add_argument("--korean-share", type=float, default=0.1)
    parser.add_argument("--work", default=str(ROOT / "out" / "bench" / "cc_index"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "cc_index.json"))
    parser.add_argument("--cpu", type=int, default=None, help="core to pin to (default: the last)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0)) if args.cpu is None else args.cpu})
    work = Path(args.work)
    warc_dir = Path(args.warc_dir) if args.warc_dir else mixed_crawl(work / "crawl", args.pages, args.korean_share)
    start = time.perf_counter()
    index = build_index(warc_dir, work / "index")
    index_seconds = time.perf_counter() - start
    files = sorted(str(p) for p in warc_dir.rglob("*.warc.gz"))
    whole, whole_seconds, whole_dropped = korean(record_batches(files, SNAPSHOT, WarcFileStats(), root=str(warc_dir)))
    stats = SelectionStats()
    selection = pa.concat_tables(list(select_records([str(index)], stats=stats)))
    settings = FetchSettings(base=f"file://{warc_dir}/", concurrency=4)
    ranges = fetched_record_batches([selection], SNAPSHOT, WarcFileStats(), settings)
    fetched, index_path_seconds, index_dropped = korean(ranges)
    missed = whole.filter(pc.invert(pc.is_in(whole.column("id"), fetched.column("id"))))
    all_index = pq.read_table(index)
    labels = dict(zip(all_index.column("url").to_pylist(), all_index.column("content_languages").to_pylist()))
    projected = sum(pq.ParquetFile(index).metadata.row_group(g).column(c).total_compressed_size
                    for g in range(pq.ParquetFile(index).num_row_groups)
                    for c in range(pq.ParquetFile(index).metadata.num_columns))
    result = {
        "warc_dir": str(warc_dir), "pages": all_index.num_rows,
        "index_rows_kor": selection.num_rows,
        "korean_by_our_language_id_whole_files": whole.num_rows,
        "korean_on_the_index_path": fetched.num_rows,
        "prefilter_recall": round(1 - missed.num_rows / whole.num_rows, 4) if whole.num_rows else None,
        "missed_by_cld2": [{"url": url, "cld2": labels.get(url, "")} for url in missed.column("url").to_pylist()[:20]],
        "missed_count": missed.num_rows,
        # what CLD2's "kor" lets through that our extraction or language ID then drops
        "index_kor_pages_dropped_by_our_chain": dict(index_dropped),
        "whole_file_pages_dropped": dict(whole_dropped),
        "bytes_whole_files": sum(os.path.getsize(f) for f in files),
        "bytes_index_path": stats.bytes_to_fetch + projected,
        "bytes_index_ranges": stats.bytes_to_fetch, "bytes_index_file": projected,
        "seconds_whole_files": round(whole_seconds, 2), "seconds_index_path": round(index_path_seconds, 2),
        "seconds_building_the_index": round(index_seconds, 2),
    }
    result["bytes_ratio_index_over_whole"] = round(result["bytes_index_path"] / result["bytes_whole_files"], 4)
    Path(args.out).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "missed_by_cld2"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
