//! Property tests: whatever one `Connection` sends, the other receives identically and in
//! order, however the bytes are split on the way; and the same input bytes give the same events
//! (and the same output, and the same error) for every split.

mod common;

use bytes::Bytes;
use common::*;
use proptest::prelude::*;
use wsproto::{
    CloseCode, CloseFrame, Config, Connection, Error, Event, Message, Role, State, Utf8Bytes,
};

// ----- what a sender does -----

#[derive(Debug, Clone)]
enum Ctl {
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

#[derive(Debug, Clone)]
enum Op {
    Text(String),
    Binary(Vec<u8>),
    /// A large text message of this many bytes (multi-byte code points included).
    LargeText(usize),
    /// A large binary message of this many bytes, given as `Bytes` (zero-copy for a server).
    LargeBinary(usize),
    Control(Ctl),
    /// A streamed text message: parts, each optionally followed by a control frame.
    StreamText(Vec<(String, Option<Ctl>)>),
    StreamBinary(Vec<(Vec<u8>, Option<Ctl>)>),
    /// A whole message of this many bytes (text if `text`) sent with `send_*_through`, the
    /// writer taking `takes[i]` bytes on its i-th call (cycled; more than offered is clamped).
    Through {
        len: usize,
        text: bool,
        takes: Vec<usize>,
    },
}

fn through(max_len: usize) -> impl Strategy<Value = Op> {
    let take = prop_oneof![0usize..=3, 1usize..=20, 1usize..=70_000, Just(usize::MAX),];
    (
        0..=max_len,
        any::<bool>(),
        prop::collection::vec(take, 1..5),
    )
        .prop_map(|(len, text, takes)| Op::Through { len, text, takes })
}

fn ctl() -> impl Strategy<Value = Ctl> {
    let payload = prop::collection::vec(any::<u8>(), 0..=125);
    prop_oneof![
        payload.clone().prop_map(Ctl::Ping),
        payload.prop_map(Ctl::Pong)
    ]
}

fn small_text() -> impl Strategy<Value = String> {
    // Any printable code points: ASCII, 2-, 3- and 4-byte UTF-8.
    prop_oneof!["\\PC{0,40}", "[a-z]{0,8}", Just(String::new())]
}

fn small_binary() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![prop::collection::vec(any::<u8>(), 0..300), Just(Vec::new())]
}

fn op(large: bool) -> BoxedStrategy<Op> {
    let small = prop_oneof![
        4 => small_text().prop_map(Op::Text),
        4 => small_binary().prop_map(Op::Binary),
        3 => ctl().prop_map(Op::Control),
        2 => prop::collection::vec((small_text(), prop::option::of(ctl())), 1..5)
            .prop_map(Op::StreamText),
        2 => prop::collection::vec((small_binary(), prop::option::of(ctl())), 1..5)
            .prop_map(Op::StreamBinary),
        1 => through(300),
    ];
    if large {
        prop_oneof![
            6 => small,
            1 => (0usize..=256 * 1024).prop_map(Op::LargeText),
            1 => (0usize..=256 * 1024).prop_map(Op::LargeBinary),
            2 => through(256 * 1024),
        ]
        .boxed()
    } else {
        small.boxed()
    }
}

fn close() -> impl Strategy<Value = Option<(u16, String)>> {
    let code = prop_oneof![1000u16..=1003, 1007u16..=1014, 3000u16..=4999];
    prop::option::of((code, "\\PC{0,30}"))
}

fn send_frame_size() -> impl Strategy<Value = Option<usize>> {
    prop_oneof![
        2 => Just(None),
        1 => (1usize..=16).prop_map(Some),
        1 => (100usize..=70_000).prop_map(Some),
    ]
}

fn large_text(n: usize) -> String {
    mixed_text(n)
}

fn emit_ctl(c: &mut Connection, ctl: &Ctl, expected: &mut Vec<Event>, pings: &mut Vec<Vec<u8>>) {
    match ctl {
        Ctl::Ping(p) => {
            c.send_ping(p).unwrap();
            expected.push(Event::Ping(Bytes::from(p.clone())));
            pings.push(p.clone());
        }
        Ctl::Pong(p) => {
            c.send(Message::Pong(Bytes::from(p.clone()))).unwrap();
            expected.push(Event::Pong(Bytes::from(p.clone())));
        }
    }
}

/// What the sender did: the events the peer must see, and the pings the peer must answer.
struct Sent {
    expected: Vec<Event>,
    pings: Vec<Vec<u8>>,
}

/// Sends a whole message through `send_*_through`, the writer appending what it takes to
/// `wire`; checks which messages are written through, the slices offered and the count
/// returned.
fn send_through(
    c: &mut Connection,
    payload: &[u8],
    text: bool,
    takes: &[usize],
    wire: &mut Vec<u8>,
) {
    let config = c.config();
    let eligible = c.role() == Role::Server
        && payload.len() >= config.zero_copy_threshold
        && config
            .max_send_frame_size
            .is_none_or(|max| payload.len() <= max.max(1));
    let waiting = c.buffered_output();
    let mut calls = 0;
    let mut taken = 0;
    let mut writer = |runs: &[&[u8]]| {
        assert!(!runs.is_empty() && runs.len() <= 8, "{} slices", runs.len());
        assert!(runs.iter().all(|r| !r.is_empty()), "an empty slice");
        let take = takes[calls % takes.len()];
        calls += 1;
        let mut left = take;
        for run in runs {
            let n = left.min(run.len());
            wire.extend_from_slice(&run[..n]);
            left -= n;
        }
        taken += take - left;
        take
    };
    let written = if text {
        c.send_text_through(std::str::from_utf8(payload).unwrap(), &mut writer)
    } else {
        c.send_binary_through(payload, &mut writer)
    }
    .unwrap();
    if !eligible {
        assert_eq!((calls, written), (0, 0), "written through, not eligible");
    }
    assert_eq!(written, taken);
    if eligible {
        assert!(calls >= 1);
    }
    // Everything offered and not taken is queued: nothing lost, nothing doubled.
    let header = match payload.len() {
        0..=125 => 2,
        126..=65535 => 4,
        _ => 10,
    };
    if eligible {
        assert_eq!(
            c.buffered_output() + written,
            waiting + header + payload.len()
        );
    }
}

/// Performs `ops` (and the optional close) on `c`; bytes written through by `Op::Through` are
/// appended to `wire` (the rest of the output follows them).
fn perform(
    c: &mut Connection,
    ops: &[Op],
    close: &Option<(u16, String)>,
    wire: &mut Vec<u8>,
) -> Sent {
    let mut expected = Vec::new();
    let mut pings = Vec::new();
    for op in ops {
        match op {
            Op::Through { len, text, takes } => {
                if *text {
                    let s = large_text(*len);
                    send_through(c, s.as_bytes(), true, takes, wire);
                    expected.push(Event::Text(Utf8Bytes::from(s)));
                } else {
                    let b = pattern(*len);
                    send_through(c, &b, false, takes, wire);
                    expected.push(Event::Binary(Bytes::from(b)));
                }
            }
            Op::Text(s) => {
                c.send_text(s).unwrap();
                expected.push(Event::Text(Utf8Bytes::from(s.as_str())));
            }
            Op::Binary(b) => {
                c.send_binary(b).unwrap();
                expected.push(Event::Binary(Bytes::from(b.clone())));
            }
            Op::LargeText(n) => {
                let s = large_text(*n);
                c.send(Message::text(s.clone())).unwrap();
                expected.push(Event::Text(Utf8Bytes::from(s)));
            }
            Op::LargeBinary(n) => {
                let b = Bytes::from(pattern(*n));
                c.send(Message::Binary(b.clone())).unwrap();
                expected.push(Event::Binary(b));
            }
            Op::Control(ctl) => emit_ctl(c, ctl, &mut expected, &mut pings),
            Op::StreamText(parts) => {
                let mut whole = String::new();
                for (i, (part, ctl)) in parts.iter().enumerate() {
                    c.send_text_fragment(part, i + 1 == parts.len()).unwrap();
                    whole.push_str(part);
                    if let Some(ctl) = ctl {
                        emit_ctl(c, ctl, &mut expected, &mut pings);
                    }
                }
                // The message completes at its last part: after the control frames between.
                let at = expected.len()
                    - parts
                        .last()
                        .and_then(|(_, ctl)| ctl.as_ref())
                        .map_or(0, |_| 1);
                expected.insert(at, Event::Text(Utf8Bytes::from(whole)));
            }
            Op::StreamBinary(parts) => {
                let mut whole = Vec::new();
                for (i, (part, ctl)) in parts.iter().enumerate() {
                    c.send_binary_fragment(part, i + 1 == parts.len()).unwrap();
                    whole.extend_from_slice(part);
                    if let Some(ctl) = ctl {
                        emit_ctl(c, ctl, &mut expected, &mut pings);
                    }
                }
                let at = expected.len()
                    - parts
                        .last()
                        .and_then(|(_, ctl)| ctl.as_ref())
                        .map_or(0, |_| 1);
                expected.insert(at, Event::Binary(Bytes::from(whole)));
            }
        }
    }
    if let Some((code, reason)) = close {
        c.close(CloseCode(*code), reason).unwrap();
        expected.push(Event::Close(Some(CloseFrame::new(
            CloseCode(*code),
            reason.as_str(),
        ))));
    }
    Sent { expected, pings }
}

// ----- how the bytes travel -----

#[derive(Debug, Clone)]
enum Split {
    Whole,
    /// One byte per read (large inputs fall back to small chunks).
    Bytewise,
    /// Reads of these sizes, cycled.
    Chunks(Vec<usize>),
    /// Like `Chunks`, through `read_buf` + `commit`.
    ReadBuf(Vec<usize>),
    /// Like `Chunks`, the reads going in by way of `read_buf` + `commit`, `receive`,
    /// `take_read_buf` + `commit_read_buf` and `read_buf` + `commit` again, cycled (the input
    /// buffer's consumed space, spare space and lent space meet in every order).
    Mixed(Vec<usize>),
}

fn split() -> impl Strategy<Value = Split> {
    let sizes = prop_oneof![
        prop::collection::vec(1usize..=8, 1..8),
        prop::collection::vec(1usize..=300, 1..8),
        prop::collection::vec(1usize..=70_000, 1..8),
    ];
    prop_oneof![
        1 => Just(Split::Whole),
        1 => Just(Split::Bytewise),
        3 => sizes.clone().prop_map(Split::Chunks),
        3 => sizes.clone().prop_map(Split::ReadBuf),
        2 => sizes.prop_map(Split::Mixed),
    ]
}

/// How a read goes into the connection.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Entry {
    Receive,
    ReadBuf,
    TakeReadBuf,
}

/// The read sizes for `split` over `len` bytes, and the entry point of each (cycled); large
/// inputs get no tiny reads, to keep the test fast.
fn read_sizes(split: &Split, len: usize) -> (Vec<usize>, Vec<Entry>) {
    let floor = if len > 64 * 1024 { 1024 } else { 1 };
    let sizes = |s: &[usize]| s.iter().map(|&n| n.max(floor)).collect();
    match split {
        Split::Whole => (vec![len.max(1)], vec![Entry::Receive]),
        Split::Bytewise => (vec![floor], vec![Entry::Receive]),
        Split::Chunks(s) => (sizes(s), vec![Entry::Receive]),
        Split::ReadBuf(s) => (sizes(s), vec![Entry::ReadBuf]),
        Split::Mixed(s) => (
            sizes(s),
            vec![
                Entry::ReadBuf,
                Entry::Receive,
                Entry::TakeReadBuf,
                Entry::ReadBuf,
            ],
        ),
    }
}

/// Feeds `input` split as `split`, polling after every read, then EOF if `eof`. After an error,
/// checks that nothing else happens while the rest is fed.
fn feed_split(
    c: &mut Connection,
    input: &[u8],
    split: &Split,
    eof: bool,
) -> (Vec<Event>, Option<Error>) {
    let (sizes, entries) = read_sizes(split, input.len());
    let mut events = Vec::new();
    let mut error = None;
    let mut rest = input;
    let mut i = 0;
    while !rest.is_empty() {
        let mut n = sizes[i % sizes.len()].min(rest.len());
        let entry = entries[i % entries.len()];
        i += 1;
        match entry {
            Entry::Receive => c.receive(&rest[..n]),
            Entry::ReadBuf => {
                let buf = c.read_buf();
                n = n.min(buf.len());
                buf[..n].copy_from_slice(&rest[..n]);
                c.commit(n);
            }
            Entry::TakeReadBuf => {
                let mut buf = c.take_read_buf();
                n = n.min(buf.len());
                buf[..n].copy_from_slice(&rest[..n]);
                c.commit_read_buf(buf, n);
            }
        }
        rest = &rest[n..];
        let (ev, err) = drain(c);
        if error.is_some() {
            assert!(
                ev.is_empty() && err.is_none(),
                "activity after the error: {ev:?} {err:?}"
            );
        }
        events.extend(ev);
        if err.is_some() {
            error = err;
        }
    }
    if eof {
        c.receive_eof();
        let (ev, err) = drain(c);
        if error.is_some() {
            assert!(
                ev.is_empty() && err.is_none(),
                "activity after the error: {ev:?} {err:?}"
            );
        }
        events.extend(ev);
        if err.is_some() {
            error = err;
        }
    }
    (events, error)
}

/// Joins streamed fragments into whole messages (placed where their last fragment was),
/// checking that every text part is valid UTF-8 on its own. Returns the messages and the bytes
/// of a message left unfinished.
fn join_fragments(events: &[Event]) -> (Vec<Event>, usize) {
    let mut out = Vec::new();
    let mut text: Option<String> = None;
    let mut bin: Option<Vec<u8>> = None;
    for e in events {
        match e {
            Event::TextFragment { data, fin } => {
                assert!(bin.is_none(), "text part inside a binary message");
                let s = text.get_or_insert_with(String::new);
                s.push_str(std::str::from_utf8(data.as_bytes()).expect("part is valid UTF-8"));
                if *fin {
                    out.push(Event::Text(Utf8Bytes::from(text.take().unwrap())));
                }
            }
            Event::BinaryFragment { data, fin } => {
                assert!(text.is_none(), "binary part inside a text message");
                bin.get_or_insert_with(Vec::new).extend_from_slice(data);
                if *fin {
                    out.push(Event::Binary(Bytes::from(bin.take().unwrap())));
                }
            }
            Event::Text(_) | Event::Binary(_) => panic!("whole message in streaming mode: {e:?}"),
            other => out.push(other.clone()),
        }
    }
    let unfinished = text.map_or(0, |s| s.len()) + bin.map_or(0, |b| b.len());
    (out, unfinished)
}

fn other(role: Role) -> Role {
    match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    }
}

/// Sends `ops` from a `sender` connection, delivers the bytes split as `split` to its peer and
/// checks the peer's events, state, and replies (pongs, close reply) back at the sender.
fn roundtrip(
    sender: Role,
    ops: &[Op],
    close: &Option<(u16, String)>,
    frame_size: Option<usize>,
    split: &Split,
    stream: bool,
) {
    let mut config = Config::default();
    config.max_send_frame_size = frame_size;
    let mut tx = Connection::with_random(sender, config, seeded_rng(1));
    let mut wire = Vec::new();
    let sent = perform(&mut tx, ops, close, &mut wire);
    wire.extend_from_slice(&take_output(&mut tx));
    assert_masking(sender, &parse_frames(&wire));

    let mut rx = conn(other(sender), Config::default().stream_messages(stream));
    let (events, error) = feed_split(&mut rx, &wire, split, false);
    assert_eq!(error, None);
    let got = if stream {
        let (joined, unfinished) = join_fragments(&events);
        assert_eq!(unfinished, 0);
        joined
    } else {
        events
    };
    assert_eq!(got.len(), sent.expected.len());
    for (i, (g, e)) in got.iter().zip(&sent.expected).enumerate() {
        assert!(g == e, "event {i} differs: got {g:?}, expected {e:?}");
    }
    let expected_state = if close.is_some() {
        State::Closed
    } else {
        State::Open
    };
    assert_eq!(rx.state(), expected_state);
    assert_eq!(rx.buffered_input(), 0);

    // The replies travel back: a pong for every ping, in order, and the close reply.
    let back = take_output(&mut rx);
    let (replies, error) = feed_split(&mut tx, &back, split, false);
    assert_eq!(error, None);
    let mut expected: Vec<Event> = sent
        .pings
        .into_iter()
        .map(|p| Event::Pong(Bytes::from(p)))
        .collect();
    if let Some((code, _)) = close {
        expected.push(Event::Close(Some(CloseFrame::new(CloseCode(*code), ""))));
    }
    assert_eq!(replies, expected);
    assert_eq!(tx.state(), expected_state);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn client_to_server(
        ops in prop::collection::vec(op(false), 0..12),
        close in close(),
        frame_size in send_frame_size(),
        split in split(),
        stream in any::<bool>(),
    ) {
        roundtrip(Role::Client, &ops, &close, frame_size, &split, stream);
    }

    #[test]
    fn server_to_client(
        ops in prop::collection::vec(op(false), 0..12),
        close in close(),
        frame_size in send_frame_size(),
        split in split(),
        stream in any::<bool>(),
    ) {
        roundtrip(Role::Server, &ops, &close, frame_size, &split, stream);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn large_messages_both_ways(
        ops in prop::collection::vec(op(true), 1..6),
        close in close(),
        frame_size in prop_oneof![Just(None), (1000usize..=100_000).prop_map(Some)],
        split in split(),
        stream in any::<bool>(),
        client_sends in any::<bool>(),
    ) {
        let sender = if client_sends { Role::Client } else { Role::Server };
        roundtrip(sender, &ops, &close, frame_size, &split, stream);
    }
}

// ----- same input, any split: same everything -----

/// What a receiver did with some input: comparable across splits.
#[derive(Debug, PartialEq)]
struct Outcome {
    events: Vec<Event>,
    error: Option<Error>,
    output: Vec<u8>,
    state: State,
    should_close_transport: bool,
}

fn run(receiver: Role, config: &Config, input: &[u8], split: &Split, eof: bool) -> Outcome {
    let mut c = conn(receiver, config.clone());
    let (events, error) = feed_split(&mut c, input, split, eof);
    let events = if config.stream_messages {
        // Complete messages must agree; how much of an unfinished one was delivered before an
        // error depends on where the reads ended.
        join_fragments(&events).0
    } else {
        events
    };
    Outcome {
        events,
        error,
        output: take_output(&mut c),
        state: c.state(),
        should_close_transport: c.should_close_transport(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn same_outcome_for_every_split(
        ops in prop::collection::vec(op(false), 0..10),
        close in close(),
        frame_size in send_frame_size(),
        corruption in prop::collection::vec((any::<usize>(), 1u8..=255), 0..3),
        cut in prop::option::of(any::<usize>()),
        a in split(),
        b in split(),
        stream in any::<bool>(),
        limits in prop::option::of((1usize..=400, 1usize..=2000)),
        client_sends in any::<bool>(),
        eof in any::<bool>(),
    ) {
        let sender = if client_sends { Role::Client } else { Role::Server };
        let mut tx = Connection::with_random(
            sender,
            {
                let mut config = Config::default();
                config.max_send_frame_size = frame_size;
                config
            },
            seeded_rng(3),
        );
        let mut wire = Vec::new();
        perform(&mut tx, &ops, &close, &mut wire);
        wire.extend_from_slice(&take_output(&mut tx));
        // Damage the bytes: flip some, cut the end off.
        if !wire.is_empty() {
            for (at, x) in &corruption {
                let i = at % wire.len();
                wire[i] ^= x;
            }
        }
        if let Some(cut) = cut {
            wire.truncate(cut % (wire.len() + 1));
        }
        let mut config = Config::default().stream_messages(stream);
        if let Some((frame, message)) = limits {
            config = config.max_frame_size(frame).max_message_size(message);
        }
        let receiver = other(sender);
        let reference = run(receiver, &config, &wire, &Split::Whole, eof);
        let bytewise = run(receiver, &config, &wire, &Split::Bytewise, eof);
        prop_assert_eq!(&bytewise, &reference);
        prop_assert_eq!(&run(receiver, &config, &wire, &a, eof), &reference);
        prop_assert_eq!(&run(receiver, &config, &wire, &b, eof), &reference);
        if corruption.is_empty() && cut.is_none() && limits.is_none() {
            prop_assert_eq!(reference.error, if eof && close.is_none() {
                Some(Error::UnexpectedEof)
            } else {
                None
            });
        }
    }
}

#[test]
fn every_split_point_of_a_mixed_stream() {
    // Exhaustive over two cut points for a short mixed stream, both roles and both modes.
    let ops = [
        Op::Text("héllo €".into()),
        Op::Control(Ctl::Ping(b"p".to_vec())),
        Op::StreamText(vec![
            ("😀".into(), Some(Ctl::Pong(vec![]))),
            ("x".into(), None),
        ]),
        Op::Binary(vec![]),
    ];
    for sender in [Role::Client, Role::Server] {
        let mut tx = Connection::with_random(
            sender,
            Config::default().max_send_frame_size(3),
            seeded_rng(9),
        );
        let mut wire = Vec::new();
        let sent = perform(&mut tx, &ops, &Some((1000, "end".into())), &mut wire);
        wire.extend_from_slice(&take_output(&mut tx));
        for stream in [false, true] {
            let config = Config::default().stream_messages(stream);
            for i in 0..=wire.len() {
                for j in i..=wire.len() {
                    let mut c = conn(other(sender), config.clone());
                    let mut events = Vec::new();
                    for piece in [&wire[..i], &wire[i..j], &wire[j..]] {
                        c.receive(piece);
                        events.extend(common::events(&mut c));
                    }
                    let events = if stream {
                        join_fragments(&events).0
                    } else {
                        events
                    };
                    assert_eq!(
                        events, sent.expected,
                        "{sender:?} stream {stream} cuts {i} {j}"
                    );
                }
            }
        }
    }
}

// ----- arbitrary input -----

/// One piece of noisy input: a frame header that is mostly plausible (a valid first byte, the
/// mask bit right for the receiver, a short length) and random payload bytes; or raw noise.
#[derive(Debug, Clone)]
enum Noise {
    Frame {
        b0: u8,
        mask_right: bool,
        len: usize,
        key: [u8; 4],
        junk: Vec<u8>,
    },
    Raw(Vec<u8>),
}

fn noise() -> impl Strategy<Value = Noise> {
    let plausible_b0 = (
        prop::bool::weighted(0.85),
        prop::sample::select(vec![CONT, TEXT, BINARY, CLOSE, PING, PONG]),
    )
        .prop_map(|(fin, op)| if fin { FIN | op } else { op });
    let b0 = prop_oneof![12 => plausible_b0, 1 => any::<u8>()];
    let junk = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..20),
        "\\PC{0,8}".prop_map(|s: String| s.into_bytes()),
        Just(vec![0x03, 0xe8]),
    ];
    prop_oneof![
        20 => (b0, prop::bool::weighted(0.97), 0usize..20, any::<[u8; 4]>(), junk)
            .prop_map(|(b0, mask_right, len, key, junk)| Noise::Frame {
                b0,
                mask_right,
                len,
                key,
                junk,
            }),
        1 => prop::collection::vec(any::<u8>(), 0..10).prop_map(Noise::Raw),
    ]
}

/// The bytes of `noise` as sent to a `receiver`.
fn noise_bytes(receiver: Role, noise: &[Noise]) -> Vec<u8> {
    let mut out = Vec::new();
    for n in noise {
        match n {
            Noise::Frame {
                b0,
                mask_right,
                len,
                key,
                junk,
            } => {
                let masked = (receiver == Role::Server) == *mask_right;
                out.extend(header(*b0, masked.then_some(*key), *len as u64));
                let payload: Vec<u8> = junk.iter().copied().cycle().take(*len).collect();
                match masked {
                    true => out.extend(mask_bytes(&payload, *key)),
                    false => out.extend(payload),
                }
            }
            Noise::Raw(raw) => out.extend_from_slice(raw),
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any input: no panic, and the invariants hold: text is valid UTF-8, control payloads are
    /// at most 125 bytes, the error comes once and nothing follows it, and the output is
    /// well-formed frames (masked per role) with nothing after a close frame.
    #[test]
    fn arbitrary_input_keeps_the_invariants(
        noise in prop::collection::vec(noise(), 0..16),
        split in split(),
        server in any::<bool>(),
        stream in any::<bool>(),
        auto_pong in any::<bool>(),
        limits in prop::option::of((0usize..=64, 0usize..=128)),
        eof in any::<bool>(),
    ) {
        let role = if server { Role::Server } else { Role::Client };
        let mut config = Config::default().stream_messages(stream).auto_pong(auto_pong);
        if let Some((frame, message)) = limits {
            config = config.max_frame_size(frame).max_message_size(message);
        }
        let input = noise_bytes(role, &noise);
        let mut c = conn(role, config);
        // feed_split checks that nothing happens after an error.
        let (events, error) = feed_split(&mut c, &input, &split, eof);
        for e in &events {
            match e {
                Event::Text(t) => prop_assert!(std::str::from_utf8(t.as_bytes()).is_ok()),
                Event::TextFragment { data, .. } => {
                    prop_assert!(std::str::from_utf8(data.as_bytes()).is_ok())
                }
                Event::Ping(p) | Event::Pong(p) => prop_assert!(p.len() <= 125),
                Event::Close(Some(f)) => prop_assert!(f.code.is_sendable() && f.reason.len() <= 123),
                _ => {}
            }
        }
        let closed_by_peer = events.iter().any(|e| matches!(e, Event::Close(_)));
        if closed_by_peer {
            prop_assert!(matches!(events.last(), Some(Event::Close(_))), "events after Close");
        }
        if error.is_some() || closed_by_peer {
            prop_assert_eq!(c.state(), State::Closed);
        }
        let output = take_output(&mut c);
        let frames = parse_frames(&output);
        assert_masking(role, &frames);
        if let Some(at) = frames.iter().position(|f| f.opcode == CLOSE) {
            prop_assert_eq!(at, frames.len() - 1, "frames after our close frame");
            let _ = frames[at].close_code();
        }
        match &error {
            Some(Error::Protocol(e)) => {
                let last = frames.last().expect("a close frame for the protocol error");
                prop_assert_eq!(last.close_code(), Some(e.close_code().0));
            }
            Some(Error::UnexpectedEof) => prop_assert!(frames.is_empty()),
            Some(other) => prop_assert!(false, "unexpected error {:?}", other),
            None => {}
        }
        if error.is_some() {
            prop_assert!(c.should_close_transport());
        }
    }
}
