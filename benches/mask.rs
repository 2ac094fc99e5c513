//! Masking throughput per path, against `copy_from_slice` of the same bytes as the memory-speed
//! reference.
//!
//! Run: `cargo bench --features __internal-test-hooks --bench mask -- --warm-up-time 1 --measurement-time 2`
//!
//! Groups `mask/<size>` (16 B, 125 B, 1 KiB, 16 KiB, 1 MiB), each with ids `<what>/<alignment>`:
//! - `memcpy`: `copy_from_slice` into a second buffer (the physical reference);
//! - `apply_<path>`: in-place unmasking by one path (`bytes` is the byte-at-a-time reference,
//!   `dispatch` the crate's entry point with its size threshold);
//! - `copy_<path>`: the fused copy-and-unmask into a second buffer;
//! - `extend_dispatch`: the send path's fused append into a `BytesMut` (capacity reused).
//!
//! `aligned` slices start on a 64-byte boundary; `unaligned` ones one byte past it.
//!
//! Below 16 KiB each benchmark cycles through a ring of buffers (about 16 KiB in all, so they
//! stay in L1) instead of reworking one buffer: unmasking in place the bytes it stored a few
//! nanoseconds earlier would measure store-to-load forwarding stalls (the vector paths store
//! overlapping head and tail vectors) that real use, on freshly received bytes, does not have.
//! Group `mask_small` compares the word path with the SIMD paths at small sizes (one byte past
//! alignment), to place the size threshold.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use wsproto::__mask_paths as paths;

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A buffer of `len` bytes starting `offset` bytes past a 64-byte boundary.
struct Buf {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl Buf {
    fn new(len: usize, offset: usize) -> Self {
        let storage: Vec<u8> = (0..len + 128).map(|i| (i * 31 + 7) as u8).collect();
        let start = (storage.as_ptr().addr().wrapping_neg() & 63) + offset;
        Buf {
            storage,
            start,
            len,
        }
    }

    fn get(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }

    fn get_mut(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.len]
    }
}

/// Buffers of one size and alignment, used in turn.
struct Ring {
    bufs: Vec<Buf>,
    next: usize,
}

impl Ring {
    fn new(size: usize, offset: usize) -> Self {
        let count = if size >= 16 << 10 {
            1
        } else {
            ((16 << 10) / (size + 64)).clamp(1, 256)
        };
        Ring {
            bufs: (0..count).map(|_| Buf::new(size, offset)).collect(),
            next: 0,
        }
    }

    fn next(&mut self) -> &mut Buf {
        self.next = if self.next + 1 == self.bufs.len() {
            0
        } else {
            self.next + 1
        };
        &mut self.bufs[self.next]
    }
}

fn label(size: usize) -> String {
    match size {
        s if s >= 1 << 20 => format!("{}MiB", s >> 20),
        s if s >= 1 << 10 => format!("{}KiB", s >> 10),
        s => format!("{s}B"),
    }
}

fn simd_paths() -> Vec<paths::Path> {
    [paths::sse2(), paths::avx2(), paths::avx512(), paths::neon()]
        .into_iter()
        .flatten()
        .collect()
}

fn by_size(c: &mut Criterion) {
    eprintln!(
        "mask bench: dispatch selects {} at >= {} bytes",
        paths::selected_name(),
        paths::SIMD_MIN
    );
    let mut all = vec![paths::bytes(), paths::words()];
    all.extend(simd_paths());
    all.push(paths::dispatch());

    for size in [16, 125, 1 << 10, 16 << 10, 1 << 20] {
        let mut group = c.benchmark_group(format!("mask/{}", label(size)));
        group.throughput(Throughput::Bytes(size as u64));
        for (align, offset) in [("aligned", 0), ("unaligned", 1)] {
            let src = Buf::new(size, offset);
            let mut dst = Ring::new(size, offset);

            group.bench_function(BenchmarkId::new("memcpy", align), |b| {
                b.iter(|| dst.next().get_mut().copy_from_slice(black_box(src.get())))
            });
            for path in &all {
                let mut bufs = Ring::new(size, offset);
                let id = BenchmarkId::new(format!("apply_{}", path.name()), align);
                group.bench_function(id, |b| {
                    b.iter(|| path.apply(black_box(bufs.next().get_mut()), KEY, 1))
                });
            }
            for path in &all {
                let id = BenchmarkId::new(format!("copy_{}", path.name()), align);
                group.bench_function(id, |b| {
                    b.iter(|| path.copy(dst.next().get_mut(), black_box(src.get()), KEY, 1))
                });
            }
            let mut out = bytes::BytesMut::with_capacity(size + 64);
            group.bench_function(BenchmarkId::new("extend_dispatch", align), |b| {
                b.iter(|| {
                    out.clear();
                    paths::extend_masked(&mut out, black_box(src.get()), KEY, 1);
                })
            });
        }
        group.finish();
    }
}

fn small(c: &mut Criterion) {
    let mut group = c.benchmark_group("mask_small");
    for size in [4, 8, 12, 16, 20, 24, 28, 32, 48, 64, 96] {
        group.throughput(Throughput::Bytes(size as u64));
        let mut bufs = Ring::new(size, 1);
        let mut candidates = vec![paths::words()];
        candidates.extend(simd_paths());
        candidates.push(paths::dispatch());
        for path in candidates {
            let id = BenchmarkId::new(format!("apply_{}", path.name()), size);
            group.bench_function(id, |b| {
                b.iter(|| path.apply(black_box(bufs.next().get_mut()), KEY, 1))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, by_size, small);
criterion_main!(benches);
