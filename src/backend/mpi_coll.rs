//! The collectives of equal blocks between the ranks of `parlab mpi-worker` (`mpi` builds):
//! bytes and sums of `f32`, as the `collectives` workload times them (the OSU benchmarks'
//! `MPI_CHAR` and `MPI_FLOAT` with `MPI_SUM`), with rank 0 as the root. Free functions over a
//! communicator, which the worker's [`crate::ranks::Ranks`] implementation delegates to.
//!
//! rsmpi derives each per-rank count from the buffers (a scatter's send buffer divided by the
//! number of ranks), so the buffers' lengths are the contract [`crate::ranks::Ranks`] states.

use mpi::collective::SystemOperation;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

fn is_root(comm: &SimpleCommunicator) -> bool {
    comm.rank() == 0
}

/// `MPI_Bcast` of `buf` from rank 0.
pub fn bcast_u8(comm: &SimpleCommunicator, buf: &mut [u8]) {
    comm.process_at_rank(0).broadcast_into(buf);
}

/// `MPI_Scatter` of rank 0's `send` in blocks of `recv.len()` bytes.
pub fn scatter_u8(comm: &SimpleCommunicator, send: &[u8], recv: &mut [u8]) {
    let root = comm.process_at_rank(0);
    if is_root(comm) {
        root.scatter_into_root(send, recv);
    } else {
        root.scatter_into(recv);
    }
}

/// `MPI_Gather` of every rank's `send` into rank 0's `recv`.
pub fn gather_u8(comm: &SimpleCommunicator, send: &[u8], recv: &mut [u8]) {
    let root = comm.process_at_rank(0);
    if is_root(comm) {
        root.gather_into_root(send, recv);
    } else {
        root.gather_into(send);
    }
}

/// `MPI_Allgather` of every rank's `send` into every rank's `recv`.
pub fn allgather_u8(comm: &SimpleCommunicator, send: &[u8], recv: &mut [u8]) {
    comm.all_gather_into(send, recv);
}

/// `MPI_Alltoall`: block `to` of every rank's `send` into block `from` of rank `to`'s `recv`.
pub fn alltoall_u8(comm: &SimpleCommunicator, send: &[u8], recv: &mut [u8]) {
    comm.all_to_all_into(send, recv);
}

/// `MPI_Reduce` with `MPI_SUM` of every rank's `send` into rank 0's `out`.
pub fn reduce_sum_f32(comm: &SimpleCommunicator, send: &[f32], out: &mut [f32]) {
    let root = comm.process_at_rank(0);
    if is_root(comm) {
        root.reduce_into_root(send, out, SystemOperation::sum());
    } else {
        root.reduce_into(send, SystemOperation::sum());
    }
}

/// `MPI_Allreduce` with `MPI_SUM` of every rank's `send` into every rank's `out`.
pub fn allreduce_sum_f32(comm: &SimpleCommunicator, send: &[f32], out: &mut [f32]) {
    comm.all_reduce_into(send, out, SystemOperation::sum());
}
