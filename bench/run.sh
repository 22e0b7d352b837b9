#!/usr/bin/env bash
# One command for the end-to-end, scaling and GPU benches:
#   bash bench/run.sh
# writes bench/results/e2e.json, scaling.json, gpu.json and SUMMARY.md.
#
# Sizes (documents), by environment variable:
#   BENCH_SIZES="10000 100000 1000000"   ours end to end (scaling)
#   BENCH_PEER_SIZES="10000 100000"      datatrove, whitespace words (spaCy xx)
#   BENCH_KIWI_SIZES="10000"             datatrove, Kiwi words (its Korean default; ~30 docs/s)
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

args=(--sizes ${BENCH_SIZES:-10000 100000 1000000}
      --peer-sizes ${BENCH_PEER_SIZES-10000 100000}
      --kiwi-sizes ${BENCH_KIWI_SIZES-10000})
if [ "${BENCH_REUSE:-0}" = "1" ]; then args+=(--reuse); fi
if [ -n "${BENCH_CPU:-}" ]; then args+=(--cpu "$BENCH_CPU"); fi
exec .venv/bin/python bench/e2e_report.py "${args[@]}"
