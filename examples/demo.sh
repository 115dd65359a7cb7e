#!/usr/bin/env bash
# The demo behind `make demo`: apply the multi-region stack, then show that a
# second plan finds nothing to change. Runs on the embedded Temporal server.
set -euo pipefail
cd "$(dirname "$0")/.."
TFO=.venv/bin/tfo
CONFIG=examples/multi-region/infra.yaml

echo "== tfo validate"
$TFO validate "$CONFIG"
echo "== tfo graph"
$TFO graph "$CONFIG"
echo "== tfo apply --auto-approve (independent workspaces run in parallel)"
$TFO apply "$CONFIG" --auto-approve
echo "== tfo plan (expect: no changes, exit 0)"
set +e
$TFO plan "$CONFIG"
rc=$?
set -e
if [ "$rc" -ne 0 ]; then
  echo "demo: expected no changes after apply, got exit $rc" >&2
  exit 1
fi
echo "== demo done: state lives in examples/multi-region/*/terraform.tfstate, tfo's files in examples/multi-region/.tfo"
