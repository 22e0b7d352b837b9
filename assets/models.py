"""Model assets: trained by the graph itself, unpartitioned, versioned by code_version.

Scoring assets list these as dependencies, so re-training a model (new data or a new code
version) marks every downstream partition stale in the UI until it is re-scored.
"""

import hashlib
import random
import shutil
import tempfile
from pathlib import Path

import dagster as dg

from assets.partitions import partitions_in_keep_order, web_snapshots
from assets.stage_runner import stage_key
from curation.perplexity import train_perplexity_model
from curation.quality import train_quality_model
from curation.stage import text_column
from resources.corpus_store import CorpusStore
from resources.models import ModelStore, ReferenceCorpus

PERPLEXITY_MODEL = dg.AssetKey(["models", "perplexity_model"])
QUALITY_MODEL = dg.AssetKey(["models", "quality_model"])
WEB_NEGATIVES = dg.AssetKey(["web", "language_filtered"])


def model_data_version(folder: Path) -> dg.DataVersion:
    """The model's content hash: a re-training that changes the model changes the data
    version, and Dagster marks every partition scored with the old model stale."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return dg.DataVersion(digest.hexdigest()[:16])


def _replace_folder(build, target: Path) -> dict:
    """Train into a fresh folder, then swap it in: readers never see half a model."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        card = build(staging)
        old = target.with_name(f".{target.name}-old")
        if target.exists():
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)
        return card
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


class PerplexityModelConfig(dg.Config):
    vocab_size: int = 2000
    order: int = 4


@dg.asset(key=PERPLEXITY_MODEL, group_name="models", kinds={"kenlm", "sentencepiece"}, code_version="1",
          description="SentencePiece + KenLM (lmplz) trained on the reference prose; head/middle/tail cut-offs "
                      "fitted on a held-out fifth of it.")
def perplexity_model(context: dg.AssetExecutionContext, config: PerplexityModelConfig, model_store: ModelStore,
                     reference_corpus: ReferenceCorpus) -> dg.MaterializeResult:
    target = model_store.folder("perplexity_model")
    card = _replace_folder(lambda out: train_perplexity_model(reference_corpus.texts(), out, config.vocab_size,
                                                              config.order), target)
    return dg.MaterializeResult(data_version=model_data_version(target),
                                metadata={"location": dg.MetadataValue.path(str(target)),
                                          "card": dg.MetadataValue.json(card), **{k: v for k, v in card.items()
                                                                                  if isinstance(v, (int, float))}})


class QualityModelConfig(dg.Config):
    max_negatives: int = 20_000
    seed: int = 0


def _web_negatives(context: dg.AssetExecutionContext, store: CorpusStore, limit: int, seed: int) -> list[str]:
    """A uniform sample (reservoir) of Korean web documents of every materialised snapshot:
    "random web" as the negative class, as Nemotron-CC and DCLM train their classifiers."""
    rng = random.Random(seed)
    sample: list[str] = []
    seen = 0
    for snapshot in partitions_in_keep_order(web_snapshots, context.instance):
        try:
            manifest = store.manifest(stage_key(WEB_NEGATIVES), snapshot)
        except FileNotFoundError:
            continue
        for batch in store.iter_batches(manifest, columns=["id", "text"]):
            for text in text_column(batch):
                seen += 1
                if len(sample) < limit:
                    sample.append(text)
                elif (j := rng.randrange(seen)) < limit:
                    sample[j] = text
    if not sample:
        raise dg.Failure("no web documents to sample negatives from: materialise web/language_filtered first")
    return sample


@dg.asset(key=QUALITY_MODEL, group_name="models", deps=[WEB_NEGATIVES, PERPLEXITY_MODEL], kinds={"fasttext", "kenlm"},
          code_version="2",
          description="Two quality signals, reference prose (hq) against a random sample of Korean web documents "
                      "(lq): a fastText classifier and the Moore-Lewis cross-entropy difference (reference KenLM "
                      "minus a web KenLM); 20 token-weighted buckets each, fitted on a held-out fifth of both "
                      "classes.")
def quality_model(context: dg.AssetExecutionContext, config: QualityModelConfig, model_store: ModelStore,
                  reference_corpus: ReferenceCorpus, corpus_store: CorpusStore) -> dg.MaterializeResult:
    negatives = _web_negatives(context, corpus_store, config.max_negatives, config.seed)
    target = model_store.folder("quality_model")
    # Positives in the reference's own order: the texts the perplexity model held out of its
    # training are then the ones held out here for calibration.
    card = _replace_folder(lambda out: train_quality_model(reference_corpus.texts(), negatives, out,
                                                           language_model_dir=model_store.folder("perplexity_model"),
                                                           seed=config.seed), target)
    return dg.MaterializeResult(data_version=model_data_version(target),
                                metadata={"location": dg.MetadataValue.path(str(target)),
                                          "positives": card["examples"]["hq"],
                                          "negatives": card["examples"]["lq"],
                                          "calibration_documents": dg.MetadataValue.json(
                                              card["calibration_documents"]),
                                          "thresholds": dg.MetadataValue.json(
                                              {name: signal["thresholds"]
                                               for name, signal in card["signals"].items()})})
