#!/usr/bin/env bash
# Start/stop a local Neo4j 5.26 LTS Community server for medkg's tests and development.
#
#   scripts/neo4j.sh start     build if needed, start in the background, wait until Bolt answers an
#                              authenticated query, print the URI (bolt://127.0.0.1:PORT) on stdout
#   scripts/neo4j.sh stop      SIGTERM (clean shutdown), wait for the process to exit
#   scripts/neo4j.sh status    say whether it runs (exit 0 running, 3 not running)
#   scripts/neo4j.sh restart | build
#
# The server is embedded Neo4j with the Bolt connector (scripts/neo4j/, a Maven project): there is
# no Neo4j package or Docker here, and Maven Central carries the jars. Environment:
#   NEO4J_PORT           Bolt port on 127.0.0.1 (default 7687)
#   NEO4J_PASSWORD       password of user neo4j (default medkg-test-pw; at least 8 characters)
#   MEDKG_NEO4J_HOME     state dir: database, pid file, log (default <repo>/.neo4j-data)
#   MEDKG_NEO4J_JAVA_OPTS  JVM heap options (default -Xms256m -Xmx1g)
#   MEDKG_NEO4J_TIMEOUT  seconds to wait for the server to answer (default 120)
# Progress and errors go to stderr; stdout carries only the URI (start) or the status line.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROJECT="$ROOT/scripts/neo4j"
JAR="$PROJECT/target/medkg-neo4j.jar"
HOST=127.0.0.1
PORT="${NEO4J_PORT:-7687}"
PASSWORD="${NEO4J_PASSWORD:-medkg-test-pw}"
STATE="${MEDKG_NEO4J_HOME:-$ROOT/.neo4j-data}"
PIDFILE="$STATE/neo4j.pid"
LOG="$STATE/neo4j.log"
JAVA_OPTS="${MEDKG_NEO4J_JAVA_OPTS:--Xms256m -Xmx1g}"
# The JVM flags Neo4j's own neo4j.conf ships with (the --add-opens ones are in the jar's manifest).
NEO4J_JVM_FLAGS="-XX:+UseG1GC -XX:-OmitStackTraceInFastThrow -XX:+UnlockExperimentalVMOptions
 -XX:+TrustFinalNonStaticFields -XX:+DisableExplicitGC -XX:+ExitOnOutOfMemoryError
 -Djdk.nio.maxCachedBufferSize=1024 -Dio.netty.tryReflectionSetAccessible=true -Dlog4j2.disable.jmx=true"
TIMEOUT="${MEDKG_NEO4J_TIMEOUT:-120}"
URI="bolt://$HOST:$PORT"

say() { echo "neo4j.sh: $*" >&2; }
die() { say "$*"; exit 1; }

# The pid of the running server, or nothing (a stale pid file, or a pid reused by another process,
# counts as not running).
server_pid() {
    [[ -f "$PIDFILE" ]] || return 0
    local pid
    pid="$(tr -dc 0-9 < "$PIDFILE")"
    [[ -n "$pid" ]] || return 0
    if [[ -r "/proc/$pid/cmdline" ]] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q 'medkg-neo4j.jar'; then
        echo "$pid"
    fi
}

# Debian's Maven 3.8 prints bare colour resets even with -B -q.
strip_ansi() { sed -u 's/\x1b\[[0-9;]*m//g'; }

build() {
    command -v java >/dev/null || die "java not found: Neo4j 5.26 needs Java 17 (apt-get install openjdk-17-jdk-headless)"
    command -v mvn >/dev/null || die "mvn not found: apt-get install maven"
    local newest
    newest="$(find "$PROJECT/pom.xml" "$PROJECT/src" -type f -newer "$JAR" 2>/dev/null | head -n 1 || true)"
    if [[ -f "$JAR" && -d "$PROJECT/target/lib" && -z "$newest" ]]; then
        return 0
    fi
    local version
    version="$(sed -n 's|.*<neo4j.version>\(.*\)</neo4j.version>.*|\1|p' "$PROJECT/pom.xml")"
    local m2="${MAVEN_REPO_LOCAL:-$HOME/.m2/repository}"
    local mvn=(mvn -q -B -Dstyle.color=never -f "$PROJECT/pom.xml")
    say "building the server (scripts/neo4j, Neo4j $version)..."
    local t0=$SECONDS
    # Offline once the artifacts are cached; a first build downloads them from Maven Central.
    if [[ -d "$m2/org/neo4j/neo4j/$version" ]] && "${mvn[@]}" -o package 2>&1 | strip_ansi >&2; then
        :
    else
        "${mvn[@]}" package 2>&1 | strip_ansi >&2 || die "Maven build failed (see above)"
    fi
    say "built in $((SECONDS - t0)) s"
}

# Exit 0 when Bolt accepts an authenticated query. Uses the Python driver (the project's venv
# first); without one, falls back to the launcher's READY line plus an open TCP port.
ping_server() {
    local py=""
    for candidate in "$ROOT/.venv/bin/python" python3; do
        if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import neo4j' 2>/dev/null; then
            py="$candidate"
            break
        fi
    done
    if [[ -n "$py" ]]; then
        MEDKG_PING_URI="$URI" MEDKG_PING_PW="$PASSWORD" "$py" - <<'EOF' 2>/dev/null
import os, sys
import neo4j
try:
    with neo4j.GraphDatabase.driver(os.environ["MEDKG_PING_URI"], auth=("neo4j", os.environ["MEDKG_PING_PW"]),
                                    connection_timeout=5) as d:
        d.execute_query("RETURN 1")
except neo4j.exceptions.AuthError:
    sys.exit(2)
except Exception:
    sys.exit(1)
EOF
        return $?
    fi
    grep -q "MEDKG_NEO4J_READY" "$LOG" 2>/dev/null && (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null
}

wait_ready() {
    local pid="$1" deadline=$((SECONDS + TIMEOUT)) rc
    while ((SECONDS < deadline)); do
        if [[ -z "$(server_pid)" ]]; then
            local why
            why="$(grep -m1 'MEDKG_NEO4J_FAILED' "$LOG" 2>/dev/null | cut -d' ' -f2- || true)"
            die "the server exited during start-up${why:+: $why} (log: $LOG)"
        fi
        if grep -q "MEDKG_NEO4J_READY" "$LOG" 2>/dev/null; then
            rc=0
            ping_server || rc=$?
            if ((rc == 0)); then
                return 0
            elif ((rc == 2)); then
                die "the server on $URI rejects the password in NEO4J_PASSWORD (authentication failed)"
            fi
        fi
        sleep 0.5
    done
    die "the server (pid $pid) did not answer on $URI within ${TIMEOUT}s (log: $LOG)"
}

start() {
    mkdir -p "$STATE"
    exec 9>"$STATE/.lock"
    flock -w "$TIMEOUT" 9 || die "another neo4j.sh holds $STATE/.lock"
    local pid
    pid="$(server_pid)"
    if [[ -n "$pid" ]]; then
        say "already running (pid $pid)"
        wait_ready "$pid"
        echo "$URI"
        return 0
    fi
    ((${#PASSWORD} >= 8)) || die "NEO4J_PASSWORD must have at least 8 characters (a Neo4j rule)"
    if (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; then
        die "port $PORT on $HOST is already in use by another process: set NEO4J_PORT to a free port"
    fi
    build
    rm -f "$PIDFILE"
    : > "$LOG"
    say "starting Neo4j on $URI (state: $STATE)"
    local t0=$SECONDS
    # The password travels in the environment only (not on the command line, where ps shows it).
    # setsid: the server outlives this shell and a Ctrl-C in the terminal that started it.
    # shellcheck disable=SC2086
    NEO4J_PASSWORD="$PASSWORD" setsid java $NEO4J_JVM_FLAGS $JAVA_OPTS \
        -jar "$JAR" --data-dir "$STATE/db" --host "$HOST" --port "$PORT" --pid-file "$PIDFILE" \
        >>"$LOG" 2>&1 </dev/null 9>&- &
    local launcher=$!
    local i
    for ((i = 0; i < 100; i++)); do
        [[ -s "$PIDFILE" ]] && break
        kill -0 "$launcher" 2>/dev/null || break
        sleep 0.1
    done
    pid="$(server_pid)"
    [[ -n "$pid" ]] || die "the server did not start: $(grep -m1 -E 'MEDKG_NEO4J_FAILED|medkg-neo4j:|Error' "$LOG" || echo "see $LOG")"
    wait_ready "$pid"
    say "ready in $((SECONDS - t0)) s (pid $pid)"
    echo "$URI"
}

stop() {
    local pid
    pid="$(server_pid)"
    if [[ -z "$pid" ]]; then
        rm -f "$PIDFILE"
        say "not running"
        return 0
    fi
    say "stopping (pid $pid)..."
    kill -TERM "$pid"
    local deadline=$((SECONDS + TIMEOUT))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            say "no clean shutdown after ${TIMEOUT}s: killing pid $pid"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.2
    done
    rm -f "$PIDFILE"
    say "stopped"
}

status() {
    local pid
    pid="$(server_pid)"
    if [[ -n "$pid" ]]; then
        echo "running pid=$pid uri=$URI state=$STATE"
        return 0
    fi
    echo "not running (state=$STATE)"
    return 3
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    restart) stop && start ;;
    status) status ;;
    build)
        [[ -z "$(server_pid)" ]] || die "the server is running from the jar a build would replace: scripts/neo4j.sh stop first"
        build ;;
    *) echo "usage: $0 start|stop|restart|status|build" >&2; exit 2 ;;
esac
