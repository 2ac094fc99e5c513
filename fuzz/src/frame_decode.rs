//! `frame_decode`: arbitrary bytes into a server and a client `Connection`.
//!
//! Input layout: `[flags] [limits] [splits] [n split sizes...] [wire bytes...]`
//! - `flags`: bit 0 `stream_messages`, bit 1 auto-pong off, bit 2 `CloseReply::Normal`, bit 3 feed
//!   through `read_buf`/`commit`, bit 4 drain output between reads, bit 5 drain with
//!   `take_output`, bit 6 report end of input at the end, bit 7 also feed byte by byte.
//! - `limits`: `max_frame_size` (bits 0-2) and `max_message_size` (bits 3-5) from small presets.
//! - `splits`: bits 0-2 how many size bytes follow, bits 3-4 scale them by 1, 4, 32 or 256.
//!
//! Checked, for both roles: no panic; the same events, error, and output for the chosen split
//! and for all the bytes at once (and byte by byte); every event obeys RFC 6455 and the limits;
//! buffered input stays within one frame; after an error or a close nothing more is produced;
//! the output (pongs, close reply) decodes as exactly the frames the events call for.

use core::ops::Range;

use wsproto::{CloseReply, Config, Error, MessageKind, Role};

use super::wire::{
    Norm, Normalizer, check_output_views, chunks, connection, drain_events, feed_via_read_buf,
    take_all_output, take_some_output,
};

/// How the bytes are handed over and the output taken.
#[derive(Debug, Clone, Copy, Default)]
struct FeedMode {
    read_buf: bool,
    drain: bool,
    use_take: bool,
    eof: bool,
}

/// What one run produced.
#[derive(Debug)]
struct Run {
    events: Vec<Norm>,
    partial: Option<(MessageKind, Vec<u8>)>,
    error: Option<Error>,
    output: Vec<u8>,
}

/// Runs one input (any bytes).
pub fn run(data: &[u8]) {
    let [flags, limits, splits, rest @ ..] = data else {
        return;
    };
    let n = usize::from(splits & 7).min(rest.len());
    let scale = [1, 4, 32, 256][usize::from((splits >> 3) & 3)];
    let sizes: Vec<usize> = rest[..n].iter().map(|&s| usize::from(s) * scale).collect();
    let wire = &rest[n..];
    let config = super::wire::config_from_bits(*flags, *limits);
    let mode = FeedMode {
        read_buf: flags & 8 != 0,
        drain: flags & 16 != 0,
        use_take: flags & 32 != 0,
        eof: flags & 64 != 0,
    };
    let bytewise = flags & 128 != 0 && wire.len() <= 1024;
    for role in [Role::Server, Role::Client] {
        let whole = FeedMode {
            eof: mode.eof,
            ..FeedMode::default()
        };
        let reference = drive(role, &config, wire, &chunks(wire.len(), &[]), whole);
        let split = drive(role, &config, wire, &chunks(wire.len(), &sizes), mode);
        compare(&reference, &split, &config, mode.eof);
        if bytewise {
            let one = drive(role, &config, wire, &chunks(wire.len(), &[1]), mode);
            compare(&reference, &one, &config, mode.eof);
        }
        if !mode.eof {
            check_reply_output(role, &config, &reference);
        }
    }
}

fn drive(role: Role, config: &Config, wire: &[u8], ranges: &[Range<usize>], mode: FeedMode) -> Run {
    let mut conn = connection(role, config.clone(), 7);
    let mut norm = Normalizer::new(config);
    let mut error = None;
    let mut output = Vec::new();
    let mut fed = 0usize;
    // Input never waits beyond one frame: a partial header, or part of one frame's payload.
    let input_bound = config.max_frame_size.max(125);
    for range in ranges {
        let chunk = &wire[range.clone()];
        if mode.read_buf {
            feed_via_read_buf(&mut conn, chunk);
        } else {
            conn.receive(chunk);
        }
        fed += chunk.len();
        let ended = error.is_some() || norm.closed;
        if ended {
            assert_eq!(conn.buffered_input(), 0, "input kept after the end");
            assert_eq!(conn.poll_event(), Ok(None), "event after the end");
        } else {
            assert!(conn.buffered_input() <= fed);
            error = drain_events(&mut conn, &mut norm);
            if error.is_none() && !norm.closed {
                assert!(
                    conn.buffered_input() <= input_bound,
                    "{} bytes of input buffered waiting for more (bound {input_bound})",
                    conn.buffered_input()
                );
            }
        }
        if mode.drain {
            if mode.use_take {
                take_all_output(&mut conn, true, &mut output);
            } else {
                take_some_output(&mut conn, chunk.len() * 2 + 1, &mut output);
            }
        } else {
            // Replies are at most 3x the input that asked for them (a 2-byte ping header becomes
            // a 6-byte masked pong header) plus one close frame.
            assert!(
                conn.buffered_output() <= 3 * fed + 131,
                "output grows beyond the input"
            );
        }
        check_output_views(&conn);
    }
    if mode.eof {
        let ended = error.is_some() || norm.closed;
        conn.receive_eof();
        let r = drain_events(&mut conn, &mut norm);
        if ended {
            assert_eq!(r, None);
        } else {
            assert_eq!(r, Some(Error::UnexpectedEof));
            assert_eq!(conn.buffered_output(), 0, "output kept after end of input");
            assert!(conn.should_close_transport());
            error = r;
        }
    }
    take_all_output(&mut conn, false, &mut output);
    if error.is_some() {
        assert!(conn.should_close_transport());
    }
    Run {
        events: norm.events,
        partial: norm.partial,
        error,
        output,
    }
}

fn compare(reference: &Run, other: &Run, config: &Config, eof: bool) {
    assert_eq!(reference.events, other.events, "events depend on the split");
    assert_eq!(reference.error, other.error, "error depends on the split");
    let fail_fast = config.stream_messages
        && matches!(
            reference.error,
            Some(Error::Protocol(wsproto::ProtocolError::InvalidUtf8))
        );
    match (&reference.partial, &other.partial) {
        // Streaming text that turns out invalid: a split delivers the valid start of the frame
        // before the bad byte arrives; all at once, the frame is rejected before any of it is
        // delivered. Either way one is the start of the other.
        (Some((ka, a)), Some((kb, b))) if fail_fast => {
            assert_eq!(ka, kb);
            assert!(a.starts_with(b) || b.starts_with(a));
        }
        (None, Some(_)) | (Some(_), None) if fail_fast => {}
        (a, b) => assert_eq!(a, b, "streamed part depends on the split"),
    }
    if !eof {
        assert_eq!(
            reference.output, other.output,
            "output depends on the split"
        );
    }
}

/// The output holds exactly the pongs for the pings received and the close frame the end calls
/// for, correctly framed and masked for the role: a peer decodes it without error.
fn check_reply_output(role: Role, config: &Config, run: &Run) {
    let peer_role = match role {
        Role::Server => Role::Client,
        Role::Client => Role::Server,
    };
    let peer_config = Config::default().auto_pong(false);
    let mut peer = connection(peer_role, peer_config.clone(), 9);
    let mut norm = Normalizer::new(&peer_config);
    peer.receive(&run.output);
    let error = drain_events(&mut peer, &mut norm);
    assert_eq!(error, None, "the peer rejects our output");
    assert!(norm.partial.is_none());
    let mut expected = Vec::new();
    if config.auto_pong {
        for event in &run.events {
            if let Norm::Ping(p) = event {
                expected.push(Norm::Pong(p.clone()));
            }
        }
    }
    match (&run.error, run.events.last()) {
        (Some(Error::Protocol(e)), _) => {
            let mut reason = e.to_string().into_bytes();
            reason.truncate(123);
            expected.push(Norm::Close(Some((e.close_code().0, reason))));
        }
        (Some(e), _) => panic!("unexpected error {e}"),
        (None, Some(Norm::Close(frame))) => {
            let reply = frame.as_ref().map(|(code, _)| match config.close_reply {
                CloseReply::Normal => (1000, Vec::new()),
                _ => (*code, Vec::new()),
            });
            expected.push(Norm::Close(reply));
        }
        (None, _) => {}
    }
    assert_eq!(norm.events, expected, "output is not the expected replies");
}
