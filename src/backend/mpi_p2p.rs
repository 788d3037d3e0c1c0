//! Point-to-point messages between the ranks of `parlab mpi-worker` (`mpi` builds): the
//! blocking sends and receives of [`crate::ranks::Ranks`] over a real communicator, as free
//! functions the worker's `Ranks` implementation delegates to.
//!
//! `send` is `MPI_Send` (standard mode): the library returns at once for a message it copies
//! (below its eager limit, a few KiB on shared memory in Open MPI) and only once the receiver
//! has posted the matching receive above it. Two ranks that both send a large message first
//! therefore wait for each other forever; `MPI_Sendrecv` cannot.

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
