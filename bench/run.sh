#!/usr/bin/env bash
# One command for the end-to-end, scaling and GPU benches:
#   bash bench/run.sh
# writes bench/results/e2e.json, scaling.json, gpu.json, SUMMARY.md and cc_index.json.
#
# Sizes (documents), by environment variable:
#   BENCH_SIZES="10000 100000 1000000"   ours end to end (scaling)
#   BENCH_PEER_SIZES="10000 100000"      datatrove, whitespace words (spaCy xx)
#   BENCH_KIWI_SIZES="10000"             datatrove, Kiwi words (its Korean default; ~30 docs/s)
#   BENCH_NEMO_SIZES="10000"             NeMo Curator 1.4.0, CPU stages ("" to skip it)
#   BENCH_NEMO_EXECUTOR=ray_data         its executor: ray_data (faster on one core) or xenna (its default)
#   NEMO_TORCH_WHEEL=PATH                the CPU torch wheel .venv-nemo needs (default: the one in pip's
#                                        find-links folder); without one NeMo Curator is skipped, said so
#   BENCH_REUSE=1                        reuse raw runs already in out/bench/runs/
#   BENCH_CPU=N                          pin every run to core N (default: the last core)
# Needs the project venv (.venv, from scripts/main.sh or scripts/test.sh) and KenLM's lmplz /
# build_binary (PATH, or .tools/kenlm/bin as scripts/env.sh builds them); builds .venv-bench
# from bench/requirements-peers.txt when it is missing. No network needed after that.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  echo "bench: no .venv; run 'bash scripts/test.sh' (or scripts/main.sh) first to build it" >&2
  exit 2
fi
if [ -d .tools/kenlm/bin ]; then
  export PATH="$PWD/.tools/kenlm/bin:$PATH"
fi
if ! command -v lmplz >/dev/null 2>&1; then
  echo "bench: lmplz not on PATH; 'source scripts/env.sh' builds KenLM into .tools/kenlm" >&2
  exit 2
fi
if [ ! -x .venv-bench/bin/python ] || ! .venv-bench/bin/python -c "import datatrove, fasttext, pyarrow, kiwipiepy, trafilatura, warcio, cchardet, magic" 2>/dev/null; then
  echo "bench: building .venv-bench from bench/requirements-peers.txt" >&2
  python3 -m venv .venv-bench
  .venv-bench/bin/pip install -q -r bench/requirements-peers.txt
fi

nemo_sizes=${BENCH_NEMO_SIZES-10000}
if [ -n "$nemo_sizes" ] && { [ ! -x .venv-nemo/bin/python ] || ! .venv-nemo/bin/python -c "import nemo_curator, justext, fasttext, warcio, ray" 2>/dev/null; }; then
  # plain `pip install nemo-curator` pulls CUDA torch and ~17 nvidia wheels: the CPU wheel goes first, by path
  wheel=${NEMO_TORCH_WHEEL:-}
  if [ -z "$wheel" ]; then
    for folder in $(python3 -m pip config get global.find-links 2>/dev/null) /opt/wheels; do
      wheel=$(ls "$folder"/torch-2.13.0+cpu-*.whl 2>/dev/null | head -1) && [ -n "$wheel" ] && break
    done
  fi
  if [ -n "$wheel" ] && [ -f "$wheel" ]; then
    echo "bench: building .venv-nemo from bench/requirements-nemo.txt (about 2.5 min, 2.3 GB)" >&2
    python3 -m venv .venv-nemo
    .venv-nemo/bin/pip install -q "$wheel"
    .venv-nemo/bin/pip install -q -r bench/requirements-nemo.txt
  else
    echo "bench: no CPU torch 2.13.0 wheel found (set NEMO_TORCH_WHEEL); NeMo Curator is not measured" >&2
    nemo_sizes=""
  fi
fi

args=(--sizes ${BENCH_SIZES:-10000 100000 1000000}
      --peer-sizes ${BENCH_PEER_SIZES-10000 100000}
      --kiwi-sizes ${BENCH_KIWI_SIZES-10000}
      --nemo-sizes $nemo_sizes --nemo-executor "${BENCH_NEMO_EXECUTOR:-ray_data}")
if [ "${BENCH_REUSE:-0}" = "1" ]; then args+=(--reuse); fi
if [ -n "${BENCH_CPU:-}" ]; then args+=(--cpu "$BENCH_CPU"); fi
.venv/bin/python bench/e2e_report.py "${args[@]}"
# The Common Crawl index path against whole files, on the 10,000-page corpus built above.
if [ -d out/bench/corpus/n10000/warc ]; then
  .venv/bin/python bench/cc_index.py ${BENCH_CPU:+--cpu "$BENCH_CPU"}
fi
