//! `ping_pong`: latency and bandwidth between two workers, as the OSU micro-benchmarks measure
//! them: one message bounces back and forth, and the size sweeps (by default) powers of two
//! from 1 B to 4 MiB.
//!
//! Each side owns a buffer. Sending copies the sender's buffer into the message, receiving
//! copies the message into the receiver's buffer, so bytes really move, as in MPI's send and
//! receive buffers; the one message buffer circulates (no allocation per trip). The pong side
//! adds 1 to byte `t mod size` on trip `t` before answering, so the final ping buffer proves
//! every trip happened in order. One-way latency is half a round trip: the results carry it as
//! `latency_ns` (median run time over `2 x trips` one-way messages); throughput counts the bytes
//! of both directions, so B/s = message size / one-way latency, OSU's ping-pong bandwidth.
//!
//! Trips per run: `round_trips`, fewer for big messages (at most 256 MiB moved per run, at
//! least 8 trips). The pair is always two threads (or two tasks): the worker count only sizes
//! the async runtimes. Versions: `sequential` (the copies alone, no hand-off: the floor),
//! `channels` (crossbeam), `std-mpsc`, `condvar-queue`, `async` (tokio channels, tasks on the
//! multi-threaded runtime), `async-current-thread` (both tasks on one event loop with one
//! worker; ping and pong on two loops otherwise), `process` (ping in parlab, pong in its first
//! worker process: each trip writes the message into one pipe and reads it back from another,
//! the cookbook's pipe between processes) and `process-shm` (the message in shared memory, only
//! a control message on each pipe). The process pool's other workers idle.
//!
//! Over MPI (`mpi`, exactly 2 ranks), as `osu_latency`: rank 0 sends its message with a blocking
//! `MPI_Send` and receives the answer into a buffer of its own with `MPI_Recv`; rank 1 receives
//! into its buffer, marks trip `t` as above and sends that back. No copy but MPI's own. After
//! the timed runs each rank checks its last answer (rank 0 in `verify`, rank 1 in
//! `check_local`): the message with the last trip's one mark. Each check then spoils the buffer
//! it read, so a run that delivered nothing cannot pass on an earlier run's bytes. Windowed
//! bandwidth (`osu_bw`) is a quantity of its own: the `bandwidth` workload.

use std::cell::RefCell;
use std::panic::resume_unwind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Instant;

use crossbeam::channel;
use tokio::sync::mpsc as tokio_mpsc;

use super::{
    default_support, mix64, CaseShape, Instance, Kernel, ParamSpec, ParamValue, Params, PrepareError,
    Refused, SizeUnit, Unsupported, Verification, Workload, GAMMA,
};
use crate::machine::Machine;
use crate::ranks::{PhaseTimes, RankShare, Ranks};
use crate::remote::wire::DONE_HEADER;
use crate::remote::{Coordinator, JobSpec, RemoteError, Share, SharedMem, Workers};
use crate::strategy::{Exec, Family, Strategy, WaitQueue};

pub struct PingPong;

/// Bytes a run may copy per direction before the trip count is cut (big messages).
const BYTES_PER_RUN: u64 = 128 << 20;
const MIN_TRIPS: u64 = 8;

fn trips(size: u64, params: &Params) -> u64 {
    let wanted = params.int("round_trips") as u64;
    wanted.min((BYTES_PER_RUN / size.max(1)).max(MIN_TRIPS))
}

impl Workload for PingPong {
    fn name(&self) -> &'static str {
        "ping_pong"
    }
    fn summary(&self) -> &'static str {
        "OSU-style latency and bandwidth between two workers over a message-size sweep"
    }
    fn size_unit(&self) -> SizeUnit {
        SizeUnit { what: "message bytes", bytes_per_item: Some(1) }
    }
    fn throughput_unit(&self) -> &'static str {
        "B/s"
    }
    fn params(&self) -> &'static [ParamSpec] {
        &[ParamSpec {
            name: "round_trips",
            help: "round trips per run (fewer for big messages: at most 128 MiB each way per run)",
            default: ParamValue::Int(2000),
            min: 1.0,
            max: 1e8,
            choices: &[],
        }]
    }
    fn default_sizes(&self, _: &Machine) -> Vec<u64> {
        (0..=22).map(|p| 1u64 << p).collect()
    }
    fn speedup_meaning(&self, _strategy: &str) -> super::SpeedupMeaning {
        super::SpeedupMeaning::NotApplicable(
            "ping_pong measures the latency and bandwidth of messages between two workers; a speedup \
             over sequential has no meaning here (read the latency and throughput columns)",
        )
    }
    fn support(&self, strategy: &dyn Strategy) -> Result<(), Unsupported> {
        match strategy.name() {
            "sequential"
            | "channels"
            | "std-mpsc"
            | "condvar-queue"
            | "async"
            | "async-current-thread"
            | "process"
            | "process-shm"
            | "mpi" => Ok(()),
            name if strategy.family() == Family::Mpi => Err(Unsupported::new(
                "ping_pong",
                strategy,
                format!(
                    "`ping_pong` over MPI is blocking sends and receives, one message at a time: it has \
                     nothing for `{name}` to overlap (run it with `mpi`; `bandwidth` keeps a window of \
                     messages in flight)"
                ),
            )),
            name => match strategy.family() {
                Family::DataParallel | Family::SharedState | Family::Synchronization => {
                    Err(Unsupported::new(
                        "ping_pong",
                        strategy,
                        format!(
                            "`ping_pong` needs two workers passing one message back and forth; `{name}` \
                             has no message link (its links are channels, std-mpsc, condvar-queue and \
                             async)"
                        ),
                    ))
                }
                _ => default_support(self.name(), strategy),
            },
        }
    }
    fn check_size(&self, size: u64, _: &Params) -> Result<(), PrepareError> {
        if size > 1 << 30 {
            return Err(PrepareError::Invalid("messages larger than 1 GiB are not supported".into()));
        }
        Ok(())
    }
    fn check_case(&self, _size: u64, _: &Params, case: &CaseShape) -> Result<(), Refused> {
        if case.family == Family::Mpi && case.workers != 2 {
            return Err(Refused::new("workers", two_ranks(case.workers)));
        }
        Ok(())
    }
    fn memory_bytes(&self, size: u64, _: &Params) -> u64 {
        // Initial data, two side buffers, the message and the reference.
        size.saturating_mul(5)
    }
    fn case_memory_bytes(&self, size: u64, _: &Params, case: &CaseShape) -> u64 {
        // Under the process strategies every worker prepares the pong side, its own buffer in
        // its own process.
        let pongs = (case.workers as u64).saturating_mul(size);
        match case.strategy {
            // The message as a frame four times: parlab's outgoing frame and receive buffer,
            // the pong worker's incoming frame and its reply.
            "process" => pongs.saturating_add(size.saturating_add(DONE_HEADER as u64).saturating_mul(4)),
            // The shared region the message lives in.
            "process-shm" => pongs.saturating_add(size),
            // Each rank's buffer, in its own process.
            "mpi" => size.saturating_mul(2),
            _ => 0,
        }
    }
    fn work(&self, size: u64, params: &Params) -> f64 {
        2.0 * trips(size, params) as f64 * size as f64
    }
    fn latency_ops(&self, size: u64, params: &Params) -> Option<f64> {
        Some((2 * trips(size, params)) as f64)
    }
    fn prepare(&self, size: u64, params: &Params, seed: u64) -> Result<Box<dyn Instance>, PrepareError> {
        let initial = (0..size).map(|k| initial_byte(seed, k)).collect();
        Ok(Box::new(Input { initial, trips: trips(size, params) as usize, reference: OnceLock::new() }))
    }
    fn share(&self, job: &JobSpec) -> Result<Box<dyn Share>, PrepareError> {
        Ok(Box::new(PongProcess { pong: vec![0; job.size as usize] }))
    }
    fn rank_share(
        &self,
        job: &JobSpec,
        strategy: &dyn Strategy,
        ranks: &dyn Ranks,
    ) -> Option<Result<Box<dyn RankShare>, String>> {
        if let Err(why) = self.support(strategy) {
            return Some(Err(why.to_string()));
        }
        Some(MpiSide::new(job, ranks).map(|side| Box::new(side) as Box<dyn RankShare>))
    }
}

/// Why an MPI ping-pong refuses `ranks` ranks.
fn two_ranks(ranks: usize) -> String {
    format!(
        "`ping_pong` over MPI is a conversation of exactly 2 ranks (rank 0 pings, rank 1 pongs, as \
         osu_latency), not {ranks}: give it `workers = 2`"
    )
}

/// Byte `k` of the initial ping buffer under `seed`.
fn initial_byte(seed: u64, k: u64) -> u8 {
    mix64(seed.wrapping_add(k.wrapping_mul(GAMMA))) as u8
}

/// One rank's side of the MPI ping-pong.
struct MpiSide {
    rank: usize,
    trips: usize,
    seed: u64,
    /// Rank 0's message, sent unchanged on every trip (osu_latency's `s_buf`); empty on rank 1.
    send: Vec<u8>,
    /// Where the rank receives: rank 0 the answers, rank 1 the pings it marks and sends back.
    /// Spoiled after each check, so the next check passes only if a new run filled it again.
    recv: RefCell<Vec<u8>>,
    runs: u64,
}

impl MpiSide {
    fn new(job: &JobSpec, ranks: &dyn Ranks) -> Result<MpiSide, String> {
        if ranks.size() != 2 {
            return Err(two_ranks(ranks.size()));
        }
        let len = usize::try_from(job.size).map_err(|_| format!("{} bytes is too many here", job.size))?;
        let rank = ranks.rank();
        let send =
            if rank == 0 { (0..job.size).map(|k| initial_byte(job.seed, k)).collect() } else { Vec::new() };
        Ok(MpiSide {
            rank,
            trips: trips(job.size, &job.params) as usize,
            seed: job.seed,
            send,
            recv: RefCell::new(vec![0; len]),
            runs: 0,
        })
    }

    /// After a run both ranks hold the last answer: the message with one mark, on byte
    /// `(trips - 1) mod size`, the last trip's. Every receive overwrites the whole buffer, so a
    /// message that did not arrive in full leaves what the spoiling wrote, which fails. Then
    /// spoils it: every byte changed, so that only another run can pass the next check.
    fn check_then_spoil(&self) -> Result<String, String> {
        if self.runs == 0 {
            return Err("no run to check".into());
        }
        let mut got = self.recv.borrow_mut();
        let n = got.len();
        let marked = (self.trips - 1) % n;
        let wrong = got
            .iter()
            .enumerate()
            .filter(|&(i, &b)| b != initial_byte(self.seed, i as u64).wrapping_add(u8::from(i == marked)))
            .count();
        for b in got.iter_mut() {
            *b = !*b;
        }
        match wrong {
            0 => Ok(format!("{} x {} round trips of {n} B, the last answer matches", self.runs, self.trips)),
            _ => Err(format!(
                "rank {}: {wrong} of {n} bytes of the last answer differ after {} x {} round trips",
                self.rank, self.runs, self.trips
            )),
        }
    }
}

impl RankShare for MpiSide {
    fn run(&mut self, ranks: &dyn Ranks) -> Result<PhaseTimes, String> {
        let recv = self.recv.get_mut();
        let start = Instant::now();
        if self.rank == 0 {
            for _ in 0..self.trips {
                ranks.send_bytes(1, &self.send);
                ranks.recv_bytes(1, recv);
            }
        } else {
            // Trip t marks byte t mod size of the ping it answers, counted without a division
            // per trip; the next ping overwrites the mark.
            let mut at = 0;
            for _ in 0..self.trips {
                ranks.recv_bytes(0, recv);
                recv[at] = recv[at].wrapping_add(1);
                ranks.send_bytes(0, recv);
                at = if at + 1 == recv.len() { 0 } else { at + 1 };
            }
        }
        self.runs += 1;
        // All of it is the conversation: nothing is computed.
        Ok(PhaseTimes { compute_ns: 0, combine_ns: start.elapsed().as_nanos() as u64, excluded_ns: 0 })
    }
    fn verify(&self) -> Result<String, String> {
        // Rank 0's answers; rank 1 checks its own in `check_local`.
        self.check_then_spoil()
    }
    fn check_local(&self) -> Result<(), String> {
        if self.rank == 0 {
            return Ok(());
        }
        self.check_then_spoil().map(drop)
    }
}

struct Input {
    initial: Vec<u8>,
    trips: usize,
    reference: OnceLock<Vec<u8>>,
}

impl Input {
    fn run(&self) -> Run<'_> {
        let n = self.initial.len();
        Run { input: self, ping: vec![0; n], pong: vec![0; n], message: vec![0; n], trips_done: None }
    }
}

impl Instance for Input {
    fn kernel(&self) -> Box<dyn Kernel + '_> {
        Box::new(self.run())
    }
    fn coordinator(&self) -> Option<Box<dyn Coordinator + '_>> {
        Some(Box::new(self.run()))
    }
}

struct Run<'a> {
    input: &'a Input,
    ping: Vec<u8>,
    pong: Vec<u8>,
    message: Vec<u8>,
    trips_done: Option<usize>,
}

/// The pong side's answer to trip `t`: take the message in, mark the trip, send it back out.
#[inline]
fn answer(pong: &mut [u8], message: &mut [u8], t: usize) {
    pong.copy_from_slice(message);
    let i = t % pong.len();
    pong[i] = pong[i].wrapping_add(1);
    message.copy_from_slice(pong);
}

/// The ping side over any link: returns the message buffer and the trips completed.
fn ping_side(
    ping: &mut [u8],
    mut message: Vec<u8>,
    trips: usize,
    cancel: &AtomicBool,
    send: impl Fn(Vec<u8>) -> bool,
    recv: impl Fn() -> Option<Vec<u8>>,
) -> (Vec<u8>, usize) {
    for t in 0..trips {
        if cancel.load(Ordering::Relaxed) {
            return (message, t);
        }
        message.copy_from_slice(ping);
        if !send(message) {
            return (vec![0; ping.len()], t);
        }
        match recv() {
            Some(m) => message = m,
            None => return (vec![0; ping.len()], t),
        }
        ping.copy_from_slice(&message);
    }
    (message, trips)
}

/// The pong side over any link; ends when the link closes.
fn pong_side(pong: &mut [u8], send: impl Fn(Vec<u8>) -> bool, recv: impl Fn() -> Option<Vec<u8>>) {
    let mut t = 0;
    while let Some(mut message) = recv() {
        answer(pong, &mut message, t);
        t += 1;
        if !send(message) {
            break;
        }
    }
}

/// The sending half of a `WaitQueue` link: dropping it closes the queue, as dropping a
/// channel's last sender does, so the receiver stops waiting.
struct QueueSender(Arc<WaitQueue<Vec<u8>>>);

impl Drop for QueueSender {
    fn drop(&mut self) {
        self.0.close();
    }
}

impl Run<'_> {
    /// Ping on the calling thread, pong on a scoped thread, over a link made by `link`: two
    /// (sender, receiver) pairs, one per direction.
    fn two_threads<S: Send, R: Send>(
        &mut self,
        cancel: &AtomicBool,
        link: impl Fn() -> (S, R),
        send: impl Fn(&S, Vec<u8>) -> bool + Sync,
        recv: impl Fn(&R) -> Option<Vec<u8>> + Sync,
    ) -> usize {
        let (to_pong, pong_rx) = link();
        let (to_ping, ping_rx) = link();
        let message = std::mem::take(&mut self.message);
        let (ping, pong, trips) = (&mut self.ping, &mut self.pong, self.input.trips);
        let (send, recv) = (&send, &recv);
        let (message, done) = std::thread::scope(|s| {
            s.spawn(move || pong_side(pong, |m| send(&to_ping, m), || recv(&pong_rx)));
            // Dropping ping's sender when it is done closes pong's link, which ends pong.
            let out = ping_side(ping, message, trips, cancel, |m| send(&to_pong, m), || recv(&ping_rx));
            drop(to_pong);
            out
        });
        self.message = message;
        done
    }

    fn tokio(&mut self, exec: &Exec) -> usize {
        let rts = exec.runtimes().expect("an async strategy has runtimes");
        let cancel = exec.cancel_flag().clone();
        let trips = self.input.trips;
        let (to_pong, mut pong_rx) = tokio_mpsc::channel::<Vec<u8>>(1);
        let (to_ping, mut ping_rx) = tokio_mpsc::channel::<Vec<u8>>(1);
        let (mut ping, mut pong) = (std::mem::take(&mut self.ping), std::mem::take(&mut self.pong));
        let mut message = std::mem::take(&mut self.message);
        let ping_task = async move {
            let mut done = trips;
            for t in 0..trips {
                message.copy_from_slice(&ping);
                if cancel.load(Ordering::Relaxed) || to_pong.send(message).await.is_err() {
                    (done, message) = (t, vec![0; ping.len()]);
                    break;
                }
                match ping_rx.recv().await {
                    Some(m) => message = m,
                    None => {
                        (done, message) = (t, vec![0; ping.len()]);
                        break;
                    }
                }
                ping.copy_from_slice(&message);
            }
            (ping, message, done)
        };
        let pong_task = async move {
            let mut t = 0;
            while let Some(mut message) = pong_rx.recv().await {
                answer(&mut pong, &mut message, t);
                t += 1;
                if to_ping.send(message).await.is_err() {
                    break;
                }
            }
            pong
        };
        // Ping on runtime 0, pong on runtime 1 if there is one; both spawned as tasks.
        let (ping_slot, pong_slot) = (Mutex::new(Some(ping_task)), Mutex::new(Some(pong_task)));
        let pong_on = rts.len().min(2) - 1;
        let outs = rts.block_on_each(|l| {
            let ping = if l == 0 { ping_slot.lock().unwrap_or_else(|e| e.into_inner()).take() } else { None };
            let pong =
                if l == pong_on { pong_slot.lock().unwrap_or_else(|e| e.into_inner()).take() } else { None };
            async move {
                let pong = pong.map(tokio::spawn);
                let ping = ping.map(tokio::spawn);
                let ping = match ping {
                    Some(h) => Some(h.await.unwrap_or_else(|e| resume_unwind(e.into_panic()))),
                    None => None,
                };
                let pong = match pong {
                    Some(h) => Some(h.await.unwrap_or_else(|e| resume_unwind(e.into_panic()))),
                    None => None,
                };
                (ping, pong)
            }
        });
        let mut done = 0;
        for (ping, pong) in outs {
            if let Some((buffer, message, trips_done)) = ping {
                (self.ping, self.message, done) = (buffer, message, trips_done);
            }
            if let Some(buffer) = pong {
                self.pong = buffer;
            }
        }
        done
    }
}

/// Ping here, pong in worker process 1. Under `process` the message goes out through one pipe
/// and comes back through the other; under `process-shm` it stays in a shared region and the
/// pipes carry only "your turn" and "done".
impl Coordinator for Run<'_> {
    fn shared_bytes(&self, _workers: &dyn Workers) -> usize {
        self.input.initial.len()
    }

    fn run(&mut self, workers: &mut dyn Workers) -> Result<(), RemoteError> {
        self.ping.copy_from_slice(&self.input.initial);
        self.trips_done = None;
        let n = self.input.initial.len();
        let (ping, message) = (&mut self.ping, &mut self.message);
        // A cancelled case ends at the next exchange: the pool looks at the flag on every wait.
        for t in 0..self.input.trips {
            if workers.shared().is_some() {
                let region = workers.shared_mut().expect("shared");
                region.slice_mut::<u8>(0, n).copy_from_slice(ping);
                workers.exchange(t, &[], &mut |_| Ok(()))?;
                ping.copy_from_slice(workers.shared().expect("shared").slice::<u8>(0, n));
            } else {
                message.copy_from_slice(ping);
                workers.exchange(t, message, &mut |answer| {
                    if answer.len() != n {
                        return Err(format!("answered {} bytes to a {n}-byte ping", answer.len()));
                    }
                    ping.copy_from_slice(answer);
                    Ok(())
                })?;
            }
        }
        self.trips_done = Some(self.input.trips);
        Ok(())
    }

    fn verify(&self, _shared: Option<&SharedMem>) -> Result<String, String> {
        Kernel::verify(self).into_result()
    }
}

/// The pong side in a worker process.
struct PongProcess {
    pong: Vec<u8>,
}

impl Share for PongProcess {
    fn message(
        &mut self,
        t: usize,
        bytes: &[u8],
        shared: Option<&mut SharedMem>,
        reply: &mut Vec<u8>,
    ) -> Result<(), String> {
        let n = self.pong.len();
        match shared {
            Some(region) => answer(&mut self.pong, region.slice_mut::<u8>(0, n), t),
            None if bytes.len() == n => {
                self.pong.copy_from_slice(bytes);
                let i = t % n;
                self.pong[i] = self.pong[i].wrapping_add(1);
                reply.extend_from_slice(&self.pong);
            }
            None => return Err(format!("a {}-byte ping for a {n}-byte pong", bytes.len())),
        }
        Ok(())
    }
}

impl Kernel for Run<'_> {
    fn run(&mut self, exec: &Exec) {
        self.ping.copy_from_slice(&self.input.initial);
        let cancel = exec.cancel_flag();
        let done = match exec.strategy().name() {
            "sequential" => {
                for t in 0..self.input.trips {
                    self.message.copy_from_slice(&self.ping);
                    answer(&mut self.pong, &mut self.message, t);
                    self.ping.copy_from_slice(&self.message);
                }
                self.input.trips
            }
            "channels" => self.two_threads(
                cancel,
                || channel::bounded::<Vec<u8>>(1),
                |tx, m| tx.send(m).is_ok(),
                |rx| rx.recv().ok(),
            ),
            "std-mpsc" => self.two_threads(
                cancel,
                || mpsc::sync_channel::<Vec<u8>>(1),
                |tx, m| tx.send(m).is_ok(),
                |rx| rx.recv().ok(),
            ),
            "condvar-queue" => self.two_threads(
                cancel,
                || {
                    let queue = Arc::new(WaitQueue::new(Some(1), cancel.clone()));
                    (QueueSender(queue.clone()), queue)
                },
                |tx, m| tx.0.push(m).is_ok(),
                |rx| rx.pop(),
            ),
            "async" | "async-current-thread" => self.tokio(exec),
            other => unreachable!("`ping_pong` does not support `{other}`"),
        };
        self.trips_done = Some(done);
    }

    fn verify(&self) -> Verification {
        let Some(done) = self.trips_done else {
            return Verification::fail("the kernel never ran");
        };
        let input = self.input;
        if done != input.trips {
            return Verification::fail(format!("{done} of {} round trips completed", input.trips));
        }
        let want = input.reference.get_or_init(|| {
            let mut data = input.initial.clone();
            let n = data.len();
            (0..input.trips).for_each(|t| data[t % n] = data[t % n].wrapping_add(1));
            data
        });
        let wrong = self.ping.iter().zip(want).filter(|(a, b)| a != b).count();
        if wrong == 0 {
            Verification::pass(format!("{done} round trips of {} B, final buffer matches", want.len()))
        } else {
            Verification::fail(format!("{wrong} of {} bytes differ after {done} round trips", want.len()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ranks::{self, OneRank};
    use crate::strategy::mpi::mpi;
    use crate::workload::default_params;

    fn job(size: u64, round_trips: i64) -> JobSpec {
        let mut params = default_params(&PingPong);
        params.0.insert("round_trips".into(), ParamValue::Int(round_trips));
        JobSpec { workload: "ping_pong".into(), params, size, seed: 11, shared: None }
    }

    /// Runs `runs` runs of both MPI sides on two thread ranks and returns them, rank 0 first.
    fn both_sides(job: &JobSpec, runs: usize) -> Vec<MpiSide> {
        ranks::on_threads(2, |r| {
            let mut side = MpiSide::new(job, r).unwrap();
            for _ in 0..runs {
                side.run(r).unwrap();
            }
            side
        })
    }

    #[test]
    fn the_mpi_sides_verify_over_runs_at_every_size_and_a_wrong_byte_fails() {
        // 1 B (every trip marks the same byte), fewer trips than bytes, and more.
        for (size, trips) in [(1, 7), (8, 3), (8, 20), (1000, 300)] {
            let j = job(size, trips);
            let make = |r: &dyn Ranks| PingPong.rank_share(&j, mpi(), r).expect("an MPI version");
            let rank0 = ranks::run_on_threads(2, 3, &make).unwrap();
            let ok = rank0.verify().unwrap_or_else(|e| panic!("{size} B: {e}"));
            assert!(ok.contains(&format!("3 x {trips} round trips of {size} B")), "{ok}");

            let sides = both_sides(&j, 2);
            assert_eq!(*sides[0].recv.borrow(), *sides[1].recv.borrow(), "both hold the last answer");
            let last = size as usize - 1;
            sides[1].recv.borrow_mut()[last] ^= 0x10;
            let why = sides[1].check_local().unwrap_err();
            assert!(why.contains("rank 1: 1 of"), "{why}");
            sides[0].recv.borrow_mut()[0] ^= 1;
            assert!(sides[0].verify().unwrap_err().contains("rank 0: 1 of"));
        }
        let unrun =
            MpiSide { rank: 0, trips: 5, seed: 1, send: vec![0; 4], recv: RefCell::new(vec![0; 4]), runs: 0 };
        assert!(unrun.verify().is_err(), "nothing ran");
    }

    #[test]
    fn a_check_passes_only_on_what_a_new_run_delivered() {
        // Trip counts whose marks would cancel out modulo 256 if they accumulated, and a 4 KiB
        // message with fewer trips than bytes.
        for (size, trips) in [(1, 256), (2, 512), (8, 2048), (4096, 8)] {
            let j = job(size, trips);
            let mut sides = both_sides(&j, 1);
            assert!(sides[0].verify().is_ok() && sides[1].check_local().is_ok(), "{size} B x {trips}");
            // A second run that moved nothing: only the count goes up.
            for side in &mut sides {
                side.runs += 1;
            }
            assert!(
                sides[0].verify().is_err(),
                "rank 0 passed a run that moved nothing ({size} B x {trips})"
            );
            assert!(
                sides[1].check_local().is_err(),
                "rank 1 passed a run that moved nothing ({size} B x {trips})"
            );
        }
    }

    #[test]
    fn mpi_takes_exactly_two_ranks_and_says_why() {
        let shape = |workers| CaseShape {
            family: Family::Mpi,
            strategy: "mpi",
            workers,
            chunk: None,
            sequential: false,
            capacity: None,
        };
        let params = default_params(&PingPong);
        for workers in [1, 3] {
            let refused = PingPong.check_case(8, &params, &shape(workers)).unwrap_err();
            assert_eq!(refused.field, "workers");
            assert!(
                refused.why.contains("exactly 2 ranks") && refused.why.contains(&format!("not {workers}"))
            );
        }
        assert!(PingPong.check_case(8, &params, &shape(2)).is_ok());
        let threads = CaseShape { family: Family::SharedState, strategy: "channels", ..shape(1) };
        assert!(PingPong.check_case(8, &params, &threads).is_ok(), "only MPI counts ranks");

        let j = job(8, 4);
        let one = PingPong.rank_share(&j, mpi(), &OneRank).unwrap().err().unwrap();
        assert!(one.contains("exactly 2 ranks"), "{one}");
        let make = |r: &dyn Ranks| PingPong.rank_share(&j, mpi(), r).unwrap();
        let three = ranks::run_on_threads(3, 1, &make).err().unwrap();
        assert!(three.contains("not 3"), "{three}");
        let nonblocking = crate::strategy::mpi::mpi_nonblocking();
        let why = PingPong.support(nonblocking).unwrap_err().to_string();
        assert!(why.contains("nothing") && why.contains("bandwidth"), "{why}");
    }

    #[test]
    fn one_byte_messages_verify_under_every_thread_and_async_link() {
        use crate::strategy::tests::exec;
        assert_eq!(PingPong.default_sizes(&Machine::detect())[0], 1, "OSU's sweep starts at 1 B");
        let params = job(1, 9).params;
        let input = PingPong.prepare(1, &params, 5).unwrap();
        for (name, workers) in [
            ("sequential", 1),
            ("channels", 1),
            ("std-mpsc", 1),
            ("condvar-queue", 1),
            ("async", 2),
            ("async-current-thread", 1),
        ] {
            let mut kernel = input.kernel();
            kernel.run(&exec(crate::strategy::find(name).unwrap(), workers));
            let v = kernel.verify();
            assert!(v.passed, "{name}: {}", v.detail);
        }
    }
}
