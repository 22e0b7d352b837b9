"""Choose where signatures are computed: numpy on the CPU, or cupy on a usable GPU.

Both run the same integer code (curation.dedup.minhash), so they give identical signatures.
`import cupy` (like `import cudf`) can succeed on a machine without a GPU; the probe runs a
tiny kernel before the GPU path is trusted.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from curation.dedup.minhash import MinHashConfig, MinHasher

log = logging.getLogger(__name__)

BACKENDS = ("cpu", "gpu", "auto")


def gpu_array_module() -> tuple[Any | None, str]:
    """(cupy, "") when a GPU runs a kernel, else (None, why not)."""
    try:
        import cupy
    except Exception as error:  # ImportError, or CUDA libraries missing at import
        return None, f"cupy is not importable ({type(error).__name__}: {error}); install the gpu extra"
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None, "no CUDA device visible"
        probe = cupy.arange(4, dtype=cupy.uint64) * cupy.uint64(3)
        if int(probe.sum()) != 18:
            return None, "GPU probe computed a wrong result"
    except Exception as error:
        return None, f"no usable GPU ({type(error).__name__}: {error})"
    return cupy, ""


class _GpuMinHasher(MinHasher):
    def signatures(self, texts):
        return self.xp.asnumpy(super().signatures(texts))


def make_hasher(config: MinHashConfig, backend: str = "cpu") -> tuple[MinHasher, str]:
    """A hasher for `backend` and the backend actually used; 'gpu' and 'auto' fall back to the
    CPU with a warning naming the reason when no GPU is usable."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
    if backend == "cpu":
        return MinHasher(config, np), "cpu"
    cupy, why = gpu_array_module()
    if cupy is None:
        log.warning("MinHash backend %r requested but %s: falling back to the CPU path", backend, why)
        return MinHasher(config, np), "cpu"
    return _GpuMinHasher(config, cupy), "gpu"
