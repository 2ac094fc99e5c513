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
