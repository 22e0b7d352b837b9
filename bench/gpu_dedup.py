"""Dedup on the GPU path against the CPU path, on the same documents.

Our GPU path is `curation.dedup.backend.make_hasher(config, "gpu")`: the MinHash signature
code run on cupy (bit-identical signatures; `pip install .[gpu]`). LSH banding, verification
and connected components run on the CPU in both cases, so the comparison times (1) signatures
alone and (2) signatures + the fuzzy decision (curation.dedup.fuzzy.deduplicate, candidates
verified by the signature estimate) per backend, after a warm-up batch, and checks that both
backends give identical signatures and identical duplicates.

Without a usable GPU (no cupy, no device, or the probe kernel fails) it measures nothing and
says why ("not measured: no GPU ..."), so bench/run.sh works on any machine.

    python bench/gpu_dedup.py CORPUS_DIR [--limit 100000] [--batch-rows 10000]
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curation.dedup.backend import gpu_array_module, make_hasher  # noqa: E402
from curation.dedup.engine import DedupSettings, deduplicate_partition  # noqa: E402
from curation.dedup.minhash import MinHashConfig  # noqa: E402
from curation.io import iter_parquet_batches  # noqa: E402
from curation.stage import text_column  # noqa: E402


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def read(corpus: Path, limit: int, batch_rows: int) -> tuple[list[str], list[list[str]]]:
    ids, batches = [], []
    for batch in iter_parquet_batches(sorted(str(p) for p in corpus.glob("part-*.parquet")),
                                      columns=["id", "text"], batch_rows=batch_rows):
        batch = batch.slice(0, max(0, limit - len(ids)))
        if batch.num_rows == 0:
            break
        ids.extend(batch.column("id").to_pylist())
        batches.append(text_column(batch))
    return ids, batches


def measure(backend: str, ids: list[str], batches: list[list[str]],
            config: MinHashConfig) -> tuple[dict, np.ndarray, list]:
    hasher, used = make_hasher(config, backend)
    hasher.signatures(batches[0][:256])  # warm-up: kernels compiled, pools allocated
    start = time.perf_counter()
    signatures = np.concatenate([np.asarray(hasher.signatures(texts)) for texts in batches])
    signature_seconds = time.perf_counter() - start
    table = pa.table({"id": ids, "text": [t for texts in batches for t in texts]})
    start = time.perf_counter()  # the whole partition through the one entry point, on this backend
    result = deduplicate_partition(lambda: [table], "gpu-bench", DedupSettings(minhash=config, backend=backend))
    total = signature_seconds + time.perf_counter() - start
    duplicates = result.duplicates()
    return ({"backend": used, "signature_seconds": round(signature_seconds, 3),
             "signature_docs_per_second": round(len(ids) / signature_seconds, 1),
             "dedup_seconds": round(total, 3), "dedup_docs_per_second": round(len(ids) / total, 1),
             "duplicates": len(duplicates)}, signatures, duplicates)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--limit", type=int, default=100_000)
    parser.add_argument("--batch-rows", type=int, default=10_000)
    args = parser.parse_args()
    cupy, why = gpu_array_module()
    out = {"cpu": cpu_model(),
           "cpu_cores_visible": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()}
    if cupy is None:
        print(json.dumps({**out, "measured": False, "reason": f"not measured: no GPU ({why})"}, ensure_ascii=False))
        return 0
    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    config = MinHashConfig()
    ids, batches = read(args.corpus, args.limit, args.batch_rows)
    cpu, cpu_sig, cpu_dup = measure("cpu", ids, batches, config)
    gpu, gpu_sig, gpu_dup = measure("gpu", ids, batches, config)
    print(json.dumps({
        **out, "measured": True, "gpu": name, "gpu_memory_gib": round(props["totalGlobalMem"] / 2**30, 1),
        "cupy": cupy.__version__, "documents": len(ids), "minhash": config.as_dict(), "cpu_path": cpu, "gpu_path": gpu,
        "identical_signatures": bool(np.array_equal(cpu_sig, gpu_sig)), "identical_duplicates": cpu_dup == gpu_dup,
        "signature_ratio_gpu_over_cpu": round(cpu["signature_seconds"] / gpu["signature_seconds"], 2),
        "dedup_ratio_gpu_over_cpu": round(cpu["dedup_seconds"] / gpu["dedup_seconds"], 2),
        "note": "CPU path: numpy on one process (BLAS threads 1), all visible cores otherwise unused; "
                "GPU path: cupy signatures, candidates/verification/components on the CPU",
    }, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
