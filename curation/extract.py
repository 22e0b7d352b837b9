"""WARC response records to documents: status and media-type checks, charset detection, and
main-text extraction. Every record is kept with its text or rejected with a reason."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from curation.sources.html import JustextKorean, decode_html
from curation.sources.warc import is_html
from curation.stage import Decision, DocumentStage


class HtmlTextExtractor(DocumentStage):
    """Adds `text`, `charset`, `charset_source`; drops the raw `payload` from kept documents.

    Reasons: `http_status` (not 200), `not_html` (another media type), `undecodable` (no
    charset decodes it and more than `max_replaced_ratio` of the text became U+FFFD),
    `no_main_text` (the extractor found fewer than `min_chars` characters of main text).
    """

    name = "text_extraction"
    required_columns = ("id", "payload")
    dropped_columns = ("payload",)

    def __init__(self, extractor: JustextKorean | None = None, min_chars: int = 1,
                 max_replaced_ratio: float = 0.01) -> None:
        super().__init__()
        self.extractor = extractor or JustextKorean()
        self.min_chars = min_chars
        self.max_replaced_ratio = max_replaced_ratio

    def score_batch(self, batch: pa.Table) -> dict[str, pa.Array]:
        payloads = batch.column("payload").to_pylist()
        statuses = batch.column("http_status").to_pylist() if "http_status" in batch.column_names else [200] * len(payloads)
        types = batch.column("content_type").to_pylist() if "content_type" in batch.column_names else [None] * len(payloads)
        texts, charsets, sources, replaced, html_flags = [], [], [], [], []
        for payload, status, content_type in zip(payloads, statuses, types):
            html = is_html(content_type) and status == 200
            html_flags.append(html)
            if not html or payload is None:
                texts.append("")
                charsets.append(None)
                sources.append(None)
                replaced.append(0.0)
                continue
            page = decode_html(payload, content_type)
            texts.append(self.extractor.extract(page.text))
            charsets.append(page.encoding)
            sources.append(page.charset_source)
            replaced.append(page.text.count("\ufffd") / max(1, len(page.text)) if page.replaced else 0.0)
        return {
            "text": pa.array(texts, pa.string()),
            "charset": pa.array(charsets, pa.string()),
            "charset_source": pa.array(sources, pa.string()),
            "replaced_ratio": pa.array(replaced, pa.float64()),
            "http_status": pa.array(statuses, pa.int32()),
            "content_type": pa.array(types, pa.string()),
        }

    def decide(self, scores: dict[str, pa.Array]) -> Decision:
        statuses = scores["http_status"].to_pylist()
        types = scores["content_type"].to_pylist()
        texts = scores["text"].to_pylist()
        replaced = scores["replaced_ratio"].to_pylist()
        keep = np.ones(len(texts), dtype=bool)
        reasons: list[str | None] = [None] * len(texts)
        details: list[dict | None] = [None] * len(texts)
        for i, (status, content_type, text, bad) in enumerate(zip(statuses, types, texts, replaced)):
            if status != 200:
                reasons[i], details[i] = "http_status", {"http_status": status}
            elif not is_html(content_type):
                reasons[i], details[i] = "not_html", {"content_type": content_type}
            elif bad > self.max_replaced_ratio:
                reasons[i], details[i] = "undecodable", {"replaced_ratio": round(bad, 4)}
            elif len(text.strip()) < self.min_chars:
                reasons[i], details[i] = "no_main_text", {"chars": len(text.strip())}
            keep[i] = reasons[i] is None
        return Decision(keep=keep, reasons=reasons, details=details)
