"""HTML payloads to text: charset detection that knows Korean legacy encodings, and main-text
extraction with jusText tuned for Korean.

Charset order (the first that decodes wins): byte-order mark, the HTTP Content-Type charset,
the <meta> charset in the first 4 KB, UTF-8, charset-normalizer's guess, then CP949 with
replacement. A candidate "decodes" strictly, or nearly: a payload cut inside its last character
(Common Crawl truncates payloads at 1 MiB, `WARC-Truncated`) loses that character, and stray
bytes up to LENIENT_SHARE of the text become U+FFFD, so one bad byte no longer sends a UTF-8
page to the CP949 fallback (where about 30 % of it became U+FFFD). EUC-KR is read as CP949
(windows-949), its superset: pages labelled EUC-KR often carry CP949-only syllables (e.g. 똠,
햏), which strict EUC-KR refuses.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from functools import lru_cache

import justext

from curation.sources import justext_speed

justext_speed.install()  # same output, about 40 % less extraction time (see the module)

META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.IGNORECASE)
HEADER_CHARSET_RE = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_\-:.]+)", re.IGNORECASE)
# Labels that browsers treat as the Korean legacy encoding (WHATWG Encoding Standard: all of
# these map to EUC-KR, which the standard defines as windows-949).
KOREAN_LEGACY_LABELS = {
    "euc-kr", "euc_kr", "euckr", "ks_c_5601-1987", "ks_c_5601-1989", "ksc5601", "ksc_5601",
    "korean", "iso-ir-149", "csksc56011987", "windows-949", "cp949", "ms949", "uhc", "x-windows-949",
}
BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# At most this share of a page's characters may be replacements for it to count as decoded by
# a candidate: a stray byte or two in a real page; a page in another charset replaces far more.
LENIENT_SHARE = 0.005
MAX_CUT_BYTES = 4  # the longest multi-byte character a cut can leave incomplete


@dataclass(frozen=True)
class DecodedPage:
    text: str
    encoding: str  # the Python codec used
    charset_source: str  # bom | http | meta | utf-8 | detected | fallback
    replaced: bool  # True when undecodable bytes were replaced by U+FFFD


def normalise_charset(label: str | None) -> str | None:
    """A Python codec name for a charset label, or None when Python does not know it."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    if label in KOREAN_LEGACY_LABELS:
        return "cp949"
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def header_charset(content_type: str | None) -> str | None:
    match = HEADER_CHARSET_RE.search(content_type or "")
    return match.group(1) if match else None


def meta_charset(payload: bytes) -> str | None:
    match = META_CHARSET_RE.search(payload[:4096])
    return match.group(1).decode("ascii", "replace") if match else None


def _decode(payload: bytes, encoding: str | None) -> tuple[str, bool] | None:
    """(text, replaced) when `encoding` decodes the payload strictly, or but for a character cut
    at the very end, or but for stray bytes up to LENIENT_SHARE; None otherwise."""
    if not encoding:
        return None
    try:
        return payload.decode(encoding), False
    except LookupError:
        return None
    except UnicodeDecodeError as error:
        if error.end >= len(payload) and len(payload) - error.start < MAX_CUT_BYTES:
            try:
                return payload[:error.start].decode(encoding), False
            except UnicodeDecodeError:
                pass
    text = payload.decode(encoding, errors="replace")
    return (text, True) if text.count("\ufffd") <= LENIENT_SHARE * len(text) else None


def decode_html(payload: bytes, content_type: str | None = None) -> DecodedPage:
    """Decode an HTML payload; a wrong declared charset falls through to the next candidate."""
    for bom, encoding in BOMS:
        if payload.startswith(bom):
            decoded = _decode(payload, encoding)
            if decoded is not None:
                return DecodedPage(decoded[0], encoding, "bom", decoded[1])
    candidates = (("http", lambda: normalise_charset(header_charset(content_type))),
                  ("meta", lambda: normalise_charset(meta_charset(payload))),
                  ("utf-8", lambda: "utf-8"), ("detected", lambda: _detect(payload)))
    for source, encoding_of in candidates:
        encoding = encoding_of()
        decoded = _decode(payload, encoding)
        if decoded is not None:
            return DecodedPage(decoded[0], encoding, source, decoded[1])
    return DecodedPage(payload.decode("cp949", errors="replace"), "cp949", "fallback", True)


def _detect(payload: bytes) -> str | None:
    from charset_normalizer import from_bytes

    best = from_bytes(payload[:65536]).best()
    return normalise_charset(best.encoding) if best else None


@lru_cache(maxsize=4)
def stoplist(language: str = "Korean") -> frozenset[str]:
    return frozenset(justext.get_stoplist(language))


@dataclass(frozen=True)
class JustextKorean:
    """jusText with thresholds for Korean.

    jusText's defaults (length_low=70, length_high=200 characters) were set on English. A Korean
    syllable carries about as much as 2.5 Latin letters, so Korean prose paragraphs are short in
    characters: with the defaults most paragraphs of the sample pages are 'bad' (prose recall
    0.20). Lengths are scaled down, and the stop-word densities lowered because Korean particles
    are glued to their words, so whole-token matches against the stop list are rarer. Chosen by a
    grid search on pages 1-200 of shared/data/html, checked on pages 201-400 (held out):
    bench/extraction.py, figures in the README.
    """

    length_low: int = 20
    length_high: int = 40
    stopwords_low: float = 0.10
    stopwords_high: float = 0.20
    max_link_density: float = 0.2
    max_heading_distance: int = 200

    def extract(self, html: str) -> str:
        if not html.strip():
            return ""
        paragraphs = justext.justext(
            html,
            stoplist(),
            length_low=self.length_low,
            length_high=self.length_high,
            stopwords_low=self.stopwords_low,
            stopwords_high=self.stopwords_high,
            max_link_density=self.max_link_density,
            max_heading_distance=self.max_heading_distance,
            preprocessor=justext_speed.preprocessor(),
        )
        return "\n".join(p.text for p in paragraphs if not p.is_boilerplate)


@dataclass(frozen=True)
class TrafilaturaText:
    """trafilatura's main-text extraction (precision-oriented defaults); `pip install trafilatura`."""

    def extract(self, html: str) -> str:
        import trafilatura

        return (trafilatura.extract(html) or "") if html.strip() else ""


@dataclass(frozen=True)
class ResiliparseText:
    """Resiliparse's main-content extraction (Rust/C++ DOM, fast); `pip install resiliparse`."""

    def extract(self, html: str) -> str:
        from resiliparse.extract.html2text import extract_plain_text

        return extract_plain_text(html, main_content=True) if html.strip() else ""


# Selectable by name (run config, CLI --extractor); jusText tuned for Korean is the default,
# by measurement (README, "Extraction").
EXTRACTORS = {"justext": JustextKorean, "trafilatura": TrafilaturaText, "resiliparse": ResiliparseText}


def make_extractor(name: str):
    """The extractor called `name`, checked to be importable now rather than on the first page."""
    if name not in EXTRACTORS:
        raise ValueError(f"unknown extractor {name!r}; choose one of {sorted(EXTRACTORS)}")
    module = {"trafilatura": "trafilatura", "resiliparse": "resiliparse"}.get(name)
    if module is not None:
        import importlib.util

        if importlib.util.find_spec(module) is None:
            raise ValueError(f"extractor {name!r} needs the {module} package: pip install {module}")
    return EXTRACTORS[name]()
