#!/usr/bin/env bash
# Set up (first time) and run the main job: the whole asset graph on data/sample.
source "$(dirname "$0")/env.sh"
exec python scripts/run_main.py "$@"
