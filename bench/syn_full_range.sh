#!/usr/bin/env bash
# Kept for old instructions: the full-range benchmark is bench/full_range.sh now (lossless and
# lossy scenarios, the path limit, nmap and monban in one run). LOSS, HOSTS and RUNS mean the
# same there.
exec bash "$(dirname "$0")/full_range.sh" "$@"
