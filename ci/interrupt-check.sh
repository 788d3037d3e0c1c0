#!/usr/bin/env bash
# Ctrl-C ends ci/multihost-check.sh and ci/slurm-check.sh at once, and they clean up: each is
# started in a session of its own (as a terminal would run it), and once it is in the middle of
# a long step (multihost: the `--measure` runs; Slurm: the job, after the node came up) its
# process group is sent SIGINT, as Ctrl-C does. It must exit 130 within 10 s, leaving no network
# namespace, link, temporary folder or process of its own behind. And a multihost check that
# fails while wiring its hosts (an `ip` that fails once a veth pair exists in the root
# namespace, as a failed move into a namespace would leave it) leaves no link there either.
#
# Needs what those two scripts need (root, iproute2, mpirun, slurm-wlm, munge, python3) and an
# `mpi` build of parlab: PARLAB=path (default target/debug/parlab). MULTIHOST=script and
# SLURM=script run other copies of the two scripts (to show an older one failing); `--only
# multihost|slurm` runs one of the two.
set -euo pipefail
cd "$(dirname "$0")/.."

export PARLAB=$(realpath "${PARLAB:-target/debug/parlab}")
multihost=${MULTIHOST:-ci/multihost-check.sh}
slurm=${SLURM:-ci/slurm-check.sh}
only=all
case "${1:-}" in
  --only) only=${2:?"usage: $0 [--only multihost|slurm|wiring]"} ;;
  "") ;;
  *) echo "usage: $0 [--only multihost|slurm|wiring]" >&2; exit 2 ;;
esac

log() { printf '==> %s\n' "$*"; }
fail() { printf 'interrupt-check: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "needs root (the checks it interrupts do)"
command -v python3 >/dev/null || fail "python3 not found (apt-get install python3): the checks it interrupts need it"

tmp=$(mktemp -d /tmp/parlab-interrupt.XXXXXX)
pid=""
cleanup() {
  local rc=$?
  set +e
  # A check still running (this one failed early) is ended like a Ctrl-C would, and waited for:
  # its own cleanup removes what it made.
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  fi
  rm -rf "$tmp"
  if [ $rc -eq 0 ]; then log "interrupt check passed"; else echo "interrupt-check: FAILED ($rc)" >&2; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# `start NAME SCRIPT ARGS...`: SCRIPT in a session of its own, its output in $tmp/NAME.log.
# A background job of a script starts with SIGINT ignored, and bash cannot trap a signal it was
# started ignoring: the wrapper restores SIGINT's default (as a terminal's shell would run the
# script), then leaves the group (it leads none, so its pid becomes the session's and the
# group's) and execs the script.
start() {
  local name=$1
  shift
  python3 -c 'import os, signal, sys
for sig in (signal.SIGINT, signal.SIGPIPE, signal.SIGXFSZ):
    signal.signal(sig, signal.SIG_DFL)
os.setsid()
os.execvp(sys.argv[1], sys.argv[1:])' "$@" >"$tmp/$name.log" 2>&1 &
  pid=$!
  sleep 0.5
  [ "$(ps -o pgid= -p "$pid" | tr -d ' ')" = "$pid" ] || fail "$name is not the leader of its process group"
}

# `alive PGREP-ARGS...`: the processes pgrep finds, but not zombies (dead; whoever adopted them
# reaps them in its own time), as `PID ARGS` lines.
alive() {
  local p
  for p in $(pgrep "$@" || true); do
    ps -o stat=,pid=,args= -p "$p" 2>/dev/null | grep -v '^Z' || true
  done
}

# `multihost_links PID`: the links ci/multihost-check.sh run as PID named (its prefix) in the
# root namespace.
multihost_links() { ip -o link show | grep "plmh$1" || true; }

# `wait_for WHAT SECONDS TEST...`: until TEST succeeds, or fail.
wait_for() {
  local what=$1 limit=$2
  shift 2
  local started=$SECONDS
  until "$@"; do
    kill -0 "$pid" 2>/dev/null || { cat "$tmp"/*.log >&2; fail "the check ended before $what"; }
    [ $((SECONDS - started)) -lt "$limit" ] || { cat "$tmp"/*.log >&2; fail "no $what within ${limit}s"; }
    sleep 0.5
  done
}

# `interrupt NAME`: SIGINT to the check's group; it must exit 130 within 10 s, and before
# `$completes` (if set: a file the interrupted step writes when it ends) appears.
completes=""
interrupt() {
  local name=$1 started=$SECONDS
  kill -INT -- "-$pid"
  finished_anyway=0
  while kill -0 "$pid" 2>/dev/null && [ $((SECONDS - started)) -le 10 ]; do
    [ -n "$completes" ] && [ -e "$completes" ] && finished_anyway=1
    sleep 0.1
  done
  [ $finished_anyway = 0 ] || fail "$name went on after SIGINT: $completes was written"
  if kill -0 "$pid" 2>/dev/null; then
    log "$name still runs 10 s after SIGINT; waiting for it to end"
    local rc=0
    wait "$pid" || rc=$?
    pid=""
    sed 's/^/  /' "$tmp/$name.log"
    fail "$name ignored SIGINT: it went on for $((SECONDS - started)) s and exited $rc"
  fi
  local rc=0
  wait "$pid" || rc=$?
  local took=$((SECONDS - started))
  pid=""
  sed 's/^/  /' "$tmp/$name.log"
  [ $rc -eq 130 ] || fail "$name exited $rc after SIGINT, 130 expected"
  log "$name exited 130, ${took}s after SIGINT"
}

if [ $only = all ] || [ $only = multihost ]; then
  log "ci/multihost-check.sh --measure, interrupted while measuring"
  start multihost "$multihost" --measure
  prefix="plmh$pid"
  wait_for "measuring" 900 grep -q '^==> measuring' "$tmp/multihost.log"
  sleep 2
  interrupt multihost
  ns=$(ip netns list | grep "^$prefix" || true)
  [ -z "$ns" ] || fail "namespaces left: $ns"
  links=$(multihost_links "${prefix#plmh}")
  [ -z "$links" ] || fail "links left: $links"
  procs=$(alive -s "${prefix#plmh}")
  [ -z "$procs" ] || fail "processes left in its session: $procs"
  left=$(ls -d /tmp/parlab-multihost.* 2>/dev/null | while read -r d; do [ "$d" -nt "$tmp" ] && echo "$d"; done || true)
  [ -z "$left" ] || fail "temporary folders left: $left"
  log "multihost: no namespace, link, process or folder left"
fi

if [ $only = all ] || [ $only = slurm ]; then
  log "ci/slurm-check.sh, interrupted during the job"
  start slurm "$slurm"
  ns="plslurm$pid"
  # Its folder: the newest /tmp/parlab-slurm.*, made after this script's own.
  newest_folder() {
    folder=$(ls -td /tmp/parlab-slurm.* 2>/dev/null | head -n 1)
    [ -n "$folder" ] && [ "$folder" -nt "$tmp" ] && [ -e "$folder/run.log" ]
  }
  wait_for "its folder" 60 newest_folder
  run_log=$folder/run.log
  wait_for "node: line" 120 grep -q '^  node:' "$run_log"
  # The job's last results: a check that let the job run on would write them.
  completes=$folder/out-mpirun/results.json
  interrupt slurm
  [ -z "$(ip netns list | grep "^$ns\b" || true)" ] || fail "namespace $ns left"
  [ ! -e "$folder" ] || fail "its folder $folder is left"
  procs=$(alive -f "$folder")
  [ -z "$procs" ] || fail "processes left: $procs"
  procs=$(alive -s "${ns#plslurm}")
  [ -z "$procs" ] || fail "processes left in its session: $procs"
  log "slurm: no namespace, daemon, process or folder left"
fi

if [ $only = all ] || [ $only = wiring ]; then
  log "ci/multihost-check.sh failing while it wires the hosts, a veth pair in the root namespace"
  # An `ip` that fails where a veth end goes into a namespace: a move (`link set ... netns`)
  # fails outright; a pair created in place is created in the root namespace instead, then
  # fails. Everything else goes to the real ip.
  real_ip=$(command -v ip)
  mkdir "$tmp/bin"
  cat >"$tmp/bin/ip" <<EOF
#!/bin/sh
case " \$* " in
  *" link set "*" netns "*) echo "ip: injected failure" >&2; exit 1 ;;
  *" type veth "*" netns "*)
    $real_ip \$(echo "\$*" | sed 's/ netns [^ ]*//g')
    echo "ip: injected failure" >&2; exit 1 ;;
esac
exec $real_ip "\$@"
EOF
  chmod +x "$tmp/bin/ip"
  rc=0
  PATH="$tmp/bin:$PATH" "$multihost" >"$tmp/wiring.log" 2>&1 &
  pid=$!
  wait "$pid" || rc=$?
  sed 's/^/  /' "$tmp/wiring.log"
  grep -q "injected failure" "$tmp/wiring.log" || fail "the failure was not injected"
  [ $rc -ne 0 ] || fail "the check passed with a failing ip"
  links=$(multihost_links "$pid")
  if [ -n "$links" ]; then
    for link in $(echo "$links" | awk -F': ' '{print $2}' | cut -d@ -f1); do ip link del "$link" 2>/dev/null || true; done
    fail "links left in the root namespace: $links"
  fi
  [ -z "$(ip netns list | grep "^plmh$pid" || true)" ] || fail "namespaces left"
  pid=""
  log "wiring: the failed check left no link in the root namespace"
fi
