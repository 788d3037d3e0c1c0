//! Point-to-point messages between the ranks of `parlab mpi-worker` (`mpi` builds): the
//! blocking sends and receives of [`crate::ranks::Ranks`] over a real communicator, as free
//! functions the worker's `Ranks` implementation delegates to.
//!
//! `send` is `MPI_Send` (standard mode): the library returns at once for a message it copies
//! (below its eager limit, a few KiB on shared memory in Open MPI) and only once the receiver
//! has posted the matching receive above it. Two ranks that both send a large message first
//! therefore wait for each other forever; `MPI_Sendrecv` cannot.
//!
//! A window (`MPI_Isend` or `MPI_Irecv` of several messages, then a wait for all) is what the
//! OSU bandwidth test keeps in flight: the library may pipeline the messages rather than
//! finish each before starting the next.

use mpi::point_to_point;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

/// The rank `rank` of `comm`, as MPI numbers it.
fn at(comm: &SimpleCommunicator, rank: usize) -> mpi::topology::Process<'_> {
    comm.process_at_rank(i32::try_from(rank).expect("a rank fits an MPI int"))
}

/// `MPI_Send` of `bytes` to `to`.
pub fn send_bytes(comm: &SimpleCommunicator, to: usize, bytes: &[u8]) {
    at(comm, to).send(bytes);
}

/// `MPI_Recv` from `from` into `out`.
pub fn recv_bytes(comm: &SimpleCommunicator, from: usize, out: &mut [u8]) {
    at(comm, from).receive_into(out);
}

/// `MPI_Sendrecv`: `bytes` to `peer` and `out` from it.
pub fn sendrecv_bytes(comm: &SimpleCommunicator, peer: usize, bytes: &[u8], out: &mut [u8]) {
    let process = at(comm, peer);
    point_to_point::send_receive_into(bytes, &process, out, &process);
}

/// One `MPI_Isend` per `len`-byte piece of `msgs` to `to`, then a wait for every one.
pub fn send_window_bytes(comm: &SimpleCommunicator, to: usize, msgs: &[u8], len: usize) {
    assert!(
        len > 0 && msgs.len().is_multiple_of(len),
        "a window of {len}-byte messages, {} bytes",
        msgs.len()
    );
    let process = at(comm, to);
    // The scope panics on a request left incomplete: each is waited for before it ends. One
    // `MPI_Wait` each, without status: rsmpi's `RequestCollection::wait_all` (`MPI_Waitall`)
    // builds four vectors per window and was no faster at 8 B.
    // The requests live in the scope, so their vector is made per window: one allocation
    // beside `window` messages (about 1% of a window of 1-byte messages).
    mpi::request::scope(|scope| {
        let sent: Vec<_> = msgs.chunks(len).map(|msg| process.immediate_send(scope, msg)).collect();
        for request in sent {
            request.wait_without_status();
        }
    });
}

/// One `MPI_Irecv` from `from` per `len`-byte piece of `bufs`, each into its own piece, then a
/// wait for every one.
pub fn recv_window_bytes(comm: &SimpleCommunicator, from: usize, bufs: &mut [u8], len: usize) {
    assert!(
        len > 0 && bufs.len().is_multiple_of(len),
        "a window of {len}-byte messages, {} bytes",
        bufs.len()
    );
    let process = at(comm, from);
    mpi::request::scope(|scope| {
        let received: Vec<_> =
            bufs.chunks_mut(len).map(|buf| process.immediate_receive_into(scope, buf)).collect();
        for request in received {
            request.wait_without_status();
        }
    });
}
