"""Stages on Dask give exactly what they give in process; the window bounds what is in flight;
DaskResource starts/closes its own cluster and leaves an external one up."""

import json
import random
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import replace

import dagster as dg
import pyarrow as pa
import pytest
from distributed import Client, LocalCluster

from assets.definitions import default_resources
from assets.stage_runner import partition_asset, stage_key, write_partition
from assets.stages import stage_assets
from curation.catalog import HEURISTIC_FILTERED, LANGUAGE_FILTERED, PII_REDACTED
from curation.heuristics import HeuristicFilter
from curation.langid import LanguageFilter
from curation.parallel import chain_batches, process_batches, process_chain
from curation.pii import PiiRedactor
from curation.spec import StageSpec
from curation.stage import BatchStats, Decision, DocumentStage
from resources.corpus_store import CorpusStore
from resources.dask import DaskResource

from conftest import SAMPLE

BATCHES = 20
ROWS_PER_BATCH = 30
OTHER = [
    "London is the capital of the United Kingdom and one of the largest cities in Europe.",
    "東京は日本の首都であり、政治や経済の中心地として発展してきました。",
    "ㅋㅋㅋㅋㅋㅋ 대박 ㅠㅠㅠㅠ ㅎㅎㅎ",
    "가격 10000 20000 30000 40000 50000 60000 70000 80000",
    "로그인\n회원가입\n이용약관\n개인정보 처리방침\n바로가기\n고객센터",
    "문의는 010-1234-5678 또는 hong.gildong@naver.com 으로 해 주세요. 감사합니다.",
    "12345 67890",
    "",
    None,
]


def make_batches() -> list[pa.Table]:
    """Korean reference prose mixed with other languages, chat, lists and PII, in batches."""
    korean = [json.loads(line)["text"]
              for line in (SAMPLE / "reference" / "reference_ko.jsonl").open(encoding="utf-8")]
    rng = random.Random(7)
    texts = [rng.choice(OTHER) if rng.random() < 0.35 else rng.choice(korean) for _ in range(BATCHES * ROWS_PER_BATCH)]
    return [pa.table({"id": [f"d{i:04d}" for i in range(start, start + ROWS_PER_BATCH)],
                      "text": pa.array(texts[start:start + ROWS_PER_BATCH], pa.string())})
            for start in range(0, len(texts), ROWS_PER_BATCH)]


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=50) as local:
        yield local


@pytest.fixture(scope="module")
def client(cluster):
    with Client(cluster, set_as_default=False) as connected:
        yield connected


@pytest.fixture(scope="module")
def batches() -> list[pa.Table]:
    return make_batches()


def run_both(make_stage, batches, client, **kwargs):
    local = list(process_batches(make_stage(), iter(batches)))
    remote = list(process_batches(make_stage(), iter(batches), client, **kwargs))
    return local, remote


def wait_until_released(cluster, timeout: float = 5.0) -> None:
    """The scheduler forgets every task and datum once their futures are released."""
    deadline = time.monotonic() + timeout
    while cluster.scheduler.tasks and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not cluster.scheduler.tasks, list(cluster.scheduler.tasks)[:5]


@pytest.mark.parametrize("make_stage", [HeuristicFilter, LanguageFilter, PiiRedactor],
                         ids=["heuristic", "language", "pii"])
def test_dask_gives_the_same_tables_and_counts_as_in_process(make_stage, batches, client, cluster):
    local, remote = run_both(make_stage, batches, client)
    assert len(remote) == len(local) == BATCHES
    for (kept_a, rejected_a, stats_a), (kept_b, rejected_b, stats_b) in zip(local, remote):
        assert kept_a.equals(kept_b, check_metadata=True)
        assert rejected_a.equals(rejected_b, check_metadata=True)
        assert stats_a == stats_b
    here, there = sum((s for _, _, s in local), BatchStats()), sum((s for _, _, s in remote), BatchStats())
    assert there == here and here.rows_in == BATCHES * ROWS_PER_BATCH
    if make_stage is not PiiRedactor:
        assert len(here.rejects_by_reason) >= 2  # the data exercises several reasons
    else:  # the stage's own counters travel with each batch's result
        assert here.extra["redactions.PHONE"] > 0 and here.extra["documents_with_pii"] > 0
    wait_until_released(cluster)


def test_language_model_loads_once_per_worker_not_per_batch(batches, client):
    # process_batches runs batches like this, on stages scattered to every worker; the model
    # that the first batch loads must stay on the worker's stage for the next batches.
    [stages] = client.scatter([(LanguageFilter(),)], broadcast=True, hash=False)
    client.gather([client.submit(process_chain, stages, batch, pure=False) for batch in batches[:8]])
    loaded = client.run(lambda dask_worker: [
        "model" in vars(value[0].identifier) for value in dask_worker.data.values()
        if isinstance(value, tuple) and isinstance(value[0], LanguageFilter)])
    assert sorted(loaded.values()) == [[True], [True]]


def chain_of_three():
    return [PiiRedactor(), LanguageFilter(), HeuristicFilter()]


@pytest.mark.parametrize("on_dask", [False, True], ids=["in_process", "dask"])
def test_a_fused_chain_gives_what_the_stages_give_one_after_another(on_dask, batches, client, cluster):
    # Stage by stage: each stage over all of the previous stage's kept rows, in batches of its own.
    expected, feed = [], batches
    for stage in chain_of_three():
        triples = list(process_batches(stage, iter(feed)))
        expected.append(triples)
        feed = [kept for kept, _, _ in triples]
    fused = list(chain_batches(chain_of_three(), iter(batches), client if on_dask else None))
    assert len(fused) == BATCHES
    for position in range(3):
        stage_kept = pa.concat_tables([chained.splits[position][0] for chained in fused])
        assert stage_kept.equals(pa.concat_tables([kept for kept, _, _ in expected[position]]), check_metadata=True)
        stage_rejected = pa.concat_tables([chained.splits[position][1] for chained in fused])
        assert stage_rejected.equals(pa.concat_tables([rejected for _, rejected, _ in expected[position]]))
        assert sum((chained.splits[position][2] for chained in fused), BatchStats()) == sum(
            (stats for _, _, stats in expected[position]), BatchStats())
    assert all(len(chained.seconds) == 3 and min(chained.seconds) >= 0 for chained in fused)
    # the chain really filters: every stage drops something the others kept
    assert all(sum(chained.splits[position][2].rows_rejected for chained in fused) > 0 for position in (1, 2))
    if on_dask:
        wait_until_released(cluster)


class CountingBatches:
    """An input that records how far it has been read ahead of the consumer."""

    def __init__(self, batches: list[pa.Table]) -> None:
        self.batches, self.pulled, self.yielded, self.max_ahead = batches, 0, 0, 0

    def __iter__(self):
        for batch in self.batches:
            self.pulled += 1
            self.max_ahead = max(self.max_ahead, self.pulled - self.yielded)
            yield batch


@pytest.mark.parametrize("window", [1, 3])
def test_window_bounds_batches_taken_ahead_of_the_consumer(window, batches, client, cluster):
    source = CountingBatches(batches)
    out = []
    for pair in process_batches(HeuristicFilter(), source, client, window=window):
        source.yielded += 1
        assert source.pulled - source.yielded <= window
        out.append(pair)
    assert len(out) == BATCHES and source.pulled == BATCHES
    assert source.max_ahead == window  # it does read ahead, up to the window and no further
    wait_until_released(cluster)


def test_default_window_is_twice_the_worker_threads(batches, client):
    source = CountingBatches(batches)
    for _ in process_batches(HeuristicFilter(), source, client):
        source.yielded += 1
    assert source.max_ahead == 4  # 2 workers x 1 thread x 2


def test_in_process_reads_one_batch_at_a_time(batches):
    source = CountingBatches(batches)
    for _ in process_batches(HeuristicFilter(), source):
        source.yielded += 1
    assert source.max_ahead == 1


class FailsOnBatch(DocumentStage):
    name = "fails"

    def score_batch(self, batch: pa.Table) -> dict[str, pa.Array]:
        if "d0090" in batch.column("id").to_pylist():
            raise ValueError("bad batch d0090")
        return {}

    def decide(self, scores: dict[str, pa.Array]) -> Decision:
        raise NotImplementedError  # never reached: process is overridden below

    def process(self, batch: pa.Table) -> tuple[pa.Table, pa.Table, BatchStats]:
        self.score_batch(batch)
        return batch, batch.slice(0, 0), BatchStats(rows_in=batch.num_rows, rows_kept=batch.num_rows)


def test_a_failing_batch_raises_on_the_driver_and_frees_the_cluster(batches, client, cluster):
    seen = []
    with pytest.raises(ValueError, match="bad batch d0090"):
        for kept, _, _ in process_batches(FailsOnBatch(), iter(batches), client, window=4):
            seen.append(kept.num_rows)
    assert len(seen) == 3  # the batches before the failing one were yielded, in order
    wait_until_released(cluster)


def test_a_consumer_that_stops_early_cancels_what_is_in_flight(batches, client, cluster):
    results = process_batches(HeuristicFilter(), iter(batches), client, window=4)
    next(results)
    results.close()
    wait_until_released(cluster)


def test_resource_connects_to_an_external_scheduler_and_leaves_it_up(cluster):
    resource = DaskResource(mode="address", scheduler_address=cluster.scheduler_address)
    with resource.client() as connected:
        assert connected.submit(sum, [1, 2, 3]).result() == 6
        assert len(connected.nthreads()) == 2
    assert connected.status == "closed"
    assert cluster.status.name == "running"
    with Client(cluster.scheduler_address, set_as_default=False) as again:
        assert again.submit(sum, [4, 5]).result() == 9


def test_resource_local_mode_starts_and_closes_its_own_cluster():
    with DaskResource(mode="local", n_workers=1, processes=False).client() as connected:
        assert connected.submit(sum, [1, 2]).result() == 3
        own = connected.cluster
        assert own.status.name == "running"
    assert own.status.name == "closed"


def test_resource_off_mode_runs_in_process():
    with DaskResource(mode="off").client() as connected:
        assert connected is None


def test_the_deployment_cluster_comes_from_the_environment_when_a_run_starts(monkeypatch):
    seen = []

    @dg.asset
    def probe(dask: DaskResource) -> None:
        seen.append(dask.target())

    resource = default_resources()["dask"]  # built once, as the code location does on import
    for value in ("off", "local", "tcp://10.0.0.5:8786"):
        monkeypatch.setenv("CURATION_DASK", value)
        assert dg.materialize([probe], resources={"dask": resource}).success
    assert seen == [("off", ""), ("local", ""), ("address", "tcp://10.0.0.5:8786")]
    assert DaskResource(cluster="local", mode="off").target() == ("local", "")  # cluster decides when set
    monkeypatch.delenv("CURATION_DASK")
    with pytest.raises(dg.DagsterInvalidConfigError, match="CURATION_DASK"):
        dg.materialize([probe], resources={"dask": resource})


def test_address_mode_without_an_address_is_a_clear_error():
    with pytest.raises(ValueError, match="scheduler_address"):
        with DaskResource(mode="address", scheduler_address="").client():
            pass


def test_gpu_without_dask_cuda_is_a_clear_error():
    pytest.importorskip("distributed")
    try:
        import dask_cuda  # noqa: F401
        pytest.skip("dask-cuda is installed")
    except ImportError:
        pass
    with pytest.raises(RuntimeError, match="dask-cuda"):
        with DaskResource(mode="local", gpu=True).client():
            pass


# One run of two assets through Dagster, built by the real stage factory from the catalog's
# specs: language then heuristics, each on the run's Dask cluster when the resource has one.
PARTITIONS = dg.StaticPartitionsDefinition(["p"])
CLUSTERS_SEEN: list = []
GENERATED = StageSpec(name="generated", kind="source", description="generated documents")


@partition_asset(dg.AssetKey(["t", "generated"]), PARTITIONS, GENERATED)
def generated(context: dg.AssetExecutionContext, corpus_store: CorpusStore) -> dg.MaterializeResult:
    documents = (batch.append_column("source", pa.array(["t"] * batch.num_rows))
                 .append_column("snapshot", pa.array(["p"] * batch.num_rows)) for batch in make_batches())
    return write_partition(context, GENERATED, corpus_store, documents)


class SeenDask(DaskResource):
    """The DaskResource, noting which cluster each asset's client belongs to."""

    @contextmanager
    def client(self):
        with super().client() as client:
            CLUSTERS_SEEN.append(None if client is None else client.cluster)
            yield client


def test_a_fused_chain_writes_what_each_stage_alone_writes_in_process_and_on_dask(tmp_path):
    first = replace(PII_REDACTED, fed_by=None)  # the first stage of this test's chain: fed by `generated`
    [chain] = stage_assets("t", (first, LANGUAGE_FILTERED, HEURISTIC_FILTERED), PARTITIONS, generated.key)
    keys = [dg.AssetKey(["t", name]) for name in ("pii_redacted", "language_filtered", "heuristic_filtered")]
    assert set(chain.keys) == set(keys) and chain.can_subset
    manifests = {}
    # alone: one stage per run, each reading its upstream's shards (the chain's subsets)
    for mode, selections in (("alone", [[key] for key in keys]), ("off", [keys]), ("local", [keys])):
        CLUSTERS_SEEN.clear()
        store = CorpusStore(root=str(tmp_path / mode))
        dask = SeenDask(mode="off" if mode == "alone" else mode, n_workers=2)
        assert dg.materialize([generated], partition_key="p", resources={"corpus_store": store, "dask": dask}).success
        for selection in selections:
            result = dg.materialize([generated, chain], partition_key="p", selection=selection,
                                    resources={"corpus_store": store, "dask": dask})
            assert result.success
            assert {e.asset_key for e in result.get_asset_materialization_events()} == set(selection)
            assert {e.asset_key for e in result.get_asset_check_evaluations()} == set(selection)
        manifests[mode] = [store.manifest(stage_key(key), "p") for key in keys]
        if mode == "local":  # the whole chain in one step: one client, its cluster closed when the step ends
            assert len(CLUSTERS_SEEN) == 1 and CLUSTERS_SEEN[0] is not None
            assert CLUSTERS_SEEN[0].status.name == "closed"
        else:
            assert CLUSTERS_SEEN == [None] * len(selections)
    pii_alone, language_alone, heuristics_alone = manifests["alone"]
    assert pii_alone.rows_in == BATCHES * ROWS_PER_BATCH
    assert language_alone.rows_in == pii_alone.rows_kept and heuristics_alone.rows_in == language_alone.rows_kept
    for alone, off, local in zip(*manifests.values()):
        assert alone.extra == off.extra == local.extra
        # Shard folders are named after a digest of the shards' bytes: same name, same bytes.
        assert (alone.kept_shards, alone.reject_shards) == (off.kept_shards, off.reject_shards) == (
            local.kept_shards, local.reject_shards)
        assert alone.rejects_by_reason == off.rejects_by_reason == local.rejects_by_reason
    # every stage of the chain drops something, so each one's output really is compared
    assert all(Counter(manifest.rejects_by_reason).total() > 0 for manifest in manifests["alone"][1:])
