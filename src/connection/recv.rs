//! The receiving half: input buffering, frame parsing, message assembly and events.

use alloc::string::ToString;

use bytes::{Bytes, BytesMut};

use super::Connection;
use super::reader::{FrameProgress, MessageProgress};
use crate::close::{CloseCode, CloseFrame};
use crate::config::{CloseReply, Role};
use crate::error::{Error, ProtocolError};
use crate::frame::{FrameHeader, OpCode, RSV1};
use crate::message::{Event, MessageKind, Utf8Bytes};
use crate::utf8;

/// Streaming mode: the most inflated output delivered in one part.
#[cfg(feature = "deflate")]
const STREAM_INFLATE_CHUNK: usize = 64 * 1024;

/// What one parsing step produced.
enum Step {
    Event(Event),
    Continue,
    NeedMore,
}

impl Connection {
    /// Frees the input buffer if it holds no unprocessed bytes, and the output buffer if nothing
    /// waits to be written, so that an idle connection holds no buffers (a message in progress
    /// keeps what it has gathered). Call it when the transport has nothing to read; the drivers
    /// do. The next [`read_buf`](Self::read_buf) or [`receive`](Self::receive) allocates again,
    /// sized to what arrives.
    pub fn shrink_buffers(&mut self) {
        self.reader.input.release_if_empty();
        self.out.release_if_empty();
    }

    /// Processes buffered input and returns the next event, or `Ok(None)` when more input is
    /// needed (or the connection is closed).
    ///
    /// An `Err` is returned once, when the connection fails: for a protocol violation the close
    /// frame with the right code is already queued. Every event the peer's bytes produced
    /// before the violation has been returned first; after the error, only `Ok(None)` follows.
    pub fn poll_event(&mut self) -> Result<Option<Event>, Error> {
        if !self.closing.accepts_input() {
            return match self.closing.take_error() {
                Some(error) => Err(error),
                None => Ok(None),
            };
        }
        if self.reader.nothing_to_process() && !self.closing.eof() {
            // The common call after the last event: nothing buffered can make progress.
            return Ok(None);
        }
        loop {
            match self.step() {
                Ok(Step::Event(event)) => return Ok(Some(event)),
                Ok(Step::Continue) => {}
                Ok(Step::NeedMore) if self.closing.eof() => {
                    // The transport ended before the close handshake did.
                    crate::trace::ws_debug!(close_code = 1006u16, "unexpected end of input");
                    self.abort(Error::UnexpectedEof);
                    // Returns that error (and marks it returned).
                    return self.poll_event();
                }
                Ok(Step::NeedMore) => return Ok(None),
                Err(error) => return Err(self.fail(error)),
            }
        }
    }

    /// Fails the connection for a protocol violation: queues the close frame, stops reading.
    fn fail(&mut self, error: ProtocolError) -> Error {
        crate::trace::ws_debug!(error = %error, close_code = error.close_code().0, "protocol error");
        if self.closing.is_open() {
            let mut reason = error.to_string();
            reason.truncate(crate::close::MAX_CLOSE_REASON);
            self.write_close(Some((error.close_code(), &reason)), false);
        }
        self.terminate(None);
        Error::Protocol(error)
    }

    #[inline(always)]
    fn step(&mut self) -> Result<Step, ProtocolError> {
        if self.reader.frame.is_none() {
            let Some((header, header_len)) = FrameHeader::parse(self.reader.input.received())?
            else {
                return Ok(Step::NeedMore);
            };
            crate::trace::ws_trace!(opcode = ?header.opcode, fin = header.fin, rsv = header.rsv, len = header.payload_len, masked = header.mask.is_some(), "frame received");
            self.check_header(&header)?;
            let r = &mut self.reader;
            let frame_len = header.payload_len as usize; // <= max_frame_size
            let whole_in_buffer = header.fin
                && matches!(header.opcode, OpCode::Text | OpCode::Binary)
                && !self.config.stream_messages;
            if whole_in_buffer && header.rsv == 0 && r.input.len() - header_len >= frame_len {
                // The common case, a small message whose frame has fully arrived: the same
                // steps as below, without recording frame or message progress, and the header
                // and payload split off the buffer together.
                let payload = r
                    .input
                    .unmask_whole_frame(header_len, frame_len, header.mask);
                let kind = if header.opcode == OpCode::Text {
                    utf8::validate(payload).map_err(|_| ProtocolError::InvalidUtf8)?;
                    MessageKind::Text
                } else {
                    MessageKind::Binary
                };
                let payload = r.input.take_whole_frame(header_len, frame_len);
                return Ok(Step::Event(data_event(kind, payload)));
            }
            r.input.skip(header_len);
            let frame = FrameProgress::new(header);
            // A message in one frame is handed out from the buffer, so the whole frame must
            // gather there.
            if whole_in_buffer {
                r.input.make_room_for(frame_len);
            }
            r.frame = Some(frame);
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
        let r = &mut self.reader;
        let Some(frame) = r.frame.as_mut() else {
            return Ok(Step::NeedMore);
        };
        if frame.header.opcode.is_control() {
            // Control payloads are at most 125 bytes: wait for the whole frame.
            frame.unmask_arrived(&mut r.input);
            if !frame.is_complete() {
                return Ok(Step::NeedMore);
            }
            let opcode = frame.header.opcode;
            let payload = frame.take(&mut r.input, frame.unmasked_len()).freeze();
            r.frame = None;
            return self.on_control(opcode, payload);
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
        if !self.config.stream_messages && (!frame.header.fin || !message.data.is_empty()) {
            // Part of a message of several frames: its bytes are copied into the message anyway,
            // so move them now, unmasking as they are copied. The read buffer then never holds
            // much of a partial frame, and making room in it for the next read moves (almost)
            // nothing.
            let start = message.data.len();
            frame.move_unmasking_into(&mut r.input, &mut message.data);
            if message.kind == MessageKind::Text && message.data.len() > start {
                r.utf8
                    .feed(&message.data[start..])
                    .map_err(|_| ProtocolError::InvalidUtf8)?;
            }
            if !frame.is_consumed() {
                return Ok(Step::NeedMore);
            }
            let fin = frame.header.fin;
            r.frame = None;
            if !fin {
                return Ok(Step::Continue);
            }
            if message.kind == MessageKind::Text {
                r.utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
            }
            let Some(message) = r.message.take() else {
                return Ok(Step::Continue);
            };
            r.reassembly_hint = message.data.len();
            return Ok(Step::Event(data_event(message.kind, message.data.freeze())));
        }
        let fresh = frame.unmask_arrived(&mut r.input);
        if message.kind == MessageKind::Text && !fresh.is_empty() {
            r.utf8.feed(fresh).map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        let frame_complete = frame.is_complete();
        let message_complete = frame_complete && frame.header.fin;
        if message_complete && message.kind == MessageKind::Text {
            r.utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        if self.config.stream_messages {
            return Ok(self.stream_step(frame_complete, message_complete));
        }
        if !frame_complete {
            return Ok(Step::NeedMore);
        }
        // A message in one frame (the several-frame case went above): hand out the buffer
        // itself, no copy.
        let len = frame.unmasked_len();
        let kind = message.kind;
        let payload = frame.take(&mut r.input, len).freeze();
        r.frame = None;
        r.message = None;
        Ok(Step::Event(data_event(kind, payload)))
    }

    /// Streaming delivery: hands out the unmasked, validated bytes of the current frame.
    fn stream_step(&mut self, frame_complete: bool, message_complete: bool) -> Step {
        let r = &mut self.reader;
        let (Some(frame), Some(message)) = (r.frame.as_mut(), r.message.as_mut()) else {
            return Step::NeedMore;
        };
        let done = frame.unmasked_len();
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
            data = Some(if message.carry.is_empty() {
                taken = ready;
                frame.take(&mut r.input, taken).freeze()
            } else {
                // A code point was split across frames: join the held bytes with this part.
                taken = ready - message.carry.len();
                frame.move_into(&mut r.input, taken, &mut message.carry);
                message.carry.split().freeze()
            });
        }
        if frame_complete && !message_complete && taken < done {
            // The frame ends inside a code point: keep its start for the next frame.
            frame.move_into(&mut r.input, done - taken, &mut message.carry);
        }
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
        frame.unmask_arrived(&mut r.input);
        let before = message.inflated.len();
        let (used, mut pending) = codec
            .inflate(frame.unmasked(&r.input), &mut message.inflated, limit)
            .map_err(|_| ProtocolError::InvalidCompressedData)?;
        frame.discard(&mut r.input, used);
        let frame_complete = frame.is_consumed() && !pending;
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
                if self.config.auto_pong && self.closing.is_open() {
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
                    initiator = if self.closing.is_open() {
                        "peer"
                    } else {
                        "local"
                    },
                    "close received"
                );
                if self.closing.is_open() {
                    let reply = frame.as_ref().map(|f| match self.config.close_reply {
                        CloseReply::EchoCode => (f.code, ""),
                        CloseReply::Normal => (CloseCode::NORMAL, ""),
                    });
                    self.write_close(reply, true);
                }
                self.closing.on_close_received();
                self.stop();
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
