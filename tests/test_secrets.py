"""Secrets stay in the environment: no resource has a field for a key, the LLM key never
reaches run metadata, and the UI listens on loopback unless told otherwise."""

import re
from pathlib import Path

from test_synthetic import SNAPSHOT, respond, write_quality_partition

from assets.synthetic import rephrased
from resources.llm import LLMResource

from openai_server import FakeOpenAI

ROOT = Path(__file__).resolve().parents[1]


def test_ui_binds_to_loopback_by_default():
    script = (ROOT / "scripts" / "ui.sh").read_text()
    assert re.search(r'-h "\$\{CURATION_UI_HOST:-127\.0\.0\.1\}"', script)


def test_llm_key_comes_from_the_environment_and_stays_out_of_metadata(tmp_path, monkeypatch, materialise):
    secret = "sk-test-0123456789abcdef"
    monkeypatch.setenv("CURATION_LLM_API_KEY", secret)
    assert not any("key" in name and name != "api_key_env" for name in LLMResource.model_fields)
    store = materialise.store
    write_quality_partition(store)
    instance = materialise.instance
    with FakeOpenAI(respond) as server:
        llm = LLMResource(base_url=server.base_url, model="m", cache_dir=str(tmp_path / "cache"))
        result = materialise([rephrased], SNAPSHOT, llm=llm)
        assert result.success
        assert all(r["headers"].get("Authorization") == f"Bearer {secret}" for r in server.chat_requests)
        logs = " ".join(record.user_message for record in instance.all_logs(result.run_id))
        metadata = str(result.asset_materializations_for_node("web__rephrased")[0].metadata)
    stored = b"".join(p.read_bytes() for p in (tmp_path / "store").rglob("*") if p.is_file())
    cache = b"".join(p.read_bytes() for p in (tmp_path / "cache").rglob("*") if p.is_file())
    for text in (logs, metadata, stored.decode("utf-8", "replace"), cache.decode("utf-8", "replace")):
        assert secret not in text
