//! The sending half: frame encoding, masking, automatic fragmentation, streaming and closing.

use bytes::Bytes;

use super::{Connection, StreamingSend};
use crate::close::{CloseCode, MAX_CLOSE_REASON};
use crate::config::Role;
use crate::error::SendError;
use crate::frame::{FrameHeader, MAX_HEADER_LEN, OpCode, RSV1};
use crate::mask::extend_masked;
use crate::message::{Message, MessageKind};

/// A payload to send: borrowed (copied into the output) or shared (queued as is when large).
#[derive(Clone)]
enum Payload<'a> {
    Borrowed(&'a [u8]),
    Shared(Bytes),
}

impl Payload<'_> {
    fn as_slice(&self) -> &[u8] {
        match self {
            Payload::Borrowed(s) => s,
            Payload::Shared(b) => b,
        }
    }

    fn slice(&self, start: usize, end: usize) -> Payload<'_> {
        match self {
            Payload::Borrowed(s) => Payload::Borrowed(&s[start..end]),
            Payload::Shared(b) => Payload::Shared(b.slice(start..end)),
        }
    }
}

/// The most slices [`Connection::send_binary_through`] hands its writer at once.
const THROUGH_SLICES: usize = 8;

fn opcode_of(kind: MessageKind) -> OpCode {
    match kind {
        MessageKind::Text => OpCode::Text,
        MessageKind::Binary => OpCode::Binary,
    }
}

impl Connection {
    /// Queues a whole message, or a control frame, or a close.
    ///
    /// Text and binary payloads given as `Bytes` are queued without a copy when this is a server
    /// and they are at least [`Config::zero_copy_threshold`](crate::Config::zero_copy_threshold)
    /// long (a client must copy to mask).
    pub fn send(&mut self, message: Message) -> Result<(), SendError> {
        match message {
            Message::Text(text) => {
                self.send_data(MessageKind::Text, Payload::Shared(text.into_bytes()))
            }
            Message::Binary(data) => self.send_data(MessageKind::Binary, Payload::Shared(data)),
            Message::Ping(payload) => self.send_ping(&payload),
            Message::Pong(payload) => self.send_pong(&payload),
            Message::Close(None) => self.close_without_code(),
            Message::Close(Some(frame)) => self.close(frame.code, frame.reason.as_str()),
        }
    }

    /// Queues a text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), SendError> {
        if self.sends_in_one_plain_frame(text.len()) {
            self.write_whole_frame(OpCode::Text, text.as_bytes());
            return Ok(());
        }
        self.send_data(MessageKind::Text, Payload::Borrowed(text.as_bytes()))
    }

    /// Queues a binary message, copied into the output. To avoid that copy, use
    /// [`send`](Self::send) with `Bytes` (queued uncopied), or
    /// [`send_binary_through`](Self::send_binary_through) to write a borrowed payload straight
    /// to the transport.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), SendError> {
        if self.sends_in_one_plain_frame(data.len()) {
            self.write_whole_frame(OpCode::Binary, data);
            return Ok(());
        }
        self.send_data(MessageKind::Binary, Payload::Borrowed(data))
    }

    /// Sends a whole binary message, letting `write` take the frame straight from `data`: a
    /// write-through send, for a large payload the caller only borrows. [`send_binary`]
    /// copies the payload into the output and the transport copies it again; here the
    /// transport's write is the only copy.
    ///
    /// `write` is given the frame as slices in stream order — the output already waiting, the
    /// frame header, then `data` itself — and returns how many bytes of them (from the first
    /// slice on) it wrote, 0 if the transport takes nothing now. It is called again only when
    /// it wrote everything it was given and bytes remain (more output was waiting than one
    /// call is given: at most 8 slices). Whatever it did not write is queued, `data` copied as
    /// [`send_binary`] copies it, to be written from [`output`](Self::output) as usual. A
    /// transport error is the caller's to keep: have `write` store it and return 0.
    ///
    /// This applies to a server's message of at least
    /// [`Config::zero_copy_threshold`](crate::Config::zero_copy_threshold) bytes that goes as
    /// one uncompressed frame. Anything else — a client's (which must be masked, so copied),
    /// a short one, one compressed or split at
    /// [`Config::max_send_frame_size`](crate::Config::max_send_frame_size) — is queued
    /// exactly as [`send_binary`] queues it, and `write` is not called.
    ///
    /// Returns how many bytes `write` wrote, output waiting before included. Fails, queuing
    /// nothing and calling nothing, as [`send_binary`] fails.
    ///
    /// ```
    /// use std::io::{IoSlice, Write};
    /// use wsproto::{Config, Connection, Role};
    ///
    /// let mut conn = Connection::new(Role::Server, Config::default());
    /// let payload = vec![7u8; 60 * 1024];
    /// let mut socket: Vec<u8> = Vec::new(); // any `Write`: a `TcpStream`, a TLS stream…
    /// let mut error = None;
    /// conn.send_binary_through(&payload, |runs| {
    ///     let mut slices = [IoSlice::new(&[]); 8];
    ///     for (slot, run) in slices.iter_mut().zip(runs) {
    ///         *slot = IoSlice::new(run);
    ///     }
    ///     match socket.write_vectored(&slices[..runs.len()]) {
    ///         Ok(n) => n,
    ///         Err(e) => {
    ///             error = Some(e);
    ///             0
    ///         }
    ///     }
    /// })?;
    /// assert!(error.is_none());
    /// // Whatever the socket did not take waits in `conn.output()`; here it took it all.
    /// assert_eq!(conn.buffered_output(), 0);
    /// assert_eq!(socket.len(), 4 + payload.len());
    /// # Ok::<(), wsproto::SendError>(())
    /// ```
    ///
    /// [`send_binary`]: Self::send_binary
    pub fn send_binary_through(
        &mut self,
        data: &[u8],
        write: impl FnMut(&[&[u8]]) -> usize,
    ) -> Result<usize, SendError> {
        self.send_through(MessageKind::Binary, data, write)
    }

    /// Sends a whole text message written through, as
    /// [`send_binary_through`](Self::send_binary_through) sends a binary one.
    pub fn send_text_through(
        &mut self,
        text: &str,
        write: impl FnMut(&[&[u8]]) -> usize,
    ) -> Result<usize, SendError> {
        self.send_through(MessageKind::Text, text.as_bytes(), write)
    }

    fn send_through(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        mut write: impl FnMut(&[&[u8]]) -> usize,
    ) -> Result<usize, SendError> {
        if !self.sends_in_one_plain_frame(data.len()) {
            self.send_data(kind, Payload::Borrowed(data))?;
            return Ok(0);
        }
        if self.role != Role::Server || data.len() < self.config.zero_copy_threshold {
            self.write_whole_frame(opcode_of(kind), data);
            return Ok(0);
        }
        let (encoded, header_len) = encode_header(opcode_of(kind), true, 0, None, data.len());
        self.out.push_slice(&encoded[..header_len]);
        let mut written = 0;
        let mut data_written = 0;
        loop {
            let mut slices: [&[u8]; THROUGH_SLICES] = [&[]; THROUGH_SLICES];
            let runs = self.out.chunks(&mut slices[..THROUGH_SLICES - 1]);
            let queued: usize = slices[..runs].iter().map(|run| run.len()).sum();
            // The payload follows only once every waiting run is among the slices.
            let rest = &data[data_written..];
            let (count, offered) = if queued == self.out.len() && !rest.is_empty() {
                slices[runs] = rest;
                (runs + 1, queued + rest.len())
            } else {
                (runs, queued)
            };
            if offered == 0 {
                break;
            }
            let n = write(&slices[..count]).min(offered);
            written += n;
            let from_queue = n.min(self.out.len());
            self.out.consume(from_queue);
            let from_data = n - from_queue;
            if from_data > 0 {
                self.out.passed_through(from_data);
                data_written += from_data;
            }
            if n < offered || data_written == data.len() {
                break;
            }
        }
        let rest = &data[data_written..];
        if !rest.is_empty() {
            self.out.push_slice(rest);
        }
        Ok(written)
    }

    /// The common case of a whole message, checked at once: the connection is open, no
    /// streamed message is in progress, nothing will be compressed and the payload fits in one
    /// frame. The message is then one uncompressed frame, as [`send_data`](Self::send_data)
    /// would write it.
    #[inline]
    fn sends_in_one_plain_frame(&self, len: usize) -> bool {
        #[cfg(feature = "deflate")]
        if self.deflate.is_some() {
            return false;
        }
        self.closing.is_open()
            && self.streaming_send.is_none()
            && self
                .config
                .max_send_frame_size
                .is_none_or(|max| len <= max.max(1))
    }

    /// Queues the next part of a streamed text message; `fin` ends the message. The first call
    /// starts the message. Control frames may be sent between parts; whole messages may not.
    pub fn send_text_fragment(&mut self, text: &str, fin: bool) -> Result<(), SendError> {
        self.send_fragment(MessageKind::Text, Payload::Borrowed(text.as_bytes()), fin)
    }

    /// Queues the next part of a streamed binary message; `fin` ends the message.
    pub fn send_binary_fragment(&mut self, data: &[u8], fin: bool) -> Result<(), SendError> {
        self.send_fragment(MessageKind::Binary, Payload::Borrowed(data), fin)
    }

    /// Queues a ping (payload at most 125 bytes).
    pub fn send_ping(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.send_control(OpCode::Ping, payload)
    }

    /// Queues an unsolicited pong (payload at most 125 bytes); pings are answered automatically
    /// unless [`Config::auto_pong`](crate::Config::auto_pong) is off.
    pub fn send_pong(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.send_control(OpCode::Pong, payload)
    }

    /// Starts the closing handshake (RFC 6455 §7.1.2) with a status code and a reason of at most
    /// 123 bytes. Codes that may not be sent (1004–1006, 1015, undefined ranges) are refused.
    /// Afterwards received messages are still delivered until the peer's close arrives.
    ///
    /// Closing is idempotent. If a close frame has already been queued — by an earlier call, as
    /// the automatic reply to the peer's close (the handshake is then already answered), or
    /// because the connection failed — or the connection has failed, this queues nothing and
    /// returns `Ok(())`: `code` and `reason` are then only validated, not sent. It fails only
    /// for an invalid code or reason.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), SendError> {
        if !code.is_sendable() {
            return Err(SendError::InvalidCloseCode(code.0));
        }
        if reason.len() > MAX_CLOSE_REASON {
            return Err(SendError::CloseReasonTooLong(reason.len()));
        }
        if self.closing.is_open() {
            self.write_close(Some((code, reason)), false);
        }
        Ok(())
    }

    /// Starts the closing handshake with an empty close frame (no status code). Idempotent like
    /// [`close`](Self::close): once a close frame was queued or the connection failed, it does
    /// nothing and returns `Ok(())`.
    pub fn close_without_code(&mut self) -> Result<(), SendError> {
        if self.closing.is_open() {
            self.write_close(None, false);
        }
        Ok(())
    }

    fn send_data(&mut self, kind: MessageKind, payload: Payload<'_>) -> Result<(), SendError> {
        if !self.closing.is_open() {
            return Err(SendError::Closed);
        }
        if self.streaming_send.is_some() {
            return Err(SendError::MessageInProgress);
        }
        #[cfg(feature = "deflate")]
        if let Some(codec) = self.deflate.as_deref_mut() {
            let data = payload.as_slice();
            if codec.should_compress(data.len()) {
                let mut compressed = alloc::vec::Vec::with_capacity(data.len() / 2 + 64);
                codec.compress(data, &mut compressed, true);
                if compressed.len() < data.len() {
                    self.write_message(
                        opcode_of(kind),
                        Payload::Shared(Bytes::from(compressed)),
                        true,
                        RSV1,
                    );
                    return Ok(());
                }
                // Incompressible (random or already compressed data): send it as it is, so a
                // message never grows on the wire. The peer never sees this compressed stream,
                // so our window must forget it too.
                codec.reset_compressor();
            }
        }
        self.write_message(opcode_of(kind), payload, true, 0);
        Ok(())
    }

    fn send_fragment(
        &mut self,
        kind: MessageKind,
        payload: Payload<'_>,
        fin: bool,
    ) -> Result<(), SendError> {
        if !self.closing.is_open() {
            return Err(SendError::Closed);
        }
        let (opcode, compressed) = match self.streaming_send {
            None => (opcode_of(kind), self.deflate_enabled()),
            Some(s) if s.kind == kind => (OpCode::Continuation, s.compressed),
            Some(_) => return Err(SendError::MessageInProgress),
        };
        self.streaming_send = if fin {
            None
        } else {
            Some(StreamingSend { kind, compressed })
        };
        // RSV1 goes on the first frame of a compressed message only (RFC 7692 §6.1).
        let rsv = if compressed && opcode != OpCode::Continuation {
            RSV1
        } else {
            0
        };
        #[cfg(feature = "deflate")]
        if let Some(codec) = self.deflate.as_deref_mut().filter(|_| compressed) {
            let mut out = alloc::vec::Vec::with_capacity(payload.as_slice().len() / 2 + 64);
            codec.compress(payload.as_slice(), &mut out, fin);
            self.write_message(opcode, Payload::Shared(Bytes::from(out)), fin, rsv);
            return Ok(());
        }
        self.write_message(opcode, payload, fin, rsv);
        Ok(())
    }

    fn send_control(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), SendError> {
        if payload.len() > 125 {
            return Err(SendError::ControlPayloadTooLong(payload.len()));
        }
        if !self.closing.is_open() {
            return Err(SendError::Closed);
        }
        self.write_control(opcode, payload);
        Ok(())
    }

    /// Writes our close frame (the connection is open) and reports it to the closing state;
    /// `reply`: it answers the peer's close.
    pub(super) fn write_close(&mut self, body: Option<(CloseCode, &str)>, reply: bool) {
        let mut payload = [0u8; 125];
        let len = match body {
            None => 0,
            Some((code, reason)) => {
                let reason = &reason.as_bytes()[..reason.len().min(MAX_CLOSE_REASON)];
                payload[..2].copy_from_slice(&code.0.to_be_bytes());
                payload[2..2 + reason.len()].copy_from_slice(reason);
                2 + reason.len()
            }
        };
        crate::trace::ws_debug!(
            code = body.map(|(c, _)| c.0),
            reason = body.map(|(_, r)| r),
            initiator = if reply { "peer" } else { "local" },
            "close sent"
        );
        #[cfg(not(feature = "tracing"))]
        let _ = reply;
        let at = self.out.end_position();
        self.write_control(OpCode::Close, &payload[..len]);
        self.closing.on_close_sent(at);
        self.streaming_send = None;
    }

    pub(super) fn write_control(&mut self, opcode: OpCode, payload: &[u8]) {
        self.write_frame(opcode, true, 0, Payload::Borrowed(payload));
    }

    /// Writes a message (or one streamed part of one) as one or more frames, splitting it at
    /// [`Config::max_send_frame_size`](crate::Config::max_send_frame_size).
    /// `rsv` applies to the first frame only.
    fn write_message(&mut self, opcode: OpCode, payload: Payload<'_>, fin: bool, rsv: u8) {
        let len = payload.as_slice().len();
        // 0 counts as 1: every frame carries at least one byte of a non-empty message.
        let max = self.config.max_send_frame_size.unwrap_or(usize::MAX).max(1);
        if len <= max {
            self.write_frame(opcode, fin, rsv, payload);
            return;
        }
        let mut start = 0;
        let (mut opcode, mut rsv) = (opcode, rsv);
        while start < len {
            let end = len.min(start + max);
            self.write_frame(opcode, fin && end == len, rsv, payload.slice(start, end));
            opcode = OpCode::Continuation;
            rsv = 0;
            start = end;
        }
    }

    fn write_frame(&mut self, opcode: OpCode, fin: bool, rsv: u8, payload: Payload<'_>) {
        match payload {
            Payload::Shared(bytes)
                if self.role == Role::Server && bytes.len() >= self.config.zero_copy_threshold =>
            {
                let (encoded, header_len) = encode_header(opcode, fin, rsv, None, bytes.len());
                self.out.push_slice(&encoded[..header_len]);
                self.out.push_shared(bytes);
            }
            payload => self.write_frame_copied(opcode, fin, rsv, payload.as_slice()),
        }
    }

    /// Writes a whole message as one uncompressed frame, its payload copied into the output.
    /// A server's short frame — the small-message hot path — is written inline; the rest
    /// (masking, longer headers) out of line, so that this stays small.
    #[inline]
    fn write_whole_frame(&mut self, opcode: OpCode, data: &[u8]) {
        if data.len() > 125 {
            self.write_frame_copied(opcode, true, 0, data);
        } else if self.role == Role::Server {
            self.write_short_server_frame(opcode, true, 0, data);
        } else {
            self.write_short_client_frame(opcode, data);
        }
    }

    /// A client's short whole frame: a fixed six-byte header (two bytes, the key) and the
    /// payload masked on its way into the output.
    #[inline(never)]
    fn write_short_client_frame(&mut self, opcode: OpCode, data: &[u8]) {
        crate::trace::ws_trace!(opcode = ?opcode, fin = true, rsv = 0, len = data.len(), masked = true, "frame sent");
        let mut key = [0u8; 4];
        self.rng.fill(&mut key);
        let [k0, k1, k2, k3] = key;
        let header = [
            0x80 | opcode.as_u8(),
            0x80 | data.len() as u8,
            k0,
            k1,
            k2,
            k3,
        ];
        self.out.push_header(&header, header.len(), data.len());
        extend_masked(self.out.tail(), data, key, 0);
        self.out.appended(data.len());
    }

    /// A short unmasked frame: the two header bytes need no general encoder (§5.2).
    #[inline]
    fn write_short_server_frame(&mut self, opcode: OpCode, fin: bool, rsv: u8, data: &[u8]) {
        crate::trace::ws_trace!(opcode = ?opcode, fin, rsv, len = data.len(), masked = false, "frame sent");
        let b0 = (u8::from(fin) << 7) | ((rsv & 0b111) << 4) | opcode.as_u8();
        self.out.push_short_frame([b0, data.len() as u8], data);
    }

    /// Writes a frame whose payload is copied (masked, for a client) into the output.
    #[inline(never)]
    fn write_frame_copied(&mut self, opcode: OpCode, fin: bool, rsv: u8, data: &[u8]) {
        if self.role == Role::Server && data.len() <= 125 {
            self.write_short_server_frame(opcode, fin, rsv, data);
            return;
        }
        let mask = match self.role {
            Role::Client => {
                let mut key = [0u8; 4];
                self.rng.fill(&mut key);
                Some(key)
            }
            Role::Server => None,
        };
        let (encoded, header_len) = encode_header(opcode, fin, rsv, mask, data.len());
        match mask {
            Some(key) => {
                self.out.push_header(&encoded, header_len, data.len());
                extend_masked(self.out.tail(), data, key, 0);
                self.out.appended(data.len());
            }
            None => self.out.push_frame(&encoded, header_len, data),
        }
    }
}

/// Encodes (and traces) the header of a frame about to be queued; returns it and its length.
#[inline]
fn encode_header(
    opcode: OpCode,
    fin: bool,
    rsv: u8,
    mask: Option<[u8; 4]>,
    len: usize,
) -> ([u8; MAX_HEADER_LEN], usize) {
    crate::trace::ws_trace!(opcode = ?opcode, fin, rsv, len, masked = mask.is_some(), "frame sent");
    let header = FrameHeader {
        fin,
        rsv,
        opcode,
        mask,
        payload_len: len as u64,
    };
    let mut encoded = [0u8; MAX_HEADER_LEN];
    let header_len = header.encode(&mut encoded);
    (encoded, header_len)
}
