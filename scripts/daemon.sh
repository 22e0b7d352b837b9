#!/usr/bin/env bash
# dagster-daemon over the project instance: runs the new-snapshot sensor, the monthly schedules,
# the run queue (max_concurrent_runs in dagster.yaml) and backfills launched from the UI.
# Run it beside scripts/ui.sh (two terminals), or use both through `dagster dev`.
source "$(dirname "$0")/env.sh"
exec dagster-daemon run -w workspace.yaml
