// histogram: counts of bin numbers, in two kernels.
//
// `histogram_local`: work-group g counts the items [g * per_group, (g + 1) * per_group) into
// `bins` counters in local memory with local atomics (only the group's work-items contend for
// them), then writes them out as row g of `partial`, which nobody else writes: no global atomic.
// `histogram_merge`: a work-item per bin sums that bin's column of `partial` into a 64-bit count.
// Per group the counts fit in 32 bits: the host keeps `per_group` below 2^32.
//
// Where the bins do not fit in local memory, `histogram_zero` clears one row of 32-bit counters,
// `histogram_global` counts every item into it with a global atomic (the host keeps the item
// count below 2^32), and `histogram_merge` widens it with `groups` = 1.
// Integers only: no fp64 needed.

__kernel void histogram_local(__global const uint *items, const ulong n, const uint bins, const ulong per_group,
                              __local volatile uint *local_bins, __global uint *partial) {
    size_t lid = get_local_id(0);
    size_t lsize = get_local_size(0);
    size_t g = get_group_id(0);
    for (uint b = lid; b < bins; b += lsize) {
        local_bins[b] = 0;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    ulong start = (ulong)g * per_group;
    ulong end = min(start + per_group, n);
    for (ulong k = start + lid; k < end; k += lsize) {
        atomic_inc(&local_bins[items[k]]);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint b = lid; b < bins; b += lsize) {
        partial[(ulong)g * bins + b] = local_bins[b];
    }
}

__kernel void histogram_zero(__global uint *partial) {
    partial[get_global_id(0)] = 0;
}

__kernel void histogram_global(__global const uint *items, const ulong n, __global volatile uint *partial) {
    size_t k = get_global_id(0);
    if (k < n) {
        atomic_inc(&partial[items[k]]);
    }
}

__kernel void histogram_merge(__global ulong *counts, __global const uint *partial, const uint groups,
                              const uint bins) {
    size_t b = get_global_id(0);
    if (b >= bins) {
        return;
    }
    ulong sum = 0;
    for (uint g = 0; g < groups; g++) {
        sum += partial[(ulong)g * bins + b];
    }
    counts[b] = sum;
}
