"""Build data/sample/ (the small licensed sample that the main job and the tests run on) from
../shared/data. The page selection and WARC dates are fixed (seed 7553); WARC-Record-IDs are
fresh UUIDs on each build, as a crawler would write them.

    python scripts/build_sample_data.py [--shared ../shared/data]

Web: two sample crawl snapshots as gzip WARC files (warcinfo, request and response records, as
Common Crawl writes them) holding LibreOffice Korean help pages (MPL-2.0), some re-encoded as
EUC-KR, a few non-Korean pages built from LibreOffice ja/zh/en help paragraphs, one 404 and one
non-HTML response, and pages of varied quality so that the quality stage has real decisions to
make (see `mixed_quality_pages`): prose articles from held-out KLUE sentences (CC BY-SA 4.0),
FAQ pages from Chatbot_data (MIT), review boards and thin pages from NSMC (CC0), and link
lists, menus and spam written by this project. `web_licences.tsv` maps each page's URL prefix
to its licence, for the release's card. Reference: the KLUE sentences not used for articles.
Personas: the 100 real Nemotron-Personas-Korea rows (CC BY 4.0) as Parquet with the dataset's
26-column schema.
"""

from __future__ import annotations

import argparse
import csv
import html
import io
import json
import random
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

ROOT = Path(__file__).resolve().parents[1]
SEED = 7553
SNAPSHOTS = ("CC-MAIN-2026-04", "CC-MAIN-2026-08")
FIXED_DATE = {"CC-MAIN-2026-04": "2026-01-20T10:00:00Z", "CC-MAIN-2026-08": "2026-02-17T10:00:00Z"}


def record(writer: WARCWriter, url: str, body: bytes, content_type: str, date: str, status: str = "200 OK") -> None:
    request = writer.create_warc_record(
        url, "request", payload=io.BytesIO(f"GET / HTTP/1.1\r\nHost: {url.split('/')[2]}\r\n\r\n".encode()),
        warc_headers_dict={"WARC-Date": date},
    )
    http_headers = StatusAndHeaders(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))],
                                    protocol="HTTP/1.1")
    response = writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http_headers,
                                         warc_headers_dict={"WARC-Date": date})
    writer.write_record(request)
    writer.write_record(response)


def foreign_page(lang: str, paragraphs: list[str]) -> bytes:
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return (f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{lang}</title></head>'
            f"<body><main>{body}</main></body></html>").encode()


def near_copy(html: bytes) -> bytes:
    """A re-published copy with small edits in the text (punctuation, word spacing): a fuzzy
    duplicate that exact dedup cannot see."""
    text = html.decode("utf-8")
    text = text.replace("니다.", "니다!", 2).replace(" 수 있", "수 있", 2).replace("을 ", "을  ", 3)
    return text.encode("utf-8")


# URL prefix -> licence of the pages under it (the release's card carries it per document)
WEB_LICENCES = {
    "https://help.libreoffice.org/": "MPL-2.0 (LibreOffice help, The Document Foundation)",
    "https://mirror.example.kr/libreoffice/": "MPL-2.0 (LibreOffice help, The Document Foundation)",
    "https://wiki.example.kr/": "CC BY-SA 4.0 (KLUE; Wikipedia, WikiNews, Korea.kr policy briefings)",
    "https://faq.example.kr/": "MIT (songys/Chatbot_data)",
    "https://movies.example.kr/": "CC0-1.0 (e9t/nsmc)",
    "https://portal.example.kr/": "CC0-1.0 (written by this project)",
}
ARTICLE_EVERY = 4  # every 4th reference sentence goes into an article page, never into the reference
MENU = ("홈", "뉴스", "정치", "경제", "사회", "문화", "로그인", "회원가입")
SPAM_LINES = (
    "★당일 승인★ 무직자 대출 무료 상담 바로 가기 ★당일 승인★",
    "최저 금리 대출 비교 무료 상담 클릭 최저 금리 대출 비교 무료 상담 클릭",
    "다이어트 보조제 최저가 할인 쿠폰 무료 배송 지금 바로 구매 다이어트 보조제 최저가",
    "무료 상담 바로 가기 무료 상담 바로 가기 무료 상담 바로 가기",
)


def split_reference(shared: Path) -> tuple[list[dict], list[dict]]:
    """(reference rows, article rows): disjoint, so the quality classifier, trained on the
    reference, never sees the sentences of the articles it scores."""
    rows = [json.loads(line) for line in (shared / "reference_ko.jsonl").open(encoding="utf-8")]
    return ([r for i, r in enumerate(rows) if i % ARTICLE_EVERY != ARTICLE_EVERY - 1],
            [r for i, r in enumerate(rows) if i % ARTICLE_EVERY == ARTICLE_EVERY - 1])


def page(title: str, main: str, chrome: bool = True) -> bytes:
    """A page with a portal's chrome (menu, footer) around its main content."""
    nav = "".join(f'<li><a href="/{i}">{m}</a></li>' for i, m in enumerate(MENU)) if chrome else ""
    header = f"<header><nav><ul>{nav}</ul></nav></header>" if chrome else ""
    footer = "<footer><p>회사소개 | 이용약관 | 개인정보처리방침 | 고객센터</p></footer>" if chrome else ""
    return (f'<!DOCTYPE html><html lang="ko"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"</head><body>{header}<main>{main}</main>{footer}</body></html>").encode()


def mixed_quality_pages(shared: Path, articles: list[dict], titles: list[str]) -> list[tuple[str, bytes]]:
    """(url, body) of pages of varied quality, in a fixed order: 20 prose articles, 4 FAQ pages,
    4 review boards, 4 thin pages, 3 link lists, 3 spam pages."""
    rng = random.Random(SEED)
    pages: list[tuple[str, bytes]] = []
    by_genre: dict[str, list[str]] = {}
    for row in articles:
        by_genre.setdefault(row["genre"], []).append(row["text"])
    for genre, texts in sorted(by_genre.items()):
        for n, start in enumerate(range(0, len(texts) - 7, 8)):
            chunk = texts[start:start + 8]
            body = "".join(f"<p>{html.escape(' '.join(chunk[i:i + 2]))}</p>" for i in range(0, len(chunk), 2))
            title = chunk[0].split(",")[0][:30]
            pages.append((f"https://wiki.example.kr/{genre}/{n:03d}.html",
                          page(title, f"<article><h1>{html.escape(title)}</h1>{body}</article>")))
    faq = [json.loads(line) for line in (shared / "chatbot_qa.jsonl").open(encoding="utf-8")]
    for n, rows in enumerate(rng.sample(faq, 40)[i:i + 10] for i in range(0, 40, 10)):
        items = "".join("<dt>{}</dt><dd>{}</dd>".format(*map(html.escape, r["text"].split("\n", 1))) for r in rows)
        pages.append((f"https://faq.example.kr/qna/{n:03d}.html", page("자주 묻는 질문", f"<dl>{items}</dl>")))
    with (shared / "nsmc_reviews.jsonl").open(encoding="utf-8") as handle:
        reviews = [json.loads(line)["text"].strip() for _, line in zip(range(2000), handle)]
    sample = rng.sample(reviews, 64)
    for n in range(4):
        items = "".join(f"<li>{html.escape(r)} <span>추천 {rng.randrange(50)}</span></li>"
                        for r in sample[n * 15:(n + 1) * 15])
        pages.append((f"https://movies.example.kr/board/{n:03d}.html", page("관람평", f"<ul>{items}</ul>")))
    for n in range(4):
        pages.append((f"https://movies.example.kr/review/{n:03d}.html",
                      page("관람평", f"<p>{html.escape(sample[60 + n])}</p>")))
    for n in range(3):
        links = "".join(f'<li><a href="/help/{i}.html">{html.escape(t)}</a></li>'
                        for i, t in enumerate(rng.sample(titles, 30)))
        pages.append((f"https://portal.example.kr/sitemap/{n:03d}.html", page("사이트맵", f"<ul>{links}</ul>")))
    for n in range(3):
        lines = [SPAM_LINES[(n + i) % len(SPAM_LINES)] for i in range(24)]
        pages.append((f"https://portal.example.kr/ad/{n:03d}.html",
                      page("무료 상담", "".join(f"<p>{html.escape(x)}</p>" for x in lines))))
    return pages


def build_web(shared: Path, out: Path, articles: list[dict]) -> None:
    manifest = list(csv.DictReader((shared / "manifest.tsv").open(encoding="utf-8"), delimiter="\t"))
    utf8 = [row for row in manifest if row["encoding"] == "UTF-8"]
    euckr = [row for row in manifest if row["encoding"] == "EUC-KR"]
    rng = random.Random(SEED)
    pages = rng.sample(utf8, 40)
    legacy = rng.sample(euckr, 8)
    mixed = [json.loads(line) for line in (shared / "mixed_lang.jsonl").open(encoding="utf-8")]
    foreign = {lang: [r["text"] for r in mixed if r["lang"] == lang][:6] for lang in ("en", "ja", "zh")}
    titles = [line.split("<title>", 1)[1].split("</title>", 1)[0]
              for row in manifest if "<title>" in (line := (shared / row["file"]).read_text(errors="replace"))]
    varied = mixed_quality_pages(shared, articles, titles)
    plan = {
        # snapshot A: 22 UTF-8 pages, 5 EUC-KR pages, en+ja pages, a 404 and a PDF, and a
        # mirror's near copy of one page (fuzzy duplicate inside the snapshot)
        SNAPSHOTS[0]: {"utf8": pages[:22], "euckr": legacy[:5], "foreign": ["en", "ja"], "near": pages[:1],
                       "varied": varied[0::2]},
        # snapshot B: 18 new UTF-8 pages + 3 pages re-crawled from A (exact duplicates), 3
        # EUC-KR pages, a zh page, and mirrors' near copies of two pages of A (fuzzy, across)
        SNAPSHOTS[1]: {"utf8": pages[22:] + pages[:3], "euckr": legacy[5:], "foreign": ["zh"], "near": pages[5:7],
                       "varied": varied[1::2]},
    }
    for snapshot, parts in plan.items():
        folder = out / "warc" / snapshot
        folder.mkdir(parents=True, exist_ok=True)
        date = FIXED_DATE[snapshot]
        path = folder / f"{snapshot}-00000.warc.gz"
        with path.open("wb") as handle:
            writer = WARCWriter(handle, gzip=True)
            info = writer.create_warcinfo_record(path.name, {"software": "korean-curation sample builder",
                                                             "isPartOf": snapshot, "description": "sample"})
            writer.write_record(info)
            for i, row in enumerate(parts["utf8"]):
                url = "https://help.libreoffice.org/7.4/ko" + row["original_path"].split("/help/ko", 1)[1]
                # Half declare the charset in HTTP, half only in <meta>.
                content_type = "text/html; charset=UTF-8" if i % 2 else "text/html"
                record(writer, url, (shared / row["file"]).read_bytes(), content_type, date)
            for i, row in enumerate(parts["euckr"]):
                url = "https://help.libreoffice.org/7.4/ko-euckr" + row["original_path"].split("/help/ko", 1)[1]
                # One page lies in its HTTP header (says UTF-8, is EUC-KR): detection must recover.
                content_type = ["text/html; charset=EUC-KR", "text/html", "text/html; charset=utf-8"][i % 3]
                record(writer, url, (shared / row["file"]).read_bytes(), content_type, date)
            for row in parts["near"]:
                url = "https://mirror.example.kr/libreoffice" + row["original_path"].split("/help/ko", 1)[1]
                record(writer, url, near_copy((shared / row["file"]).read_bytes()), "text/html; charset=UTF-8", date)
            for url, body in parts["varied"]:
                record(writer, url, body, "text/html; charset=utf-8", date)
            for lang in parts["foreign"]:
                record(writer, f"https://help.libreoffice.org/7.4/{lang}/sample.html",
                       foreign_page(lang, foreign[lang]), "text/html; charset=utf-8", date)
            if snapshot == SNAPSHOTS[0]:
                record(writer, "https://help.libreoffice.org/7.4/ko/missing.html",
                       "<html><body><p>페이지를 찾을 수 없습니다.</p></body></html>".encode(),
                       "text/html; charset=utf-8", date, status="404 Not Found")
                record(writer, "https://help.libreoffice.org/7.4/ko/manual.pdf",
                       b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "application/pdf", date)


def build_personas(shared: Path, out: Path) -> None:
    import sys

    sys.path.insert(0, str(ROOT))
    from curation.sources.personas import PERSONA_ROW_SCHEMA

    rows = [json.loads(line)
            for line in (shared / "personas" / "nemotron_personas_korea_sample.jsonl").open(encoding="utf-8")]
    folder = out / "personas" / "sample-100"
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=PERSONA_ROW_SCHEMA)
    # Two shards, as the real dataset ships several.
    pq.write_table(table.slice(0, 50), folder / "train-00000-of-00002.parquet", compression="zstd")
    pq.write_table(table.slice(50), folder / "train-00001-of-00002.parquet", compression="zstd")


def write_reference(rows: list[dict], out: Path) -> None:
    folder = out / "reference"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "reference_ko.jsonl").open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def write_web_licences(out: Path) -> None:
    with (out / "web_licences.tsv").open("w", encoding="utf-8") as handle:
        handle.write("url_prefix\tlicence\n")
        handle.writelines(f"{prefix}\t{licence}\n" for prefix, licence in WEB_LICENCES.items())


def copy_licences(shared: Path, out: Path) -> None:
    licences = out / "LICENSES"
    licences.mkdir(parents=True, exist_ok=True)
    for name in ("MPL-2.0.txt", "libreoffice-help-ko_debian_copyright.txt", "CC-BY-SA-4.0_KLUE_License.md",
                 "CC0-1.0.txt", "MIT_Chatbot_data_LICENSE.txt"):
        shutil.copy(shared / "LICENSES" / name, licences / name)
    shutil.copy(shared / "personas" / "SOURCES.md", licences / "Nemotron-Personas-Korea_SOURCES.md")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--out", default=str(ROOT / "data" / "sample"))
    args = parser.parse_args()
    shared, out = Path(args.shared), Path(args.out)
    if (out / "warc").exists():
        shutil.rmtree(out / "warc")
    reference, articles = split_reference(shared)
    build_web(shared, out, articles)
    write_reference(reference, out)
    write_web_licences(out)
    build_personas(shared, out)
    copy_licences(shared, out)
    print(f"sample written to {out}")


if __name__ == "__main__":
    main()
