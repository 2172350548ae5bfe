#!/bin/sh
# Installs the Debian packages tasklight needs, and only the missing ones.
#   scripts/deps.sh run    build and run (libraries, compiler)
#   scripts/deps.sh test   the above plus the test tools
# As root it runs apt-get; otherwise it prints the sudo line and fails.
set -eu

RUN_PKGS="build-essential pkg-config libevent-dev libsqlite3-dev libjansson-dev libpcre2-dev libncurses-dev scdoc"
TEST_PKGS="libcmocka-dev python3 python3-pytest python3-requests procps tmux chromium fonts-dejavu-core"

case "${1:-run}" in
run) want="$RUN_PKGS" ;;
test)
    want="$RUN_PKGS $TEST_PKGS"
    # The browser tests run under node with npm; a node installed another
    # way (with its own npm) does as well as Debian's.
    command -v node >/dev/null 2>&1 || want="$want nodejs"
    command -v npm >/dev/null 2>&1 || want="$want npm"
    ;;
*) echo "usage: scripts/deps.sh run|test" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$status" in
    *"ok installed"*) ;;
    *) missing="$missing $p" ;;
    esac
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    echo "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing
else
    echo "error: missing Debian packages:$missing" >&2
    echo "run: sudo apt-get install -y$missing" >&2
    exit 1
fi
