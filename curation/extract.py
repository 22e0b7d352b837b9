"""WARC response records to documents: status and media-type checks, charset detection, and
main-text extraction. Every record is kept with its text or rejected with a reason."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from curation.sources.html import decode_html, make_extractor
from curation.sources.warc import is_html
from curation.stage import Decision, DocumentStage
from curation.text import nfc


class HtmlTextExtractor(DocumentStage):
    """Adds `text`, `charset`, `charset_source`; drops the raw `payload` from kept documents.

    Reasons: `http_status` (not 200), `not_html` (another media type), `payload_too_large`
    (over `max_payload_bytes`: Common Crawl truncates payloads at 1 MiB, and parsing tens of MB
    of HTML takes tens of seconds), `undecodable` (no charset decodes it and more than
    `max_replaced_ratio` of the text became U+FFFD), `extraction_failed` (the parser raised on
    this page; the error is in the details, the other pages go on), `no_main_text` (fewer than
    `min_chars` characters of main text, e.g. an empty page or one nested deeper than libxml2
    parses).
    """

    name = "extracted_text"
    required_columns = ("id", "payload")
    dropped_columns = ("payload", "extraction_error")

    def __init__(self, extractor: str = "justext", min_chars: int = 1, max_replaced_ratio: float = 0.01,
                 max_payload_bytes: int = 5 * 1024 * 1024) -> None:
        self.extractor_name = extractor
        self.extractor = make_extractor(extractor)
        self.min_chars = min_chars
        self.max_replaced_ratio = max_replaced_ratio
        self.max_payload_bytes = max_payload_bytes

    def score_batch(self, batch: pa.Table) -> dict[str, pa.Array]:
        payloads = batch.column("payload").to_pylist()
        statuses = (batch.column("http_status").to_pylist() if "http_status" in batch.column_names
                    else [200] * len(payloads))
        types = (batch.column("content_type").to_pylist() if "content_type" in batch.column_names
                 else [None] * len(payloads))
        texts, charsets, sources, replaced, sizes, errors = [], [], [], [], [], []
        for payload, status, content_type in zip(payloads, statuses, types):
            sizes.append(len(payload) if payload is not None else 0)
            text, charset, source, bad, error = "", None, None, 0.0, None
            if is_html(content_type) and status == 200 and payload is not None and sizes[-1] <= self.max_payload_bytes:
                try:
                    page = decode_html(payload, content_type)
                    # NUL bytes are never text; libxml2 would turn them into U+FFFD.
                    # NFC before jusText: its Korean stop words are composed syllables.
                    text = self.extractor.extract(nfc(page.text.replace("\x00", "")))
                    charset, source = page.encoding, page.charset_source
                    bad = page.text.count("\ufffd") / max(1, len(page.text)) if page.replaced else 0.0
                except Exception as failure:  # one hostile page must not stop the partition
                    error = f"{type(failure).__name__}: {str(failure)[:200]}"
            texts.append(text)
            charsets.append(charset)
            sources.append(source)
            replaced.append(bad)
            errors.append(error)
        return {
            "text": pa.array(texts, pa.string()),
            "charset": pa.array(charsets, pa.string()),
            "charset_source": pa.array(sources, pa.string()),
            "replaced_ratio": pa.array(replaced, pa.float64()),
            "payload_bytes": pa.array(sizes, pa.int64()),
            "extraction_error": pa.array(errors, pa.string()),
            "http_status": pa.array(statuses, pa.int32()),
            "content_type": pa.array(types, pa.string()),
        }

    def decide(self, scores: dict[str, pa.Array]) -> Decision:
        statuses = scores["http_status"].to_pylist()
        types = scores["content_type"].to_pylist()
        texts = scores["text"].to_pylist()
        replaced = scores["replaced_ratio"].to_pylist()
        sizes = scores["payload_bytes"].to_pylist()
        errors = scores["extraction_error"].to_pylist()
        keep = np.ones(len(texts), dtype=bool)
        reasons: list[str | None] = [None] * len(texts)
        details: list[dict | None] = [None] * len(texts)
        for i, (status, content_type, text, bad) in enumerate(zip(statuses, types, texts, replaced)):
            if status != 200:
                reasons[i], details[i] = "http_status", {"http_status": status}
            elif not is_html(content_type):
                reasons[i], details[i] = "not_html", {"content_type": content_type}
            elif sizes[i] > self.max_payload_bytes:
                reasons[i], details[i] = "payload_too_large", {"payload_bytes": sizes[i],
                                                               "limit": self.max_payload_bytes}
            elif errors[i] is not None:
                reasons[i], details[i] = "extraction_failed", {"error": errors[i]}
            elif bad > self.max_replaced_ratio:
                reasons[i], details[i] = "undecodable", {"replaced_ratio": round(bad, 4)}
            elif len(text.strip()) < self.min_chars:
                reasons[i], details[i] = "no_main_text", {"chars": len(text.strip())}
            keep[i] = reasons[i] is None
        return Decision(keep=keep, reasons=reasons, details=details)
