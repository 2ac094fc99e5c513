//! The queue of bytes waiting to be written to the transport.
//!
//! Small writes (headers, short payloads, masked client payloads) are appended to one growing
//! buffer; a large server payload given as `Bytes` is queued as its own chunk without a copy.
//! The caller reads it as one contiguous run at a time, as a list of chunks for vectored writes,
//! or chunk by chunk as owned `Bytes`.

use alloc::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

use crate::frame::MAX_HEADER_LEN;

#[derive(Debug, Default)]
pub(crate) struct OutputQueue {
    /// Sealed chunks, oldest first; all come before `tail`.
    chunks: VecDeque<Bytes>,
    /// The chunk still being appended to. Its first `tail_written` bytes were already written:
    /// the buffer is consumed by moving this position, not by advancing the `BytesMut` (which
    /// would make every later append reclaim the space in front), and reset to 0 when drained.
    /// Invariant: `tail_written < tail.len()`, or both are 0.
    tail: BytesMut,
    tail_written: usize,
    /// Total bytes waiting.
    len: usize,
    /// Bytes ever removed from the front (written, taken, or dropped): with `len`, the position
    /// in the output stream of everything queued.
    consumed: u64,
    /// The run of automatic pongs last queued: the stream position just past it (valid only
    /// while nothing else was queued since, i.e. while it equals `end_position()`), its length,
    /// and the length of its last pong.
    pong_run_end: u64,
    pong_run_len: usize,
    last_pong_len: usize,
}

/// The most bytes of automatic pongs that wait unwritten at the end of the output before a newer
/// one replaces the last instead of adding to them: about 50 pongs with short payloads (so a
/// burst of pings read at once is answered ping by ping, as the Autobahn testsuite checks), and
/// O(1) memory under a ping flood.
pub(crate) const AUTO_PONG_BUDGET: usize = 1024;

/// Written bytes at the front of the tail are dropped (and the rest moved to its start by the
/// next append that needs room) once they reach this much and half of the tail, so a writer
/// that never quite drains the output does not make the buffer grow.
const COMPACT_WRITTEN: usize = 16 * 1024;

impl OutputQueue {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The buffer to append small writes to; call [`OutputQueue::appended`] with how many bytes.
    /// Its first bytes may already be written: append only.
    pub fn tail(&mut self) -> &mut BytesMut {
        &mut self.tail
    }

    /// Records that `n` bytes were appended to [`OutputQueue::tail`].
    pub fn appended(&mut self, n: usize) {
        self.len += n;
    }

    #[inline]
    pub fn push_slice(&mut self, bytes: &[u8]) {
        self.tail.extend_from_slice(bytes);
        self.len += bytes.len();
    }

    /// Appends a two-byte frame header and its payload (at most 125 bytes), with one check for
    /// room.
    #[inline]
    pub fn push_short_frame(&mut self, header: [u8; 2], payload: &[u8]) {
        self.tail.reserve(2 + payload.len());
        self.tail.extend_from_slice(&header);
        self.tail.extend_from_slice(payload);
        self.len += 2 + payload.len();
    }

    /// Appends the first `header_len` bytes of an encoded frame header and the payload, with
    /// one check for room. The whole header array is copied (a fixed-size copy, no call) and the
    /// unused end cut off.
    #[inline]
    pub fn push_frame(&mut self, header: &[u8; MAX_HEADER_LEN], header_len: usize, payload: &[u8]) {
        self.push_header(header, header_len, payload.len());
        self.tail.extend_from_slice(payload);
        self.len += payload.len();
    }

    /// Appends the first `header_len` bytes of an encoded frame header, making room for
    /// `payload_len` more bytes after it (appended by the caller to [`OutputQueue::tail`]).
    /// The array is copied whole (its size `N` is known: a fixed-size copy) and the unused end
    /// cut off.
    #[inline]
    pub fn push_header<const N: usize>(
        &mut self,
        header: &[u8; N],
        header_len: usize,
        payload_len: usize,
    ) {
        let start = self.tail.len();
        self.tail.reserve(N + payload_len);
        self.tail.extend_from_slice(header);
        if header_len < N {
            self.tail.truncate(start + header_len);
        }
        self.len += header_len;
    }

    /// The bytes of the tail not yet written.
    #[inline]
    fn tail_unwritten(&self) -> &[u8] {
        &self.tail[self.tail_written..]
    }

    /// Seals the tail's unwritten bytes as an owned chunk (empty when nothing waits there).
    fn split_tail(&mut self) -> Bytes {
        let mut sealed = self.tail.split().freeze();
        sealed.advance(self.tail_written);
        self.tail_written = 0;
        sealed
    }

    /// The stream position just past everything queued so far.
    pub fn end_position(&self) -> u64 {
        self.consumed + self.len as u64
    }

    /// The stream position of the next byte to be written.
    pub fn start_position(&self) -> u64 {
        self.consumed
    }

    /// Before queuing an automatic pong of `next` bytes: if the unwritten automatic pongs at
    /// the end of the output would exceed [`AUTO_PONG_BUDGET`], removes the last of them (when
    /// none of it has been written), so that the new one replaces it. Returns the bytes of the
    /// unwritten run kept, for [`OutputQueue::mark_auto_pong`].
    pub fn make_room_for_auto_pong(&mut self, next: usize) -> usize {
        if self.pong_run_end != self.end_position() {
            // Something else was queued after the run: it is not at the end any more.
            return 0;
        }
        let last = self.last_pong_len;
        // Only the part of the run not yet written counts (the tail is consumed from its front;
        // a tail taken by `pop` or `clear` is empty).
        let unwritten = self.tail.len() - self.tail_written;
        let run = self.pong_run_len.min(unwritten);
        if run + next <= AUTO_PONG_BUDGET {
            return run;
        }
        if last > 0 && unwritten >= last && run >= last {
            self.tail.truncate(self.tail.len() - last);
            if self.tail.len() == self.tail_written {
                self.tail.clear();
                self.tail_written = 0;
            }
            self.len -= last;
            return run - last;
        }
        0
    }

    /// Marks the last `n` bytes appended to the tail as an automatic pong, following a run of
    /// `run` bytes of them.
    pub fn mark_auto_pong(&mut self, n: usize, run: usize) {
        self.last_pong_len = n;
        self.pong_run_len = run + n;
        self.pong_run_end = self.end_position();
    }

    /// Queues `bytes` as a chunk of its own, without copying.
    pub fn push_shared(&mut self, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        if self.tail.len() > self.tail_written {
            let sealed = self.split_tail();
            self.chunks.push_back(sealed);
        }
        self.len += bytes.len();
        self.chunks.push_back(bytes);
    }

    /// The oldest contiguous run of waiting bytes (empty when nothing waits).
    #[inline]
    pub fn first(&self) -> &[u8] {
        if self.chunks.is_empty() {
            // Small messages only ever use the tail: no chunk to look up.
            return self.tail_unwritten();
        }
        self.chunks.front().map_or(&[], |chunk| chunk)
    }

    /// The waiting runs in order, none empty.
    #[inline]
    pub fn runs(&self) -> impl Iterator<Item = &[u8]> {
        self.chunks
            .iter()
            .map(|c| &c[..])
            .chain(core::iter::once(self.tail_unwritten()))
            .filter(|r| !r.is_empty())
    }

    /// Fills `dst` with the waiting runs in order; returns how many were filled.
    pub fn chunks<'a>(&'a self, dst: &mut [&'a [u8]]) -> usize {
        let mut n = 0;
        for (slot, run) in dst.iter_mut().zip(self.runs()) {
            *slot = run;
            n += 1;
        }
        n
    }

    /// Records that `n` bytes which never entered the queue were written right after everything
    /// it held (a payload written through from the caller's slice): they advance the stream
    /// position. The queue must be empty.
    pub fn passed_through(&mut self, n: usize) {
        debug_assert!(self.is_empty());
        self.consumed += n as u64;
    }

    /// Drops the first `n` waiting bytes (they were written).
    #[inline]
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        self.len -= n;
        self.consumed += n as u64;
        if self.chunks.is_empty() {
            // Only the tail waits (small messages): no chunk to walk.
            self.consume_tail(n);
        } else {
            self.consume_chunks(n);
        }
    }

    /// Drops the first `n` waiting bytes, chunks first (already counted by `consume`).
    #[inline(never)]
    fn consume_chunks(&mut self, mut n: usize) {
        while n > 0 {
            match self.chunks.front_mut() {
                Some(chunk) if chunk.len() <= n => {
                    n -= chunk.len();
                    self.chunks.pop_front();
                }
                Some(chunk) => {
                    chunk.advance(n);
                    n = 0;
                }
                None => {
                    self.consume_tail(n);
                    return;
                }
            }
        }
    }

    /// Drops the first `n` unwritten bytes of the tail.
    #[inline]
    fn consume_tail(&mut self, n: usize) {
        self.tail_written += n;
        if self.tail_written == self.tail.len() {
            // Drained: reuse the tail's allocation from its start.
            self.tail.clear();
            self.tail_written = 0;
        } else if self.tail_written >= COMPACT_WRITTEN && self.tail_written * 2 >= self.tail.len() {
            self.tail.advance(self.tail_written);
            self.tail_written = 0;
        }
    }

    /// Takes the oldest run as owned bytes.
    pub fn pop(&mut self) -> Option<Bytes> {
        let chunk = match self.chunks.pop_front() {
            Some(chunk) => chunk,
            None if self.tail.len() > self.tail_written => self.split_tail(),
            None => return None,
        };
        self.len -= chunk.len();
        self.consumed += chunk.len() as u64;
        Some(chunk)
    }

    /// Frees the buffers when nothing waits.
    pub fn release_if_empty(&mut self) {
        if self.len == 0 {
            self.chunks = VecDeque::new();
            self.tail = BytesMut::new();
            self.tail_written = 0;
        }
    }

    /// Drops everything waiting, and the memory it held.
    pub fn clear(&mut self) {
        self.chunks = VecDeque::new();
        self.tail = BytesMut::new();
        self.tail_written = 0;
        self.consumed += self.len as u64;
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_kept_across_shared_and_copied_writes() {
        let mut q = OutputQueue::default();
        q.push_slice(b"ab");
        q.push_shared(Bytes::from_static(b"cdef"));
        q.push_slice(b"gh");
        assert_eq!(q.len(), 8);
        let mut runs = [&[][..]; 4];
        let n = q.chunks(&mut runs);
        assert_eq!(&runs[..n], &[&b"ab"[..], b"cdef", b"gh"]);
        q.consume(3);
        assert_eq!(q.first(), b"def");
        q.consume(4);
        assert_eq!(q.first(), b"h");
        assert_eq!(q.pop().as_deref(), Some(&b"h"[..]));
        assert!(q.is_empty());
        assert_eq!(q.pop(), None);
        assert_eq!(q.start_position(), 8);
    }

    #[test]
    fn a_writer_that_never_drains_does_not_grow_the_tail() {
        let mut q = OutputQueue::default();
        let msg = [7u8; 100];
        q.push_slice(&msg);
        for _ in 0..10_000 {
            // Write all but a few bytes, then queue more: the output is never empty.
            q.consume(q.len() - 3);
            q.push_slice(&msg);
        }
        assert_eq!(q.len(), 103);
        assert!(
            q.tail.capacity() <= 4 * COMPACT_WRITTEN,
            "{}",
            q.tail.capacity()
        );
        assert_eq!(q.first().len(), 103);
        // Sealing the tail keeps only what was not written.
        q.push_shared(Bytes::from_static(b"shared"));
        let mut runs = [&[][..]; 4];
        let n = q.chunks(&mut runs);
        assert_eq!((n, runs[0].len(), runs[1]), (2, 103, &b"shared"[..]));
        q.consume(103);
        assert_eq!(q.pop().as_deref(), Some(&b"shared"[..]));
        q.push_slice(b"abc");
        q.consume(1);
        assert_eq!(q.pop().as_deref(), Some(&b"bc"[..]));
        assert!(q.is_empty());
        assert_eq!(q.first(), b"");
    }

    /// Queues an automatic pong the way the connection does.
    fn auto_pong(q: &mut OutputQueue, frame: &[u8]) {
        let run = q.make_room_for_auto_pong(frame.len());
        q.push_slice(frame);
        q.mark_auto_pong(frame.len(), run);
    }

    #[test]
    fn automatic_pongs_are_bounded_and_the_newest_is_kept() {
        let mut q = OutputQueue::default();
        q.push_slice(b"data");
        let pong = [b'p'; 100];
        for _ in 0..1_000 {
            auto_pong(&mut q, &pong);
        }
        assert!(q.len() <= 4 + AUTO_PONG_BUDGET, "{}", q.len());
        auto_pong(&mut q, &[b'n'; 100]);
        assert!(q.len() <= 4 + AUTO_PONG_BUDGET);
        assert!(
            q.first().ends_with(&[b'n'; 100]),
            "the newest pong is queued"
        );
        // A burst within the budget is kept whole.
        let mut q = OutputQueue::default();
        for i in 0..10u8 {
            auto_pong(&mut q, &[i; 11]);
        }
        assert_eq!(q.len(), 110);
    }

    #[test]
    fn only_unwritten_automatic_pongs_at_the_end_are_replaced() {
        let mut q = OutputQueue::default();
        let big = [b'p'; AUTO_PONG_BUDGET / 2 + 1];
        auto_pong(&mut q, &big);
        // Something queued after it: it stays.
        q.push_slice(b"x");
        auto_pong(&mut q, &big);
        assert_eq!(q.len(), 2 * big.len() + 1);
        // Partly written: the last pong stays, the new one is added.
        q.consume(big.len() + 2);
        auto_pong(&mut q, &big);
        assert_eq!(q.len(), 2 * big.len() - 1);
        // Over the budget with an untouched last pong: replaced by the newest.
        let newest = [b'n'; AUTO_PONG_BUDGET / 2 + 1];
        auto_pong(&mut q, &newest);
        assert_eq!(q.len(), 2 * big.len() - 1);
        assert!(q.first().ends_with(&newest));
        assert_eq!(q.end_position(), q.start_position() + q.len() as u64);
    }
}
