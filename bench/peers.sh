#!/usr/bin/env bash
# peers.sh -- installs what the benchmark compares tasklight with, and only
# what is missing: Debian packages with apt-get (as root; otherwise it prints
# the sudo line), and BullMQ with its Redis client from npm into bench/.peers
# (ignored by git; nothing from it is ever committed).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
PEERS=$BENCH_DIR/.peers

# task-spooler (tsp), nq, Redis for BullMQ and Celery, hyperfine for timing
# whole commands, Flask for the seed design's server, wrk, the sqlite3 CLI
# to build large stores, Node.js for BullMQ and graphile-worker, gnuplot for
# the latency plots, PostgreSQL for graphile-worker (a private cluster per
# case, never the system one), Celery with its Redis transport.
DEB_PKGS="task-spooler nq redis-server redis-tools hyperfine python3 python3-flask
python3-requests wrk sqlite3 nodejs npm gnuplot-nox build-essential
postgresql python3-celery python3-redis"
# Pinned so that a rerun measures the same code.
NPM_PKGS="bullmq@6.7.0 ioredis@5.11.1 graphile-worker@0.18.0"

missing=""
for p in $DEB_PKGS; do
    case $p in
    nodejs | npm) command -v "${p/nodejs/node}" >/dev/null && continue ;;
    esac
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case $status in
    *"ok installed"*) ;;
    *) missing="$missing $p" ;;
    esac
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "installing Debian packages:$missing" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # shellcheck disable=SC2086
        apt-get install -y -qq --no-install-recommends $missing >&2
    else
        echo "error: missing Debian packages:$missing" >&2
        echo "run: sudo apt-get install -y$missing" >&2
        exit 1
    fi
fi

# The Debian package starts a system Redis on 6379 where systemd runs; the
# benchmark never uses it: it starts its own on a free port.

want=$(echo "$NPM_PKGS" | tr ' ' '\n' | sort | tr '\n' ' ')
have=""
if [ -f "$PEERS/installed" ]; then
    have=$(cat "$PEERS/installed")
fi
if [ "$have" != "$want" ] || [ ! -d "$PEERS/node_modules/bullmq" ] ||
    [ ! -d "$PEERS/node_modules/graphile-worker" ]; then
    echo "installing npm packages into bench/.peers: $NPM_PKGS" >&2
    mkdir -p "$PEERS"
    [ -f "$PEERS/package.json" ] || echo '{"private": true}' >"$PEERS/package.json"
    # shellcheck disable=SC2086
    npm install --prefix "$PEERS" --no-audit --no-fund --loglevel=error \
        --omit=peer $NPM_PKGS >&2
    echo "$want" >"$PEERS/installed"
fi
