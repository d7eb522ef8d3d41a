#!/usr/bin/env bash
# README command (1): install, ingest the bundled sample into the embedded store, answer a question.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
export MEDKG_HOME="${MEDKG_HOME:-$ROOT/.medkg}"
QUESTION="${1:-What drugs can cause hypertension?}"
# exit 3 = some records rejected (none are, in the sample); anything else non-zero is an error
.venv/bin/medkg ingest data/sample
.venv/bin/medkg stats
.venv/bin/medkg ask "$QUESTION"
