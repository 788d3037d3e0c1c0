//! Where a process places its input buffers, varied between processes.
//!
//! A buffer's offset within a page (and within a cache line) changes how fast a kernel runs
//! (4 KiB aliasing between arrays, split loads, cache-set conflicts), and it is fixed when a
//! process allocates it: measured in one process, that effect is invisible and biases every
//! sample alike. `--processes N` gives each process another [`offset`] (see
//! `runner::child::align_offset`), and workloads allocate their large buffers with
//! [`filled`], so the effect shows up as spread between processes, where the interval over processes
//! bootstrap accounts for it.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};

static OFFSET: AtomicUsize = AtomicUsize::new(0);
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Sets this process's base offset in bytes (0 keeps the allocator's natural alignment).
pub fn set_offset(bytes: usize) {
    OFFSET.store(bytes % PAGE, Ordering::Relaxed);
}

/// This process's base offset in bytes.
pub fn offset() -> usize {
    OFFSET.load(Ordering::Relaxed)
}

const PAGE: usize = 4096;

/// A slice of `len` values placed at this process's offset: each buffer allocated after the
/// first is shifted by a further 192 bytes (three cache lines), so that the buffers' offsets
/// relative to each other vary too. With offset 0 it is an ordinary `Vec`.
pub struct Buffer<T> {
    storage: Vec<T>,
    start: usize,
    len: usize,
}

/// `len` copies of `value` at this process's offset (see [`Buffer`]).
pub fn filled<T: Copy>(len: usize, value: T) -> Buffer<T> {
    let base = offset();
    let size = std::mem::size_of::<T>().max(1);
    let start = if base == 0 {
        0
    } else {
        let k = NEXT.fetch_add(1, Ordering::Relaxed);
        ((base + k * 192) % PAGE) / size
    };
    Buffer { storage: vec![value; start + len], start, len }
}

/// `f(0), f(1), ..., f(len - 1)` at this process's offset (see [`Buffer`]).
pub fn from_fn<T: Copy + Default>(len: usize, f: impl Fn(usize) -> T) -> Buffer<T> {
    let mut b = filled(len, T::default());
    b.iter_mut().enumerate().for_each(|(i, slot)| *slot = f(i));
    b
}

impl<'a, T> IntoIterator for &'a Buffer<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<T> Deref for Buffer<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.storage[self.start..self.start + self.len]
    }
}

impl<T> DerefMut for Buffer<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.storage[self.start..self.start + self.len]
    }
}

impl<T: Clone> Clone for Buffer<T> {
    fn clone(&self) -> Self {
        Buffer { storage: self.storage.clone(), start: self.start, len: self.len }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Buffer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_hold_their_values_at_the_offset() {
        // Offset 0 (the default in tests) is a plain vector.
        let b = filled(10, 1.5f64);
        assert_eq!(b.len(), 10);
        assert!(b.iter().all(|&x| x == 1.5));
        let mut c = Buffer { storage: vec![0u32; 16 + 5], start: 16, len: 5 };
        c.copy_from_slice(&[1, 2, 3, 4, 5]);
        assert_eq!(&*c, &[1, 2, 3, 4, 5]);
        assert_eq!((c.as_ptr() as usize - c.storage.as_ptr() as usize), 64);
    }
}
