"""Model assets train from the graph's own data; scoring assets use them and go stale when a
model is re-trained."""

import shutil

import dagster as dg
import pytest
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._core.loader import LoadingContextForTest

from assets.definitions import defs, model_assets, web_assets, web_scoring
from assets.stages import stage_run_config
from curation.io import read_manifest

SNAPSHOT = "CC-MAIN-2026-04"


@pytest.fixture
def env(tmp_path, sample_dir, materialise):
    shutil.copytree(sample_dir / "warc" / SNAPSHOT, tmp_path / "inbox" / SNAPSHOT)
    return materialise, tmp_path


def status(instance, key, partition=None):
    resolver = CachingStaleStatusResolver(instance, defs.resolve_asset_graph(), LoadingContextForTest(instance))
    return resolver.get_status(key, partition)


def test_models_train_scoring_runs_and_retraining_makes_it_stale(env):
    materialise, tmp_path = env
    instance = materialise.instance
    assert materialise(web_assets, SNAPSHOT).success
    trained = materialise(model_assets, selection=model_assets)
    assert trained.success
    assert (tmp_path / "models" / "quality_model" / "quality.bin").exists()
    assert (tmp_path / "models" / "perplexity_model" / "lm.binary").exists()
    quality_meta = trained.asset_materializations_for_node("models__quality_model")[0].metadata
    # 4/5 of each class trains; the held-out fifth fits both signals' buckets.
    assert quality_meta["positives"].value == 384 and quality_meta["negatives"].value > 0
    assert quality_meta["calibration_documents"].value["positive"] == 96
    assert set(quality_meta["thresholds"].value) == {"classifier", "moore_lewis"}

    # min_bucket 0 keeps every document, so that the scored columns can be read back (the
    # sample's web pages are the classifier's own negatives: the default rejects them).
    keep_all = stage_run_config(web_scoring, dg.AssetKey(["web", "quality_filtered"]), min_bucket=0)
    scored = materialise(web_scoring, SNAPSHOT, run_config=keep_all)
    assert scored.success
    manifest = read_manifest(str(tmp_path / "store"), "web/quality_filtered", SNAPSHOT)
    assert {"perplexity", "perplexity_bucket", "quality_score", "quality_classifier_bucket", "moore_lewis_score",
            "moore_lewis_bucket", "quality_bucket"} <= set(manifest.columns)
    key = dg.AssetKey(["web", "quality_filtered"])
    assert status(instance, key, SNAPSHOT) == StaleStatus.FRESH

    quality = [a for a in model_assets if a.key.path[-1] == "quality_model"]
    # Re-training to the very same model changes nothing ...
    assert materialise(quality).success
    assert status(instance, key, SNAPSHOT) == StaleStatus.FRESH
    # ... a re-trained, different model marks the scored partition stale.
    assert materialise(quality,
                       run_config={"ops": {"models__quality_model": {"config": {"max_negatives": 10}}}}).success
    assert status(instance, key, SNAPSHOT) == StaleStatus.STALE
    assert status(instance, dg.AssetKey(["web", "perplexity_filtered"]), SNAPSHOT) == StaleStatus.FRESH


def test_quality_model_without_web_documents_fails_clearly(env):
    materialise, _ = env
    result = materialise([a for a in model_assets if a.key.path[-1] == "quality_model"], raise_on_error=False)
    assert not result.success
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
    assert "materialise web/language_filtered first" in failure.event_specific_data.error.to_string()
