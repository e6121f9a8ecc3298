#!/usr/bin/env bash
# package_test.sh BUILD_DIR — the .deb, for real (root): `cpack -G DEB` builds it from BUILD_DIR,
# `dpkg -i` installs it on this machine, its declared dependencies and conffile are checked, the
# installed daemon is started the way the installed unit starts it (its ExecStartPre and ExecStart
# lines: there is no systemd to ask here) on the installed configuration, it must serve, and
# `dpkg --purge` removes every file again. The machine is left as it was, also on failure. First
# a staged `cmake --install` (DESTDIR) checks the install layout.
#
# The installed configuration is used as installed; only the listen addresses are moved by
# environment (DD_SYSPROBE_SOCKET, DD_SYSTEM_PROBE_CONFIG_DEBUG_PORT, as a unit's Environment=
# would) so that the test never collides with a daemon already serving on this machine.
# Exit 77 (skip) when not root, unless RINGPROBE_REQUIRE_BPF=1 (then it fails).
set -euo pipefail

build=$(cd "${1:?usage: package_test.sh BUILD_DIR}" && pwd)
fail() { echo "package_test: FAIL: $*" >&2; exit 1; }
if [ "$(id -u)" != 0 ]; then
    [ "${RINGPROBE_REQUIRE_BPF:-0}" = 1 ] && fail "needs root (dpkg -i), and RINGPROBE_REQUIRE_BPF=1"
    echo "SKIP: needs root (dpkg -i)"
    exit 77
fi
for t in cpack dpkg dpkg-deb dpkg-shlibdeps curl; do
    command -v $t >/dev/null || fail "$t not installed (tools/setup)"
done

# One package test at a time on this machine, and dpkg's own lock may be held by apt for a moment.
exec 9>/tmp/ringprobe-package-test.lock
flock -w 300 9 || fail "another package test holds /tmp/ringprobe-package-test.lock"
dpkg_retry() {
    local out
    for _ in $(seq 120); do
        if out=$(dpkg "$@" 2>&1); then echo "$out"; return 0; fi
        grep -q "lock" <<< "$out" || { echo "$out" >&2; return 1; }
        sleep 0.5
    done
    echo "$out" >&2
    return 1
}

work=$(mktemp -d /tmp/ringprobe-package.XXXXXX)
pid=""
cleanup() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
    if dpkg-query -W -f='${Status}' ringprobe 2>/dev/null | grep -q "installed"; then
        dpkg_retry --purge ringprobe > /dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
if dpkg-query -W -f='${Status}' ringprobe 2>/dev/null | grep -q "installed"; then
    fail "a ringprobe package is already installed here; not touching it"
fi
[ -e /etc/ringprobe ] && fail "/etc/ringprobe exists already; not touching it"

# --- cmake --install (staged: DESTDIR): the layout, and the unit naming the installed binary
DESTDIR="$work/stage" cmake --install "$build" > "$work/install.log" 2>&1 || { cat "$work/install.log" >&2; fail "cmake --install"; }
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
for f in "$prefix/bin/ringprobe" "$prefix/bin/ringprobectl" /etc/ringprobe/ringprobe.toml \
         "$prefix/lib/systemd/system/ringprobe.service"; do
    [ -e "$work/stage$f" ] || fail "cmake --install did not install $f"
done
grep -qx "ExecStart=$prefix/bin/ringprobe --config /etc/ringprobe/ringprobe.toml" \
    "$work/stage$prefix/lib/systemd/system/ringprobe.service" || fail "the installed unit's ExecStart does not name $prefix/bin/ringprobe"

# --- build
t0=$(date +%s.%N)
(cd "$build" && cpack -G DEB -B "$work/out" > "$work/cpack.log" 2>&1) || { cat "$work/cpack.log" >&2; fail "cpack -G DEB"; }
deb=$(ls "$work"/out/ringprobe_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || { cat "$work/cpack.log" >&2; fail "no ringprobe_*.deb in $work/out"; }
echo "built $(basename "$deb") in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
for lib in libc6 libstdc++6 liburing2 libsimdjson; do
    grep -q "$lib" <<< "$depends" || fail "Depends lacks $lib: $depends"
done
if [ -e "$build/bpf" ]; then
    for lib in libbpf1 libelf1; do grep -q "$lib" <<< "$depends" || fail "Depends lacks $lib: $depends"; done
fi
dpkg-deb -I "$deb" conffiles | grep -qx "/etc/ringprobe/ringprobe.toml" || fail "the configuration is not a conffile"

# --- install
dpkg_retry -i "$deb" > "$work/dpkg.log" || { cat "$work/dpkg.log" >&2; fail "dpkg -i"; }
for f in /usr/bin/ringprobe /usr/bin/ringprobectl /etc/ringprobe/ringprobe.toml; do
    [ -e "$f" ] || fail "$f not installed"
done
unit=$(dpkg -L ringprobe | grep '/systemd/system/ringprobe.service$' | head -1)
[ -n "$unit" ] && [ -f "$unit" ] || fail "no systemd unit installed"
cmp -s /etc/ringprobe/ringprobe.toml "$(dirname "$0")/../../conf/ringprobe.toml" || fail "installed config differs from conf/ringprobe.toml"
grep -q '^Type=notify$' "$unit" || fail "unit is not Type=notify"
/usr/bin/ringprobe --version | tee "$work/version"
grep -q '^ringprobe ' "$work/version" || fail "--version"

# --- start the installed daemon as its unit does
pre=$(sed -n 's/^ExecStartPre=//p' "$unit")
start=$(sed -n 's/^ExecStart=//p' "$unit")
case "$start" in /usr/bin/ringprobe\ *) ;; *) fail "ExecStart does not run the installed /usr/bin/ringprobe: $start" ;; esac
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export DD_SYSPROBE_SOCKET="$work/sysprobe.sock" DD_SYSTEM_PROBE_CONFIG_DEBUG_PORT="$port"
# shellcheck disable=SC2086
$pre > "$work/pre.log" 2>&1 || { cat "$work/pre.log" >&2; fail "ExecStartPre ($pre)"; }
grep -q "configuration is valid" "$work/pre.log" || fail "ExecStartPre did not validate"
# shellcheck disable=SC2086
$start > "$work/daemon.log" 2>&1 &
pid=$!
for _ in $(seq 300); do
    curl -sf --unix-socket "$DD_SYSPROBE_SOCKET" http://sysprobe/debug/stats -o "$work/stats" && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/daemon.log" >&2; fail "the installed daemon exited"; }
    sleep 0.05
done
[ -s "$work/stats" ] || { cat "$work/daemon.log" >&2; fail "the installed daemon does not serve /debug/stats"; }
grep -q '"process"' "$work/stats" || fail "/debug/stats lacks the process module: $(cat "$work/stats")"
curl -sf "http://127.0.0.1:$port/metrics" -o "$work/metrics" || fail "GET /metrics on the debug port: curl exit $?: $(tail -3 "$work/daemon.log")"
grep -q "^ringprobe_build_info{version=" "$work/metrics" || fail "/metrics lacks ringprobe_build_info: $(head -c 300 "$work/metrics")"
curl -sf --unix-socket "$DD_SYSPROBE_SOCKET" -X POST -d '{"pids":[1]}' http://sysprobe/process/stats -o "$work/procstats" ||
    fail "POST /process/stats"
grep -q statsByPID "$work/procstats" || fail "POST /process/stats: $(cat "$work/procstats")"
kill -TERM "$pid"
wait "$pid" || fail "the installed daemon did not exit 0 on SIGTERM: $(tail -5 "$work/daemon.log")"
pid=""

# --- remove
dpkg_retry --purge ringprobe > "$work/purge.log" || { cat "$work/purge.log" >&2; fail "dpkg --purge"; }
for f in /usr/bin/ringprobe /usr/bin/ringprobectl /etc/ringprobe "$unit"; do
    [ -e "$f" ] && fail "$f left after dpkg --purge"
done
echo "package_test: ok"
