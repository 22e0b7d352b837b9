#!/usr/bin/env bash
# Browser check of the Dagster UI: webserver on 127.0.0.1 (free port, temporary DAGSTER_HOME),
# GraphQL lineage and asset checks == the code's Definitions, headless Chromium screenshots of
# the lineage pages in out/ui/. Options: --no-screenshot, --out-dir DIR, --chromium PATH.
source "$(dirname "$0")/env.sh"
exec python scripts/ui_check.py "$@"
