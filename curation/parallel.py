"""Run a document stage over a stream of batches, in this process or on Dask workers.

Both paths yield the same (kept, rejected) pairs in the same order, so a partition written
from either is byte-identical. The Dask path keeps at most `window` batches taken from the
input and not yet yielded, so memory stays bounded however long the stream is.

This module uses `distributed` only through the client it is handed (it never starts a
cluster, and imports nothing from Dagster): starting and closing clusters is the job of
`resources.dask.DaskResource`.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple

import pyarrow as pa

from curation.stage import BatchStats, DocumentStage

if TYPE_CHECKING:  # a type only: the in-process path must work without distributed imported
    from distributed import Client

# Batches per worker thread in flight: one running and one queued behind it, so a worker that
# finishes finds its next batch already there while the driver writes the previous result.
BATCHES_PER_THREAD = 2


Split = tuple[pa.Table, pa.Table, BatchStats]


class ChainSplit(NamedTuple):
    """One batch through a chain of stages: a (kept, rejected, stats) triple per stage, each
    stage fed the previous one's kept rows, and the seconds each stage took."""

    splits: list[Split]
    seconds: list[float]


def default_window(client: Client) -> int:
    """Twice the worker threads of the cluster (at least 2, e.g. while workers still start)."""
    return max(2, BATCHES_PER_THREAD * sum(client.nthreads().values()))


def process_chain(stages: Sequence[DocumentStage], batch: pa.Table) -> ChainSplit:
    """One batch through `stages` in turn, each fed the previous one's kept rows: a triple per
    stage, and the seconds each stage took."""
    splits, seconds = [], []
    for stage in stages:
        start = time.perf_counter()
        split = stage.process(batch)
        seconds.append(time.perf_counter() - start)
        splits.append(split)
        batch = split[0]
    return ChainSplit(splits, seconds)


def chain_batches(stages: Sequence[DocumentStage], batches: Iterable[pa.Table], client: Client | None = None,
                  window: int | None = None) -> Iterator[ChainSplit]:
    """Fused execution: each batch passes through all of `stages` in one task (one round trip to
    a Dask worker when a client is given, else here), in input order. What each stage keeps,
    rejects and counts is what it would from the previous stage's written output, since stages
    hold no state between batches; only the batch boundaries differ, which the shard writer
    evens out (fixed row groups)."""
    if not stages:
        raise ValueError("a chain needs at least one stage")
    # The stages travel as one shared argument: sent once to every worker, so their lazily
    # loaded models load once per worker process.
    yield from run_tasks(process_chain, ((batch,) for batch in batches), client, shared=(tuple(stages),),
                         window=window)


def process_batches(stage: DocumentStage, batches: Iterable[pa.Table], client: Client | None = None,
                    window: int | None = None) -> Iterator[Split]:
    """`stage.process` on each batch, on Dask workers when a client is given (the stage sent
    once to every worker, so a model it loads lazily loads once per worker process), else here:
    the same triples in the same order. At most `window` batches (default: twice the worker
    threads) are taken from `batches` and not yet yielded. Each result carries its own
    BatchStats, so nothing is merged back: the caller sums them as it would in process."""
    # closing(): a consumer that stops early cancels what is in flight now, not at garbage collection
    with closing(chain_batches((stage,), batches, client, window=window)) as chained_batches:
        for chained in chained_batches:
            yield chained.splits[0]


def run_tasks(fn, args: Iterable[tuple], client: Client | None = None, shared: tuple = (),
              window: int | None = None) -> Iterator[Any]:
    """`fn(*shared, *task)` for each task of `args`, results in order: here, or on Dask with
    at most `window` tasks (default: twice the worker threads) taken from `args` and not yet
    yielded, so a lazily generated stream of batches stays bounded. The worker's exception,
    if any, is raised here."""
    if client is None:
        for task in args:
            yield fn(*shared, *task)
        return
    window = default_window(client) if window is None else window
    if window < 1:
        raise ValueError(f"window must be at least 1, not {window}")
    # Shared arguments go to every worker once (broadcast), so a model a stage loads lazily
    # loads once per worker process. hash=False: a random key, rather than tokenizing the whole
    # object (slow for tables, and two equal stages must not share one copy whose lazily
    # loaded state differs).
    shared_futures = client.scatter(list(shared), broadcast=True, hash=False) if shared else []
    in_flight: deque[Any] = deque()  # in input order
    source = iter(args)
    exhausted = False
    try:
        while True:
            while not exhausted and len(in_flight) < window:
                task = next(source, None)
                if task is None:
                    exhausted = True
                    break
                # Tables are scattered, not passed to submit: in the task itself a table goes
                # through the scheduler (and warns above 10 MB); scattered, to one worker directly.
                task = list(task)
                tables = [i for i, value in enumerate(task) if isinstance(value, pa.Table)]
                for i, future in zip(tables, client.scatter([task[i] for i in tables], hash=False) if tables else []):
                    task[i] = future
                in_flight.append(client.submit(fn, *shared_futures, *task, pure=False))
                del task  # the driver keeps no copy of what is in flight
            if not in_flight:
                return
            future = in_flight.popleft()
            try:
                result = future.result()
            finally:
                future.release()  # an erred task too, or the scheduler keeps it
            yield result
    finally:
        # Reached on success, on a failed task and when the consumer stops early (the
        # generator is closed): cancel what is still running and free the shared copies.
        if in_flight:
            client.cancel(list(in_flight))
        for future in shared_futures:
            future.release()


MAX_LOCAL_WORKERS = 4


def available_cpus() -> int:
    """CPUs this process may use (a container's CPU set, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def local_workers(requested: int = 0) -> int:
    """Workers of a LocalCluster: `requested`, or min(CPUs, MAX_LOCAL_WORKERS)."""
    return requested if requested > 0 else min(available_cpus(), MAX_LOCAL_WORKERS)


@contextmanager
def dask_client(spec: str = "", workers: int = 0) -> Iterator[Client | None]:
    """A client for `spec`, for the stage CLI and scripts: '' (None: in process), 'local' (a
    LocalCluster of `workers` single-threaded processes, default min(CPUs, 4), closed on exit)
    or a scheduler address (disconnected on exit, never shut down)."""
    if not spec:
        yield None
        return
    from distributed import Client, LocalCluster

    if spec == "local":
        cluster = LocalCluster(n_workers=local_workers(workers), threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.WARNING)
        client = Client(cluster, set_as_default=False)
    else:
        cluster, client = None, Client(spec, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
