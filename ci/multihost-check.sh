#!/usr/bin/env bash
# Several hosts on one machine, for real: three network namespaces, each with a hostname of its
# own (a UTS namespace) and a veth pair to a bridge (in a namespace of its own: where Docker is
# installed the root namespace's FORWARD policy is DROP and would drop the bridged traffic), are
# three MPI hosts. OpenMPI's mpirun starts its daemons on them through `--mca plm_rsh_agent`, a
# script that enters the host's namespace where ssh would log in; the daemons connect back and
# the ranks talk over TCP on the veth subnet. Each host's name resolves through its own
# /etc/netns/NS/hosts (which `ip netns exec` mounts over /etc/hosts); nothing on the machine's
# own network or files changes, and no packet leaves the namespaces.
#
# Checks: every case of a small MPI scenario verifies with one rank per host, the results place
# the ranks on distinct hosts and describe every host; `parlab detect --hosts` passes on the
# hostfile and fails quickly (exit 2), naming the host, on one with a host that does not exist;
# no process is left in the namespaces.
# Everything created (namespaces, /etc/netns entries, the temporary folder, processes) is
# removed at the end, on success or failure.
#
# Needs root, iproute2 (`ip`), util-linux (`unshare`), mpirun, python3 and an `mpi` build of
# parlab: PARLAB=path (default target/debug/parlab). Usage: ci/multihost-check.sh [--measure]
# `--measure` then also times the same cases with the ranks on separate hosts (TCP over veth)
# and all on one host (shared memory), in one sitting: use a release build
# (PARLAB=target/release/parlab).
set -euo pipefail
cd "$(dirname "$0")/.."

PARLAB=$(realpath "${PARLAB:-target/debug/parlab}")
measure=0
case "${1:-}" in
  --measure) measure=1 ;;
  "") ;;
  *) echo "usage: $0 [--measure]" >&2; exit 2 ;;
esac

# The cases: `kind | size | params (a TOML inline table, or empty) | ranks`. One rank per host,
# so `ranks` is at most 3. Add a line to check another workload.
CASES=(
  'pi_monte_carlo | 500000 |  | 3'
  'histogram | 100003 | { bins = 61, skew = 0.25 } | 3'
  'exchange | 65536 | { order = "sendrecv" } | 2'
  'ping_pong | 8 | { round_trips = 200 } | 2'
)

log() { printf '==> %s\n' "$*"; }
fail() { printf 'multihost-check: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "needs root (network namespaces)"
# python3 reads the results; without it the check would fail only after the run.
command -v python3 >/dev/null || fail "python3 not found (apt-get install python3): it reads the results"
for tool in ip unshare mpirun timeout; do
  command -v "$tool" >/dev/null || fail "$tool not found"
done
[ -x "$PARLAB" ] || fail "no parlab binary at $PARLAB (build with --features mpi, or set PARLAB)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# Names unique to this run (interface names stay within Linux's 15 bytes).
id=$$
prefix="plmh$id"
bridge_ns="$prefix-br"
hosts=(mh-a mh-b mh-c)
subnet_base=10.213.77
subnet="$subnet_base.0/24"
namespaces=()
made_etc_netns=0
[ -d /etc/netns ] || made_etc_netns=1
tmp=$(mktemp -d /tmp/parlab-multihost.XXXXXX)
child=""

# `timed SECONDS COMMAND...`: `timeout SECONDS COMMAND...`, interruptible. timeout puts its
# child in a process group of its own, so a Ctrl-C to this script's group never reaches it, and
# bash runs a trap only once the foreground command has ended: run in the background, `wait` is
# interrupted by the signal at once, and the trap below ends the child (timeout passes SIGTERM
# on to its group).
timed() {
  local rc=0
  timeout "$@" &
  child=$!
  wait "$child" || rc=$?
  child=""
  return $rc
}
interrupted() {
  if [ -n "$child" ]; then
    kill -TERM "$child" 2>/dev/null
  fi
  exit 130
}

cleanup() {
  local rc=$?
  set +e
  trap '' INT TERM HUP
  # Whatever still runs inside the namespaces was started by this script (mpirun, its daemons,
  # ranks): end it by pid before the namespaces go.
  for ns in "${namespaces[@]}" "$bridge_ns"; do
    pids=$(ip netns pids "$ns" 2>/dev/null)
    [ -n "$pids" ] && kill -9 $pids 2>/dev/null
  done
  for ns in "${namespaces[@]}" "$bridge_ns"; do
    ip netns del "$ns" 2>/dev/null
    rm -rf "/etc/netns/$ns"
  done
  # A veth end that never reached its namespace would be left in the root namespace.
  for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep "^$prefix"); do
    ip link del "$link" 2>/dev/null
  done
  [ $made_etc_netns = 1 ] && rmdir /etc/netns 2>/dev/null
  # The timed command's timeout, its child gone, exits at once.
  [ -n "$child" ] && wait "$child" 2>/dev/null
  [ -n "${KEEP:-}" ] && cp -r "$tmp" "$KEEP"
  rm -rf "$tmp"
  if [ $rc -eq 0 ]; then log "multihost check passed"; else echo "multihost-check: FAILED ($rc)" >&2; fi
  exit $rc
}
trap cleanup EXIT
trap interrupted INT TERM HUP

ns_of() { echo "$prefix-$1"; }

log "three hosts: namespaces joined by veth pairs to a bridge, subnet $subnet"
ip netns add "$bridge_ns"
ip -n "$bridge_ns" link add br0 type bridge
ip -n "$bridge_ns" link set br0 up
hosts_file="127.0.0.1 localhost"$'\n'
for i in "${!hosts[@]}"; do
  hosts_file+="$subnet_base.$((i + 1)) ${hosts[$i]}"$'\n'
done
for i in "${!hosts[@]}"; do
  h=${hosts[$i]}
  ns=$(ns_of "$h")
  ip netns add "$ns"
  namespaces+=("$ns")
  # Both ends are created in their namespaces: none is ever in the root namespace.
  ip link add "${prefix}h$i" netns "$ns" type veth peer name "${prefix}b$i" netns "$bridge_ns"
  ip -n "$ns" link set "${prefix}h$i" name eth0
  ip -n "$ns" addr add "$subnet_base.$((i + 1))/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  ip -n "$bridge_ns" link set "${prefix}b$i" master br0
  ip -n "$bridge_ns" link set "${prefix}b$i" up
  mkdir -p "/etc/netns/$ns"
  printf '%s' "$hosts_file" >"/etc/netns/$ns/hosts"
done

# `on_host H COMMAND...`: the command line that runs COMMAND on host H (its namespace and its
# hostname), as a login there would; an array, so that `timeout` can run it.
on_host() {
  local h=$1
  shift
  cmd=(ip netns exec "$(ns_of "$h")" unshare --uts sh -c 'hostname "$0"; exec "$@"' "$h" "$@")
}

# OpenMPI's rsh agent: called as `AGENT [ssh options] HOST COMMAND...`, like ssh.
agent="$tmp/agent"
{
  echo '#!/bin/sh'
  echo '# ssh for the multihost check: HOST COMMAND... runs COMMAND in HOST'"'"'s namespace.'
  echo 'while [ $# -gt 0 ]; do'
  echo '  case "$1" in -o|-p|-l|-i|-F|-J) shift 2 ;; -*) shift ;; *) break ;; esac'
  echo 'done'
  echo 'host=$1; shift'
  echo 'case "$host" in'
  for h in "${hosts[@]}"; do echo "  $h) ns=$(ns_of "$h") ;;"; done
  echo '  *) echo "ssh: Could not resolve hostname $host: Name or service not known" >&2; exit 255 ;;'
  echo 'esac'
  echo 'exec ip netns exec "$ns" unshare --uts sh -c "hostname $host; $*"'
} >"$agent"
chmod +x "$agent"

printf '%s slots=1\n' "${hosts[@]}" >"$tmp/hostfile"
printf '%s slots=1\n' "${hosts[@]}" nosuchhost >"$tmp/hostfile-bogus"

# The scenario: every case on `mpi` only, the [mpi] section naming the agent and the subnet.
{
  cat <<EOF
[scenario]
name = "multihost"
description = "MPI cases with one rank per network namespace (ci/multihost-check.sh)"

[defaults]
warmup = "0ms"
min_samples = 3
max_samples = 5
max_time = "2s"
timeout = "60s"

[mpi]
launcher = "mpirun"
hostfile = "hostfile"
args = ["--mca", "plm_rsh_agent", "$agent", "--mca", "oob_tcp_if_include", "$subnet",
        "--mca", "btl_tcp_if_include", "$subnet", "--mca", "btl", "tcp,self", "--bind-to", "none"]
EOF
  for c in "${CASES[@]}"; do
    IFS='|' read -r kind size params ranks <<<"$c"
    kind=$(echo $kind) size=$(echo $size) params=$(echo $params) ranks=$(echo $ranks)
    printf '\n[[workload]]\nkind = "%s"\nsize = %s\nstrategies = ["mpi"]\nworkers = %s\n' "$kind" "$size" "$ranks"
    [ -n "$params" ] && printf 'params = %s\n' "$params"
  done
} >"$tmp/multihost.toml"

log "parlab run: ${#CASES[@]} MPI cases across ${hosts[*]} (mpirun on ${hosts[0]})"
out="$tmp/out"
on_host "${hosts[0]}" "$PARLAB" run "$tmp/multihost.toml" --out "$out"
if ! timed 300 "${cmd[@]}" >"$tmp/run.log" 2>&1; then
  cat "$tmp/run.log" >&2
  fail "parlab run failed"
fi

python3 - "$out/results.json" "${#CASES[@]}" "${hosts[@]}" <<'EOF'
import json, sys
path, want_cases, hosts = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
r = json.load(open(path))
cases = [c for c in r["cases"] if c["strategy"] == "mpi"]
problems = []
if len(cases) != want_cases:
    problems.append(f"{len(cases)} mpi cases, {want_cases} expected")
for c in cases:
    name = f"{c['workload']} on {c['workers']} ranks"
    v = c.get("verification") or {}
    if c.get("status") != "ok" or not v.get("passed"):
        problems.append(f"{name}: status {c.get('status')}, verification {v}")
    placed = [p["host"] for p in c.get("placement", [])]
    if len(placed) != c["workers"] or len(set(placed)) != c["workers"]:
        problems.append(f"{name}: ranks placed on {placed}, one per host expected")
    if not set(placed) <= set(hosts):
        problems.append(f"{name}: ranks placed on {placed}, outside {hosts}")
    print(f"  {name}: {v.get('detail')}; ranks on {', '.join(placed)}")
listed = sorted(h["hostname"] for h in r.get("hosts", []))
if listed != sorted(hosts):
    problems.append(f"the results list hosts {listed}, {sorted(hosts)} expected")
if problems:
    sys.exit("\n".join(problems))
print(f"  results list hosts: {', '.join(listed)}")
EOF

log "parlab detect --hosts: every host reachable through mpirun, with this parlab"
on_host "${hosts[0]}" "$PARLAB" detect --hosts "$tmp/hostfile" --scenario "$tmp/multihost.toml"
if ! timed 120 "${cmd[@]}" >"$tmp/detect.log" 2>&1; then
  cat "$tmp/detect.log" >&2
  fail "parlab detect --hosts failed"
fi
sed 's/^/  /' "$tmp/detect.log"
for h in "${hosts[@]}"; do
  grep -q "^$h  *reachable ($h): parlab " "$tmp/detect.log" || fail "detect --hosts did not describe $h"
done

log "parlab detect --hosts with a host that does not exist: exit 2, naming it, quickly"
on_host "${hosts[0]}" "$PARLAB" detect --hosts "$tmp/hostfile-bogus" --scenario "$tmp/multihost.toml"
started=$SECONDS
rc=0
timed 90 "${cmd[@]}" >"$tmp/bogus.log" 2>&1 || rc=$?
took=$((SECONDS - started))
sed 's/^/  /' "$tmp/bogus.log"
[ $rc -eq 2 ] || fail "detect --hosts with a bogus host exited $rc, 2 expected"
grep -q "host nosuchhost cannot be reached" "$tmp/bogus.log" || fail "the error does not name nosuchhost"
for h in "${hosts[@]}"; do
  if grep -q "host $h cannot be reached" "$tmp/bogus.log"; then fail "the error blames $h"; fi
done
[ $took -le 45 ] || fail "detect --hosts took ${took}s to refuse a bogus host"

# Nothing may outlive the commands above: mpirun ends its daemons and ranks.
left=""
for ns in "${namespaces[@]}"; do
  for pid in $(ip netns pids "$ns"); do left+=" $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null))"; done
done
[ -z "$left" ] || fail "processes left in the namespaces:$left"

[ $measure = 1 ] || exit 0

# --- measurements: across hosts against one host, same cases, same sitting --------------------
# Both let OpenMPI choose among self, vader and tcp: vader within a host, tcp between hosts.
measured_cases=(
  'ping_pong | 8 |  | 2'
  'bandwidth | 4194304 |  | 2'
  'pi_monte_carlo | 30000000 |  | 3'
)
printf '%s slots=3\n' "${hosts[0]}" >"$tmp/hostfile-one"
for where in across one; do
  file=hostfile
  [ $where = one ] && file=hostfile-one
  {
    cat <<EOF
[scenario]
name = "multihost-$where"

[defaults]
warmup = "100ms"
min_samples = 10
max_samples = 20
max_time = "3s"
timeout = "120s"

[mpi]
hostfile = "$file"
args = ["--mca", "plm_rsh_agent", "$agent", "--mca", "oob_tcp_if_include", "$subnet",
        "--mca", "btl_tcp_if_include", "$subnet", "--mca", "btl", "self,vader,tcp", "--bind-to", "none"]
EOF
    for c in "${measured_cases[@]}"; do
      IFS='|' read -r kind size params ranks <<<"$c"
      kind=$(echo $kind) size=$(echo $size) params=$(echo $params) ranks=$(echo $ranks)
      printf '\n[[workload]]\nkind = "%s"\nsize = %s\nstrategies = ["mpi"]\nworkers = %s\n' "$kind" "$size" "$ranks"
      [ -n "$params" ] && printf 'params = %s\n' "$params"
    done
  } >"$tmp/measure-$where.toml"
  log "measuring: ranks on $([ $where = one ] && echo "one host (${hosts[0]})" || echo "separate hosts")"
  on_host "${hosts[0]}" "$PARLAB" run "$tmp/measure-$where.toml" --out "$tmp/measure-$where"
  timed 600 "${cmd[@]}" >"$tmp/measure-$where.log" 2>&1 || { cat "$tmp/measure-$where.log" >&2; fail "measuring ($where) failed"; }
done
python3 - "$tmp/measure-across/results.json" "$tmp/measure-one/results.json" <<'EOF'
import json, re, statistics, sys
def cases(path):
    return [c for c in json.load(open(path))["cases"] if c["strategy"] == "mpi"]
def phase(c, name):
    for p in c.get("phases", []):
        if p["name"] == name:
            return statistics.median(p["samples_ns"])
    return float("nan")
# Medians of the samples (each the slowest rank's time per run); launch = spawning the job to
# every rank's `ready` (setup_ns); kernel and comm = the medians of those phases.
print(f"  {'case':<28} {'ranks on':<16} {'launch ms':>10} {'median/run':>12} {'min/run':>12} {'kernel':>12} {'comm':>12}  interconnect")
for a, o in zip(cases(sys.argv[1]), cases(sys.argv[2])):
    for c in (a, o):
        hosts = sorted({p["host"] for p in c["placement"]})
        note = next((n for n in c.get("notes", []) if n.startswith("ranks per host")), "")
        link = re.split(r" \((?:inferred|MPI does not)", note.split("; interconnect ")[1])[0] if "; interconnect " in note else "-"
        us = lambda ns: f"{ns / 1e3:10.2f}us"
        print(f"  {c['workload'] + ' ' + str(c['size']):<28} {', '.join(hosts):<16} {c['setup_ns'] / 1e6:10.1f} "
              f"{us(c['stats']['median'])} {us(c['stats']['min'])} {us(phase(c, 'kernel'))} {us(phase(c, 'communication'))}  {link}")
EOF
