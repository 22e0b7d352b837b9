#!/usr/bin/env bash
# Set up (first time) and lint: ruff with the rule set in pyproject.toml.
source "$(dirname "$0")/env.sh"
exec ruff check "$@" .
