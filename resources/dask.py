"""DaskResource: where document stages run their batches (in process, a LocalCluster, or an
existing Dask scheduler).

Where, from `cluster` (the deployment binds it to the environment variable CURATION_DASK through
dg.EnvVar, resolved when a run starts; run config may set it per run):

    (unset), "off"         in process, no Dask (the default)
    "local"                a distributed.LocalCluster on this machine, started on first use
                           and closed when the step ends
    "tcp://host:8786"      connect to that scheduler (mode "address"); never closed by us

The default is in process: the shipped sample is a few hundred documents, which a LocalCluster
(seconds to start its worker processes, then a fastText load in each) only slows down, and the
tests and CI (2 cores) should not spawn clusters unless they mean to. Large partitions opt in
per run (`resources: {dask: {config: {cluster: local}}}`) or per deployment (CURATION_DASK).
Code that builds the resource itself may use `mode` and `scheduler_address` instead of `cluster`.

One cluster per step process: the resource starts it lazily in `client()` and closes it in
`teardown_after_execution`, so every stage that a step runs shares it, and a step that never
asks for a client starts nothing. Dagster's default multiprocess executor runs each step in its
own process, so each step of a run would start its own LocalCluster; to share one cluster
across a whole run, start a scheduler once (`dask scheduler` plus `dask worker`s, with this
project installed on them) and use its address, or run the job with the in-process executor.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

import dagster as dg
from pydantic import Field, PrivateAttr

from curation.parallel import local_workers

if TYPE_CHECKING:  # distributed is imported only when a cluster is used
    from distributed import Client

ENV_VAR = "CURATION_DASK"
Mode = Literal["off", "local", "address"]


def parse_cluster(value: str) -> tuple[str, str]:
    """(mode, scheduler address) of the CURATION_DASK form: off, local or an address."""
    value = value.strip()
    if value in ("", "off"):
        return "off", ""
    return ("local", "") if value == "local" else ("address", value)


class DaskResource(dg.ConfigurableResource):
    """A Dask client for `curation.parallel.process_batches`, or None to run in process."""

    cluster: str = Field(default="", description="off, local or a scheduler address, as in CURATION_DASK (the "
                                                 "deployment's); when set it decides mode and scheduler_address")
    mode: Mode = Field(default="off", description="off (in process), local (start a LocalCluster) or address "
                                                  "(connect to scheduler_address)")
    scheduler_address: str = Field(default="", description="e.g. tcp://10.0.0.5:8786; used in mode address only")
    n_workers: int = Field(default=0, description="local mode: worker processes; 0 = min(CPUs, 4), or one per "
                                                  "GPU with gpu=true")
    threads_per_worker: int = Field(default=1, description="the stages are pure Python and hold the GIL, so "
                                                           "processes, not threads, run them in parallel")
    processes: bool = True
    memory_limit: str = Field(default="auto", description="per worker, e.g. 4GiB; auto = machine memory / workers")
    dashboard_address: str = Field(default="", description="e.g. :8787 (needs bokeh); empty = no dashboard")
    gpu: bool = Field(default=False, description="local mode: dask_cuda.LocalCUDACluster, one worker per GPU "
                                                 "(pip install 'korean-curation[gpu]')")

    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _in_execution: bool = PrivateAttr(default=False)
    _client: Any = PrivateAttr(default=None)
    _cluster: Any = PrivateAttr(default=None)
    _log: Any = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Nothing starts here: the cluster starts on the first client() of the step.
        self._in_execution = True
        self._log = context.log

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        with self._lock:
            client, cluster = self._client, self._cluster
            self._client, self._cluster = None, None
            self._in_execution = False
        _close(client, cluster)

    @contextmanager
    def client(self) -> Iterator[Client | None]:
        """The client to hand to `process_batches`: None in mode off.

        Within a Dagster step, the first call starts (or connects to) the cluster and later
        calls share it until the step ends. Outside Dagster (scripts, tests), each `with`
        starts its own and closes it on exit. A cluster we started is closed with it; an
        external scheduler (mode address) is only disconnected from, never shut down.
        """
        if self.target()[0] == "off":
            yield None
            return
        if self._in_execution:
            with self._lock:
                if self._client is None:
                    self._client, self._cluster = self._connect()
                client = self._client
            yield client
            return
        client, cluster = self._connect()
        try:
            yield client
        finally:
            _close(client, cluster)

    def target(self) -> tuple[str, str]:
        """(mode, scheduler address): from `cluster` when it is set, else `mode` and `scheduler_address`."""
        return parse_cluster(self.cluster) if self.cluster.strip() else (self.mode, self.scheduler_address)

    def workers(self) -> int:
        """Local mode: how many workers `n_workers` gives on this machine."""
        return local_workers(self.n_workers)

    def _connect(self) -> tuple[Client, Any]:
        from distributed import Client

        mode, address = self.target()
        if mode == "address":
            if not address:
                raise ValueError(f"DaskResource mode 'address' needs scheduler_address (or {ENV_VAR}=tcp://host:8786)")
            # set_as_default=False: other code calling dask.compute keeps its own scheduler.
            client = Client(address, set_as_default=False)
            self._info(f"Dask: connected to {address} ({len(client.nthreads())} workers)")
            return client, None
        if mode != "local":
            raise ValueError(f"unknown DaskResource mode {mode!r}; use off, local or address")
        cluster = self._start_local_cluster()
        try:
            client = Client(cluster, set_as_default=False)
        except BaseException:
            cluster.close()
            raise
        self._info(f"Dask: started {type(cluster).__name__} with {len(client.nthreads())} workers "
                   f"x {self.threads_per_worker} threads" + (f", dashboard {client.dashboard_link}"
                                                           if self.dashboard_address else ""))
        return client, cluster

    def _start_local_cluster(self) -> Any:
        common: dict[str, Any] = {
            "threads_per_worker": self.threads_per_worker,
            "memory_limit": self.memory_limit,
            "dashboard_address": self.dashboard_address or None,
            "silence_logs": logging.WARNING,
        }
        if self.gpu:
            try:
                from dask_cuda import LocalCUDACluster
            except ImportError as error:
                raise RuntimeError("DaskResource gpu=true needs dask-cuda and a CUDA GPU: pip install "
                                   "'korean-curation[gpu]' (or set gpu=false)") from error
            if self.n_workers > 0:  # else dask-cuda starts one worker per visible GPU
                common["n_workers"] = self.n_workers
            return LocalCUDACluster(**common)
        from distributed import LocalCluster

        return LocalCluster(n_workers=self.workers(), processes=self.processes, **common)

    def _info(self, message: str) -> None:
        if self._log is not None:
            self._log.info(message)


def _close(client: Client | None, cluster: Any) -> None:
    """Disconnect the client, then close the cluster if we started it (cluster is None for an
    external scheduler, which stays up)."""
    try:
        if client is not None:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()
