"""The PII stage in the web chain: placeholders reach every later stage, counts by type reach
the metadata, and no original value appears in any later output, reject or metadata."""

import pyarrow.parquet as pq

from assets.definitions import web_assets
from curation.io import read_manifest

from conftest import materialisation_metadata, write_warc
from hostile import PROSE

SNAPSHOT = "CC-PII"
PII = {"RRN": "900101-1234568", "PHONE": "010-2345-6789", "EMAIL": "hong.gildong@example.co.kr"}
LATER_STAGES = ["pii_redacted", "language_filtered", "heuristic_filtered", "exact_deduplicated",
                "fuzzy_deduplicated"]


def page(*paragraphs: str) -> bytes:
    return ("<html><body>" + "".join(f"<p>{p}</p>" for p in paragraphs) + "</body></html>").encode()


def test_pii_is_redacted_before_every_later_stage(tmp_path, materialise):
    with_pii = (f"담당자 주민등록번호 {PII['RRN']}, 전화 {PII['PHONE']}, 이메일 {PII['EMAIL']} 로 연락 주세요. "
                + PROSE)
    inbox = tmp_path / "inbox" / SNAPSHOT
    inbox.mkdir(parents=True)
    # The second page is a mirror of the first: dedup rejects it, and its reject must be redacted too.
    write_warc(inbox / "a.warc.gz", [
        ("https://pii.kr/a", page(PROSE * 3, with_pii), "text/html", "200 OK"),
        ("https://mirror.pii.kr/a", page(PROSE * 3, with_pii), "text/html", "200 OK")])
    store = materialise.store
    result = materialise(web_assets, SNAPSHOT)
    assert result.success
    metadata = materialisation_metadata(result, ["web", "pii_redacted"])
    assert metadata["pii_redactions_by_type"].value == {"EMAIL": 2, "PHONE": 2, "RRN": 2}
    assert metadata["documents_with_pii"].value == 2
    assert read_manifest(store, "web/exact_deduplicated", SNAPSHOT).rejects_by_reason == {"exact_duplicate": 1}
    texts = []
    for stage in LATER_STAGES:
        folder = tmp_path / "store" / "web" / stage / SNAPSHOT
        for path in folder.rglob("*"):
            if path.suffix == ".parquet":
                table = pq.read_table(path)
                texts += [str(v) for column in table.columns for v in column.to_pylist()]
            elif path.is_file():
                texts.append(path.read_text())
    texts += [str(entry.value) for stage in LATER_STAGES
              for entry in materialisation_metadata(result, ["web", stage]).values()]
    everything = "\n".join(texts)
    assert "<RRN>" in everything and "<PHONE>" in everything and "<EMAIL>" in everything
    for value in PII.values():
        assert value not in everything and value.replace("-", "") not in everything
