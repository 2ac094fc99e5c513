//! The queue of bytes waiting to be written to the transport.
//!
//! Small writes (headers, short payloads, masked client payloads) are appended to one growing
//! buffer; a large server payload given as `Bytes` is queued as its own chunk without a copy.
//! The caller reads it as one contiguous run at a time, as a list of chunks for vectored writes,
//! or chunk by chunk as owned `Bytes`.

use alloc::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

#[derive(Debug, Default)]
pub(crate) struct OutputQueue {
    /// Sealed chunks, oldest first; all come before `tail`.
    chunks: VecDeque<Bytes>,
    /// The chunk still being appended to.
    tail: BytesMut,
    /// Total bytes waiting.
    len: usize,
    /// Bytes ever removed from the front (written, taken, or dropped): with `len`, the position
    /// in the output stream of everything queued.
    consumed: u64,
    /// The length of the automatic pong at the very end of `tail`, while nothing follows it and
    /// none of it has been written (0: none). A newer automatic pong replaces it.
    auto_pong: usize,
}

impl OutputQueue {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The buffer to append small writes to; call [`OutputQueue::appended`] with how many bytes.
    pub fn tail(&mut self) -> &mut BytesMut {
        &mut self.tail
    }

    /// Records that `n` bytes were appended to [`OutputQueue::tail`].
    pub fn appended(&mut self, n: usize) {
        self.len += n;
        self.auto_pong = 0;
    }

    pub fn push_slice(&mut self, bytes: &[u8]) {
        self.tail.extend_from_slice(bytes);
        self.len += bytes.len();
        self.auto_pong = 0;
    }

    /// The stream position just past everything queued so far.
    pub fn end_position(&self) -> u64 {
        self.consumed + self.len as u64
    }

    /// The stream position of the next byte to be written.
    pub fn start_position(&self) -> u64 {
        self.consumed
    }

    /// Removes the automatic pong marked by [`OutputQueue::mark_auto_pong`] if it is still the
    /// last thing queued and none of it has been written.
    pub fn drop_unsent_auto_pong(&mut self) {
        let n = core::mem::take(&mut self.auto_pong);
        if n > 0 && self.tail.len() >= n {
            self.tail.truncate(self.tail.len() - n);
            self.len -= n;
        }
    }

    /// Marks the last `n` bytes appended to the tail as an automatic pong.
    pub fn mark_auto_pong(&mut self, n: usize) {
        self.auto_pong = n;
    }

    /// Queues `bytes` as a chunk of its own, without copying.
    pub fn push_shared(&mut self, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        if !self.tail.is_empty() {
            self.chunks.push_back(self.tail.split().freeze());
        }
        self.auto_pong = 0;
        self.len += bytes.len();
        self.chunks.push_back(bytes);
    }

    /// The oldest contiguous run of waiting bytes (empty when nothing waits).
    pub fn first(&self) -> &[u8] {
        match self.chunks.front() {
            Some(chunk) => chunk,
            None => &self.tail,
        }
    }

    /// Fills `dst` with the waiting runs in order; returns how many were filled.
    pub fn chunks<'a>(&'a self, dst: &mut [&'a [u8]]) -> usize {
        let runs = self
            .chunks
            .iter()
            .map(|c| &c[..])
            .chain(core::iter::once(&self.tail[..]));
        let mut n = 0;
        for (slot, run) in dst.iter_mut().zip(runs.filter(|r| !r.is_empty())) {
            *slot = run;
            n += 1;
        }
        n
    }

    /// Drops the first `n` waiting bytes (they were written).
    pub fn consume(&mut self, mut n: usize) {
        n = n.min(self.len);
        self.len -= n;
        self.consumed += n as u64;
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
                    self.tail.advance(n);
                    n = 0;
                }
            }
        }
        if self.tail.is_empty() {
            // Reuse the tail's allocation from its start.
            self.tail.clear();
        }
    }

    /// Takes the oldest run as owned bytes.
    pub fn pop(&mut self) -> Option<Bytes> {
        let chunk = match self.chunks.pop_front() {
            Some(chunk) => chunk,
            None if !self.tail.is_empty() => {
                self.auto_pong = 0;
                self.tail.split().freeze()
            }
            None => return None,
        };
        self.len -= chunk.len();
        self.consumed += chunk.len() as u64;
        Some(chunk)
    }

    /// Drops everything waiting, and the memory it held.
    pub fn clear(&mut self) {
        self.chunks = VecDeque::new();
        self.tail = BytesMut::new();
        self.consumed += self.len as u64;
        self.len = 0;
        self.auto_pong = 0;
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
    fn only_an_untouched_auto_pong_at_the_end_is_replaced() {
        let mut q = OutputQueue::default();
        q.push_slice(b"data");
        q.push_slice(b"P1");
        q.mark_auto_pong(2);
        q.drop_unsent_auto_pong();
        q.push_slice(b"P2");
        q.mark_auto_pong(2);
        assert_eq!(q.first(), b"dataP2");
        // Something queued after it: it stays.
        q.push_slice(b"x");
        q.drop_unsent_auto_pong();
        assert_eq!(q.first(), b"dataP2x");
        // Partly written: it stays.
        let mut q = OutputQueue::default();
        q.push_slice(b"P1");
        q.mark_auto_pong(2);
        q.consume(1);
        q.drop_unsent_auto_pong();
        assert_eq!(q.first(), b"1");
        assert_eq!(q.end_position(), 2);
    }
}
