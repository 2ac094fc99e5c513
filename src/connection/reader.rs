//! Received bytes, and the progress of the frame and the message they belong to.
//!
//! [`Input`] owns the buffer; [`FrameProgress`] is the only code that consumes a frame's
//! payload from it (unmasking what arrived, taking, moving or discarding unmasked bytes), so a
//! frame's position, masking phase and unmasked length always move together.

use bytes::{Buf, Bytes, BytesMut};

use crate::frame::FrameHeader;
use crate::mask::{apply_mask, extend_masked};
use crate::message::MessageKind;
use crate::utf8::Utf8Validator;

/// The input buffer.
///
/// Bytes consumed by copying them out (fragments joined into a message, control frames, headers)
/// only move `start` on, and once nothing is buffered the whole buffer is reused from its
/// beginning: it stays initialised, so the next read into it needs no zeroing. Bytes handed out
/// without a copy are split off the front (that memory goes with them).
#[derive(Debug, Default)]
pub(super) struct Input {
    /// `buf[start..start + filled]` holds received bytes, starting at the current frame's
    /// header or at its not yet consumed payload; `buf[start + filled..]` is initialised space
    /// lent by `spare`; `buf[..start]` was consumed.
    buf: BytesMut,
    start: usize,
    filled: usize,
}

impl Input {
    /// Bytes received and not yet consumed.
    #[inline]
    pub fn len(&self) -> usize {
        self.filled
    }

    /// The received bytes not yet consumed.
    #[inline]
    pub fn received(&self) -> &[u8] {
        &self.buf[self.start..self.end()]
    }

    /// Where the received bytes end in `buf`.
    #[inline]
    fn end(&self) -> usize {
        self.start + self.filled
    }

    /// The received bytes from `from` to `to` (offsets from the first one).
    #[inline]
    fn range_mut(&mut self, from: usize, to: usize) -> &mut [u8] {
        &mut self.buf[self.start + from..self.start + to]
    }

    /// The received bytes from `from` to `to` (offsets from the first one).
    #[inline]
    fn range(&self, from: usize, to: usize) -> &[u8] {
        &self.buf[self.start + from..self.start + to]
    }

    /// Before `additional` more bytes go in after the received ones and do not fit in `buf`'s
    /// length: makes the consumed space before them usable. When at most `additional` bytes are
    /// buffered they are moved to the front (a copy no larger than the zeroing or copying of
    /// the new bytes that it saves); a larger partial frame stays where it is, and the consumed
    /// space is dropped so that growing the buffer can reclaim it.
    fn make_room(&mut self, additional: usize) {
        if self.start == 0 {
            return;
        }
        if self.filled <= additional {
            let end = self.end();
            self.buf.copy_within(self.start..end, 0);
            self.start = 0;
        } else {
            self.drop_consumed();
        }
    }

    /// Drops the consumed bytes before the received ones, before the front is split off.
    #[inline]
    fn drop_consumed(&mut self) {
        if self.start > 0 {
            self.buf.advance(self.start);
            self.start = 0;
        }
    }

    /// Records that the first `n` received bytes were consumed where they are.
    #[inline]
    fn consume_in_place(&mut self, n: usize) {
        self.filled -= n;
        // Nothing buffered: the whole (initialised) buffer is free again.
        self.start = if self.filled == 0 { 0 } else { self.start + n };
    }

    pub fn push(&mut self, data: &[u8]) {
        if self.end() + data.len() > self.buf.len() {
            self.make_room(data.len());
        }
        let (at, end) = (self.end(), self.end() + data.len());
        if end <= self.buf.len() {
            self.buf[at..end].copy_from_slice(data);
        } else {
            self.buf.truncate(at);
            self.buf.extend_from_slice(data);
        }
        self.filled += data.len();
    }

    pub fn spare(&mut self, min: usize) -> &mut [u8] {
        if self.buf.len() - self.end() < min {
            self.make_room(min);
            if self.buf.len() - self.end() < min {
                // Zero only the new part; lent space that was not filled stays initialised.
                self.buf.resize(self.end() + min, 0);
            }
        }
        let end = self.end();
        &mut self.buf[end..]
    }

    pub fn commit(&mut self, n: usize) {
        self.filled += n.min(self.buf.len() - self.end());
    }

    /// The spare space (at least `min` bytes, initialised) split off as an owned buffer.
    pub fn lend(&mut self, min: usize) -> BytesMut {
        self.spare(min);
        let end = self.end();
        self.buf.split_off(end)
    }

    /// Appends the first `n` bytes of `lent`: without a copy when it is the buffer `lend` gave
    /// and nothing was received meanwhile (the two halves are adjacent again).
    pub fn give_back(&mut self, mut lent: BytesMut, n: usize) {
        lent.truncate(n);
        self.buf.truncate(self.end());
        self.filled += lent.len();
        self.buf.unsplit(lent);
    }

    /// Frees the buffer when it holds no unprocessed bytes (a partial frame's state is relative
    /// to the first received byte and has nothing buffered then, so it stays valid).
    pub fn release_if_empty(&mut self) {
        if self.filled == 0 {
            self.buf = BytesMut::new();
            self.start = 0;
        }
    }

    /// Drops the first `n` received bytes (a frame header).
    #[inline]
    pub fn skip(&mut self, n: usize) {
        self.consume_in_place(n);
    }

    /// Unmasks, in place, the payload of the frame at the front of the input, whose header is
    /// `header_len` bytes and whose `len` payload bytes have all arrived; returns the payload.
    /// The frame's only other step is [`Input::take_whole_frame`]: no [`FrameProgress`] exists.
    #[inline]
    pub fn unmask_whole_frame(
        &mut self,
        header_len: usize,
        len: usize,
        mask: Option<[u8; 4]>,
    ) -> &[u8] {
        let payload = self.range_mut(header_len, header_len + len);
        if let Some(key) = mask
            && !payload.is_empty()
        {
            apply_mask(payload, key, 0);
        }
        payload
    }

    /// Takes the frame at the front of the input out of it (one split for header and payload)
    /// and returns its payload, without a copy.
    #[inline]
    pub fn take_whole_frame(&mut self, header_len: usize, len: usize) -> Bytes {
        let frame_len = header_len + len;
        self.drop_consumed();
        self.filled -= frame_len;
        let mut frame = self.buf.split_to(frame_len).freeze();
        frame.advance(header_len);
        frame
    }

    /// Before gathering a frame of `frame_len` bytes that is larger than the allocation: moves
    /// the bytes received so far (at most one read) to the front of the allocation now, rather
    /// than when a read reaches its end mid-frame (which would move the whole partial frame).
    /// Never allocates.
    pub fn make_room_for(&mut self, frame_len: usize) {
        if frame_len > self.buf.capacity() - self.start {
            self.drop_consumed();
            let _ = self.buf.try_reclaim(frame_len - self.buf.len());
        }
    }
}

/// A frame whose header was read: its payload is consumed from the front of the [`Input`].
#[derive(Debug)]
pub(super) struct FrameProgress {
    pub header: FrameHeader,
    /// Payload bytes not yet consumed; they start at the input's first byte.
    remaining: u64,
    /// Payload bytes of this frame already consumed (the masking phase of the input's start).
    offset: u64,
    /// The first `done` bytes of the input are already unmasked.
    done: usize,
    /// The first `returned` bytes of the input were already returned by `unmask_arrived` (they
    /// were validated or otherwise seen); `returned <= done` (bytes unmasked as they were
    /// copied in by `receive_unmasking` are returned by the next `unmask_arrived`).
    returned: usize,
}

impl FrameProgress {
    /// The frame with `header`, whose header was just consumed from the input.
    #[inline]
    pub fn new(header: FrameHeader) -> Self {
        FrameProgress {
            header,
            remaining: header.payload_len,
            offset: 0,
            done: 0,
            returned: 0,
        }
    }

    /// Unmasks the payload bytes that arrived since the last call and returns them (with
    /// those unmasked as they arrived, by [`FrameProgress::receive_unmasking`]).
    #[inline]
    pub fn unmask_arrived<'a>(&mut self, input: &'a mut Input) -> &'a [u8] {
        let available = (input.filled as u64).min(self.remaining) as usize;
        let masked = input.range_mut(self.done, available);
        if let Some(key) = self.header.mask
            && !masked.is_empty()
        {
            apply_mask(masked, key, (self.offset % 4) as usize + self.done);
        }
        self.done = available;
        let fresh = input.range(self.returned, available);
        self.returned = available;
        fresh
    }

    /// Receives `data` while this frame's payload is arriving and every buffered byte is
    /// already unmasked: the part of `data` that belongs to the payload is copied into the input
    /// and unmasked in the same pass (instead of a copy and then a second pass to unmask in
    /// place). Returns how many bytes of `data` it took; the caller buffers the rest as usual.
    #[inline]
    pub fn receive_unmasking(&mut self, input: &mut Input, data: &[u8]) -> usize {
        let Some(key) = self.header.mask else {
            return 0;
        };
        if self.done != input.filled {
            return 0;
        }
        let n = (self.remaining - self.done as u64).min(data.len() as u64) as usize;
        if n == 0 {
            return 0;
        }
        // Space lent by `spare` beyond the received bytes is dropped first; consumed space
        // before them is made usable when the allocation is too small.
        if input.end() + n > input.buf.capacity() {
            input.make_room(n);
        }
        input.buf.truncate(input.end());
        extend_masked(
            &mut input.buf,
            &data[..n],
            key,
            (self.offset % 4) as usize + self.done,
        );
        input.filled += n;
        self.done += n;
        n
    }

    /// How many unmasked payload bytes wait at the front of the input.
    #[inline]
    pub fn unmasked_len(&self) -> usize {
        self.done
    }

    /// The unmasked payload bytes at the front of the input.
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    pub fn unmasked<'a>(&self, input: &'a Input) -> &'a [u8] {
        input.range(0, self.done)
    }

    /// Every byte of the payload not yet consumed has arrived and is unmasked.
    #[inline]
    pub fn is_complete(&self) -> bool {
        self.done as u64 == self.remaining
    }

    /// The whole payload was consumed.
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    pub fn is_consumed(&self) -> bool {
        self.remaining == 0
    }

    /// Records that `n` unmasked bytes left the front of the input.
    #[inline]
    fn consumed(&mut self, n: usize) {
        debug_assert!(n <= self.done && n <= self.returned);
        self.done -= n;
        self.returned = self.returned.saturating_sub(n);
        self.remaining -= n as u64;
        self.offset += n as u64;
    }

    /// Takes the first `n` unmasked bytes out of the input, without a copy.
    #[inline]
    pub fn take(&mut self, input: &mut Input, n: usize) -> BytesMut {
        self.consumed(n);
        input.drop_consumed();
        input.filled -= n;
        input.buf.split_to(n)
    }

    /// Appends the first `n` unmasked bytes to `dst` and drops them from the input.
    pub fn move_into(&mut self, input: &mut Input, n: usize, dst: &mut BytesMut) {
        dst.extend_from_slice(input.range(0, n));
        self.discard(input, n);
    }

    /// Moves every payload byte that has arrived into `dst`, unmasking the masked ones in the
    /// same copy (one pass: no unmasking in place first).
    pub fn move_unmasking_into(&mut self, input: &mut Input, dst: &mut BytesMut) {
        let available = (input.filled as u64).min(self.remaining) as usize;
        dst.reserve(available);
        dst.extend_from_slice(input.range(0, self.done));
        let masked = input.range(self.done, available);
        match self.header.mask {
            Some(key) => extend_masked(dst, masked, key, (self.offset % 4) as usize + self.done),
            None => dst.extend_from_slice(masked),
        }
        self.done = available;
        self.returned = available;
        self.discard(input, available);
    }

    /// Drops the first `n` unmasked bytes from the input (they were used where they are).
    pub fn discard(&mut self, input: &mut Input, n: usize) {
        self.consumed(n);
        input.consume_in_place(n);
    }
}

/// A data message whose first frame was read.
#[derive(Debug)]
pub(super) struct MessageProgress {
    pub kind: MessageKind,
    /// The payload of the message's earlier frames (whole-message mode).
    pub data: BytesMut,
    /// Streaming text: the start of a code point split across frames, held for the next part.
    pub carry: BytesMut,
    /// RSV1 was set on the first frame: the payload is a DEFLATE stream (RFC 7692).
    pub compressed: bool,
    /// The inflated payload of a compressed message (the part not yet delivered, when streaming).
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    pub inflated: alloc::vec::Vec<u8>,
}

/// Received bytes and the progress of the frame and message they belong to.
#[derive(Debug, Default)]
pub(super) struct Reader {
    pub input: Input,
    pub frame: Option<FrameProgress>,
    pub message: Option<MessageProgress>,
    pub utf8: Utf8Validator,
    /// The size of the last message that arrived in several frames: a new one reserves that
    /// much (at most `max_message_size`) up front instead of growing by doubling, which copies
    /// the message again at every step.
    pub reassembly_hint: usize,
}

impl Reader {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn buffered(&self) -> usize {
        self.input.len()
    }

    /// Part of a frame or of a fragmented message has arrived, but not all of it.
    pub fn mid_message(&self) -> bool {
        self.frame.is_some() || self.message.is_some() || self.input.len() > 0
    }

    /// No byte is buffered, no frame is in progress and no inflated output waits: processing
    /// can produce no event until more input (or the end of input) arrives.
    #[inline]
    pub fn nothing_to_process(&self) -> bool {
        self.input.filled == 0
            && self.frame.is_none()
            && self.message.as_ref().is_none_or(|m| !m.compressed)
    }

    pub fn clear(&mut self) {
        self.input = Input::default();
        self.frame = None;
        self.message = None;
        self.utf8.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    #[test]
    fn space_consumed_by_copying_is_reused_without_growing() {
        let mut input = Input::default();
        input.spare(64).fill(0xa5);
        input.commit(64);
        let (base, capacity) = (input.received().as_ptr(), input.buf.capacity());
        input.skip(14);
        input.consume_in_place(50);
        assert_eq!(input.len(), 0);
        // Empty again: lent from the buffer's start, nothing reallocated, and not zeroed again
        // (the space still holds the bytes read into it).
        let spare = input.spare(64);
        assert_eq!((spare.as_ptr(), spare.len()), (base, 64));
        assert!(
            spare.iter().all(|&b| b == 0xa5),
            "the reused space was zeroed"
        );
        assert_eq!(input.buf.capacity(), capacity);
    }

    #[test]
    fn a_few_buffered_bytes_move_to_the_front_when_room_runs_out() {
        let mut input = Input::default();
        input.spare(64);
        input.commit(64);
        let base = input.received().as_ptr();
        input.buf[60..].copy_from_slice(b"tail");
        input.skip(60);
        let spare_len = input.spare(32).len();
        assert_eq!(input.received(), b"tail");
        assert_eq!(input.received().as_ptr(), base);
        assert_eq!(spare_len, 64 - 4);
    }

    #[test]
    fn a_large_partial_frame_is_not_moved_to_make_room() {
        // Capacity for the growth below, so that whether a reallocation moves the bytes (it
        // always does under Miri) plays no part: only the buffer's own choice is observed.
        let mut input = Input {
            buf: BytesMut::with_capacity(8192),
            ..Input::default()
        };
        input.spare(4096);
        input.commit(4096);
        input.skip(10);
        let payload = input.received().as_ptr();
        // 4086 buffered bytes, more than the space asked for: they stay where they are (the
        // consumed header is dropped instead), so no read copies the partial frame again.
        input.spare(1024);
        assert_eq!(input.received().as_ptr(), payload);
        assert_eq!(input.len(), 4086);
    }

    #[test]
    fn pushed_bytes_follow_the_buffered_ones_whichever_way_room_is_made() {
        for (buffered, pushed) in [(3usize, 10usize), (40, 10), (0, 100)] {
            let mut input = Input::default();
            input.push(&[7; 64]);
            input.skip(64 - buffered);
            let data: Vec<u8> = (0..pushed as u8).collect();
            input.push(&data);
            let mut expected = vec![7; buffered];
            expected.extend_from_slice(&data);
            assert_eq!(
                input.received(),
                &expected[..],
                "{buffered} buffered, {pushed} pushed"
            );
        }
    }
}
