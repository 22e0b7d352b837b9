"""Main-text extraction on Korean pages: jusText (Korean-tuned and default), trafilatura, resiliparse.

Reference: the visible text of each page (shared/data/README.md's rules: page chrome
header/footer/nav/aside, hidden elements, scripts dropped; block elements delimit paragraphs).
Prose = reference paragraphs with at least 20 Hangul characters.

* recall    = characters of reference prose paragraphs found as whole lines in the output
* precision = characters of output lines that are reference paragraphs (not chrome or junk)

Usage: python bench/extraction.py [HTML_DIR] [--out bench/results/extraction.json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation.sources.html import JustextKorean, ResiliparseText, decode_html  # noqa: E402
from curation.text import HANGUL_LETTER  # noqa: E402

SKIP = {"head", "title", "script", "style", "noscript", "template", "svg", "math", "header", "footer", "nav", "aside"}
BLOCK = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "dt", "dd", "td", "th", "tr", "table", "pre",
         "blockquote", "br", "hr", "ul", "ol", "dl", "section", "article", "main", "body", "caption"}
VOID = {"br", "hr", "img", "meta", "link", "input", "area", "base", "col", "embed", "source", "track", "wbr"}
WS = re.compile(r"[ \t\r\n\f]+")


class VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []
        self.paragraphs: list[str] = []
        self.current: list[str] = []

    def _hidden(self) -> bool:
        return any(hidden for _, hidden in self.stack)

    def _flush(self) -> None:
        text = WS.sub(" ", "".join(self.current)).strip()
        if text:
            self.paragraphs.append(text)
        self.current = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in BLOCK:
            self._flush()
        if tag in VOID:
            return
        hidden = tag in SKIP or ("hidden" in attrs and not str(attrs.get("id") or "").startswith("default"))
        self.stack.append((tag, hidden))

    def handle_endtag(self, tag):
        if tag in BLOCK:
            self._flush()
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        if not self._hidden():
            self.current.append(data)


def visible_paragraphs(html: str) -> list[str]:
    parser = VisibleText()
    parser.feed(html)
    parser.close()
    parser._flush()
    return parser.paragraphs


def norm(line: str) -> str:
    return WS.sub(" ", line).strip()


def score(output: str, reference: list[str]) -> tuple[int, int, int, int]:
    lines = {norm(line) for line in output.splitlines() if norm(line)}
    ref_set = set(reference)
    prose = [p for p in ref_set if len(HANGUL_LETTER.findall(p)) >= 20]
    found = sum(len(p) for p in prose if p in lines)
    good = sum(len(line) for line in lines if line in ref_set)
    return found, sum(len(p) for p in prose), good, sum(len(line) for line in lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("html_dir", nargs="?", default=str(Path(__file__).resolve().parents[1] / "data/bench/html"))
    parser.add_argument("--out", default=None)
    import justext
    import trafilatura
    from resiliparse.extract.html2text import extract_plain_text

    parser.add_argument("--held-out", action="store_true", help="only pages 201-400 (not used for tuning)")
    args = parser.parse_args()
    pages = sorted(Path(args.html_dir).glob("*.html"))
    if args.held_out:
        pages = pages[200:]
    decoded = [decode_html(p.read_bytes()).text for p in pages]
    references = [visible_paragraphs(h) for h in decoded]
    extractors = {
        "justext_korean (ours)": JustextKorean().extract,
        "justext_defaults": lambda h: "\n".join(
            p.text for p in justext.justext(h, justext.get_stoplist("Korean")) if not p.is_boilerplate
        ),
        "trafilatura": lambda h: trafilatura.extract(h, favor_recall=False) or "",
        "trafilatura_favor_recall": lambda h: trafilatura.extract(h, favor_recall=True) or "",
        "resiliparse": ResiliparseText().extract,
        "resiliparse_all_text": lambda h: extract_plain_text(h, main_content=False),
    }
    results = {}
    for name, extract in extractors.items():
        totals = [0, 0, 0, 0]
        start = time.perf_counter()
        for html, ref in zip(decoded, references):
            for i, v in enumerate(score(extract(html), ref)):
                totals[i] += v
        seconds = time.perf_counter() - start
        results[name] = {
            "pages": len(pages),
            "prose_recall": round(totals[0] / max(1, totals[1]), 4),
            "precision": round(totals[2] / max(1, totals[3]), 4),
            "pages_per_s": round(len(pages) / seconds, 1),
        }
    print("| extractor | prose recall | precision | pages/s |\n|---|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['prose_recall']:.3f} | {r['precision']:.3f} | {r['pages_per_s']} |")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
