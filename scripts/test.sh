#!/usr/bin/env bash
# README command (2): install with test extras, start Neo4j (scripts/neo4j.sh), run the whole suite, stop Neo4j.
# In CI (CI=true) the Neo4j tests must run: a server that cannot start fails the run instead of skipping.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh test
# The tests wipe the database they are pointed at: a separate state dir and port keep a
# developer's own server (default .neo4j-data, port 7687) out of harm's way.
export NEO4J_PASSWORD="${NEO4J_PASSWORD:-medkg-test-pw}"
export NEO4J_PORT="${MEDKG_TEST_NEO4J_PORT:-7688}"
export MEDKG_NEO4J_HOME="${MEDKG_TEST_NEO4J_HOME:-$ROOT/.neo4j-data/test}"
export NEO4J_USER="${NEO4J_USER:-neo4j}"
if [[ "${CI:-}" == "true" ]]; then
    export MEDKG_REQUIRE_NEO4J=1
fi
started=0
if URI="$(bash scripts/neo4j.sh start)"; then
    export NEO4J_URI="$URI"
    started=1
else
    echo "test.sh: Neo4j could not be started; Neo4j tests will skip (or fail under CI)" >&2
fi
cleanup() { [[ $started == 1 ]] && bash scripts/neo4j.sh stop >&2 || true; }
trap cleanup EXIT
.venv/bin/python -m pytest "$@"
