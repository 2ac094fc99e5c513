//! Issue 10, the sans-IO parts not on the virtual clock: a permessage-deflate message ending
//! its DEFLATE stream with BFINAL=1 (RFC 7692 §7.2.3.4) decodes in every split, and a
//! `ServerHandshake` caps the bytes that follow a request before it is answered.
//! (Timers, floods and half-close of the core are in `tests/pair.rs`; the drivers' in
//! `tests/limits_drivers.rs`.)

mod common;

use common::{FIN, KEY, TEXT, frame};
use wsproto::Event;
use wsproto::handshake::{AcceptOptions, HandshakeError, HandshakeLimits, ServerHandshake};

const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

#[test]
fn early_data_after_the_request_is_capped() {
    let limits = HandshakeLimits::default().max_header_size(1024);
    // Within the cap: kept for the connection.
    let early = frame(FIN | TEXT, Some(KEY), b"early");
    let mut hs = ServerHandshake::new().limits(limits);
    let mut input = REQUEST.to_vec();
    input.extend_from_slice(&early);
    assert!(hs.receive(&input).unwrap().is_some());
    let (_, mut conn) = hs.accept(AcceptOptions::new()).unwrap();
    assert_eq!(
        conn.poll_event().unwrap(),
        Some(Event::Text("early".into()))
    );

    // Too much together with the head.
    let mut hs = ServerHandshake::new().limits(limits);
    let mut input = REQUEST.to_vec();
    input.extend_from_slice(&[0; 1025]);
    assert_eq!(
        hs.receive(&input).unwrap_err(),
        HandshakeError::EarlyDataTooLarge { limit: 1024 }
    );
    assert!(hs.accept(AcceptOptions::new()).is_err());

    // Too much fed after the head, in pieces: refused once the total passes the cap.
    let mut hs = ServerHandshake::new().limits(limits);
    assert!(hs.receive(REQUEST).unwrap().is_some());
    for _ in 0..8 {
        assert!(hs.receive(&[0; 128]).unwrap().is_some());
    }
    let err = hs.receive(&[0; 1]).unwrap_err();
    assert_eq!(err, HandshakeError::EarlyDataTooLarge { limit: 1024 });
    assert!(!err.to_string().is_empty());
    assert_eq!(err.response(), None, "no HTTP answer: just close");
    // The error is final.
    assert!(hs.receive(b"").is_err());
}

#[cfg(feature = "deflate")]
mod bfinal {
    use super::*;
    use common::{CONT, RSV1, peer_mask};
    use wsproto::Connection;
    use wsproto::extensions::deflate::{DeflateConfig, DeflateParams};
    use wsproto::{Config, Role};

    /// "Hello" compressed in a DEFLATE block with BFINAL set, followed by the empty block that
    /// lets it be decompressed like any other message (RFC 7692 §7.2.3.4).
    const HELLO_BFINAL: [u8; 8] = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
    /// "Hello" compressed the usual way (RFC 7692 §7.2.3.1).
    const HELLO: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];

    fn params(no_context_takeover: bool) -> DeflateParams {
        DeflateConfig {
            server_no_context_takeover: no_context_takeover,
            client_no_context_takeover: no_context_takeover,
            ..DeflateConfig::default()
        }
        .accept_offer([])
        .unwrap()
        .unwrap()
    }

    fn receiver(role: Role, stream: bool, takeover: bool) -> Connection {
        Connection::with_random(
            role,
            Config::default().stream_messages(stream),
            |b: &mut [u8]| b.fill(0),
        )
        .with_deflate(&params(!takeover))
    }

    /// The text of every event until `Ok(None)` (fragments joined); panics on an error.
    fn texts(c: &mut Connection, partial: &mut String) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(event) = c.poll_event().unwrap() {
            match event {
                Event::Text(t) => out.push(t.as_str().to_owned()),
                Event::TextFragment { data, fin } => {
                    partial.push_str(data.as_str());
                    if fin {
                        out.push(std::mem::take(partial));
                    }
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        out
    }

    #[test]
    fn a_message_ending_with_bfinal_decodes_in_every_split() {
        for role in [Role::Client, Role::Server] {
            let mask = peer_mask(role);
            // The BFINAL message in one frame, then in two, then an ordinary message: the
            // decompressor starts afresh after a stream that ended.
            let mut wire = frame(FIN | RSV1 | TEXT, mask, &HELLO_BFINAL);
            wire.extend(frame(RSV1 | TEXT, mask, &HELLO_BFINAL[..3]));
            wire.extend(frame(FIN | CONT, mask, &HELLO_BFINAL[3..]));
            wire.extend(frame(FIN | RSV1 | TEXT, mask, &HELLO));
            for stream in [false, true] {
                for takeover in [false, true] {
                    for split in 0..=wire.len() {
                        let mut c = receiver(role, stream, takeover);
                        let mut partial = String::new();
                        c.receive(&wire[..split]);
                        let mut got = texts(&mut c, &mut partial);
                        c.receive(&wire[split..]);
                        got.extend(texts(&mut c, &mut partial));
                        assert_eq!(
                            got,
                            ["Hello", "Hello", "Hello"],
                            "{role:?} stream={stream} takeover={takeover} split={split}"
                        );
                    }
                }
            }
            // Byte by byte.
            let mut c = receiver(role, false, true);
            let mut got = Vec::new();
            let mut partial = String::new();
            for b in &wire {
                c.receive(std::slice::from_ref(b));
                got.extend(texts(&mut c, &mut partial));
            }
            assert_eq!(got, ["Hello", "Hello", "Hello"]);
        }
    }
}
