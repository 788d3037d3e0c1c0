//! `producer_consumer`: P producers and C consumers move `size` messages of `msg_bytes` bytes
//! through one queue, the cookbook's queue recipe measured across queue kinds.
//!
//! The worker count is split between producers and consumers by `producers_per_consumer` (at
//! least one of each, so one worker still means two threads). Producers build message `k` from
//! the seed, consumers read every byte into a digest; the run is verified by the message count
//! and the sum of the digests, which no reordering changes but any loss, duplicate or corrupted
//! message does. Throughput is messages/s (times `msg_bytes` for bytes/s).
//!
//! The queue, chosen by the strategy (`capacity`: -1 unbounded, 0 a rendezvous, n bounded, at
//! most `limits::MAX_CAPACITY` because the array channels allocate every slot up front):
//! - `sequential`: no queue at all; each message is consumed as soon as it is made: the cost
//!   of the work itself, against which every queue's overhead shows;
//! - `channels`: a crossbeam channel (multi-consumer);
//! - `std-mpsc`: a std channel; its single receiver is shared by the consumers behind a mutex;
//! - `condvar-queue`: the hand-rolled Mutex + Condvar queue. **Capacity 0 deadlocks**: a push
//!   waits for room that never comes. That is the textbook configuration the case timeout must
//!   catch, and a test makes sure it does;
//! - `semaphore`: the classic bounded buffer, two counting semaphores (free slots, filled slots)
//!   around a locked deque; capacity 0 deadlocks the same way;
//! - `async`: tokio tasks on the multi-threaded runtime and a tokio channel (capacity >= 1: the
//!   plan refuses 0 for both async strategies), the consumers sharing its receiver behind an
//!   async mutex;
//! - `async-current-thread`: each event loop runs one producer task, one consumer task and its
//!   own channel over its share of the messages.

use std::collections::VecDeque;
use std::ops::Range;
use std::panic::resume_unwind;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};

use crossbeam::channel;
use tokio::sync::mpsc as tokio_mpsc;

use super::{
    default_support, mix64, Instance, Kernel, ParamSpec, ParamValue, Params, PrepareError, Refused, SizeUnit,
    Unsupported, Verification, Workload, GAMMA,
};
use crate::limits::MAX_CAPACITY;
use crate::machine::Machine;
use crate::strategy::{static_block, CloseOnDrop, Exec, Family, Semaphore, Strategy, WaitQueue};

pub struct ProducerConsumer;

impl Workload for ProducerConsumer {
    fn name(&self) -> &'static str {
        "producer_consumer"
    }
    fn summary(&self) -> &'static str {
        "producers and consumers move messages through a queue: queue kinds compared"
    }
    fn size_unit(&self) -> SizeUnit {
        SizeUnit { what: "messages", bytes_per_item: None }
    }
    fn throughput_unit(&self) -> &'static str {
        "messages/s"
    }
    fn params(&self) -> &'static [ParamSpec] {
        &[
            ParamSpec {
                name: "msg_bytes",
                help: "bytes per message",
                default: ParamValue::Int(64),
                min: 1.0,
                max: (1u64 << 24) as f64,
                choices: &[],
            },
            ParamSpec {
                name: "capacity",
                help: "queue capacity: -1 unbounded, 0 rendezvous (deadlocks condvar-queue and semaphore; \
                       async has none), n bounded up to 1048576 (channels and std-mpsc allocate every \
                       slot up front)",
                default: ParamValue::Int(64),
                min: -1.0,
                // The scenario's limit on any queue's capacity: some queues allocate it up front.
                max: MAX_CAPACITY as f64,
                choices: &[],
            },
            ParamSpec {
                name: "producers_per_consumer",
                help: "how the workers are split: producers per consumer (at least one of each)",
                default: ParamValue::Float(1.0),
                min: 0.01,
                max: 100.0,
                choices: &[],
            },
        ]
    }
    fn default_sizes(&self, _: &Machine) -> Vec<u64> {
        vec![200_000]
    }
    fn support(&self, strategy: &dyn Strategy) -> Result<(), Unsupported> {
        match strategy.name() {
            "sequential"
            | "channels"
            | "std-mpsc"
            | "condvar-queue"
            | "semaphore"
            | "async"
            | "async-current-thread" => Ok(()),
            name => match strategy.family() {
                Family::DataParallel | Family::SharedState | Family::Synchronization => {
                    Err(Unsupported::new(
                        "producer_consumer",
                        strategy,
                        format!(
                            "`producer_consumer` needs producers and consumers running at once and a \
                             queue between them, which `{name}` does not provide; its queues are \
                             channels, std-mpsc, condvar-queue, semaphore and async"
                        ),
                    ))
                }
                _ => default_support(self.name(), strategy),
            },
        }
    }
    fn memory_bytes(&self, size: u64, params: &Params) -> u64 {
        // Messages in one queue: its capacity (every message when unbounded); each allocation
        // carries some overhead. What workers hold and what strategies add is per case.
        in_flight(size, params.int("capacity"), 1).saturating_mul(message_bytes(params))
    }
    fn case_memory_bytes(&self, size: u64, params: &Params, case: &super::CaseShape) -> u64 {
        let cap = params.int("capacity");
        // A message being made or read per thread: every producer blocked in `send` holds one,
        // every consumer one it is reading. The workers are split between the two roles (one
        // worker still means two threads); each event loop of `async-current-thread` runs one
        // of each.
        let workers = case.workers.max(1) as u64;
        let mut messages = match case.strategy {
            "sequential" => 1,
            "async-current-thread" => 2 * workers,
            _ => workers.max(2),
        };
        // `async-current-thread` has a queue per event loop, each as full as its capacity.
        if case.strategy == "async-current-thread" {
            messages = messages.saturating_add(
                in_flight(size, cap, case.workers as u64).saturating_sub(in_flight(size, cap, 1)),
            );
        }
        let slots = match case.strategy {
            // Array channels allocate (and stamp) every slot when they are made, however few
            // messages the run sends: a `Box<[u8]>` and a stamp each.
            "channels" | "std-mpsc" if cap > 0 => (cap as u64).saturating_mul(SLOT_BYTES),
            _ => 0,
        };
        messages.saturating_mul(message_bytes(params)).saturating_add(slots)
    }
    fn check_case(&self, _: u64, params: &Params, case: &super::CaseShape) -> Result<(), Refused> {
        match case.strategy {
            "async" | "async-current-thread" if params.int("capacity") == 0 => Err(Refused::new(
                "params.capacity",
                format!(
                    "`{}` cannot run with capacity 0: tokio's bounded channel needs at least 1 (there is \
                     no async rendezvous); use capacity >= 1, or -1 for unbounded",
                    case.strategy
                ),
            )),
            _ => Ok(()),
        }
    }
    fn work(&self, size: u64, _: &Params) -> f64 {
        size as f64
    }
    fn prepare(&self, size: u64, params: &Params, seed: u64) -> Result<Box<dyn Instance>, PrepareError> {
        let cap = params.int("capacity");
        Ok(Box::new(Input {
            spec: Spec { seed, msg_bytes: params.int("msg_bytes") as usize },
            messages: size as usize,
            capacity: (cap >= 0).then_some(cap as usize),
            ratio: params.float("producers_per_consumer"),
            reference: OnceLock::new(),
        }))
    }
}

/// Messages in `queues` queues of capacity `cap` (-1: unbounded) when `size` are sent in all.
fn in_flight(size: u64, cap: i64, queues: u64) -> u64 {
    match u64::try_from(cap) {
        Ok(cap) => cap.saturating_mul(queues).min(size),
        Err(_) => size,
    }
}

/// What one message costs: its bytes and its allocation's overhead.
fn message_bytes(params: &Params) -> u64 {
    params.int("msg_bytes") as u64 + 32
}

/// One slot of an array channel: the message's `Box<[u8]>` (pointer and length) and a stamp.
const SLOT_BYTES: u64 = std::mem::size_of::<Msg>() as u64 + 8;

/// What producers need to make messages: small and `Copy`, so async tasks can own it.
#[derive(Clone, Copy)]
struct Spec {
    seed: u64,
    msg_bytes: usize,
}

type Msg = Box<[u8]>;

impl Spec {
    /// Message `k`: one mixed word, then a Weyl sequence, so making it is cheap but every byte
    /// depends on `k`.
    fn make(self, k: usize) -> Msg {
        let mut msg = vec![0u8; self.msg_bytes].into_boxed_slice();
        let base = mix64(self.seed ^ (k as u64).wrapping_mul(GAMMA));
        for (j, chunk) in msg.chunks_mut(8).enumerate() {
            let word = base.wrapping_add((j as u64).wrapping_mul(GAMMA)).to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        msg
    }
}

/// Reads every byte of a message into one word.
fn digest(msg: &[u8]) -> u64 {
    let mut h = msg.len() as u64;
    for chunk in msg.chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        h = h.rotate_left(7) ^ u64::from_le_bytes(word);
    }
    mix64(h)
}

/// What consumers report: messages taken and the wrapping sum of their digests.
#[derive(Clone, Copy, Default, PartialEq, Debug)]
struct Tally {
    count: u64,
    sum: u64,
}

impl Tally {
    fn add(&mut self, msg: &[u8]) {
        self.count += 1;
        self.sum = self.sum.wrapping_add(digest(msg));
    }
    fn merge(self, other: Tally) -> Tally {
        Tally { count: self.count + other.count, sum: self.sum.wrapping_add(other.sum) }
    }
}

struct Input {
    spec: Spec,
    messages: usize,
    capacity: Option<usize>,
    ratio: f64,
    reference: OnceLock<Tally>,
}

impl Input {
    /// Producers and consumers for a worker count.
    fn roles(&self, workers: usize) -> (usize, usize) {
        if workers < 2 {
            return (1, 1);
        }
        let p = (workers as f64 * self.ratio / (1.0 + self.ratio)).round() as usize;
        let p = p.clamp(1, workers - 1);
        (p, workers - p)
    }

    /// Makes producer `p`'s share of the messages and hands each to `send`, stopping early if
    /// `send` fails or the case is cancelled.
    fn produce(&self, p: usize, producers: usize, cancel: &AtomicBool, mut send: impl FnMut(Msg) -> bool) {
        for k in static_block(self.messages, producers, p) {
            if cancel.load(Ordering::Relaxed) || !send(self.spec.make(k)) {
                break;
            }
        }
    }

    /// Runs one producer thread per sender in `senders` (`produce(p, sender)`) and `consumers`
    /// threads calling `consume`, and adds up what the consumers report.
    fn threads<S: Send>(
        &self,
        consumers: usize,
        senders: Vec<S>,
        produce: impl Fn(usize, S) + Sync,
        consume: impl Fn() -> Tally + Sync,
    ) -> Tally {
        std::thread::scope(|s| {
            let taken: Vec<_> = (0..consumers).map(|_| s.spawn(&consume)).collect();
            for (p, tx) in senders.into_iter().enumerate() {
                let produce = &produce;
                s.spawn(move || produce(p, tx));
            }
            taken
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| resume_unwind(e)))
                .fold(Tally::default(), Tally::merge)
        })
    }
}

impl Instance for Input {
    fn kernel(&self) -> Box<dyn Kernel + '_> {
        Box::new(Run { input: self, tally: None })
    }
}

struct Run<'a> {
    input: &'a Input,
    tally: Option<Tally>,
}

/// Decrements the count of live producers when dropped (a panic included) and closes the
/// queue when the last one leaves.
struct LastProducer<'a, T>(&'a AtomicUsize, &'a WaitQueue<T>);

impl<T> Drop for LastProducer<'_, T> {
    fn drop(&mut self) {
        if self.0.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.1.close();
        }
    }
}

impl Kernel for Run<'_> {
    fn run(&mut self, exec: &Exec) {
        let input = self.input;
        let cancel = exec.cancel_flag();
        let (producers, consumers) = input.roles(exec.workers());
        let tally = match exec.strategy().name() {
            "sequential" => {
                let mut t = Tally::default();
                input.produce(0, 1, cancel, |m| {
                    t.add(&m);
                    true
                });
                t
            }
            "channels" => {
                let (tx, rx) = match input.capacity {
                    Some(c) => channel::bounded::<Msg>(c),
                    None => channel::unbounded(),
                };
                // Each producer owns a sender; the channel closes when the last one drops.
                input.threads(
                    consumers,
                    vec![tx; producers],
                    |p, tx| input.produce(p, producers, cancel, |m| tx.send(m).is_ok()),
                    || {
                        let mut t = Tally::default();
                        rx.iter().for_each(|m| t.add(&m));
                        t
                    },
                )
            }
            "std-mpsc" => {
                let (tx, rx) = StdTx::channel(input.capacity);
                let rx = Mutex::new(rx);
                input.threads(
                    consumers,
                    vec![tx; producers],
                    |p, tx| input.produce(p, producers, cancel, |m| tx.send(m)),
                    || {
                        let mut t = Tally::default();
                        // The guard is held while waiting: std's receiver has one owner at a time.
                        while let Ok(m) = rx.lock().unwrap_or_else(|e| e.into_inner()).recv() {
                            t.add(&m);
                        }
                        t
                    },
                )
            }
            "condvar-queue" => {
                let queue = WaitQueue::new(input.capacity, cancel.clone());
                let live = AtomicUsize::new(producers);
                input.threads(
                    consumers,
                    vec![(); producers],
                    |p, ()| {
                        let _last = LastProducer(&live, &queue);
                        input.produce(p, producers, cancel, |m| queue.push(m).is_ok());
                    },
                    || {
                        let _close = CloseOnDrop(&queue);
                        let mut t = Tally::default();
                        while let Some(m) = queue.pop() {
                            t.add(&m);
                        }
                        t
                    },
                )
            }
            "semaphore" => {
                // Dijkstra's bounded buffer: `free` counts empty slots (none to wait for when
                // unbounded), `filled` counts messages; the deque itself is only ever locked
                // briefly. Consumers claim message numbers first, so exactly `messages` pops
                // happen and nobody needs a closing signal.
                let free = input.capacity.map(|c| Semaphore::new(c, cancel.clone()));
                let filled = Semaphore::new(0, cancel.clone());
                let buffer = Mutex::new(VecDeque::<Msg>::new());
                let claimed = AtomicUsize::new(0);
                input.threads(
                    consumers,
                    vec![(); producers],
                    |p, ()| {
                        input.produce(p, producers, cancel, |m| {
                            if free.as_ref().is_some_and(|f| f.wait().is_err()) {
                                return false;
                            }
                            buffer.lock().unwrap_or_else(|e| e.into_inner()).push_back(m);
                            filled.post();
                            true
                        })
                    },
                    || {
                        let mut t = Tally::default();
                        while claimed.fetch_add(1, Ordering::Relaxed) < input.messages {
                            if filled.wait().is_err() {
                                break;
                            }
                            let m = buffer.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                            let m = m.expect("a filled slot holds a message");
                            if let Some(f) = &free {
                                f.post();
                            }
                            t.add(&m);
                        }
                        t
                    },
                )
            }
            "async" | "async-current-thread" => {
                let rts = exec.runtimes().expect("an async strategy has runtimes");
                let loops = rts.len();
                let (spec, capacity, messages) = (input.spec, input.capacity, input.messages);
                let tallies = rts.block_on_each(|l| {
                    let cancel = cancel.clone();
                    // One pipeline on the multi-threaded runtime with the workers' roles; one
                    // producer and one consumer per event loop otherwise.
                    let (range, roles) = if rts.is_multi_thread() {
                        (0..messages, (producers, consumers))
                    } else {
                        (static_block(messages, loops, l), (1, 1))
                    };
                    pipeline(spec, capacity, range, roles, cancel)
                });
                tallies.into_iter().fold(Tally::default(), Tally::merge)
            }
            other => unreachable!("`producer_consumer` does not support `{other}`"),
        };
        self.tally = Some(tally);
    }

    fn verify(&self) -> Verification {
        let Some(got) = self.tally else {
            return Verification::fail("the kernel never ran");
        };
        let input = self.input;
        let want = *input.reference.get_or_init(|| {
            let mut t = Tally::default();
            (0..input.messages).for_each(|k| t.add(&input.spec.make(k)));
            t
        });
        if got == want {
            Verification::pass(format!(
                "{} messages arrived, digest sum {:#018x} matches",
                got.count, got.sum
            ))
        } else if got.count != want.count {
            Verification::fail(format!("{} messages arrived, {} were sent", got.count, want.count))
        } else {
            Verification::fail(format!(
                "{} messages arrived but their digest sum {:#018x} != {:#018x}: lost, duplicated or corrupted messages",
                got.count, got.sum, want.sum
            ))
        }
    }
}

/// std's two sender kinds, bounded (`sync_channel`) and unbounded (`channel`).
#[derive(Clone)]
enum StdTx {
    Bounded(mpsc::SyncSender<Msg>),
    Unbounded(mpsc::Sender<Msg>),
}

impl StdTx {
    fn channel(capacity: Option<usize>) -> (StdTx, mpsc::Receiver<Msg>) {
        match capacity {
            Some(c) => {
                let (tx, rx) = mpsc::sync_channel(c);
                (StdTx::Bounded(tx), rx)
            }
            None => {
                let (tx, rx) = mpsc::channel();
                (StdTx::Unbounded(tx), rx)
            }
        }
    }
    fn send(&self, m: Msg) -> bool {
        match self {
            StdTx::Bounded(tx) => tx.send(m).is_ok(),
            StdTx::Unbounded(tx) => tx.send(m).is_ok(),
        }
    }
}

/// tokio's two sender kinds.
#[derive(Clone)]
enum AsyncTx {
    Bounded(tokio_mpsc::Sender<Msg>),
    Unbounded(tokio_mpsc::UnboundedSender<Msg>),
}

enum AsyncRx {
    Bounded(tokio_mpsc::Receiver<Msg>),
    Unbounded(tokio_mpsc::UnboundedReceiver<Msg>),
}

impl AsyncTx {
    async fn send(&self, m: Msg) -> bool {
        match self {
            AsyncTx::Bounded(tx) => tx.send(m).await.is_ok(),
            AsyncTx::Unbounded(tx) => tx.send(m).is_ok(),
        }
    }
}

impl AsyncRx {
    async fn recv(&mut self) -> Option<Msg> {
        match self {
            AsyncRx::Bounded(rx) => rx.recv().await,
            AsyncRx::Unbounded(rx) => rx.recv().await,
        }
    }
}

/// One async producer/consumer pipeline over messages `range`, its tasks spawned on the
/// runtime that drives it.
async fn pipeline(
    spec: Spec,
    capacity: Option<usize>,
    range: Range<usize>,
    (producers, consumers): (usize, usize),
    cancel: Arc<AtomicBool>,
) -> Tally {
    let (tx, rx) = match capacity {
        Some(c) => {
            assert!(c > 0, "tokio's bounded channel needs a capacity of at least 1 (there is no async rendezvous); use capacity >= 1 or -1 for unbounded");
            let (tx, rx) = tokio_mpsc::channel(c);
            (AsyncTx::Bounded(tx), AsyncRx::Bounded(rx))
        }
        None => {
            let (tx, rx) = tokio_mpsc::unbounded_channel();
            (AsyncTx::Unbounded(tx), AsyncRx::Unbounded(rx))
        }
    };
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let taken: Vec<_> = (0..consumers)
        .map(|_| {
            let rx = rx.clone();
            tokio::spawn(async move {
                let mut t = Tally::default();
                loop {
                    let next = rx.lock().await.recv().await;
                    match next {
                        Some(m) => t.add(&m),
                        None => break t,
                    }
                }
            })
        })
        .collect();
    let made: Vec<_> = (0..producers)
        .map(|p| {
            let (tx, cancel) = (tx.clone(), cancel.clone());
            let block = static_block(range.len(), producers, p);
            let ks = range.start + block.start..range.start + block.end;
            tokio::spawn(async move {
                for k in ks {
                    if cancel.load(Ordering::Relaxed) || !tx.send(spec.make(k)).await {
                        break;
                    }
                }
            })
        })
        .collect();
    drop(tx);
    for handle in made {
        handle.await.unwrap_or_else(|e| resume_unwind(e.into_panic()));
    }
    let mut total = Tally::default();
    for handle in taken {
        total = total.merge(handle.await.unwrap_or_else(|e| resume_unwind(e.into_panic())));
    }
    total
}
