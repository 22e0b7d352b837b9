"""The Dagster UI serves the lineage and checks of the code (scripts/ui_check.py).

test_ui_serves_the_lineage_and_checks_of_the_code starts dagster-webserver on 127.0.0.1 and
asks its GraphQL API for the asset graph: about 15 s on 2 cores (8 s start, 0.1 s query, 4 s
stop), so it is in the default run. The browser test (headless Chromium, four pages, about 30 s
more) runs only with CURATION_BROWSER_TESTS=1 and a chromium on PATH; `bash
scripts/ui_check.sh` is the same check as one command. The other tests are unit tests of the
comparison: they need no server and show that a missing check, edge or stage is reported.
"""

import copy
import importlib.util
import os
import sys
from pathlib import Path

import pytest

from assets.definitions import defs

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("ui_check", ROOT / "scripts" / "ui_check.py")
ui_check = sys.modules.setdefault("ui_check", importlib.util.module_from_spec(_spec))  # dataclasses need it
_spec.loader.exec_module(ui_check)

SHARED = ["pii_redacted", "language_filtered", "heuristic_filtered", "exact_deduplicated",
          "fuzzy_deduplicated", "perplexity_filtered", "quality_filtered"]
CHAINS = {"web": [f"web/{stage}" for stage in ["cc_selection", "warc_records", "extracted_text", *SHARED]],
          "personas": [f"personas/{stage}" for stage in ["persona_rows", "persona_documents", *SHARED]]}


@pytest.fixture(scope="module")
def code():
    return ui_check.lineage_from_definitions(defs)


def test_chains_follow_from_the_definitions(code):
    assert ui_check.derive_chains(code) == CHAINS
    for chain in CHAINS.values():
        for key in chain:
            assert {"accounting", "schema"} <= set(code.checks[key]), key
    assert "persona_marginals" in code.checks["personas/persona_rows"]
    assert "language_purity" in code.checks["web/quality_filtered"]


def test_compare_reports_what_the_ui_gets_wrong(code):
    chains = ui_check.derive_chains(code)
    assert ui_check.compare(code, code, chains) == []

    no_purity = copy.deepcopy(code)
    del no_purity.checks["web/language_filtered"]["language_purity"]
    problems = ui_check.compare(no_purity, code, chains)
    assert any("web/language_filtered: checks" in p for p in problems)
    assert any("web/language_filtered lacks the checks ['language_purity']" in p for p in problems)

    no_edge = copy.deepcopy(code)
    no_edge.deps["personas/fuzzy_deduplicated"].discard("personas/exact_deduplicated")
    problems = ui_check.compare(no_edge, code, chains)
    assert ("edge personas/exact_deduplicated -> personas/fuzzy_deduplicated is in the code but not in the UI"
            in problems)
    assert "chain personas: the UI has no edge personas/exact_deduplicated -> personas/fuzzy_deduplicated" in problems

    not_blocking = copy.deepcopy(code)
    not_blocking.checks["web/pii_redacted"]["accounting"] = False
    assert len(ui_check.compare(not_blocking, code, chains)) == 1

    extra = copy.deepcopy(code)
    extra.groups["web/stray"], extra.deps["web/stray"], extra.checks["web/stray"] = "web", set(), {}
    assert ui_check.compare(extra, code, chains) == ["asset web/stray is in the UI but not in the code"]


def test_doctored_code_without_a_required_check_fails(code):
    """UI and code agree, but the code lacks a check every chain stage must have."""
    doctored = copy.deepcopy(code)
    del doctored.checks["personas/persona_rows"]["persona_marginals"]
    del doctored.checks["web/heuristic_filtered"]["schema"]
    problems = ui_check.compare(doctored, doctored, ui_check.derive_chains(doctored))
    assert problems == ["chain web: web/heuristic_filtered lacks the checks ['schema'] in the UI",
                        "chain personas: personas/persona_rows lacks the checks ['persona_marginals'] in the UI"]
    cut = copy.deepcopy(code)
    del cut.groups["web/quality_filtered"]
    assert "chain web: no path inside the group ends at web/quality_filtered" in ui_check.compare(
        cut, cut, ui_check.derive_chains(cut))


def test_graphql_answer_is_read_and_check_errors_raise():
    data = {"assetNodes": [
        {"assetKey": {"path": ["web", "a"]}, "groupName": "web", "dependencyKeys": [],
         "assetChecksOrError": {"__typename": "AssetChecks", "checks": [{"name": "schema", "blocking": True}]}},
        {"assetKey": {"path": ["web", "b"]}, "groupName": "web", "dependencyKeys": [{"path": ["web", "a"]}],
         "assetChecksOrError": {"__typename": "AssetChecks", "checks": []}}]}
    lineage = ui_check.lineage_from_graphql(data)
    assert lineage.edges() == {("web/a", "web/b")}
    assert lineage.checks == {"web/a": {"schema": True}, "web/b": {}}
    data["assetNodes"][1]["assetChecksOrError"] = {"__typename": "AssetCheckNeedsMigrationError", "message": "migrate"}
    with pytest.raises(ValueError, match="web/b: AssetCheckNeedsMigrationError: migrate"):
        ui_check.lineage_from_graphql(data)


def test_loading_pages_are_told_from_rendered_ones(tmp_path):
    dom = "<div><span>warc_records</span><span>perplexi…_filtered</span><p>Loading</p></div>"
    assert ui_check.dom_names(dom, ["warc_records", "perplexity_filtered", "quality_filtered"]) == ["quality_filtered"]
    from PIL import Image, ImageDraw

    blank = tmp_path / "blank.png"
    Image.new("RGB", (400, 300), "white").save(blank)
    problems, _ = ui_check.png_problems(blank)
    assert len(problems) == 2
    busy = tmp_path / "busy.png"
    image = Image.new("RGB", (400, 300), "white")
    draw = ImageDraw.Draw(image)
    for i in range(300):
        draw.rectangle([i % 20 * 20, i // 20 * 20, i % 20 * 20 + 15, i // 20 * 20 + 15], fill=(i % 256, 100, 200))
    image.save(busy)
    assert ui_check.png_problems(busy)[0] == []


def test_ui_serves_the_lineage_and_checks_of_the_code():
    with ui_check.Webserver() as server:
        pgid = server.process.pid
        assert server.base_url.startswith("http://127.0.0.1:")
        assert ui_check.listening_addresses(server.port) == {"127.0.0.1"}
        code, chains, problems, _ = ui_check.check_lineage(server)
        assert problems == []
        assert chains == CHAINS
        assert server.repo_path.endswith("@assets.definitions:defs")
    with pytest.raises(ProcessLookupError):  # webserver and code server gone
        os.killpg(pgid, 0)


@pytest.mark.skipif(os.environ.get("CURATION_BROWSER_TESTS") != "1" or not ui_check.find_chromium(),
                    reason="browser test: set CURATION_BROWSER_TESTS=1 and install chromium (about 30 s)")
def test_lineage_pages_render_in_chromium(tmp_path):
    assert ui_check.main(["--out-dir", str(tmp_path)]) == 0
    names = sorted(p.name for p in tmp_path.glob("*.png"))
    assert names == ["checks-web-language_filtered.png", "lineage-personas.png", "lineage-web.png", "lineage.png"]
    # main has checked each page's DOM (asset / check names), colours and background already.
    assert all((tmp_path / name).stat().st_size > 20_000 for name in names)
