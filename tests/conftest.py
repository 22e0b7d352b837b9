import io
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
FIXTURES = Path(__file__).parent / "fixtures"


def write_warc(path: Path, responses: list[tuple[str, bytes, str, str]], gzip: bool = True) -> Path:
    """A WARC file with a warcinfo record and, per (url, body, content_type, status), a request
    and a response record, as Common Crawl writes them."""
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=gzip)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "tests"}))
        for url, body, content_type, status in responses:
            writer.write_record(writer.create_warc_record(url, "request",
                                                          payload=io.BytesIO(b"GET / HTTP/1.1\r\n\r\n")))
            headers = StatusAndHeaders(status, [("Content-Type", content_type)], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body),
                                                          http_headers=headers))
    return path


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return SAMPLE


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


def corpus_resources(root: Path, **overrides) -> dict:
    """Every resource of the asset graph, rooted in `root` (a test's tmp_path), the LLM endpoint
    unset and Dask off; a test overrides the resources it is about."""
    from resources.corpus_store import CorpusStore
    from resources.dask import DaskResource
    from resources.llm import LLMResource
    from resources.models import ModelStore, ReferenceCorpus
    from resources.sources import CrawlIndex, PersonaReleases, WebInbox

    resources = {
        "corpus_store": CorpusStore(root=str(root / "store")),
        "web_inbox": WebInbox(root=str(root / "inbox")),
        "persona_source": PersonaReleases(releases={"sample-100": str(SAMPLE / "personas" / "sample-100")}),
        "model_store": ModelStore(root=str(root / "models")),
        "reference_corpus": ReferenceCorpus(path=str(SAMPLE / "reference" / "reference_ko.jsonl")),
        "llm": LLMResource(base_url="", model=""),
        "reward_llm": LLMResource(base_url="", model=""),
        "dask": DaskResource(mode="off"),
        "crawl_index": CrawlIndex(),  # off: snapshots come from the inbox
    }
    resources.update(overrides)
    return resources


class Materialiser:
    """`materialise(assets, partition, **resources)`: dg.materialize into this test's instance
    and temporary store, registering the partition first where it is dynamic."""

    def __init__(self, root: Path, instance) -> None:
        self.root, self.instance = root, instance
        self.store = str(root / "store")

    def __call__(self, assets, partition: str | None = None, *, selection=None, run_config=None,
                 raise_on_error: bool = True, **resources):
        import dagster as dg

        for asset in assets:
            partitions_def = getattr(asset, "partitions_def", None)
            if (partition is not None and isinstance(partitions_def, dg.DynamicPartitionsDefinition)
                    and not self.instance.has_dynamic_partition(partitions_def.name, partition)):
                self.instance.add_dynamic_partitions(partitions_def.name, [partition])
        return dg.materialize(assets, partition_key=partition, instance=self.instance, selection=selection,
                              run_config=run_config, raise_on_error=raise_on_error,
                              resources=corpus_resources(self.root, **resources))


def materialisation_metadata(result, key) -> dict:
    """The metadata of the one materialisation of asset `key` (an AssetKey or its path) in a run's
    result; several assets may share a step (a fused chain), so it is found by key."""
    import dagster as dg

    key = key if isinstance(key, dg.AssetKey) else dg.AssetKey(list(key))
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == key]
    return event.materialization.metadata


@pytest.fixture
def instance():
    import dagster as dg

    with dg.instance_for_test() as test_instance:
        yield test_instance


@pytest.fixture
def materialise(tmp_path, instance) -> Materialiser:
    return Materialiser(tmp_path, instance)
