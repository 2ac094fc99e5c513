//! Two connections back to back under a virtual clock (`common::pair::Pair`): keepalive, pong
//! deadlines, close timeouts, the client's wait for the server to close the transport, and
//! simultaneous closes. Nothing sleeps; time only moves through `Pair::advance`.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::pair::Pair;
use common::{CLOSE, PING, parse_frames};
use wsproto::{CloseCode, CloseFrame, Config, Error, Event, State};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

/// The defaults without keepalive (a peer that never pings on its own).
fn quiet() -> Config {
    Config::default().keepalive_interval(None)
}

fn keepalive(interval: u64, timeout: u64) -> Config {
    quiet()
        .keepalive_interval(Some(secs(interval)))
        .keepalive_timeout(secs(timeout))
}

mod keepalive {
    use super::*;

    #[test]
    fn ping_after_an_idle_interval_and_the_pong_clears_it() {
        let mut pair = Pair::new(keepalive(10, 5), quiet());
        let t0 = pair.now;
        pair.drive();
        pair.advance(ms(9_999));
        assert!(pair.server.events.is_empty(), "pinged before the interval");
        pair.advance(ms(1));
        // The server saw the ping at t0 + 10 s and answered; the client got the pong at once.
        assert_eq!(pair.server.ping_times(), [t0 + secs(10)]);
        assert_eq!(pair.client.pong_times(), [t0 + secs(10)]);
        let (Event::Ping(ping), Event::Pong(pong)) =
            (&pair.server.events[0].1, &pair.client.events[0].1)
        else {
            panic!("{:?} {:?}", pair.server.events, pair.client.events);
        };
        assert_eq!(ping, pong, "the pong carries the ping's payload");
        assert!(!ping.is_empty());

        // The pong cleared the deadline: pings go on every interval and nothing fails.
        pair.advance(secs(95));
        let expected: Vec<_> = (1..=10).map(|i| t0 + secs(10 * i)).collect();
        assert_eq!(pair.server.ping_times(), expected);
        assert_eq!(pair.client.pong_times(), expected);
        assert!(pair.client.error().is_none());
        assert_eq!(pair.client.conn.state(), State::Open);
        // Each ping has a payload of its own.
        let mut payloads: Vec<_> = pair.server.events.iter().map(|(_, e)| e.clone()).collect();
        payloads.dedup();
        assert_eq!(payloads.len(), 10);
    }

    #[test]
    fn pings_go_on_while_the_peer_sends() {
        // Only pong round trips count: traffic from the peer does not postpone the ping (so a
        // peer that trickles bytes cannot stand in for answering).
        let mut pair = Pair::new(keepalive(10, 5), quiet());
        pair.drive();
        let t0 = pair.now;
        for _ in 0..15 {
            pair.server.conn.send_text("tick").unwrap();
            pair.advance(secs(4));
        }
        assert_eq!(
            pair.client.event_list().len(),
            15 + 6,
            "15 ticks and 6 pongs"
        );
        let expected: Vec<_> = (1..=6).map(|i| t0 + secs(10 * i)).collect();
        assert_eq!(pair.server.ping_times(), expected);
        assert!(pair.client.error().is_none());
    }

    #[test]
    fn our_own_sending_does_not_count_as_liveness() {
        // Keepalive checks that the peer is alive: only received bytes postpone the ping.
        let mut pair = Pair::new(keepalive(10, 5), quiet());
        pair.drive();
        let t0 = pair.now;
        for _ in 0..6 {
            pair.client.conn.send_text("tick").unwrap();
            pair.advance(secs(2));
        }
        assert_eq!(pair.server.ping_times(), [t0 + secs(10)]);
    }

    #[test]
    fn late_pong_within_the_deadline_is_enough() {
        let mut pair = Pair::new(keepalive(10, 5), quiet());
        let t0 = pair.now;
        pair.drive();
        pair.advance(ms(9_000));
        pair.server.frozen = true;
        pair.advance(secs(5)); // ping sent at t0 + 10 s, unanswered until t0 + 14 s
        assert!(pair.client.pong_times().is_empty());
        pair.server.frozen = false;
        pair.drive();
        assert_eq!(pair.client.pong_times(), [t0 + secs(14)]);
        pair.advance(secs(15));
        assert!(pair.client.error().is_none());
        // The interval restarted when the pong arrived.
        assert_eq!(pair.server.ping_times(), [t0 + secs(14), t0 + secs(24)]);
    }

    #[test]
    fn keepalive_timeout_when_the_peer_does_not_answer() {
        let mut pair = Pair::new(keepalive(10, 5), quiet().auto_pong(false));
        let t0 = pair.now;
        pair.drive();
        pair.advance(secs(14));
        assert_eq!(pair.server.ping_times(), [t0 + secs(10)]);
        assert!(pair.client.error().is_none());
        assert_eq!(pair.client.conn.state(), State::Open);
        pair.advance(secs(1));
        assert_eq!(
            pair.client.errors,
            [(t0 + secs(15), Error::KeepaliveTimeout)]
        );
        assert_eq!(pair.client.conn.state(), State::Closed);
        assert_eq!(pair.client.transport_closed, Some(t0 + secs(15)));
        // Only the ping was ever written: no close frame after a timeout.
        let written = parse_frames(&pair.client.written);
        assert_eq!(written.len(), 1);
        assert_eq!(written[0].opcode, PING);
        // The server sees the transport end without a close handshake.
        assert_eq!(pair.server.error(), Some(&Error::UnexpectedEof));
        assert_eq!(pair.server.conn.state(), State::Closed);
        assert!(pair.server.transport_closed.is_some());
    }

    #[test]
    fn keepalive_timeout_with_a_hung_peer() {
        let mut pair = Pair::new(quiet(), keepalive(30, 10));
        let t0 = pair.now;
        pair.drive();
        pair.client.frozen = true;
        pair.advance(secs(60));
        assert_eq!(
            pair.server.errors,
            [(t0 + secs(40), Error::KeepaliveTimeout)]
        );
        assert_eq!(pair.server.transport_closed, Some(t0 + secs(40)));
        assert_eq!(pair.server.conn.state(), State::Closed);
        assert!(
            pair.client.unread() > 0,
            "the ping waits in the hung client's buffer"
        );
    }

    #[test]
    fn data_does_not_stand_in_for_a_missing_pong() {
        let mut pair = Pair::new(keepalive(10, 5), quiet().auto_pong(false));
        let t0 = pair.now;
        pair.drive();
        pair.advance(secs(10));
        assert_eq!(pair.server.ping_times(), [t0 + secs(10)]);
        for _ in 0..5 {
            pair.server.conn.send_text("still here").unwrap();
            pair.advance(secs(1));
        }
        assert_eq!(pair.client.event_list().len(), 5);
        assert_eq!(pair.client.error(), Some(&Error::KeepaliveTimeout));
        assert_eq!(pair.client.errors[0].0, t0 + secs(15));
    }

    #[test]
    fn an_application_pong_answers_too() {
        let mut pair = Pair::new(keepalive(10, 5), quiet().auto_pong(false));
        pair.drive();
        pair.advance(secs(10));
        let Some((_, Event::Ping(payload))) = pair.server.events.last().cloned() else {
            panic!("no ping");
        };
        pair.advance(secs(2));
        pair.server.conn.send_pong(&payload).unwrap();
        pair.advance(secs(10));
        assert!(pair.client.error().is_none());
        assert_eq!(pair.client.pong_times().len(), 1);
    }

    #[test]
    fn no_keepalive_once_closed() {
        let mut pair = Pair::new(keepalive(10, 5), keepalive(10, 5));
        pair.drive();
        pair.client.conn.close(CloseCode::NORMAL, "").unwrap();
        pair.drive();
        pair.assert_clean_close();
        pair.advance(secs(600));
        assert!(pair.server.ping_times().is_empty());
        assert!(pair.client.ping_times().is_empty());
        assert_eq!(pair.server.conn.poll_timeout(), None);
        assert_eq!(pair.client.conn.poll_timeout(), None);
    }
}

mod closing {
    use super::*;

    fn close_event(code: u16, reason: &str) -> Event {
        Event::Close(Some(CloseFrame::new(CloseCode(code), reason)))
    }

    #[test]
    fn clean_close_started_by_the_client() {
        let mut pair = Pair::new(quiet(), quiet());
        pair.client.conn.send_text("last words").unwrap();
        pair.client.conn.close(CloseCode::NORMAL, "bye").unwrap();
        let t = pair.now;
        pair.drive();
        assert_eq!(
            pair.server.event_list(),
            [Event::Text("last words".into()), close_event(1000, "bye")]
        );
        assert_eq!(pair.client.event_list(), [close_event(1000, "")]);
        pair.assert_clean_close();
        // The server closed first; the client followed on EOF.
        assert_eq!(pair.server.transport_closed, Some(t));
        assert!(pair.client.saw_eof());
        assert!(!pair.server.saw_eof());
    }

    #[test]
    fn clean_close_started_by_the_server() {
        let mut pair = Pair::new(quiet(), quiet());
        pair.server
            .conn
            .close(CloseCode::GOING_AWAY, "restart")
            .unwrap();
        pair.drive();
        assert_eq!(pair.client.event_list(), [close_event(1001, "restart")]);
        assert_eq!(pair.server.event_list(), [close_event(1001, "")]);
        pair.assert_clean_close();
        assert!(pair.client.saw_eof());
    }

    #[test]
    fn close_timeout_when_the_peer_never_replies() {
        for client_closes in [true, false] {
            let config = quiet().close_timeout(Some(secs(5)));
            let mut pair = Pair::new(config.clone(), config);
            let t0 = pair.now;
            let (closer, hung) = if client_closes {
                (&mut pair.client, &mut pair.server)
            } else {
                (&mut pair.server, &mut pair.client)
            };
            hung.frozen = true;
            closer.conn.close(CloseCode::NORMAL, "").unwrap();
            pair.advance(ms(4_999));
            let closer = if client_closes {
                &pair.client
            } else {
                &pair.server
            };
            assert!(closer.error().is_none());
            assert_eq!(closer.conn.state(), State::Closing);
            assert!(closer.transport_closed.is_none());
            pair.advance(ms(1));
            let closer = if client_closes {
                &pair.client
            } else {
                &pair.server
            };
            assert_eq!(closer.errors, [(t0 + secs(5), Error::CloseTimeout)]);
            assert_eq!(closer.conn.state(), State::Closed);
            assert_eq!(closer.transport_closed, Some(t0 + secs(5)));
        }
    }

    #[test]
    fn client_waits_for_the_server_to_close_the_transport() {
        let config = quiet().close_timeout(Some(secs(5)));
        let mut pair = Pair::new(config.clone(), config);
        pair.server.keep_transport_open = true;
        let t0 = pair.now;
        pair.client.conn.close(CloseCode::NORMAL, "").unwrap();
        pair.drive();
        // The handshake is done on both sides, but the server does not close the TCP connection.
        assert_eq!(pair.client.conn.state(), State::Closed);
        assert_eq!(pair.server.conn.state(), State::Closed);
        assert!(pair.server.conn.should_close_transport());
        assert!(!pair.client.conn.should_close_transport());
        pair.advance(ms(4_999));
        assert!(pair.client.transport_closed.is_none());
        pair.advance(ms(1));
        // The close timeout ends the wait; a clean close is still no error.
        assert_eq!(pair.client.transport_closed, Some(t0 + secs(5)));
        assert!(pair.client.error().is_none());
        assert!(!pair.client.saw_eof());
    }

    #[test]
    fn client_wait_starts_at_its_reply_to_a_server_close() {
        let config = quiet().close_timeout(Some(secs(5)));
        let mut pair = Pair::new(config.clone(), config);
        pair.server.keep_transport_open = true;
        pair.advance(secs(3));
        let t = pair.now;
        pair.server.conn.close(CloseCode::NORMAL, "").unwrap();
        pair.drive();
        assert_eq!(pair.client.conn.state(), State::Closed);
        pair.advance(ms(4_999));
        assert!(pair.client.transport_closed.is_none());
        pair.advance(ms(1));
        assert_eq!(pair.client.transport_closed, Some(t + secs(5)));
        assert!(pair.client.error().is_none());
    }

    #[test]
    fn without_a_close_timeout_the_client_waits_for_eof_forever() {
        let config = quiet().close_timeout(None);
        let mut pair = Pair::new(config.clone(), config);
        pair.server.keep_transport_open = true;
        pair.client.conn.close(CloseCode::NORMAL, "").unwrap();
        pair.drive();
        pair.advance(secs(3600));
        assert!(pair.client.transport_closed.is_none());
        assert!(pair.client.error().is_none());
        // Then the server closes after all.
        pair.server.keep_transport_open = false;
        pair.drive();
        pair.assert_clean_close();
        assert!(pair.client.saw_eof());
    }

    #[test]
    fn simultaneous_close() {
        let mut pair = Pair::new(quiet(), quiet());
        pair.client.conn.close(CloseCode(4001), "client").unwrap();
        pair.server.conn.close(CloseCode(4002), "server").unwrap();
        assert_eq!(pair.client.conn.state(), State::Closing);
        assert_eq!(pair.server.conn.state(), State::Closing);
        pair.drive();
        assert_eq!(pair.client.event_list(), [close_event(4002, "server")]);
        assert_eq!(pair.server.event_list(), [close_event(4001, "client")]);
        pair.assert_clean_close();
        // Each side wrote exactly its own close frame: no reply to a close that crossed ours.
        for (e, code) in [(&pair.client, 4001), (&pair.server, 4002)] {
            let frames = parse_frames(&e.written);
            assert_eq!(frames.len(), 1);
            assert_eq!(frames[0].opcode, CLOSE);
            assert_eq!(frames[0].close_code(), Some(code));
        }
        // No timer fires later.
        pair.advance(secs(60));
        assert!(pair.client.error().is_none() && pair.server.error().is_none());
    }

    #[test]
    fn simultaneous_close_with_data_in_flight() {
        let mut pair = Pair::new(quiet(), quiet());
        pair.client.conn.send_binary(b"c1").unwrap();
        pair.server.conn.send_binary(b"s1").unwrap();
        pair.client.conn.close_without_code().unwrap();
        pair.server.conn.close(CloseCode::NORMAL, "").unwrap();
        pair.drive();
        assert_eq!(
            pair.client.event_list(),
            [
                Event::Binary(Bytes::from_static(b"s1")),
                close_event(1000, "")
            ]
        );
        assert_eq!(
            pair.server.event_list(),
            [Event::Binary(Bytes::from_static(b"c1")), Event::Close(None)]
        );
        pair.assert_clean_close();
    }

    #[test]
    fn protocol_error_close_frame_reaches_the_peer_before_the_transport_closes() {
        // The server fails the connection: the client's message exceeds its limit (1009).
        let mut pair = Pair::new(quiet(), quiet().max_message_size(10));
        pair.client.conn.send_binary(&[0; 11]).unwrap();
        pair.drive();
        assert!(matches!(pair.server.error(), Some(Error::Protocol(_))));
        assert_eq!(
            pair.client.event_list(),
            [close_event(1009, "message exceeds the limit of 10 bytes")]
        );
        // The client got the close frame, answered (the server no longer reads) and, on the
        // server's EOF, closed too.
        assert_eq!(pair.client.conn.state(), State::Closed);
        assert!(pair.client.error().is_none());
        assert!(pair.server.transport_closed.is_some());
        assert!(pair.client.transport_closed.is_some());
    }
}

mod traffic {
    use super::*;

    #[test]
    fn messages_both_ways_through_read_buf() {
        let mut pair = Pair::new(quiet(), quiet());
        pair.client.use_read_buf = true;
        pair.server.use_read_buf = true;
        let big = common::pattern(300_000);
        pair.client.conn.send_binary(&big).unwrap();
        pair.server
            .conn
            .send_text(&common::mixed_text(40_000))
            .unwrap();
        pair.client.conn.send_ping(b"x").unwrap();
        pair.drive();
        assert_eq!(
            pair.server.event_list(),
            [
                Event::Binary(Bytes::from(big)),
                Event::Ping(Bytes::from_static(b"x"))
            ]
        );
        assert_eq!(
            pair.client.event_list(),
            [
                Event::Text(common::mixed_text(40_000).into()),
                Event::Pong(Bytes::from_static(b"x"))
            ]
        );
    }
}

/// Issue 10: what a peer that floods, stops reading, trickles or half-closes can cost, on the
/// virtual clock. (The drivers' side of the same cases runs over real sockets in
/// `tests/limits_drivers.rs`.)
mod limits {
    use super::*;
    use common::{BINARY, FIN, KEY, PONG, TEXT, frame, header, mask_bytes};

    /// Takes up to `n` bytes of `conn`'s output, as a slow transport would.
    fn take_at_most(conn: &mut wsproto::Connection, n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while out.len() < n && conn.buffered_output() > 0 {
            let run = conn.output();
            let take = run.len().min(n - out.len());
            out.extend_from_slice(&run[..take]);
            conn.consume_output(take);
        }
        out
    }

    /// A client frame (masked), as a hand-made peer sends it.
    fn from_client(b0: u8, payload: &[u8]) -> Vec<u8> {
        frame(b0, Some(KEY), payload)
    }

    #[test]
    fn the_defaults_are_the_documented_ones() {
        let c = Config::default();
        assert_eq!(c.keepalive_interval, Some(secs(20)));
        assert_eq!(c.keepalive_timeout, secs(20));
        assert_eq!(c.keepalive_min_progress, 16 * 1024);
        assert_eq!(c.close_timeout, Some(secs(10)));
        assert_eq!(c.output_high_water_mark, 128 * 1024);
        assert_eq!(c.max_frame_size, 16 << 20);
        assert_eq!(c.max_message_size, 64 << 20);
        assert_eq!(c.max_send_frame_size, None);
    }

    #[test]
    fn default_keepalive_closes_a_silent_peer() {
        let mut pair = Pair::new(quiet(), Config::default());
        let t0 = pair.now;
        pair.drive();
        pair.client.frozen = true;
        pair.advance(secs(60));
        // A ping at 20 s, no pong by 40 s: aborted.
        assert_eq!(
            pair.server.errors,
            [(t0 + secs(40), Error::KeepaliveTimeout)]
        );
        assert_eq!(pair.server.transport_closed, Some(t0 + secs(40)));
    }

    #[test]
    fn a_ping_flood_from_a_peer_that_does_not_read_costs_constant_output() {
        let mut pair = Pair::new(quiet(), quiet());
        pair.client.frozen = true;
        pair.server.write_blocked = true;
        let mut max = 0;
        for i in 0..20_000u32 {
            pair.server
                .inject(&from_client(FIN | PING, &i.to_be_bytes()));
            if i % 100 == 0 {
                pair.drive();
                max = max.max(pair.server.conn.buffered_output());
            }
        }
        pair.drive();
        assert_eq!(pair.server.ping_times().len(), 20_000);
        assert!(max <= 1024 + 6, "unwritten pongs grew to {max} bytes");
        // When the transport takes bytes again, the newest ping is answered last.
        pair.server.write_blocked = false;
        pair.drive();
        let pongs = parse_frames(&pair.server.written);
        assert!(pongs.iter().all(|f| f.opcode == PONG));
        assert_eq!(pongs.last().unwrap().payload, 19_999u32.to_be_bytes());
    }

    #[test]
    fn reading_pauses_above_the_output_high_water_mark() {
        let config = quiet().output_high_water_mark(64 * 1024);
        let mut pair = Pair::new(quiet(), config);
        pair.server.write_blocked = true;
        pair.server.conn.send_binary(&[7; 100_000]).unwrap();
        assert!(!pair.server.conn.wants_input());
        pair.client.conn.send_text("held back").unwrap();
        pair.drive();
        // The client's message waits in the transport, not in the server.
        assert!(pair.server.events.is_empty());
        assert_eq!(pair.server.conn.buffered_input(), 0);
        assert!(pair.server.unread() > 0);
        // Once the output drains, reading resumes.
        pair.server.write_blocked = false;
        pair.drive();
        assert!(pair.server.conn.wants_input());
        assert_eq!(pair.server.event_list(), [Event::Text("held back".into())]);
        assert_eq!(
            pair.client.event_list(),
            [Event::Binary(vec![7; 100_000].into())]
        );
    }

    #[test]
    fn a_trickle_inside_one_frame_does_not_keep_the_connection_alive() {
        let mut pair = Pair::new(quiet(), keepalive(10, 5));
        let t0 = pair.now;
        pair.drive();
        pair.client.frozen = true;
        // A frame announcing 1 MiB, then one byte a second.
        pair.server
            .inject(&header(FIN | BINARY, Some(KEY), 1 << 20));
        for _ in 0..30 {
            pair.server.inject(&[0]);
            pair.advance(secs(1));
        }
        // Pinged at 10 s; the wait was not extended (1 byte per window is no progress).
        assert_eq!(
            pair.server.errors,
            [(t0 + secs(15), Error::KeepaliveTimeout)]
        );
    }

    #[test]
    fn a_large_frame_on_a_slow_link_is_not_cut_off() {
        // 2 MiB at 32 KiB/s takes 64 s, far longer than the pong wait of 5 s: the wait is
        // extended while the frame keeps moving faster than 16 KiB per wait.
        let mut pair = Pair::new(quiet(), keepalive(10, 5).max_message_size(4 << 20));
        let t0 = pair.now;
        pair.drive();
        pair.client.frozen = true;
        let payload = common::pattern(2 << 20);
        let wire = from_client(FIN | BINARY, &payload);
        let chunks: Vec<_> = wire.chunks(32 * 1024).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            pair.server.inject(chunk);
            if i == chunks.len() - 1 {
                // The peer's pong follows its frame.
                pair.server.inject(&from_client(FIN | PONG, b""));
            }
            pair.advance(secs(1));
        }
        assert!(pair.server.error().is_none(), "{:?}", pair.server.errors);
        let pings = |e: &common::pair::Endpoint| {
            parse_frames(&e.written)
                .iter()
                .filter(|f| f.opcode == PING)
                .count()
        };
        assert_eq!(pings(&pair.server), 1);
        assert!(pair.now > t0 + secs(60));
        assert!(
            pair.server
                .event_list()
                .contains(&Event::Binary(payload.into()))
        );
        // Keepalive goes on as usual.
        pair.advance(secs(10));
        assert_eq!(pings(&pair.server), 2);
    }

    #[test]
    fn a_slow_fragmented_message_is_not_cut_off_between_its_frames() {
        // 64 fragments of 32 KiB, one a second: at every deadline the peer is between two frames
        // of its message, and queues its pong after the last one.
        let mut pair = Pair::new(quiet(), keepalive(10, 5).max_message_size(4 << 20));
        pair.drive();
        pair.client.frozen = true;
        for i in 0..64 {
            let (b0, fin) = match i {
                0 => (BINARY, false),
                63 => (FIN | common::CONT, true),
                _ => (common::CONT, false),
            };
            pair.server.inject(&from_client(b0, &[i as u8; 32 * 1024]));
            if fin {
                pair.server.inject(&from_client(FIN | PONG, b""));
            }
            pair.advance(secs(1));
            assert!(
                pair.server.error().is_none(),
                "fragment {i}: {:?}",
                pair.server.errors
            );
        }
        let Some(Event::Binary(message)) = pair.server.event_list().into_iter().next() else {
            panic!("{:?}", pair.server.events);
        };
        assert_eq!(message.len(), 2 << 20);
        // A peer that stops in the middle of its message is still cut off.
        pair.server.inject(&from_client(BINARY, &[0; 10]));
        pair.advance(secs(30));
        assert_eq!(pair.server.error(), Some(&Error::KeepaliveTimeout));
    }

    #[test]
    fn our_ping_behind_a_slowly_draining_output_is_not_cut_off() {
        // The server's ping waits behind 1 MiB of its own output that leaves at 64 KiB/s; the
        // client answers as soon as the ping arrives.
        let mut pair = Pair::new(quiet(), keepalive(10, 5));
        pair.drive();
        pair.server
            .conn
            .send_binary(&common::pattern(1 << 20))
            .unwrap();
        let mut written = 0usize;
        pair.server.write_blocked = true;
        pair.advance(secs(10)); // the ping is queued now, behind the message
        while pair.server.conn.buffered_output() > 0 && pair.server.error().is_none() {
            // Let 64 KiB through per second.
            let chunk = take_at_most(&mut pair.server.conn, 64 * 1024);
            written += chunk.len();
            pair.client.inject(&chunk);
            pair.advance(secs(1));
        }
        assert!(pair.server.error().is_none(), "{:?}", pair.server.errors);
        assert!(written > 1 << 20);
        assert_eq!(pair.server.conn.state(), State::Open);
    }

    #[test]
    fn a_pong_held_back_by_the_high_water_mark_is_not_cut_off() {
        // The ping leaves at once, but 1 MiB queued right after it keeps reading paused while it
        // drains at 64 KiB/s: the client's pong waits unread in the transport for 16 s.
        let mut pair = Pair::new(quiet(), keepalive(10, 5));
        pair.drive();
        pair.server.write_blocked = true;
        pair.advance(secs(10)); // the ping is queued
        pair.server
            .conn
            .send_binary(&common::pattern(1 << 20))
            .unwrap();
        assert!(!pair.server.conn.wants_input());
        while pair.server.conn.buffered_output() > 0 && pair.server.error().is_none() {
            let chunk = take_at_most(&mut pair.server.conn, 64 * 1024);
            pair.client.inject(&chunk);
            pair.advance(secs(1));
        }
        assert!(pair.server.error().is_none(), "{:?}", pair.server.errors);
        pair.server.write_blocked = false;
        pair.advance(secs(1));
        assert_eq!(pair.server.conn.state(), State::Open);
        assert!(
            pair.server
                .event_list()
                .iter()
                .any(|e| matches!(e, Event::Pong(_)))
        );
    }

    #[test]
    fn close_timeout_covers_a_close_frame_stuck_behind_output() {
        let config = quiet().close_timeout(Some(secs(5)));
        let mut pair = Pair::new(quiet(), config);
        let t0 = pair.now;
        pair.server.write_blocked = true;
        pair.server.conn.send_binary(&[1; 500_000]).unwrap();
        pair.server.conn.close(CloseCode::NORMAL, "").unwrap();
        pair.advance(ms(4_999));
        assert!(pair.server.transport_closed.is_none());
        pair.advance(ms(1));
        assert_eq!(pair.server.errors, [(t0 + secs(5), Error::CloseTimeout)]);
        assert!(pair.server.conn.should_close_transport());
        assert_eq!(pair.server.conn.buffered_output(), 0, "output dropped");
        assert_eq!(pair.server.transport_closed, Some(t0 + secs(5)));
    }

    #[test]
    fn close_timeout_covers_a_reply_the_peer_does_not_read() {
        // The peer sent its close and then stopped reading: our reply cannot leave.
        let config = quiet()
            .close_timeout(Some(secs(5)))
            .output_high_water_mark(usize::MAX);
        let mut pair = Pair::new(quiet(), config);
        pair.server.write_blocked = true;
        pair.server.conn.send_binary(&[1; 500_000]).unwrap();
        pair.client.conn.close(CloseCode::NORMAL, "").unwrap();
        pair.drive();
        let t = pair.now;
        assert_eq!(pair.server.conn.state(), State::Closed);
        assert!(!pair.server.conn.should_close_transport());
        pair.advance(secs(5));
        assert_eq!(pair.server.errors, [(t + secs(5), Error::CloseTimeout)]);
        assert_eq!(pair.server.transport_closed, Some(t + secs(5)));
    }

    #[test]
    fn close_timeout_bounds_the_close_frame_of_a_protocol_error() {
        let config = quiet().close_timeout(Some(secs(5))).max_message_size(10);
        let mut pair = Pair::new(quiet(), config);
        pair.server.write_blocked = true;
        pair.client.conn.send_binary(&[0; 11]).unwrap();
        pair.drive();
        let t = pair.now;
        assert!(matches!(pair.server.error(), Some(Error::Protocol(_))));
        assert!(
            pair.server.conn.buffered_output() > 0,
            "the 1009 close waits"
        );
        assert!(!pair.server.conn.should_close_transport());
        pair.advance(secs(5));
        // No second error; the transport is closed whatever is buffered.
        assert_eq!(pair.server.errors.len(), 1);
        assert_eq!(pair.server.transport_closed, Some(t + secs(5)));
        assert_eq!(pair.server.conn.buffered_output(), 0);
    }

    #[test]
    fn a_half_closed_peer_gets_our_reply_and_everything_queued() {
        let mut pair = Pair::new(quiet(), quiet().output_high_water_mark(usize::MAX));
        // The server has data queued that the transport has not taken yet.
        pair.server.write_blocked = true;
        pair.server.conn.send_binary(&[5; 200_000]).unwrap();
        pair.server.conn.send_text("last").unwrap();
        // The client sends its close, then ends its side of TCP (but still reads).
        pair.client.conn.close(CloseCode::NORMAL, "bye").unwrap();
        pair.drive();
        pair.server.deliver_eof();
        pair.drive();
        assert!(pair.server.saw_eof());
        assert_eq!(pair.server.conn.state(), State::Closed);
        assert!(pair.server.error().is_none());
        assert!(
            !pair.server.conn.should_close_transport(),
            "output still queued"
        );
        assert!(pair.server.transport_closed.is_none());
        pair.server.write_blocked = false;
        pair.drive();
        assert_eq!(
            pair.client.event_list(),
            [
                Event::Binary(vec![5; 200_000].into()),
                Event::Text("last".into()),
                Event::Close(Some(CloseFrame::new(CloseCode::NORMAL, "")))
            ]
        );
        assert!(pair.server.transport_closed.is_some());
        assert!(pair.client.transport_closed.is_some());
    }

    #[test]
    fn end_of_input_after_a_close_still_lets_the_reply_out() {
        // The peer's close and its EOF arrive together, while our output is blocked.
        let mut pair = Pair::new(quiet(), quiet());
        pair.client.frozen = true;
        pair.server.write_blocked = true;
        pair.server.conn.send_text("queued").unwrap();
        pair.server
            .inject(&from_client(FIN | CLOSE, &1000u16.to_be_bytes()));
        pair.server.deliver_eof();
        pair.drive();
        assert_eq!(pair.server.conn.state(), State::Closed);
        assert!(pair.server.error().is_none());
        assert!(
            !pair.server.conn.should_close_transport(),
            "the reply is still queued"
        );
        pair.server.write_blocked = false;
        pair.drive();
        let frames = parse_frames(&pair.server.written);
        assert_eq!(frames.len(), 2);
        assert_eq!(
            (frames[0].opcode, &frames[0].payload[..]),
            (TEXT, &b"queued"[..])
        );
        assert_eq!(frames[1].opcode, CLOSE);
        assert!(pair.server.transport_closed.is_some());
    }

    #[test]
    fn close_after_the_peer_closed_is_ok_and_sends_nothing() {
        let mut pair = Pair::new(quiet(), quiet());
        pair.client.conn.close(CloseCode::NORMAL, "bye").unwrap();
        pair.drive();
        pair.assert_clean_close();
        let written = pair.server.written.len();
        assert_eq!(
            pair.server.conn.close(CloseCode::GOING_AWAY, "late"),
            Ok(())
        );
        assert_eq!(pair.client.conn.close(CloseCode::NORMAL, ""), Ok(()));
        assert_eq!(pair.server.conn.buffered_output(), 0);
        pair.drive();
        assert_eq!(pair.server.written.len(), written);
    }

    #[test]
    fn huge_durations_mean_never_and_do_not_panic() {
        let huge = quiet()
            .keepalive_interval(Some(Duration::MAX))
            .keepalive_timeout(Duration::MAX)
            .close_timeout(Some(Duration::MAX));
        let mut pair = Pair::new(huge.clone(), huge);
        pair.drive();
        pair.advance(Duration::from_secs(u64::MAX / 4));
        assert!(pair.server.ping_times().is_empty());
        pair.client.conn.close(CloseCode::NORMAL, "").unwrap();
        pair.server.frozen = true;
        pair.advance(Duration::from_secs(u64::MAX / 4));
        assert!(pair.client.error().is_none());
        assert_eq!(pair.client.conn.state(), State::Closing);
        // A keepalive ping that is due at once, with a pong wait of forever.
        let mut c = common::conn(
            wsproto::Role::Server,
            quiet()
                .keepalive_interval(Some(Duration::ZERO))
                .keepalive_timeout(Duration::MAX),
        );
        let late = Duration::MAX - Duration::from_secs(1);
        c.handle_timeout(late);
        c.handle_timeout(late);
        assert_eq!(parse_frames(&common::take_output(&mut c))[0].opcode, PING);
        c.handle_timeout(Duration::MAX);
        assert_eq!(c.poll_event(), Ok(None));
        assert_eq!(c.state(), State::Open);
    }

    #[test]
    fn every_timer_ends_in_should_close_transport() {
        // Keepalive, close timeout while closing, reply stuck, client waiting for EOF, error
        // frame stuck: each, when it fires, lets the transport be closed.
        type Setup = fn(&mut Pair);
        let cases: [(&str, Setup); 5] = [
            ("keepalive", |p| {
                p.client.frozen = true;
            }),
            ("close unanswered", |p| {
                p.client.frozen = true;
                p.server.conn.close(CloseCode::NORMAL, "").unwrap();
            }),
            ("reply stuck", |p| {
                p.server.write_blocked = true;
                p.client.conn.close(CloseCode::NORMAL, "").unwrap();
            }),
            ("close frame stuck", |p| {
                p.server.write_blocked = true;
                p.server.conn.close(CloseCode::NORMAL, "").unwrap();
            }),
            ("error frame stuck", |p| {
                p.server.write_blocked = true;
                p.server.inject(&from_client(FIN | 0x3, b""));
            }),
        ];
        for (name, setup) in cases {
            let config = keepalive(10, 5).close_timeout(Some(secs(3)));
            let mut pair = Pair::new(quiet(), config);
            pair.drive();
            setup(&mut pair);
            pair.advance(secs(30));
            assert!(
                pair.server.transport_closed.is_some(),
                "{name}: transport still open"
            );
            assert_eq!(pair.server.conn.state(), State::Closed, "{name}");
            assert_eq!(
                pair.server.conn.poll_timeout(),
                None,
                "{name}: a timer still runs"
            );
        }
    }

    #[test]
    fn masking_helper_matches_the_client_frames() {
        // (Sanity check of the hand-made frames used above.)
        let f = from_client(FIN | TEXT, b"abc");
        assert_eq!(&f[6..], &mask_bytes(b"abc", KEY)[..]);
    }
}

mod unsent_data {
    use super::*;

    #[test]
    fn has_unsent_data_tells_data_from_our_close_frame() {
        let mut pair = Pair::new(quiet(), quiet());
        let c = &mut pair.server.conn;
        assert!(!c.has_unsent_data());
        c.send_text("x").unwrap();
        assert!(c.has_unsent_data());
        c.close(CloseCode::NORMAL, "").unwrap();
        assert!(c.has_unsent_data(), "the text is still before the close");
        let n = c.output().len() - 4; // all but the 4-byte close frame
        c.consume_output(n);
        assert!(!c.has_unsent_data(), "only the close frame is left");
        assert!(c.buffered_output() > 0);
    }
}
