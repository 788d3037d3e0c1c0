//! `parlab mpi-worker` (`mpi` builds): what every rank of an `mpi` case's job runs.
//!
//! Rank 0 reads the case protocol's requests ([`super::protocol`]) from its stdin, which mpirun
//! forwards from parlab, and broadcasts each to the other ranks, so that all of them take the
//! same steps and call the same collectives in the same order. Only rank 0 writes to stdout.
//! - `start`: every rank builds its share of the case (`Workload::rank_share`, the version the
//!   request's strategy names); rank 0 answers
//!   `ready` with every rank's placement and every distinct host the ranks ran on (gathered),
//!   and its share's instruction set.
//! - `sample`: a barrier, then each rank times its `runs` runs: the whole region (less what the
//!   share leaves out of its measurement, `PhaseTimes::excluded_ns`), and inside it
//!   its local compute and its communication (collectives, halo messages, the wait for
//!   overlapped ones) apart, as the share reports them. The sample is the maximum over ranks
//!   of each (a reduction to rank 0): `ns` the slowest rank's region, `kernel` the slowest
//!   compute, `communication` the longest, capped so the phases fit in `ns`; beside them the
//!   mean of the ranks' regions (`rank_mean_ns`), OSU's average beside its maximum.
//! - `verify`: rank 0 checks the last combined result against the workload's sequential
//!   reference and every rank checks its own part (`RankShare::check_local`, agreed on by all),
//!   then every rank runs once more and the fresh result is checked the same way.
//!
//! An error a rank can report between steps (a share it cannot build) is agreed on by all ranks
//! and rank 0 answers `{"error": ...}` naming each failed rank. An error inside a run, where the
//! other ranks may already wait in a collective, aborts the whole job (`MPI_Abort`): mpirun
//! exits, and the session reports that with the rank's message from stderr.

use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::time::Instant;

use mpi::collective::SystemOperation;
use mpi::datatype::{Partition, PartitionMut};
use mpi::point_to_point::send_receive_into;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use mpi::Count;

use super::protocol::{
    self, FromProgram, Ready, SampleReply, Start, ToProgram, VerificationReply, WireHost, WirePlacement,
};
use crate::ranks::{RankShare, Ranks};
use crate::remote::JobSpec;

/// The world communicator, as a workload's share sees it.
struct World {
    comm: SimpleCommunicator,
}

impl World {
    fn root(&self) -> mpi::topology::Process<'_> {
        self.comm.process_at_rank(0)
    }

    fn at(&self, rank: usize) -> mpi::topology::Process<'_> {
        self.comm.process_at_rank(count(rank))
    }

    /// Element-wise maximum of every rank's `local` on rank 0 (zeros elsewhere).
    fn max_u64(&self, local: &[u64]) -> Vec<u64> {
        let mut out = vec![0u64; local.len()];
        if self.rank() == 0 {
            self.root().reduce_into_root(local, &mut out[..], SystemOperation::max());
        } else {
            self.root().reduce_into(local, SystemOperation::max());
        }
        out
    }

    /// Every rank's `local` bytes, on rank 0 in rank order (empty elsewhere).
    fn gather_bytes(&self, local: &[u8]) -> Vec<Vec<u8>> {
        let len = Count::try_from(local.len()).expect("a message under 2 GiB");
        if self.rank() != 0 {
            self.root().gather_into(&len);
            self.root().gather_varcount_into(local);
            return Vec::new();
        }
        let mut lens = vec![0 as Count; self.size()];
        self.root().gather_into_root(&len, &mut lens[..]);
        let displs: Vec<Count> = lens
            .iter()
            .scan(0, |at, &n| {
                let here = *at;
                *at += n;
                Some(here)
            })
            .collect();
        let total = lens.iter().map(|&n| n as usize).sum();
        let mut buf = vec![0u8; total];
        {
            let mut parts = PartitionMut::new(&mut buf[..], &lens[..], &displs[..]);
            self.root().gather_varcount_into_root(local, &mut parts);
        }
        displs.iter().zip(&lens).map(|(&at, &n)| buf[at as usize..(at + n) as usize].to_vec()).collect()
    }

    /// Whether every rank's step succeeded; if not, on every rank an error naming each rank that
    /// failed and why (the texts gathered on rank 0; the others say a rank failed).
    fn agree<T>(&self, step: Result<T, String>) -> Result<T, String> {
        let failed = u64::from(step.is_err());
        let mut total = 0u64;
        self.comm.all_reduce_into(&failed, &mut total, SystemOperation::sum());
        if total == 0 {
            return step;
        }
        let mine = step.as_ref().err().cloned().unwrap_or_default();
        let texts = self.gather_bytes(mine.as_bytes());
        if self.rank() != 0 {
            return Err(format!("{total} rank(s) failed"));
        }
        let said: Vec<String> = texts
            .iter()
            .enumerate()
            .filter(|(_, t)| !t.is_empty())
            .map(|(r, t)| format!("rank {r}: {}", String::from_utf8_lossy(t)))
            .collect();
        Err(said.join("; "))
    }

    /// The next request, on every rank: rank 0 reads it from `input` and broadcasts it. `None`
    /// at the end of input, or when rank 0 could not read (it reports that itself).
    fn next_request(&self, input: &mut dyn BufRead) -> Result<Option<Vec<u8>>, String> {
        /// A length meaning: no more requests.
        const END: u64 = u64::MAX;
        let mut read = Ok(None);
        let mut len = END;
        if self.rank() == 0 {
            read = protocol::read_line(input);
            if let Ok(Some(line)) = &read {
                len = line.len() as u64;
            }
        }
        self.root().broadcast_into(&mut len);
        if len == END {
            return read.map(|_| None);
        }
        let mut line = match read {
            Ok(Some(line)) => line,
            _ => vec![0u8; len as usize],
        };
        self.root().broadcast_into(&mut line[..]);
        Ok(Some(line))
    }
}

impl Ranks for World {
    fn rank(&self) -> usize {
        self.comm.rank() as usize
    }
    fn size(&self) -> usize {
        self.comm.size() as usize
    }
    fn barrier(&self) {
        self.comm.barrier();
    }
    fn sum_u64(&self, local: &[u64], out: &mut [u64]) {
        if self.rank() == 0 {
            self.root().reduce_into_root(local, out, SystemOperation::sum());
        } else {
            self.root().reduce_into(local, SystemOperation::sum());
        }
    }
    fn send_bytes(&self, to: usize, bytes: &[u8]) {
        super::mpi_p2p::send_bytes(&self.comm, to, bytes)
    }
    fn recv_bytes(&self, from: usize, out: &mut [u8]) {
        super::mpi_p2p::recv_bytes(&self.comm, from, out)
    }
    fn sendrecv_bytes(&self, peer: usize, bytes: &[u8], out: &mut [u8]) {
        super::mpi_p2p::sendrecv_bytes(&self.comm, peer, bytes, out)
    }
    fn send_window_bytes(&self, to: usize, msgs: &[u8], len: usize) {
        super::mpi_p2p::send_window_bytes(&self.comm, to, msgs, len)
    }
    fn recv_window_bytes(&self, from: usize, bufs: &mut [u8], len: usize) {
        super::mpi_p2p::recv_window_bytes(&self.comm, from, bufs, len)
    }
    fn sendrecv_f64(&self, send: &[f64], to: Option<usize>, recv: &mut [f64], from: Option<usize>) {
        // At the ends of a chain only one side remains; a plain send or receive matches the
        // neighbour's `MPI_Sendrecv` as well.
        match (to, from) {
            (Some(to), Some(from)) => {
                send_receive_into(send, &self.at(to), recv, &self.at(from));
            }
            (Some(to), None) => self.at(to).send(send),
            (None, Some(from)) => {
                self.at(from).receive_into(recv);
            }
            (None, None) => {}
        }
    }
    fn exchange_f64(
        &self,
        sends: &[(usize, &[f64])],
        recvs: &mut [(usize, &mut [f64])],
        during: &mut dyn FnMut(),
    ) {
        // The scope holds every request and panics if one is left incomplete: all are waited
        // for before it ends, and the buffers they use are borrowed from outside it.
        mpi::request::scope(|scope| {
            let receives: Vec<_> = recvs
                .iter_mut()
                .map(|(from, into)| self.at(*from).immediate_receive_into(scope, &mut **into))
                .collect();
            let sent: Vec<_> =
                sends.iter().map(|(to, values)| self.at(*to).immediate_send(scope, *values)).collect();
            during();
            for request in receives {
                request.wait();
            }
            for request in sent {
                request.wait();
            }
        });
    }
    fn scatter_f64(&self, send: &[f64], counts: &[usize], recv: &mut [f64]) {
        if self.rank() != 0 {
            self.root().scatter_varcount_into(recv);
            return;
        }
        let (counts, displs) = partition(counts);
        let blocks = Partition::new(send, &counts[..], &displs[..]);
        self.root().scatter_varcount_into_root(&blocks, recv);
    }
    fn gather_f64(&self, send: &[f64], counts: &[usize], recv: &mut [f64]) {
        if self.rank() != 0 {
            self.root().gather_varcount_into(send);
            return;
        }
        let (counts, displs) = partition(counts);
        let mut blocks = PartitionMut::new(recv, &counts[..], &displs[..]);
        self.root().gather_varcount_into_root(send, &mut blocks);
    }
    fn bcast_f64(&self, buf: &mut [f64]) {
        self.root().broadcast_into(buf);
    }
    fn allgather_f64(&self, send: &[f64], counts: &[usize], recv: &mut [f64]) {
        let (counts, displs) = partition(counts);
        let mut blocks = PartitionMut::new(recv, &counts[..], &displs[..]);
        self.comm.all_gather_varcount_into(send, &mut blocks);
    }
    fn bcast_u8(&self, buf: &mut [u8]) {
        super::mpi_coll::bcast_u8(&self.comm, buf)
    }
    fn scatter_u8(&self, send: &[u8], recv: &mut [u8]) {
        super::mpi_coll::scatter_u8(&self.comm, send, recv)
    }
    fn gather_u8(&self, send: &[u8], recv: &mut [u8]) {
        super::mpi_coll::gather_u8(&self.comm, send, recv)
    }
    fn allgather_u8(&self, send: &[u8], recv: &mut [u8]) {
        super::mpi_coll::allgather_u8(&self.comm, send, recv)
    }
    fn alltoall_u8(&self, send: &[u8], recv: &mut [u8]) {
        super::mpi_coll::alltoall_u8(&self.comm, send, recv)
    }
    fn reduce_sum_f32(&self, send: &[f32], out: &mut [f32]) {
        super::mpi_coll::reduce_sum_f32(&self.comm, send, out)
    }
    fn allreduce_sum_f32(&self, send: &[f32], out: &mut [f32]) {
        super::mpi_coll::allreduce_sum_f32(&self.comm, send, out)
    }
}

/// An MPI count: a buffer or rank number of this job, far below 2^31.
fn count(n: usize) -> Count {
    Count::try_from(n).expect("an MPI count under 2^31")
}

/// MPI's counts and displacements of consecutive blocks of `counts` values.
fn partition(counts: &[usize]) -> (Vec<Count>, Vec<Count>) {
    let displs = counts.iter().scan(0, |at, &n| Some(std::mem::replace(at, *at + count(n)))).collect();
    (counts.iter().map(|&n| count(n)).collect(), displs)
}

/// The subcommand: initialises MPI, serves the protocol, finalises (when the universe drops).
pub fn main() -> ExitCode {
    let begun = Instant::now();
    let Some(universe) = mpi::initialize() else {
        eprintln!("error: MPI was initialised already");
        return ExitCode::from(2);
    };
    let world = World { comm: universe.world() };
    let served = serve(&world, begun, &mut io::stdin().lock(), &mut io::stdout().lock());
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rank {}: error: {e}", world.rank());
            ExitCode::from(2)
        }
    }
}

/// Answers requests until the input ends. On rank 0, an error is also said as `{"error": …}`.
fn serve(
    world: &World,
    begun: Instant,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> Result<(), String> {
    let result = answer(world, begun, input, output);
    if let (Err(e), 0) = (&result, world.rank()) {
        // Best effort: parlab may be gone, and the error is returned either way.
        let _ = protocol::write_message(output, &FromProgram::Error(e.clone()));
    }
    result
}

fn answer(
    world: &World,
    begun: Instant,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> Result<(), String> {
    let say = |output: &mut dyn Write, said: FromProgram| -> Result<(), String> {
        if world.rank() != 0 {
            return Ok(());
        }
        protocol::write_message(output, &said).map_err(|e| format!("cannot write to parlab: {e}"))
    };
    let mut share: Option<Box<dyn RankShare>> = None;
    while let Some(line) = world.next_request(input)? {
        // Every rank parses the same line, so every rank takes the same branch.
        let said = match protocol::parse_request(&line)? {
            ToProgram::Start(start) => {
                if share.is_some() {
                    return Err("`start` came twice".into());
                }
                let prepared = world.agree(prepare(world, &start))?;
                let isa = prepared.isa();
                share = Some(prepared);
                FromProgram::Ready(ready(world, begun, isa))
            }
            ToProgram::Sample(request) => {
                let share = share.as_deref_mut().ok_or("`sample` before `start`")?;
                FromProgram::Sample(sample(world, share, request.runs))
            }
            ToProgram::Verify(_) => {
                let share = share.as_deref_mut().ok_or("`verify` before `start`")?;
                FromProgram::Verification(verify(world, share))
            }
        };
        say(output, said)?;
    }
    Ok(())
}

/// This rank's share of the case.
fn prepare(world: &World, start: &Start) -> Result<Box<dyn RankShare>, String> {
    if start.protocol != protocol::VERSION {
        return Err(format!("protocol {} asked; this program speaks {}", start.protocol, protocol::VERSION));
    }
    if start.workers != world.size() {
        return Err(format!("the case asks for {} ranks, the job has {}", start.workers, world.size()));
    }
    let workload =
        crate::workload::find(&start.workload).ok_or_else(|| format!("no workload `{}`", start.workload))?;
    let strategy = crate::strategy::find(&start.strategy)
        .filter(|s| s.family() == crate::strategy::Family::Mpi)
        .ok_or_else(|| format!("no MPI strategy `{}`", start.strategy))?;
    let job = JobSpec {
        workload: start.workload.clone(),
        params: start.params.clone(),
        size: start.size,
        seed: start.seed,
        shared: None,
    };
    workload
        .rank_share(&job, strategy, world)
        .unwrap_or_else(|| Err(format!("`{}` has no MPI version", start.workload)))
}

/// Every rank's placement and host, gathered on rank 0: `host` is rank 0's, `hosts` each
/// distinct host (by name) in the order of the first rank on it, so results describe every host
/// a job spans and not only the one parlab runs on; and the instruction set of rank 0's share
/// (ranks on one kind of CPU all choose the same, from the same parameters).
fn ready(world: &World, begun: Instant, isa: Option<&str>) -> Ready {
    let hostname = crate::machine::hostname();
    let mine = WirePlacement {
        role: format!("rank {}", world.rank()),
        host: hostname.clone(),
        pid: Some(std::process::id()),
        cpus: crate::subprocess::allowed_cpus(),
    };
    let mine = serde_json::to_vec(&mine).expect("a placement serializes");
    let placement = world
        .gather_bytes(&mine)
        .iter()
        .map(|bytes| serde_json::from_slice(bytes).expect("a rank's placement parses"))
        .collect();
    // Every rank describes its own host (a few reads of /proc and /sys): only a rank there can.
    let m = crate::machine::Machine::detect();
    let host = WireHost {
        hostname: m.hostname,
        cpu: m.cpu_model,
        logical_cpus: m.logical_cpus.max(1),
        physical_cores: m.physical_cores.max(1),
    };
    let described = serde_json::to_vec(&host).expect("a host serializes");
    let hosts = distinct_hosts(
        world
            .gather_bytes(&described)
            .iter()
            .map(|bytes| serde_json::from_slice(bytes).expect("a rank's host parses")),
    );
    Ready {
        setup_ns: begun.elapsed().as_nanos() as u64,
        placement,
        host,
        hosts,
        isa: isa.map(str::to_string),
    }
}

/// The first description of each host name, in order.
fn distinct_hosts(described: impl Iterator<Item = WireHost>) -> Vec<WireHost> {
    let mut hosts: Vec<WireHost> = Vec::new();
    for host in described {
        if !hosts.iter().any(|h| h.hostname == host.hostname) {
            hosts.push(host);
        }
    }
    hosts
}

/// `runs` runs between a barrier and the reduction of the times: the maximum over ranks.
fn sample(world: &World, share: &mut dyn RankShare, runs: u64) -> SampleReply {
    world.barrier();
    let start = Instant::now();
    let (mut compute, mut combine, mut excluded) = (0u64, 0u64, 0u64);
    for _ in 0..runs {
        match share.run(world) {
            Ok(t) => {
                compute += t.compute_ns;
                combine += t.combine_ns;
                excluded += t.excluded_ns;
            }
            // The other ranks may be inside the collective already: only ending the job frees them.
            Err(e) => abort(world, &e),
        }
    }
    // Less what the share left out of its measurement (OSU's barriers between operations).
    let whole = (start.elapsed().as_nanos() as u64).saturating_sub(excluded).max(1);
    let max = world.max_u64(&[whole, compute, combine]);
    let mut sum = [0u64];
    world.sum_u64(&[whole], &mut sum);
    let (ns, kernel) = (max[0], max[1]);
    // The mean of the ranks' regions is at most the slowest one's (rounded down).
    let rank_mean_ns = Some(sum[0] / world.size().max(1) as u64);
    // A rank's compute and collective fit in its own region, and the slowest compute fits in
    // the slowest region; the longest collective may not beside it (a fast rank waits in it
    // for the slowest one's compute), so it gets what remains.
    let communication = max[2].min(ns.saturating_sub(kernel));
    let phases = vec![("kernel".to_string(), kernel), ("communication".to_string(), communication)];
    SampleReply { ns, phases, items_ns: Vec::new(), rank_mean_ns }
}

/// The last run's result checked (rank 0's combined result, and every rank's own part), then a
/// fresh one from one more run.
fn verify(world: &World, share: &mut dyn RankShare) -> VerificationReply {
    let check = |share: &dyn RankShare| -> Result<String, String> {
        let combined = if world.rank() == 0 { share.verify() } else { Ok(String::new()) };
        // Collective: every rank takes part, whatever rank 0 found.
        let own = world.agree(share.check_local());
        combined.and_then(|what| own.map(|()| what))
    };
    let last = check(share);
    if let Err(e) = share.run(world) {
        abort(world, &e);
    }
    let (passed, detail) = match (last, check(share)) {
        (Err(why), _) => (false, format!("the last timed run: {why}")),
        (Ok(_), Ok(what)) => (true, format!("{what} ({} ranks)", world.size())),
        (Ok(_), Err(why)) => (false, why),
    };
    VerificationReply { passed, detail }
}

/// Says why on stderr and ends every rank of the job.
fn abort(world: &World, why: &str) -> ! {
    eprintln!("rank {}: error: {why}", world.rank());
    world.comm.abort(2)
}
