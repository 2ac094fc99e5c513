//! `roundtrip`: a fuzzer-chosen sequence of sends, encoded by one role and decoded by the other
//! in fuzzer-chosen splits, arrives exactly as sent; refused sends are refused for the reason a
//! simple model predicts and queue nothing. Both directions run on every input.

use arbitrary::{Arbitrary, Unstructured};
use wsproto::{Bytes, CloseCode, CloseFrame, Config, Message, MessageKind, Role, SendError};

use super::wire::{
    Norm, Normalizer, check_output_views, chunks, close_code_allowed, connection, drain_events,
    feed_via_read_buf, norm_message, take_all_output, take_some_output,
};

/// One call on the sending connection.
#[derive(Debug, Arbitrary)]
enum Op {
    Text(String),
    Binary(Vec<u8>),
    /// `send(Message::Text)`: a shared payload (zero-copy on a server above the threshold).
    SharedText(String),
    /// `send(Message::Binary)`.
    SharedBinary(Vec<u8>),
    TextFragment(String, bool),
    BinaryFragment(Vec<u8>, bool),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// `send(Message::Ping)`.
    PingMessage(Vec<u8>),
    Close(u16, String),
    /// `send(Message::Close(..))`.
    CloseMessage(Option<(u16, String)>),
    CloseWithoutCode,
    /// Write out up to this many bytes now (a partial write).
    Write(u16),
    /// Write out everything now with `take_output`.
    TakeAll,
}

#[derive(Debug, Arbitrary)]
struct Input {
    max_send_frame_size: Option<u16>,
    zero_copy_threshold: u16,
    receiver_streams: bool,
    receiver_read_buf: bool,
    splits: Vec<u16>,
    ops: Vec<Op>,
}

/// What the sender's model predicts.
#[derive(Default)]
struct Model {
    close_sent: bool,
    streaming: Option<MessageKind>,
    pending: Vec<u8>,
    expected: Vec<Norm>,
}

impl Model {
    fn data(&mut self, kind: MessageKind, data: &[u8]) -> Result<(), SendError> {
        if self.close_sent {
            return Err(SendError::Closed);
        }
        if self.streaming.is_some() {
            return Err(SendError::MessageInProgress);
        }
        self.expected.push(norm_message(kind, data.to_vec()));
        Ok(())
    }

    fn fragment(&mut self, kind: MessageKind, data: &[u8], fin: bool) -> Result<(), SendError> {
        if self.close_sent {
            return Err(SendError::Closed);
        }
        if self.streaming.is_some_and(|k| k != kind) {
            return Err(SendError::MessageInProgress);
        }
        self.pending.extend_from_slice(data);
        if fin {
            let data = core::mem::take(&mut self.pending);
            self.expected.push(norm_message(kind, data));
            self.streaming = None;
        } else {
            self.streaming = Some(kind);
        }
        Ok(())
    }

    fn control(&mut self, pong: bool, payload: &[u8]) -> Result<(), SendError> {
        if payload.len() > 125 {
            return Err(SendError::ControlPayloadTooLong(payload.len()));
        }
        if self.close_sent {
            return Err(SendError::Closed);
        }
        let p = payload.to_vec();
        self.expected
            .push(if pong { Norm::Pong(p) } else { Norm::Ping(p) });
        Ok(())
    }

    fn close(&mut self, body: Option<(u16, &str)>) -> Result<(), SendError> {
        if let Some((code, reason)) = body {
            if !close_code_allowed(code) {
                return Err(SendError::InvalidCloseCode(code));
            }
            if reason.len() > 123 {
                return Err(SendError::CloseReasonTooLong(reason.len()));
            }
        }
        if self.close_sent {
            // Closing again does nothing (the handshake is under way or done).
            return Ok(());
        }
        self.close_sent = true;
        self.streaming = None;
        self.pending.clear();
        let body = body.map(|(c, r)| (c, r.as_bytes().to_vec()));
        self.expected.push(Norm::Close(body));
        Ok(())
    }
}

/// Runs one input (any bytes; decoded with `arbitrary`).
pub fn run(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    for sender_role in [Role::Client, Role::Server] {
        roundtrip(&input, sender_role);
    }
}

fn roundtrip(input: &Input, sender_role: Role) {
    let mut config = Config::default().zero_copy_threshold(usize::from(input.zero_copy_threshold));
    config.max_send_frame_size = input.max_send_frame_size.map(usize::from);
    let mut sender = connection(sender_role, config, 3);
    let mut model = Model::default();
    let mut wire = Vec::new();
    for op in &input.ops {
        let (got, want) = match op {
            Op::Text(s) => (
                sender.send_text(s),
                model.data(MessageKind::Text, s.as_bytes()),
            ),
            Op::Binary(b) => (sender.send_binary(b), model.data(MessageKind::Binary, b)),
            Op::SharedText(s) => (
                sender.send(Message::text(s.as_str())),
                model.data(MessageKind::Text, s.as_bytes()),
            ),
            Op::SharedBinary(b) => (
                sender.send(Message::Binary(Bytes::from(b.clone()))),
                model.data(MessageKind::Binary, b),
            ),
            Op::TextFragment(s, fin) => (
                sender.send_text_fragment(s, *fin),
                model.fragment(MessageKind::Text, s.as_bytes(), *fin),
            ),
            Op::BinaryFragment(b, fin) => (
                sender.send_binary_fragment(b, *fin),
                model.fragment(MessageKind::Binary, b, *fin),
            ),
            Op::Ping(p) => (sender.send_ping(p), model.control(false, p)),
            Op::Pong(p) => (sender.send_pong(p), model.control(true, p)),
            Op::PingMessage(p) => (
                sender.send(Message::Ping(Bytes::from(p.clone()))),
                model.control(false, p),
            ),
            Op::Close(code, reason) => (
                sender.close(CloseCode(*code), reason),
                model.close(Some((*code, reason))),
            ),
            Op::CloseMessage(body) => {
                let message = Message::Close(
                    body.as_ref()
                        .map(|(c, r)| CloseFrame::new(CloseCode(*c), r.as_str())),
                );
                let want = model.close(body.as_ref().map(|(c, r)| (*c, r.as_str())));
                (sender.send(message), want)
            }
            Op::CloseWithoutCode => (sender.close_without_code(), model.close(None)),
            Op::Write(n) => {
                take_some_output(&mut sender, usize::from(*n), &mut wire);
                continue;
            }
            Op::TakeAll => {
                take_all_output(&mut sender, true, &mut wire);
                continue;
            }
        };
        let before = sender.buffered_output();
        assert_eq!(got, want, "send result differs from the model for {op:?}");
        if got.is_err() {
            assert_eq!(
                sender.buffered_output(),
                before,
                "a refused send queued bytes"
            );
        }
        check_output_views(&sender);
    }
    take_all_output(&mut sender, false, &mut wire);

    let receiver_role = match sender_role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    };
    let receiver_config = Config::default().stream_messages(input.receiver_streams);
    let mut receiver = connection(receiver_role, receiver_config.clone(), 5);
    let mut norm = Normalizer::new(&receiver_config);
    let sizes: Vec<usize> = input.splits.iter().map(|&s| usize::from(s)).collect();
    for range in chunks(wire.len(), &sizes) {
        if input.receiver_read_buf {
            feed_via_read_buf(&mut receiver, &wire[range]);
        } else {
            receiver.receive(&wire[range]);
        }
        if let Some(e) = drain_events(&mut receiver, &mut norm) {
            panic!("{receiver_role:?} rejects what a {sender_role:?} sent: {e}");
        }
    }
    assert_eq!(norm.events, model.expected, "messages changed on the way");
    // A streamed message still open: every fragment sent was complete UTF-8, so everything
    // sent so far has been delivered (the receiver holds nothing back at the end of a fragment).
    match (model.streaming, &norm.partial) {
        (Some(kind), Some((k, data))) => {
            assert!(input.receiver_streams);
            assert_eq!(kind, *k);
            assert_eq!(
                data, &model.pending,
                "streamed part differs from what was sent"
            );
        }
        (Some(_), None) => assert!(!input.receiver_streams || model.pending.is_empty()),
        (None, partial) => assert!(partial.is_none(), "a message is still open"),
    }
}
