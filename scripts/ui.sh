#!/usr/bin/env bash
# The Dagster UI on loopback over the project instance: lineage, runs, partitions, metadata.
source "$(dirname "$0")/env.sh"
exec dagster-webserver -w workspace.yaml -h "${CURATION_UI_HOST:-127.0.0.1}" -p "${CURATION_UI_PORT:-3000}"
