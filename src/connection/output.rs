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
    }

    pub fn push_slice(&mut self, bytes: &[u8]) {
        self.tail.extend_from_slice(bytes);
        self.len += bytes.len();
    }

    /// Queues `bytes` as a chunk of its own, without copying.
    pub fn push_shared(&mut self, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        if !self.tail.is_empty() {
            self.chunks.push_back(self.tail.split().freeze());
        }
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
            None if !self.tail.is_empty() => self.tail.split().freeze(),
            None => return None,
        };
        self.len -= chunk.len();
        Some(chunk)
    }

    /// Frees the buffers when nothing waits.
    pub fn release_if_empty(&mut self) {
        if self.len == 0 {
            self.chunks = VecDeque::new();
            self.tail = BytesMut::new();
        }
    }

    pub fn clear(&mut self) {
        self.chunks.clear();
        self.tail.clear();
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
    }
}
