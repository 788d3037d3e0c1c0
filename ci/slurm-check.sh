#!/usr/bin/env bash
# parlab's `mpi` cases under Slurm, for real: a one-node Slurm cluster (Debian's slurm-wlm with
# munge) started by this script, an allocation by `salloc`, and a scenario whose ranks are
# started by `srun` (`[mpi] launcher = "srun"`, `--mpi=pmix` for OpenMPI) inside it; every case
# must verify, its ranks placed on the node; then the same with `launcher = "mpirun"`, which
# reads the allocation itself. No job step may be left when the job ends.
#
# Everything is private to this run: the daemons (munged, slurmctld, slurmd) run in a network
# namespace of their own (loopback and a veth pair within it, so their ports are seen by nothing
# else) with a hostname and /etc/hosts of their own, from a configuration, key, socket, state and logs in a temporary folder
# (`SLURM_CONF` points there; /etc/slurm and the system's munge are not touched). At the end, on
# success or failure, every process in the namespace is stopped, the namespace removed and the
# folder deleted.
#
# Needs root, iproute2, util-linux (`unshare`), slurm-wlm and munge (`apt-get install
# --no-install-recommends slurm-wlm munge`), python3 and an `mpi` build of parlab: PARLAB=path
# (default target/debug/parlab).
set -euo pipefail
cd "$(dirname "$0")/.."

PARLAB=$(realpath "${PARLAB:-target/debug/parlab}")
node=slurmnode
ns="plslurm$$"

log() { printf '==> %s\n' "$*"; }
fail() { printf 'slurm-check: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "needs root (a network namespace, daemons as root)"
# python3 reads the results; without it the check would fail only after the run.
command -v python3 >/dev/null || fail "python3 not found (apt-get install python3): it reads the results"
for tool in ip nsenter unshare munged mungekey slurmctld slurmd salloc srun sinfo timeout; do
  command -v "$tool" >/dev/null || fail "$tool not found (apt-get install --no-install-recommends slurm-wlm munge)"
done
[ -x "$PARLAB" ] || fail "no parlab binary at $PARLAB (build with --features mpi, or set PARLAB)"

tmp=$(mktemp -d /tmp/parlab-slurm.XXXXXX)
chmod 755 "$tmp"
created_ns=0
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
  if [ $created_ns = 1 ]; then
    # Everything in the namespace was started by this script: the daemons, and any job step.
    pids=$(ip netns pids "$ns" 2>/dev/null)
    [ -n "$pids" ] && kill $pids 2>/dev/null && sleep 1
    pids=$(ip netns pids "$ns" 2>/dev/null)
    [ -n "$pids" ] && kill -9 $pids 2>/dev/null
    ip netns del "$ns" 2>/dev/null
  fi
  # The timed command's timeout, its child gone, exits at once.
  [ -n "$child" ] && wait "$child" 2>/dev/null
  [ -n "${KEEP:-}" ] && cp -r "$tmp" "$KEEP"
  rm -rf "$tmp"
  if [ $rc -eq 0 ]; then log "slurm check passed"; else echo "slurm-check: FAILED ($rc)" >&2; fi
  exit $rc
}
trap cleanup EXIT
trap interrupted INT TERM HUP

ip netns add "$ns"
created_ns=1
ip -n "$ns" link set lo up
# An address of its own on a veth pair whose both ends stay in the namespace (nothing beyond
# it): getaddrinfo's AI_ADDRCONFIG, which Slurm uses, ignores loopback and would find no IPv4
# configured at all.
addr=10.213.78.1
ip -n "$ns" link add node0 type veth peer name node1
ip -n "$ns" addr add "$addr/24" dev node0
ip -n "$ns" link set node0 up
ip -n "$ns" link set node1 up
# The node's name resolves on the node only: this file is mounted over /etc/hosts there.
printf '127.0.0.1 localhost\n%s %s\n' "$addr" "$node" >"$tmp/hosts"

mkdir -p "$tmp/state" "$tmp/spool" "$tmp/munge"
chown munge: "$tmp/munge"
mungekey --create --keyfile="$tmp/munge/munge.key" >/dev/null 2>&1 || dd if=/dev/urandom of="$tmp/munge/munge.key" bs=128 count=1 status=none
chown munge: "$tmp/munge/munge.key"
chmod 600 "$tmp/munge/munge.key"
cpus=$(nproc)
cat >"$tmp/slurm.conf" <<EOF
ClusterName=parlabcheck
SlurmctldHost=$node($addr)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$tmp/munge/munge.sock
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
NodeName=$node NodeAddr=$addr CPUs=$cpus State=UNKNOWN
PartitionName=check Nodes=$node Default=YES MaxTime=10 State=UP
EOF
export SLURM_CONF="$tmp/slurm.conf"

# The same cases twice: ranks started by srun, and by mpirun, which reads the allocation.
for launcher in srun mpirun; do
  args='[]'
  [ $launcher = srun ] && args='["--mpi=pmix"]'
  cat >"$tmp/$launcher.toml" <<EOF
[scenario]
name = "slurm-$launcher"
description = "MPI cases started by $launcher inside a Slurm allocation (ci/slurm-check.sh)"

[defaults]
warmup = "0ms"
min_samples = 3
max_samples = 5
max_time = "2s"
timeout = "60s"

[mpi]
launcher = "$launcher"
args = $args

[[workload]]
kind = "pi_monte_carlo"
size = 500000
strategies = ["mpi"]
workers = 2

[[workload]]
kind = "exchange"
size = 65536
params = { order = "sendrecv" }
strategies = ["mpi"]
workers = 2
EOF
done

# What runs on the node: the daemons, a wait for the node, then the allocation.
cat >"$tmp/node.sh" <<EOF
set -eu
mount --bind $tmp/hosts /etc/hosts
runuser -u munge -- munged --socket=$tmp/munge/munge.sock --key-file=$tmp/munge/munge.key \\
  --pid-file=$tmp/munge/munged.pid --log-file=$tmp/munge/munged.log --seed-file=$tmp/munge/munged.seed
slurmctld -D >/dev/null 2>&1 &
slurmd -D -N $node >/dev/null 2>&1 &
up() { [ "\$(timeout 5 sinfo -h -N -o %t 2>/dev/null)" = idle ]; }
start=\$(date +%s)
until up || [ \$((\$(date +%s) - start)) -ge 30 ]; do sleep 0.2; done
up || { echo "the node did not come up within 30 s"; tail -n 20 $tmp/slurmctld.log $tmp/slurmd.log; exit 1; }
# An idle node may still abort the first job step it is given ("aborted before step completely
# launched"): a trivial step must run before the measured ones.
steps() { timeout 20 srun -n 2 --quiet true >/dev/null 2>&1; }
start=\$(date +%s)
until steps || [ \$((\$(date +%s) - start)) -ge 60 ]; do sleep 0.5; done
steps || { echo "job steps did not launch on the node within 60 s"; tail -n 20 $tmp/slurmd.log; exit 1; }
timeout 5 sinfo -h -N -o '%N %t %c' | sed 's/^/  node: /'
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
timeout 200 salloc -n 2 --quiet sh -c "$PARLAB run $tmp/srun.toml --out $tmp/out-srun && $PARLAB run $tmp/mpirun.toml --out $tmp/out-mpirun"

EOF

log "a one-node Slurm cluster ($node, $cpus CPUs) in namespace $ns; salloc -n 2 parlab run, ranks by srun, then by mpirun (log: $tmp/run.log)"
# Only the network namespace is entered (not `ip netns exec`, which also mounts a /sys of its
# own, without the cgroups slurmd reads); a private mount namespace holds the hosts file.
node_cmd=(nsenter "--net=/run/netns/$ns" unshare --uts --mount --propagation private
  sh -c "hostname $node; exec sh $tmp/node.sh")
if ! timed 300 "${node_cmd[@]}" >"$tmp/run.log" 2>&1; then
  cat "$tmp/run.log" >&2
  fail "the run under Slurm failed"
fi
grep '^  node:' "$tmp/run.log" || true

# The job is over: only the daemons may be left (slurmctld has a slurmscriptd helper) (a step's slurmstepd ends within moments).
others() {
  for pid in $(ip netns pids "$ns"); do
    case "$(cat "/proc/$pid/comm" 2>/dev/null)" in munged | slurmctld | slurmscriptd | slurmd | "") ;; *) echo -n " $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline"))" ;; esac
  done
}
for _ in $(seq 50); do [ -z "$(others)" ] && break; sleep 0.1; done
left=$(others)
[ -z "$left" ] || fail "processes left after the job:$left"

python3 - "$tmp" "$node" <<'EOF'
import json, sys
tmp, node = sys.argv[1], sys.argv[2]
cases, problems = [], []
for launcher in ("srun", "mpirun"):
    r = json.load(open(f"{tmp}/out-{launcher}/results.json"))
    mine = [c for c in r["cases"] if c["strategy"] == "mpi"]
    if len(mine) != 2:
        problems.append(f"{launcher}: {len(mine)} mpi cases, 2 expected")
    cases += [(launcher, c) for c in mine]
for launcher, c in cases:
    name = f"{c['workload']} on {c['workers']} ranks"
    v = c.get("verification") or {}
    if c.get("status") != "ok" or not v.get("passed"):
        problems.append(f"{name}: status {c.get('status')} ({c.get('reason')}), verification {v}")
    placed = [p["host"] for p in c.get("placement", [])]
    if placed != [node] * c["workers"]:
        problems.append(f"{name}: ranks placed on {placed}")
    started = next((n for n in c.get("notes", []) if n.startswith("ranks started by")), "")
    if f"/{launcher} " not in started:
        problems.append(f"{name}: not started by {launcher}: {started}")
    print(f"  {name}: {v.get('detail')}; {started}")
if problems:
    sys.exit("\n".join(problems))
EOF
