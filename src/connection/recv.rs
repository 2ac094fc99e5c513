//! The receiving half: input buffering, frame parsing, message assembly and events.

use alloc::string::ToString;

use bytes::{Buf, Bytes, BytesMut};

use super::{Connection, State};
use crate::close::{CloseCode, CloseFrame};
use crate::config::{CloseReply, Role};
use crate::error::{Error, ProtocolError};
use crate::frame::{FrameHeader, OpCode, RSV1};
use crate::mask::apply_mask;
use crate::message::{Event, MessageKind, Utf8Bytes};
use crate::utf8::{self, Utf8Validator};

/// Received bytes and the progress of the frame and message they belong to.
#[derive(Debug, Default)]
pub(crate) struct Reader {
    /// `buf[..filled]` holds received bytes, starting at the current frame's header or at its
    /// not yet consumed payload; `buf[filled..]` is zeroed space lent by `spare`.
    buf: BytesMut,
    filled: usize,
    frame: Option<FrameProgress>,
    message: Option<MessageProgress>,
    utf8: Utf8Validator,
    /// The size of the last message that arrived in several frames: a new one reserves that
    /// much (at most `max_message_size`) up front instead of growing by doubling, which copies
    /// the message again at every step.
    reassembly_hint: usize,
}

/// A frame whose header was read.
#[derive(Debug)]
struct FrameProgress {
    header: FrameHeader,
    /// Payload bytes not yet taken out of the buffer; they start at `buf[0]`.
    remaining: u64,
    /// Payload bytes of this frame already taken out (the masking phase of `buf[0]`).
    offset: u64,
    /// `buf[..done]` is already unmasked (and, for text, validated).
    done: usize,
}

/// A data message whose first frame was read.
#[derive(Debug)]
struct MessageProgress {
    kind: MessageKind,
    /// The payload of the message's earlier frames (whole-message mode).
    data: BytesMut,
    /// Streaming text: the start of a code point split across frames, held for the next part.
    carry: BytesMut,
    /// RSV1 was set on the first frame: the payload is a DEFLATE stream (RFC 7692).
    compressed: bool,
    /// The inflated payload of a compressed message (the part not yet delivered, when streaming).
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    inflated: alloc::vec::Vec<u8>,
}

/// Streaming mode: the most inflated output delivered in one part.
#[cfg(feature = "deflate")]
const STREAM_INFLATE_CHUNK: usize = 64 * 1024;

/// What one parsing step produced.
enum Step {
    Event(Event),
    Continue,
    NeedMore,
}

impl Reader {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn buffered(&self) -> usize {
        self.filled
    }

    /// Part of a frame or of a fragmented message has arrived, but not all of it.
    pub fn mid_message(&self) -> bool {
        self.frame.is_some() || self.message.is_some() || self.filled > 0
    }

    pub fn push(&mut self, data: &[u8]) {
        let end = self.filled + data.len();
        if end <= self.buf.len() {
            self.buf[self.filled..end].copy_from_slice(data);
        } else {
            self.buf.truncate(self.filled);
            self.buf.extend_from_slice(data);
        }
        self.filled = end;
    }

    pub fn spare(&mut self, min: usize) -> &mut [u8] {
        if self.buf.len() - self.filled < min {
            // Zero only the new part; lent space that was not filled stays initialised.
            self.buf.resize(self.filled + min, 0);
        }
        &mut self.buf[self.filled..]
    }

    pub fn commit(&mut self, n: usize) {
        self.filled += n.min(self.buf.len() - self.filled);
    }

    /// The spare space (at least `min` bytes, initialised) split off as an owned buffer.
    pub fn lend(&mut self, min: usize) -> BytesMut {
        self.spare(min);
        self.buf.split_off(self.filled)
    }

    /// Appends the first `n` bytes of `lent`: without a copy when it is the buffer `lend` gave
    /// and nothing was received meanwhile (the two halves are adjacent again).
    pub fn give_back(&mut self, mut lent: BytesMut, n: usize) {
        lent.truncate(n);
        self.buf.truncate(self.filled);
        self.filled += lent.len();
        self.buf.unsplit(lent);
    }

    /// Frees the read buffer when it holds no unprocessed bytes (a partial frame's state is
    /// relative to `buf[0]` and has nothing buffered then, so it stays valid).
    pub fn release_if_empty(&mut self) {
        if self.filled == 0 {
            self.buf = BytesMut::new();
        }
    }

    pub fn clear(&mut self) {
        self.buf = BytesMut::new();
        self.filled = 0;
        self.frame = None;
        self.message = None;
        self.utf8.reset();
    }

    /// Removes the first `n` buffered bytes and returns them.
    fn take(&mut self, n: usize) -> BytesMut {
        self.filled -= n;
        self.buf.split_to(n)
    }

    fn skip(&mut self, n: usize) {
        self.filled -= n;
        self.buf.advance(n);
    }
}

impl Connection {
    /// Frees the input buffer if it holds no unprocessed bytes, and the output buffer if nothing
    /// waits to be written, so that an idle connection holds no buffers (a message in progress
    /// keeps what it has gathered). Call it when the transport has nothing to read; the drivers
    /// do. The next [`read_buf`](Self::read_buf) or [`receive`](Self::receive) allocates again,
    /// sized to what arrives.
    pub fn shrink_buffers(&mut self) {
        self.reader.release_if_empty();
        self.out.release_if_empty();
    }

    /// Processes buffered input and returns the next event, or `Ok(None)` when more input is
    /// needed (or the connection is closed).
    ///
    /// An `Err` is returned once, when the connection fails: for a protocol violation the close
    /// frame with the right code is already queued. Every event the peer's bytes produced
    /// before the violation has been returned first; after the error, only `Ok(None)` follows.
    pub fn poll_event(&mut self) -> Result<Option<Event>, Error> {
        if let Some(error) = self.pending_error.take() {
            return Err(error);
        }
        if self.failed || self.close_received {
            return Ok(None);
        }
        loop {
            match self.step() {
                Ok(Step::Event(event)) => return Ok(Some(event)),
                Ok(Step::Continue) => {}
                Ok(Step::NeedMore) if self.eof => {
                    // The transport ended before the close handshake did.
                    crate::trace::ws_debug!(close_code = 1006u16, "unexpected end of input");
                    self.terminate();
                    self.out.clear();
                    return Err(Error::UnexpectedEof);
                }
                Ok(Step::NeedMore) => return Ok(None),
                Err(error) => return Err(self.fail(error)),
            }
        }
    }

    /// Fails the connection for a protocol violation: queues the close frame, stops reading.
    fn fail(&mut self, error: ProtocolError) -> Error {
        crate::trace::ws_debug!(error = %error, close_code = error.close_code().0, "protocol error");
        if !self.close_sent {
            let mut reason = error.to_string();
            reason.truncate(crate::close::MAX_CLOSE_REASON);
            self.write_close(Some((error.close_code(), &reason)));
        }
        self.terminate();
        Error::Protocol(error)
    }

    fn step(&mut self) -> Result<Step, ProtocolError> {
        if self.reader.frame.is_none() {
            let r = &self.reader;
            let Some((header, header_len)) = FrameHeader::parse(&r.buf[..r.filled])? else {
                return Ok(Step::NeedMore);
            };
            crate::trace::ws_trace!(opcode = ?header.opcode, fin = header.fin, rsv = header.rsv, len = header.payload_len, masked = header.mask.is_some(), "frame received");
            self.check_header(&header)?;
            let r = &mut self.reader;
            let frame_len = header.payload_len as usize; // <= max_frame_size
            let whole_in_buffer = header.fin
                && matches!(header.opcode, OpCode::Text | OpCode::Binary)
                && !self.config.stream_messages;
            if whole_in_buffer && header.rsv == 0 && r.filled - header_len >= frame_len {
                // The common case, a small message whose frame has fully arrived: unmask,
                // validate and hand out its bytes without tracking frame or message progress.
                r.skip(header_len);
                let mut payload = r.take(frame_len);
                if let Some(key) = header.mask {
                    apply_mask(&mut payload, key, 0);
                }
                let kind = if header.opcode == OpCode::Text {
                    utf8::validate(&payload).map_err(|_| ProtocolError::InvalidUtf8)?;
                    MessageKind::Text
                } else {
                    MessageKind::Binary
                };
                return Ok(Step::Event(data_event(kind, payload.freeze())));
            }
            r.skip(header_len);
            // A message in one frame is handed out from the buffer, so the whole frame must
            // gather there. When it is larger than the space left after the buffer's position,
            // move the bytes received so far (at most one read) to the front of the allocation
            // now, rather than when a read reaches the end of the allocation mid-frame (which
            // would move the whole partial frame). Never allocates.
            if whole_in_buffer && frame_len > r.buf.capacity() {
                let _ = r.buf.try_reclaim(frame_len - r.buf.len());
            }
            r.frame = Some(FrameProgress {
                header,
                remaining: header.payload_len,
                offset: 0,
                done: 0,
            });
            let kind = match header.opcode {
                OpCode::Text => Some(MessageKind::Text),
                OpCode::Binary => Some(MessageKind::Binary),
                _ => None,
            };
            if let Some(kind) = kind {
                // Whole-message reassembly of a message in several frames: size it from the
                // first frame and the last such message (the header check bounded both).
                let reassembles =
                    !header.fin && !self.config.stream_messages && header.rsv & RSV1 == 0;
                let data = if reassembles {
                    let hint = r.reassembly_hint.max(frame_len);
                    BytesMut::with_capacity(hint.min(self.config.max_message_size))
                } else {
                    BytesMut::new()
                };
                r.message = Some(MessageProgress {
                    kind,
                    data,
                    carry: BytesMut::new(),
                    compressed: header.rsv & RSV1 != 0,
                    inflated: alloc::vec::Vec::new(),
                });
                r.utf8.reset();
            }
        }
        let Some(frame) = &self.reader.frame else {
            return Ok(Step::NeedMore);
        };
        if frame.header.opcode.is_control() {
            // Control payloads are at most 125 bytes: wait for the whole frame.
            let len = frame.remaining as usize;
            let mask = frame.header.mask;
            let opcode = frame.header.opcode;
            if self.reader.filled < len {
                return Ok(Step::NeedMore);
            }
            let mut payload = self.reader.take(len);
            if let Some(key) = mask {
                apply_mask(&mut payload, key, 0);
            }
            self.reader.frame = None;
            return self.on_control(opcode, payload.freeze());
        }
        self.data_step()
    }

    /// Checks a header against the role, the negotiated extensions, the message in progress and
    /// the limits, before any of its payload is buffered.
    fn check_header(&self, header: &FrameHeader) -> Result<(), ProtocolError> {
        match (self.role, header.mask) {
            (Role::Server, None) => return Err(ProtocolError::UnmaskedFrame),
            (Role::Client, Some(_)) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        // RSV1 marks a compressed message on its first frame when permessage-deflate is on
        // (RFC 7692 §6); every other reserved bit, and RSV1 anywhere else, is an error (§5.2).
        let first_data_frame = matches!(header.opcode, OpCode::Text | OpCode::Binary);
        let allowed = if self.deflate_enabled() && first_data_frame {
            RSV1
        } else {
            0
        };
        if header.rsv & !allowed != 0 {
            return Err(ProtocolError::ReservedBits(header.rsv));
        }
        if header.opcode.is_control() {
            if !header.fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
            if header.payload_len > 125 {
                return Err(ProtocolError::ControlFrameTooLong(header.payload_len));
            }
            return Ok(());
        }
        let in_progress = self.reader.message.as_ref();
        match (header.opcode, in_progress) {
            (OpCode::Continuation, None) => return Err(ProtocolError::UnexpectedContinuation),
            (OpCode::Text | OpCode::Binary, Some(_)) => {
                return Err(ProtocolError::ExpectedContinuation);
            }
            _ => {}
        }
        let limit = self.config.max_frame_size;
        if header.payload_len > limit as u64 {
            return Err(ProtocolError::FrameTooLarge {
                size: header.payload_len,
                limit,
            });
        }
        if !self.config.stream_messages {
            let so_far = in_progress.map_or(0, |m| m.data.len()) as u64;
            let limit = self.config.max_message_size;
            if so_far + header.payload_len > limit as u64 {
                return Err(ProtocolError::MessageTooLarge { limit });
            }
        }
        Ok(())
    }

    /// Unmasks and validates whatever part of the current data frame has arrived, then delivers
    /// it (streaming) or, once the frame is complete, adds it to its message.
    fn data_step(&mut self) -> Result<Step, ProtocolError> {
        if self.reader.message.as_ref().is_some_and(|m| m.compressed) {
            return self.compressed_step();
        }
        let r = &mut self.reader;
        let (Some(frame), Some(message)) = (r.frame.as_mut(), r.message.as_mut()) else {
            return Ok(Step::NeedMore);
        };
        let available = (r.filled as u64).min(frame.remaining) as usize;
        if available > frame.done {
            let fresh = &mut r.buf[frame.done..available];
            if let Some(key) = frame.header.mask {
                apply_mask(fresh, key, (frame.offset % 4) as usize + frame.done);
            }
            if message.kind == MessageKind::Text {
                r.utf8.feed(fresh).map_err(|_| ProtocolError::InvalidUtf8)?;
            }
            frame.done = available;
        }
        let frame_complete = frame.done as u64 == frame.remaining;
        let message_complete = frame_complete && frame.header.fin;
        if message_complete && message.kind == MessageKind::Text {
            r.utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        if self.config.stream_messages {
            return Ok(self.stream_step(frame_complete, message_complete));
        }
        if !frame_complete {
            if !frame.header.fin || !message.data.is_empty() {
                // Part of a message of several frames: its bytes are copied into the message
                // anyway, so move them now. The read buffer then never holds much of a partial
                // frame, and making room in it for the next read moves (almost) nothing.
                let done = frame.done;
                message.data.extend_from_slice(&r.buf[..done]);
                r.filled -= done;
                r.buf.advance(done);
                frame.remaining -= done as u64;
                frame.offset += done as u64;
                frame.done = 0;
            }
            return Ok(Step::NeedMore);
        }
        let len = frame.done;
        r.frame = None;
        if message_complete && message.data.is_empty() {
            // The common case, a message in one frame: hand out the buffer itself, no copy.
            let kind = message.kind;
            r.message = None;
            let payload = r.take(len).freeze();
            return Ok(Step::Event(data_event(kind, payload)));
        }
        message.data.extend_from_slice(&r.buf[..len]);
        r.skip(len);
        if !message_complete {
            return Ok(Step::Continue);
        }
        let Some(message) = r.message.take() else {
            return Ok(Step::Continue);
        };
        r.reassembly_hint = message.data.len();
        Ok(Step::Event(data_event(message.kind, message.data.freeze())))
    }

    /// Streaming delivery: hands out the unmasked, validated bytes of the current frame.
    fn stream_step(&mut self, frame_complete: bool, message_complete: bool) -> Step {
        let r = &mut self.reader;
        let (Some(frame), Some(message)) = (r.frame.as_mut(), r.message.as_mut()) else {
            return Step::NeedMore;
        };
        let done = frame.done;
        // Text: hold back an unfinished code point so that every part is valid UTF-8 alone.
        let hold = if message.kind == MessageKind::Text {
            r.utf8.pending()
        } else {
            0
        };
        let ready = message.carry.len() + done - hold;
        let mut taken = 0;
        let mut data = None;
        if ready > 0 {
            if message.carry.is_empty() {
                taken = ready;
            } else {
                // A code point was split across frames: join the held bytes with this part.
                taken = ready - message.carry.len();
                message.carry.extend_from_slice(&r.buf[..taken]);
            }
            data = Some(if message.carry.is_empty() {
                r.filled -= taken;
                r.buf.split_to(taken).freeze()
            } else {
                r.filled -= taken;
                r.buf.advance(taken);
                message.carry.split().freeze()
            });
        }
        if frame_complete && !message_complete && taken < done {
            // The frame ends inside a code point: keep its start for the next frame.
            message.carry.extend_from_slice(&r.buf[..done - taken]);
            r.filled -= done - taken;
            r.buf.advance(done - taken);
            taken = done;
        }
        frame.done -= taken;
        frame.remaining -= taken as u64;
        frame.offset += taken as u64;
        let kind = message.kind;
        if frame_complete {
            r.frame = None;
            if message_complete {
                r.message = None;
            }
        }
        match (data, message_complete) {
            (Some(data), fin) => Step::Event(fragment_event(kind, data, fin)),
            (None, true) => Step::Event(fragment_event(kind, Bytes::new(), true)),
            (None, false) if frame_complete => Step::Continue,
            (None, false) => Step::NeedMore,
        }
    }

    /// A frame of a compressed message: unmask what arrived, inflate it (bounded), validate the
    /// inflated text, and deliver the message when its last frame is done.
    #[cfg(feature = "deflate")]
    fn compressed_step(&mut self) -> Result<Step, ProtocolError> {
        let streaming = self.config.stream_messages;
        // Whole messages: allow one byte over the limit to tell "exactly at" from "over".
        let max_message = self.config.max_message_size;
        let limit = if streaming {
            STREAM_INFLATE_CHUNK
        } else {
            max_message.saturating_add(1)
        };
        let r = &mut self.reader;
        let (Some(frame), Some(message), Some(codec)) = (
            r.frame.as_mut(),
            r.message.as_mut(),
            self.deflate.as_deref_mut(),
        ) else {
            return Ok(Step::NeedMore);
        };
        let available = (r.filled as u64).min(frame.remaining) as usize;
        if available > frame.done {
            if let Some(key) = frame.header.mask {
                apply_mask(
                    &mut r.buf[frame.done..available],
                    key,
                    (frame.offset % 4) as usize + frame.done,
                );
            }
            frame.done = available;
        }
        let before = message.inflated.len();
        let (used, mut pending) = codec
            .inflate(&r.buf[..frame.done], &mut message.inflated, limit)
            .map_err(|_| ProtocolError::InvalidCompressedData)?;
        r.filled -= used;
        r.buf.advance(used);
        frame.done -= used;
        frame.remaining -= used as u64;
        frame.offset += used as u64;
        let frame_complete = frame.remaining == 0 && !pending;
        let mut message_complete = false;
        if frame_complete && frame.header.fin {
            let trailer_limit = if streaming { usize::MAX } else { limit };
            pending = codec
                .finish_inflate(&mut message.inflated, trailer_limit)
                .map_err(|_| ProtocolError::InvalidCompressedData)?;
            message_complete = true;
        }
        if message.kind == MessageKind::Text {
            r.utf8
                .feed(&message.inflated[before..])
                .map_err(|_| ProtocolError::InvalidUtf8)?;
            if message_complete {
                r.utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
            }
        }
        if !streaming && (pending || message.inflated.len() > max_message) {
            return Err(ProtocolError::MessageTooLarge { limit: max_message });
        }
        let kind = message.kind;
        let progressed = used > 0 || message.inflated.len() > before;
        if frame_complete {
            r.frame = None;
        }
        if streaming {
            let hold = if kind == MessageKind::Text {
                r.utf8.pending()
            } else {
                0
            };
            let ready = message.inflated.len() - hold;
            if ready > 0 || message_complete {
                let held = message.inflated.split_off(ready);
                let data = core::mem::replace(&mut message.inflated, held);
                if message_complete {
                    r.message = None;
                }
                return Ok(Step::Event(fragment_event(
                    kind,
                    Bytes::from(data),
                    message_complete,
                )));
            }
        } else if message_complete {
            let data = core::mem::take(&mut message.inflated);
            r.message = None;
            return Ok(Step::Event(data_event(kind, Bytes::from(data))));
        }
        Ok(if frame_complete || (pending && progressed) {
            Step::Continue
        } else {
            Step::NeedMore
        })
    }

    #[cfg(not(feature = "deflate"))]
    fn compressed_step(&mut self) -> Result<Step, ProtocolError> {
        // RSV1 is refused at the header without the feature, so no message is compressed.
        Ok(Step::NeedMore)
    }

    fn on_control(&mut self, opcode: OpCode, payload: Bytes) -> Result<Step, ProtocolError> {
        match opcode {
            OpCode::Ping => {
                if self.config.auto_pong && !self.close_sent {
                    // Unwritten automatic pongs are bounded: past a small budget the newest
                    // replaces the last (RFC 6455 §5.5.3 allows answering only the most recent
                    // ping), so a ping flood from a peer that does not read costs O(1) output.
                    let frame_len = payload.len() + if self.role == Role::Client { 6 } else { 2 };
                    let run = self.out.make_room_for_auto_pong(frame_len);
                    let before = self.out.len();
                    self.write_control(OpCode::Pong, &payload);
                    self.out.mark_auto_pong(self.out.len() - before, run);
                }
                Ok(Step::Event(Event::Ping(payload)))
            }
            OpCode::Pong => {
                self.timers.on_pong();
                Ok(Step::Event(Event::Pong(payload)))
            }
            _ => {
                let frame = parse_close_payload(payload)?;
                crate::trace::ws_debug!(
                    code = frame.as_ref().map(|f| f.code.0),
                    reason = frame.as_ref().map(|f| f.reason.as_str()),
                    initiator = if self.close_sent { "local" } else { "peer" },
                    "close received"
                );
                self.close_received = true;
                if !self.close_sent {
                    let reply = frame.as_ref().map(|f| match self.config.close_reply {
                        CloseReply::EchoCode => (f.code, ""),
                        CloseReply::Normal => (CloseCode::NORMAL, ""),
                    });
                    self.write_close(reply);
                }
                self.state = State::Closed;
                self.streaming_send = None;
                self.reader.clear();
                Ok(Step::Event(Event::Close(frame)))
            }
        }
    }
}

fn data_event(kind: MessageKind, payload: Bytes) -> Event {
    match kind {
        MessageKind::Text => Event::Text(Utf8Bytes::from_bytes_unchecked(payload)),
        MessageKind::Binary => Event::Binary(payload),
    }
}

fn fragment_event(kind: MessageKind, data: Bytes, fin: bool) -> Event {
    match kind {
        MessageKind::Text => Event::TextFragment {
            data: Utf8Bytes::from_bytes_unchecked(data),
            fin,
        },
        MessageKind::Binary => Event::BinaryFragment { data, fin },
    }
}

/// Parses a close frame's payload (§5.5.1): empty, or a valid code and a UTF-8 reason.
fn parse_close_payload(payload: Bytes) -> Result<Option<CloseFrame>, ProtocolError> {
    match payload.len() {
        0 => Ok(None),
        1 => Err(ProtocolError::CloseFrameTooShort),
        _ => {
            let code = CloseCode(u16::from_be_bytes([payload[0], payload[1]]));
            if !code.is_sendable() {
                return Err(ProtocolError::InvalidCloseCode(code.0));
            }
            let reason = payload.slice(2..);
            utf8::validate(&reason).map_err(|_| ProtocolError::InvalidCloseReason)?;
            Ok(Some(CloseFrame {
                code,
                reason: Utf8Bytes::from_bytes_unchecked(reason),
            }))
        }
    }
}
