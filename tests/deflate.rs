//! permessage-deflate (RFC 7692) through the Connection: the RFC's examples, round trips in
//! both directions and every split, and the failure paths.
#![cfg(feature = "deflate")]

use proptest::prelude::*;
use wsproto::extensions::deflate::{DeflateConfig, DeflateParams};
use wsproto::{Bytes, Config, Connection, Error, Event, Message, ProtocolError, Role, State};

fn params(no_context_takeover: bool, threshold: usize) -> DeflateParams {
    let config = DeflateConfig {
        compress_threshold: threshold,
        server_no_context_takeover: no_context_takeover,
        client_no_context_takeover: no_context_takeover,
        ..DeflateConfig::default()
    };
    config.accept_offer([]).unwrap().unwrap()
}

fn endpoint(role: Role, config: Config, p: &DeflateParams) -> Connection {
    let mut key = 0u8;
    Connection::with_random(role, config, move |buf: &mut [u8]| {
        for b in buf {
            key = key.wrapping_add(17);
            *b = key;
        }
    })
    .with_deflate(p)
}

fn drain(conn: &mut Connection) -> Vec<Result<Event, Error>> {
    let mut events = Vec::new();
    loop {
        match conn.poll_event() {
            Ok(Some(e)) => events.push(Ok(e)),
            Ok(None) => return events,
            Err(e) => events.push(Err(e)),
        }
    }
}

fn take_all_output(conn: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = conn.take_output() {
        out.extend_from_slice(&chunk);
    }
    out
}

#[test]
fn rfc7692_7_2_3_1_a_message_compressed_in_one_frame() {
    let mut client = endpoint(Role::Client, Config::default(), &params(false, 0));
    client.receive(&[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    assert_eq!(drain(&mut client), vec![Ok(Event::Text("Hello".into()))]);
}

#[test]
fn rfc7692_7_2_3_1_fragmented_compressed_message() {
    let mut client = endpoint(Role::Client, Config::default(), &params(false, 0));
    client.receive(&[0x41, 0x03, 0xf2, 0x48, 0xcd]);
    assert_eq!(drain(&mut client), vec![]);
    client.receive(&[0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00]);
    assert_eq!(drain(&mut client), vec![Ok(Event::Text("Hello".into()))]);
}

#[test]
fn rfc7692_7_2_3_2_context_takeover_shares_the_window() {
    // "Hello" twice; the second one refers back to the first.
    let mut client = endpoint(Role::Client, Config::default(), &params(false, 0));
    client.receive(&[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    client.receive(&[0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00]);
    assert_eq!(
        drain(&mut client),
        vec![
            Ok(Event::Text("Hello".into())),
            Ok(Event::Text("Hello".into()))
        ]
    );
}

#[test]
fn a_message_that_compression_would_grow_is_sent_as_it_is() {
    // RFC 7692 §7.2.3.1 compresses "Hello" to 7 bytes: longer than the 5 it saves, so a sender
    // may (and this one does) send it uncompressed. The codec's own test checks those 7 bytes.
    let mut server = endpoint(Role::Server, Config::default(), &params(false, 0));
    server.send_text("Hello").unwrap();
    assert_eq!(take_all_output(&mut server), b"\x81\x05Hello");
    server.send_text("HelloHelloHelloHelloHelloHello").unwrap();
    assert_eq!(
        take_all_output(&mut server)[0],
        0xc1,
        "repetitive text is compressed"
    );
}

#[test]
fn short_messages_below_the_threshold_go_uncompressed() {
    let mut server = endpoint(Role::Server, Config::default(), &params(false, 64));
    server.send_text("Hello").unwrap();
    assert_eq!(take_all_output(&mut server), b"\x81\x05Hello");
}

#[test]
fn rsv1_on_a_continuation_or_control_frame_is_a_protocol_error() {
    for input in [
        &[
            0x41, 0x03, 0xf2, 0x48, 0xcd, 0xc0, 0x04, 0xc9, 0xc9, 0x07, 0x00,
        ][..],
        &[0xc9, 0x00][..],
        &[0xe1, 0x00][..],
    ] {
        let mut client = endpoint(Role::Client, Config::default(), &params(false, 0));
        client.receive(input);
        let events = drain(&mut client);
        assert!(
            matches!(
                events.last(),
                Some(Err(Error::Protocol(ProtocolError::ReservedBits(_))))
            ),
            "{events:?}"
        );
        assert_eq!(&take_all_output(&mut client)[..1], &[0x88]);
        assert_eq!(client.state(), State::Closed);
    }
}

#[test]
fn rsv1_without_negotiated_deflate_is_a_protocol_error() {
    let mut client = Connection::new(Role::Client, Config::default());
    client.receive(&[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    assert_eq!(
        drain(&mut client),
        vec![Err(Error::Protocol(ProtocolError::ReservedBits(0b100)))]
    );
}

#[test]
fn corrupt_compressed_data_fails_with_1007() {
    let mut client = endpoint(Role::Client, Config::default(), &params(false, 0));
    client.receive(&[0xc2, 0x04, 0xff, 0xff, 0xff, 0xff]);
    assert_eq!(
        drain(&mut client),
        vec![Err(Error::Protocol(ProtocolError::InvalidCompressedData))]
    );
    let out = take_all_output(&mut client);
    // A masked close frame from the client: unmask the code.
    assert_eq!(out[0], 0x88);
    let key = [out[2], out[3], out[4], out[5]];
    let code = u16::from_be_bytes([out[6] ^ key[0], out[7] ^ key[1]]);
    assert_eq!(code, 1007);
}

#[test]
fn invalid_utf8_inside_compressed_text_fails_with_1007() {
    let p = params(false, 0);
    let mut server = endpoint(Role::Server, Config::default(), &p);
    server.send_binary(&[b'a', 0xff, b'b']).unwrap();
    let mut wire = take_all_output(&mut server);
    wire[0] = (wire[0] & 0xf0) | 0x1; // relabel as text
    let mut client = endpoint(Role::Client, Config::default(), &p);
    client.receive(&wire);
    assert_eq!(
        drain(&mut client),
        vec![Err(Error::Protocol(ProtocolError::InvalidUtf8))]
    );
}

#[test]
fn a_decompression_bomb_stops_at_the_message_limit() {
    let p = params(false, 0);
    let mut server = endpoint(Role::Server, Config::default(), &p);
    server
        .send(Message::Binary(Bytes::from(vec![0u8; 8 << 20])))
        .unwrap();
    let wire = take_all_output(&mut server);
    assert!(
        wire.len() < 128 * 1024,
        "8 MiB of zeros should compress well: {}",
        wire.len()
    );
    let mut client = endpoint(
        Role::Client,
        Config::default().max_message_size(1 << 20),
        &p,
    );
    client.receive(&wire);
    assert_eq!(
        drain(&mut client),
        vec![Err(Error::Protocol(ProtocolError::MessageTooLarge {
            limit: 1 << 20
        }))]
    );
}

#[test]
fn a_message_exactly_at_the_limit_is_accepted() {
    let p = params(false, 0);
    let mut server = endpoint(Role::Server, Config::default(), &p);
    server.send_binary(&[7u8; 1000]).unwrap();
    let wire = take_all_output(&mut server);
    let mut client = endpoint(Role::Client, Config::default().max_message_size(1000), &p);
    client.receive(&wire);
    assert_eq!(
        drain(&mut client),
        vec![Ok(Event::Binary(Bytes::from(vec![7u8; 1000])))]
    );
}

#[test]
fn streamed_receive_of_a_large_compressed_message_comes_in_bounded_parts() {
    let p = params(false, 0);
    let mut server = endpoint(Role::Server, Config::default(), &p);
    let text = "héllo wörld ✓ 😀 ".repeat(40_000);
    server.send_text(&text).unwrap();
    let wire = take_all_output(&mut server);
    let mut client = endpoint(Role::Client, Config::default().stream_messages(true), &p);
    client.receive(&wire);
    let mut joined = String::new();
    let mut parts = 0;
    for event in drain(&mut client) {
        match event.unwrap() {
            Event::TextFragment { data, fin } => {
                assert!(data.len() <= 64 * 1024);
                joined.push_str(&data);
                parts += 1;
                assert_eq!(fin, joined.len() == text.len());
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(parts > 1);
    assert_eq!(joined, text);
}

#[derive(Debug, Clone)]
enum Msg {
    Text(String),
    Binary(Vec<u8>),
    StreamedText(Vec<String>),
}

fn msg() -> impl Strategy<Value = Msg> {
    prop_oneof![
        "\\PC{0,300}".prop_map(Msg::Text),
        "(abc|xyz|é|😀){0,2000}".prop_map(Msg::Text),
        proptest::collection::vec(any::<u8>(), 0..2000).prop_map(Msg::Binary),
        proptest::collection::vec(0u8..4, 0..5000).prop_map(Msg::Binary),
        proptest::collection::vec("\\PC{0,50}", 1..5).prop_map(Msg::StreamedText),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn compressed_round_trip_any_split_both_directions(
        msgs in proptest::collection::vec(msg(), 1..8),
        no_context_takeover in any::<bool>(),
        threshold in prop_oneof![Just(0usize), Just(64)],
        frame_size in prop_oneof![Just(None), Just(Some(7usize)), Just(Some(300))],
        chunk in 1usize..600,
        streaming in any::<bool>(),
    ) {
        let p = params(no_context_takeover, threshold);
        for sender_role in [Role::Client, Role::Server] {
            let receiver_role = if sender_role == Role::Client { Role::Server } else { Role::Client };
            let mut config = Config::default();
            config.max_send_frame_size = frame_size;
            let mut tx = endpoint(sender_role, config, &p);
            let mut rx = endpoint(receiver_role, Config::default().stream_messages(streaming), &p);
            let mut expected = Vec::new();
            for m in &msgs {
                match m {
                    Msg::Text(t) => { tx.send_text(t).unwrap(); expected.push(t.as_bytes().to_vec()); }
                    Msg::Binary(b) => { tx.send_binary(b).unwrap(); expected.push(b.clone()); }
                    Msg::StreamedText(parts) => {
                        for (i, part) in parts.iter().enumerate() {
                            tx.send_text_fragment(part, i + 1 == parts.len()).unwrap();
                        }
                        tx.send_ping(b"between").unwrap();
                        expected.push(parts.concat().into_bytes());
                    }
                }
            }
            let wire = take_all_output(&mut tx);
            let mut got: Vec<Vec<u8>> = Vec::new();
            let mut partial = Vec::new();
            for piece in wire.chunks(chunk) {
                rx.receive(piece);
                for event in drain(&mut rx) {
                    match event.unwrap() {
                        Event::Text(t) => got.push(t.as_bytes().to_vec()),
                        Event::Binary(b) => got.push(b.to_vec()),
                        Event::TextFragment { data, fin } => {
                            partial.extend_from_slice(data.as_bytes());
                            if fin { got.push(std::mem::take(&mut partial)); }
                        }
                        Event::BinaryFragment { data, fin } => {
                            partial.extend_from_slice(&data);
                            if fin { got.push(std::mem::take(&mut partial)); }
                        }
                        Event::Ping(_) | Event::Pong(_) => {}
                        Event::Close(c) => panic!("unexpected close {c:?}"),
                    }
                }
            }
            prop_assert_eq!(&got, &expected);
        }
    }
}

/// Runs a client handshake against a server handshake in memory, the server accepting deflate
/// with `server_config` when offered. Returns (client, server) connections.
fn handshake_pair(
    client_config: Option<DeflateConfig>,
    server_config: Option<DeflateConfig>,
) -> Result<(Connection, Connection), wsproto::HandshakeError> {
    use wsproto::handshake::{
        AcceptOptions, ClientHandshake, ClientOutcome, ClientRequest, ServerHandshake,
    };
    let mut request = ClientRequest::from_url("ws://example.com/chat")?;
    if let Some(c) = client_config {
        request = request.deflate(c);
    }
    let mut client = ClientHandshake::new(request);
    let mut server = ServerHandshake::new();
    let request = server
        .receive(client.request_bytes())?
        .expect("complete request")
        .clone();
    let mut options = AcceptOptions::new();
    if let Some(params) = server_config.and_then(|c| request.negotiate_deflate(&c)) {
        options = options.deflate(params);
    }
    let (response, server_conn) = server.accept(options)?;
    match client.receive(&response)? {
        ClientOutcome::Accepted { connection, .. } => Ok((connection, server_conn)),
        other => panic!("not accepted: {other:?}"),
    }
}

#[test]
fn handshake_negotiates_deflate_and_messages_travel_compressed() {
    let (mut client, mut server) = handshake_pair(
        Some(DeflateConfig::default()),
        Some(DeflateConfig::default()),
    )
    .unwrap();
    assert!(client.deflate_enabled() && server.deflate_enabled());
    let text = "compress me, compress me, compress me, compress me, compress me!";
    client.send_text(text).unwrap();
    let wire = take_all_output(&mut client);
    assert_eq!(wire[0], 0xc1, "RSV1 and FIN on a text frame");
    assert!(wire.len() < text.len());
    server.receive(&wire);
    assert_eq!(drain(&mut server), vec![Ok(Event::Text(text.into()))]);
    server.send_text(text).unwrap();
    let wire = take_all_output(&mut server);
    assert_eq!(wire[0], 0xc1);
    client.receive(&wire);
    assert_eq!(drain(&mut client), vec![Ok(Event::Text(text.into()))]);
}

#[test]
fn handshake_without_a_server_deflate_config_declines() {
    let (client, server) = handshake_pair(Some(DeflateConfig::default()), None).unwrap();
    assert!(!client.deflate_enabled() && !server.deflate_enabled());
    let (client, server) = handshake_pair(None, Some(DeflateConfig::default())).unwrap();
    assert!(!client.deflate_enabled() && !server.deflate_enabled());
}

#[test]
fn handshake_negotiates_window_bits_and_no_context_takeover() {
    let client_config = DeflateConfig {
        server_max_window_bits: 10,
        server_no_context_takeover: true,
        ..DeflateConfig::default()
    };
    let server_config = DeflateConfig {
        client_max_window_bits: 12,
        ..DeflateConfig::default()
    };
    let (mut client, mut server) =
        handshake_pair(Some(client_config), Some(server_config)).unwrap();
    assert!(client.deflate_enabled() && server.deflate_enabled());
    let text = "abcdefghij".repeat(500);
    for _ in 0..3 {
        server.send_text(&text).unwrap();
        client.receive(&take_all_output(&mut server));
        assert_eq!(
            drain(&mut client),
            vec![Ok(Event::Text(text.as_str().into()))]
        );
        client.send_text(&text).unwrap();
        server.receive(&take_all_output(&mut client));
        assert_eq!(
            drain(&mut server),
            vec![Ok(Event::Text(text.as_str().into()))]
        );
    }
}

#[test]
fn client_rejects_a_response_that_ignores_its_window_request() {
    use wsproto::handshake::{ClientHandshake, ClientRequest};
    let config = DeflateConfig {
        server_max_window_bits: 10,
        ..DeflateConfig::default()
    };
    let mut client =
        ClientHandshake::new(ClientRequest::from_url("ws://a/").unwrap().deflate(config));
    let request = String::from_utf8(client.request_bytes().to_vec()).unwrap();
    let key = request
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .unwrap()
        .to_string();
    let accept = wsproto::handshake::accept_key(key.as_bytes());
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
    );
    assert!(client.receive(response.as_bytes()).is_err());
}

#[test]
fn incompressible_messages_go_uncompressed_and_the_window_stays_in_step() {
    let p = params(false, 0);
    let mut server = endpoint(Role::Server, Config::default(), &p);
    let mut client = endpoint(Role::Client, Config::default(), &p);
    // Pseudo-random bytes do not compress: they are sent as they are (RSV1 clear, no growth).
    let mut x = 0x1234_5678u32;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    let text = "a compressible message, a compressible message, a compressible message";
    server.send_text(text).unwrap();
    server.send_binary(&noise).unwrap();
    server.send_text(text).unwrap();
    let wire = take_all_output(&mut server);
    let second = 2 + usize::from(wire[1] & 0x7f);
    assert_eq!(wire[0], 0xc1, "the first text is compressed");
    assert_eq!(wire[second], 0x82, "the noise goes uncompressed");
    assert_eq!(&wire[second + 4..second + 4 + noise.len()], &noise[..]);
    client.receive(&wire);
    assert_eq!(
        drain(&mut client),
        vec![
            Ok(Event::Text(text.into())),
            Ok(Event::Binary(Bytes::from(noise))),
            Ok(Event::Text(text.into())),
        ]
    );
}
