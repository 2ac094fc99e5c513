//! The opening handshake (RFC 6455 §4): client and server state machines, every rejection path,
//! arbitrary splits, and the hand-over to `Connection`.

use proptest::prelude::*;
use proptest::sample::Index;
use wsproto::handshake::{
    AcceptOptions, ClientHandshake, ClientOutcome, ClientRequest, HandshakeError, HandshakeLimits,
    Headers, Request, ServerHandshake, WsUrl, accept_key,
};
use wsproto::{Config, Connection, Event, Role};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// A deterministic random source: 0, 1, 2, …
fn counter_rng() -> impl FnMut(&mut [u8]) + Send + 'static {
    let mut n = 0u8;
    move |dest: &mut [u8]| {
        for b in dest {
            *b = n;
            n = n.wrapping_add(1);
        }
    }
}

/// The key `counter_rng` produces first (bytes 0..16).
const COUNTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODw==";

fn valid_headers() -> Vec<(&'static str, &'static str)> {
    vec![
        ("Host", "example.com"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", KEY),
        ("Sec-WebSocket-Version", "13"),
    ]
}

fn build(start: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut s = format!("{start}\r\n");
    for (n, v) in headers {
        s.push_str(&format!("{n}: {v}\r\n"));
    }
    s.push_str("\r\n");
    s.into_bytes()
}

/// A valid request with `name` removed and `extra` added.
fn request(remove: &[&str], extra: &[(&str, &str)]) -> Vec<u8> {
    let mut h: Vec<_> = valid_headers()
        .into_iter()
        .filter(|(n, _)| !remove.iter().any(|r| r.eq_ignore_ascii_case(n)))
        .collect();
    h.extend_from_slice(extra);
    build("GET /chat HTTP/1.1", &h)
}

/// A parsed HTTP response.
#[derive(Debug)]
struct Parsed {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Parsed {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn parse_response(bytes: &[u8]) -> Parsed {
    let mut slots = [httparse::EMPTY_HEADER; 32];
    let mut r = httparse::Response::new(&mut slots);
    let httparse::Status::Complete(n) = r.parse(bytes).expect("a valid HTTP response") else {
        panic!("incomplete response: {:?}", String::from_utf8_lossy(bytes));
    };
    assert_eq!(r.version, Some(1));
    let headers: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8(h.value.to_vec()).unwrap(),
            )
        })
        .collect();
    Parsed {
        status: r.code.unwrap(),
        reason: r.reason.unwrap().to_string(),
        headers,
        body: bytes[n..].to_vec(),
    }
}

/// Feeds `bytes` to a server in one piece and byte by byte; both must fail with `expected`,
/// whose response must have `status` and each of `headers`.
fn assert_server_rejects(
    bytes: &[u8],
    expected: HandshakeError,
    status: u16,
    headers: &[(&str, &str)],
) {
    let mut server = ServerHandshake::new();
    let err = server.receive(bytes).unwrap_err();
    assert_eq!(
        err,
        expected,
        "request {:?}",
        String::from_utf8_lossy(bytes)
    );
    // The failure is final.
    assert_eq!(server.receive(b"more").unwrap_err(), expected);
    assert_eq!(server.accept(AcceptOptions::new()).unwrap_err(), expected);

    let mut drip = ServerHandshake::new();
    let mut drip_err = None;
    for b in bytes {
        if let Err(e) = drip.receive(std::slice::from_ref(b)) {
            drip_err = Some(e);
            break;
        }
    }
    assert_eq!(drip_err, Some(expected.clone()), "byte by byte");

    assert_eq!(err.status(), Some(status));
    let response = parse_response(&err.response().unwrap());
    assert_eq!(response.status, status);
    assert!(!response.reason.is_empty());
    for (name, value) in headers {
        assert_eq!(response.header(name), Some(*value), "header {name}");
    }
    let connection = response.header("Connection").unwrap();
    assert!(connection.split(',').any(|t| t.trim() == "close"));
    assert_eq!(
        response.header("Content-Length").unwrap(),
        response.body.len().to_string()
    );
    assert_eq!(response.body, format!("{err}\n").into_bytes());
}

/// Drains everything a connection wants to write.
fn drain(conn: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = conn.take_output() {
        out.extend_from_slice(&chunk);
    }
    out
}

fn events(conn: &mut Connection) -> Vec<Event> {
    let mut out = Vec::new();
    while let Some(e) = conn.poll_event().unwrap() {
        out.push(e);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Accept key and request format
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc_6455_accept_key_example() {
    assert_eq!(accept_key(KEY.as_bytes()), ACCEPT);
}

#[test]
fn server_answers_the_rfc_example_request() {
    // RFC 6455 §1.2–1.3, with the sample key.
    let bytes = build(
        "GET /chat HTTP/1.1",
        &[
            ("Host", "server.example.com"),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", KEY),
            ("Origin", "http://example.com"),
            ("Sec-WebSocket-Protocol", "chat, superchat"),
            ("Sec-WebSocket-Version", "13"),
        ],
    );
    let mut server = ServerHandshake::new();
    let request = server.receive(&bytes).unwrap().unwrap();
    assert_eq!(request.method(), "GET");
    assert_eq!(request.resource(), "/chat");
    assert_eq!(request.host(), "server.example.com");
    assert_eq!(request.origin(), Some("http://example.com"));
    assert_eq!(request.key(), KEY);
    assert_eq!(request.protocols(), ["chat", "superchat"]);
    assert!(request.extensions().is_empty());
    let (response, conn) = server
        .accept(AcceptOptions::new().subprotocol(Some("chat")))
        .unwrap();
    assert_eq!(
        response,
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {ACCEPT}\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
        )
        .into_bytes()
    );
    assert_eq!(conn.role(), Role::Server);
    assert_eq!(conn.subprotocol(), Some("chat"));
    assert_eq!(conn.buffered_input(), 0);
}

#[test]
fn client_request_bytes() {
    let request = ClientRequest::from_url("ws://[::1]:9001/chat?room=1")
        .unwrap()
        .origin("http://localhost")
        .unwrap()
        .protocols(["v2", "v1"])
        .unwrap()
        .extension("permessage-deflate; client_max_window_bits")
        .unwrap()
        .extension("x-other")
        .unwrap()
        .header("Cookie", "a=b")
        .unwrap();
    let client = ClientHandshake::with_random(request, Config::default(), counter_rng());
    assert_eq!(client.key(), COUNTER_KEY);
    assert_eq!(
        std::str::from_utf8(client.request_bytes()).unwrap(),
        format!(
            "GET /chat?room=1 HTTP/1.1\r\nHost: [::1]:9001\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: {COUNTER_KEY}\r\n\
             Sec-WebSocket-Version: 13\r\nOrigin: http://localhost\r\n\
             Sec-WebSocket-Protocol: v2, v1\r\n\
             Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-other\r\n\
             Cookie: a=b\r\n\r\n"
        )
    );

    let minimal = ClientRequest::new("example.com:8080", "/").unwrap();
    assert_eq!(minimal.url(), None);
    let client = ClientHandshake::with_random(minimal, Config::default(), counter_rng());
    assert_eq!(
        client.request_bytes(),
        format!(
            "GET / HTTP/1.1\r\nHost: example.com:8080\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: {COUNTER_KEY}\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        )
        .as_bytes()
    );
}

#[test]
fn os_entropy_keys_differ() {
    let a = ClientHandshake::new(ClientRequest::from_url("ws://h/").unwrap());
    let b = ClientHandshake::new(ClientRequest::from_url("ws://h/").unwrap());
    assert_ne!(a.key(), b.key());
    assert_eq!(a.key().len(), 24);
}

#[test]
fn client_request_builder_validation() {
    let r = || ClientRequest::from_url("ws://h/").unwrap();
    for reserved in [
        "Host",
        "upgrade",
        "CONNECTION",
        "Sec-WebSocket-Key",
        "Sec-WebSocket-Version",
        "Sec-WebSocket-Protocol",
        "Sec-WebSocket-Extensions",
        "Origin",
        "Content-Length",
        "Transfer-Encoding",
    ] {
        assert_eq!(
            r().header(reserved, "x").unwrap_err(),
            HandshakeError::ReservedHeader(reserved.into())
        );
    }
    assert_eq!(
        r().header("X Y", "x").unwrap_err(),
        HandshakeError::InvalidHeaderName("X Y".into())
    );
    assert_eq!(
        r().header("X", "a\r\nHost: evil").unwrap_err(),
        HandshakeError::InvalidHeaderValue("X".into())
    );
    assert_eq!(
        r().protocol("a b").unwrap_err(),
        HandshakeError::InvalidSubprotocol("a b".into())
    );
    assert_eq!(
        r().protocols(["chat", "chat"]).unwrap_err(),
        HandshakeError::InvalidSubprotocol("chat".into())
    );
    assert!(r().protocol("").is_err());
    assert!(matches!(
        r().extension("permessage-deflate; x=\"a b\""),
        Err(HandshakeError::InvalidExtensions(_))
    ));
    assert!(matches!(
        r().extension("a,;b"),
        Err(HandshakeError::InvalidExtensions(_))
    ));
    assert!(r().origin("http://a b").is_err());
    assert!(r().origin("").is_err());
    assert!(ClientRequest::new("", "/").is_err());
    assert!(ClientRequest::new("a b", "/").is_err());
    assert!(ClientRequest::new("h", "chat").is_err());
    assert!(ClientRequest::new("h", "/a b").is_err());
    assert!(ClientRequest::new("h", "/a#b").is_err());
    assert!(ClientRequest::new("h:0", "/").is_err());
    assert!(ClientRequest::new("[::1]:9001", "/").is_ok());
    assert!(ClientRequest::from_url("http://h/").is_err());
    assert!(ClientRequest::from_url("ws://h/#x").is_err());
    let url: WsUrl = "wss://h:444/x".parse().unwrap();
    let req = ClientRequest::from_ws_url(url.clone());
    assert_eq!(req.url(), Some(&url));
    assert_eq!(req.host(), "h:444");
    assert_eq!(req.resource(), "/x");
}

// ---------------------------------------------------------------------------------------------
// Client and server together
// ---------------------------------------------------------------------------------------------

#[test]
fn client_and_server_in_memory_with_subprotocol_negotiation() {
    let request = ClientRequest::from_url("ws://localhost:9001/chat")
        .unwrap()
        .protocols(["v3.chat", "v2.chat", "v1.chat"])
        .unwrap()
        .header("Cookie", "session=42")
        .unwrap();
    let mut client = ClientHandshake::with_random(request, Config::default(), counter_rng());
    let mut server = ServerHandshake::new();
    let req = server.receive(client.request_bytes()).unwrap().unwrap();
    assert_eq!(req.host(), "localhost:9001");
    assert_eq!(req.headers().get_str("cookie"), Some("session=42"));
    // The server supports v2 and v1, and prefers v2.
    let protocol = req.select_subprotocol(&["v2.chat", "v1.chat"]);
    assert_eq!(protocol, Some("v2.chat"));
    let options = AcceptOptions::new()
        .subprotocol(protocol)
        .header("Set-Cookie", "seen=1")
        .unwrap();
    let (response, mut server_conn) = server.accept(options).unwrap();

    let ClientOutcome::Accepted {
        connection: mut client_conn,
        response,
    } = client.receive(&response).unwrap()
    else {
        panic!("not accepted");
    };
    assert_eq!(response.status(), 101);
    assert_eq!(response.reason(), "Switching Protocols");
    assert_eq!(response.subprotocol(), Some("v2.chat"));
    assert_eq!(response.headers().get_str("set-cookie"), Some("seen=1"));
    assert!(response.extensions().is_empty());
    assert_eq!(client_conn.role(), Role::Client);
    assert_eq!(client_conn.subprotocol(), Some("v2.chat"));
    assert_eq!(server_conn.subprotocol(), Some("v2.chat"));

    // Messages both ways.
    client_conn.send_text("ping from client").unwrap();
    client_conn.send_binary(&[1, 2, 3]).unwrap();
    let wire = drain(&mut client_conn);
    assert_eq!(wire[1] & 0x80, 0x80, "client frames are masked");
    server_conn.receive(&wire);
    assert_eq!(
        events(&mut server_conn),
        vec![
            Event::Text("ping from client".into()),
            Event::Binary(vec![1, 2, 3].into())
        ]
    );
    server_conn.send_text("pong from server").unwrap();
    let wire = drain(&mut server_conn);
    assert_eq!(wire[1] & 0x80, 0, "server frames are not masked");
    client_conn.receive(&wire);
    assert_eq!(
        events(&mut client_conn),
        vec![Event::Text("pong from server".into())]
    );

    // Both handshakes are over.
    assert_eq!(client.receive(b"x").unwrap_err(), HandshakeError::Finished);
    assert_eq!(server.receive(b"x").unwrap_err(), HandshakeError::Finished);
    assert_eq!(
        server.accept(AcceptOptions::new()).unwrap_err(),
        HandshakeError::Finished
    );
    assert_eq!(
        server.reject(400, &Headers::new(), b"").unwrap_err(),
        HandshakeError::Finished
    );
}

#[test]
fn no_subprotocol_when_none_is_selected() {
    let request = ClientRequest::from_url("ws://h/")
        .unwrap()
        .protocol("chat")
        .unwrap();
    let mut client = ClientHandshake::with_random(request, Config::default(), counter_rng());
    let mut server = ServerHandshake::new();
    server.receive(client.request_bytes()).unwrap().unwrap();
    let (response, conn) = server.accept(AcceptOptions::new()).unwrap();
    assert_eq!(
        parse_response(&response).header("Sec-WebSocket-Protocol"),
        None
    );
    assert_eq!(conn.subprotocol(), None);
    let ClientOutcome::Accepted { connection, .. } = client.receive(&response).unwrap() else {
        panic!()
    };
    assert_eq!(connection.subprotocol(), None);
}

#[test]
fn extensions_are_offered_and_answered_generically() {
    let request = ClientRequest::from_url("ws://h/")
        .unwrap()
        .extension("permessage-deflate; client_max_window_bits; server_max_window_bits=\"12\"")
        .unwrap();
    let mut client = ClientHandshake::with_random(request, Config::default(), counter_rng());
    let mut server = ServerHandshake::new();
    let req = server.receive(client.request_bytes()).unwrap().unwrap();
    let offer = &req.extensions()[0];
    assert_eq!(offer.name, "permessage-deflate");
    assert_eq!(offer.param("client_max_window_bits"), Some(None));
    assert_eq!(offer.param("server_max_window_bits"), Some(Some("12")));

    let answer = "permessage-deflate; server_max_window_bits=12; client_max_window_bits=15";
    let (response, _conn) = server
        .accept(AcceptOptions::new().extensions(answer))
        .unwrap();
    assert_eq!(
        parse_response(&response).header("Sec-WebSocket-Extensions"),
        Some(answer)
    );
    let ClientOutcome::Accepted { response, .. } = client.receive(&response).unwrap() else {
        panic!()
    };
    assert_eq!(response.extensions().len(), 1);
    assert_eq!(response.extensions()[0].to_string(), answer);
}

#[test]
fn server_hands_pipelined_frames_to_the_connection() {
    // The RFC 6455 §5.7 masked "Hello", sent right behind the request, in the same read and in
    // later reads before the application accepts.
    let hello = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let mut bytes = request(&[], &[]);
    bytes.extend_from_slice(&hello[..4]);
    let mut server = ServerHandshake::new();
    assert!(server.receive(&bytes).unwrap().is_some());
    assert!(server.receive(&hello[4..]).unwrap().is_some());
    assert!(server.receive(&hello).unwrap().is_some());
    let (_, mut conn) = server.accept(AcceptOptions::new()).unwrap();
    assert_eq!(conn.buffered_input(), 2 * hello.len());
    assert_eq!(
        events(&mut conn),
        vec![Event::Text("Hello".into()), Event::Text("Hello".into())]
    );
}

#[test]
fn client_hands_frames_after_the_response_to_the_connection() {
    let mut client = ClientHandshake::with_random(
        ClientRequest::from_url("ws://h/").unwrap(),
        Config::default(),
        counter_rng(),
    );
    let mut wire = response_101(&accept_key(COUNTER_KEY.as_bytes()), &[]);
    wire.extend_from_slice(&[0x81, 0x05, b'H', b'e', b'l', b'l', b'o', 0x89, 0x00]);
    let ClientOutcome::Accepted { mut connection, .. } = client.receive(&wire).unwrap() else {
        panic!()
    };
    assert_eq!(
        events(&mut connection),
        vec![
            Event::Text("Hello".into()),
            Event::Ping(wsproto::Bytes::new())
        ]
    );
}

#[test]
fn leading_empty_lines_and_bare_lf_are_tolerated() {
    let mut bytes = b"\r\n".to_vec();
    bytes.extend(
        String::from_utf8(request(&[], &[]))
            .unwrap()
            .replace("\r\n", "\n")
            .into_bytes(),
    );
    let mut server = ServerHandshake::new();
    assert_eq!(
        server.receive(&bytes).unwrap().unwrap().host(),
        "example.com"
    );
}

#[test]
fn token_lists_are_case_insensitive_and_comma_separated() {
    let bytes = build(
        "GET /x?y=1 HTTP/1.1",
        &[
            ("host", "example.com:8080"),
            ("UPGRADE", "foo/2, WebSocket"),
            ("connection", "keep-alive"),
            ("Connection", "  , UPGRADE"),
            ("sec-websocket-key", KEY),
            ("SEC-WEBSOCKET-VERSION", "13"),
            ("Content-Length", "0"),
        ],
    );
    let mut server = ServerHandshake::new();
    let req = server.receive(&bytes).unwrap().unwrap();
    assert_eq!(req.path(), "/x");
    assert_eq!(req.query(), Some("y=1"));
    assert_eq!(req.host(), "example.com:8080");
}

#[test]
fn absolute_form_request_target() {
    let bytes = build("GET http://example.com/chat?x HTTP/1.1", &valid_headers());
    let mut server = ServerHandshake::new();
    assert_eq!(
        server.receive(&bytes).unwrap().unwrap().resource(),
        "/chat?x"
    );
}

// ---------------------------------------------------------------------------------------------
// Server: every rejection path
// ---------------------------------------------------------------------------------------------

#[test]
fn server_rejects_wrong_method_with_405() {
    let bytes = build("POST /chat HTTP/1.1", &valid_headers());
    assert_server_rejects(
        &bytes,
        HandshakeError::MethodNotAllowed("POST".into()),
        405,
        &[("Allow", "GET")],
    );
}

#[test]
fn server_rejects_http_1_0() {
    let bytes = build("GET /chat HTTP/1.0", &valid_headers());
    assert_server_rejects(&bytes, HandshakeError::UnsupportedHttpVersion, 400, &[]);
}

#[test]
fn server_rejects_malformed_http() {
    for (bytes, what) in [
        (&b"GET /chat HTTP/2.0\r\n\r\n"[..], "invalid HTTP version"),
        (
            b"GET /chat HTTP/1.1\r\nBad Header: x\r\n\r\n",
            "invalid header name",
        ),
        (
            b"GET /chat HTTP/1.1\r\nX: a\x01b\r\n\r\n",
            "invalid header value",
        ),
        (b"GET  HTTP/1.1\r\n\r\n", "invalid method or request target"),
        (
            b"\x16\x03\x01\x02\x00\x01\r\n\r\n",
            "invalid method or request target",
        ),
        (
            b"GET /chat HTTP/1.1\r\n folded: x\r\n\r\n",
            "invalid header name",
        ),
    ] {
        assert_server_rejects(bytes, HandshakeError::MalformedHttp(what), 400, &[]);
    }
}

#[test]
fn server_rejects_bad_request_targets() {
    for target in ["*", "example.com:80", "ftp://h/x", "/chat#frag"] {
        let bytes = build(&format!("GET {target} HTTP/1.1"), &valid_headers());
        assert_server_rejects(&bytes, HandshakeError::InvalidRequestTarget, 400, &[]);
    }
}

#[test]
fn server_rejects_missing_duplicate_or_invalid_host() {
    assert_server_rejects(
        &request(&["Host"], &[]),
        HandshakeError::MissingHeader("Host"),
        400,
        &[],
    );
    assert_server_rejects(
        &request(&[], &[("Host", "other.example")]),
        HandshakeError::DuplicateHeader("Host"),
        400,
        &[],
    );
    for bad in ["", "a b", "user@h", "h:x", "[::1"] {
        assert_server_rejects(
            &request(&["Host"], &[("Host", bad)]),
            HandshakeError::InvalidHeader {
                name: "Host",
                reason: "not a host with an optional port",
            },
            400,
            &[],
        );
    }
}

#[test]
fn server_rejects_missing_or_wrong_upgrade() {
    assert_server_rejects(
        &request(&["Upgrade"], &[]),
        HandshakeError::MissingHeader("Upgrade"),
        400,
        &[],
    );
    for bad in ["h2c", "websocket2", "web socket", ""] {
        assert_server_rejects(
            &request(&["Upgrade"], &[("Upgrade", bad)]),
            HandshakeError::InvalidHeader {
                name: "Upgrade",
                reason: "does not include websocket",
            },
            400,
            &[],
        );
    }
}

#[test]
fn server_rejects_missing_or_wrong_connection() {
    assert_server_rejects(
        &request(&["Connection"], &[]),
        HandshakeError::MissingHeader("Connection"),
        400,
        &[],
    );
    for bad in ["keep-alive", "upgraded", "close"] {
        assert_server_rejects(
            &request(&["Connection"], &[("Connection", bad)]),
            HandshakeError::InvalidHeader {
                name: "Connection",
                reason: "does not include upgrade",
            },
            400,
            &[],
        );
    }
}

#[test]
fn server_answers_wrong_version_with_426() {
    let expect = [
        ("Sec-WebSocket-Version", "13"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade, close"),
    ];
    assert_server_rejects(
        &request(&["Sec-WebSocket-Version"], &[]),
        HandshakeError::UnsupportedVersion,
        426,
        &expect,
    );
    for bad in ["8", "12", "13, 8", "", "013"] {
        assert_server_rejects(
            &request(
                &["Sec-WebSocket-Version"],
                &[("Sec-WebSocket-Version", bad)],
            ),
            HandshakeError::UnsupportedVersion,
            426,
            &expect,
        );
    }
    assert_server_rejects(
        &request(&[], &[("Sec-WebSocket-Version", "13")]),
        HandshakeError::UnsupportedVersion,
        426,
        &expect,
    );
}

#[test]
fn server_rejects_missing_duplicate_or_invalid_key() {
    assert_server_rejects(
        &request(&["Sec-WebSocket-Key"], &[]),
        HandshakeError::MissingHeader("Sec-WebSocket-Key"),
        400,
        &[],
    );
    assert_server_rejects(
        &request(&[], &[("Sec-WebSocket-Key", KEY)]),
        HandshakeError::DuplicateHeader("Sec-WebSocket-Key"),
        400,
        &[],
    );
    for bad in [
        "dGhlIHNhbXBsZSBub25jZQ",   // unpadded
        "dGhlIHNhbXBsZSBub25j",     // 15 bytes
        "dGhlIHNhbXBsZSBub25jZQAA", // 18 bytes
        "AAAAAAAAAAAAAAAAAAAAAAA=", // 17 bytes
        "dGhlIHNhbXBsZSBub25jZ!==", // not base64
        "not a key",
        "",
    ] {
        assert_server_rejects(
            &request(&["Sec-WebSocket-Key"], &[("Sec-WebSocket-Key", bad)]),
            HandshakeError::InvalidHeader {
                name: "Sec-WebSocket-Key",
                reason: "not the base64 encoding of 16 bytes",
            },
            400,
            &[],
        );
    }
}

#[test]
fn server_rejects_a_request_body() {
    assert_server_rejects(
        &request(&[], &[("Content-Length", "5")]),
        HandshakeError::InvalidHeader {
            name: "Content-Length",
            reason: "a handshake request has no body",
        },
        400,
        &[],
    );
    assert_server_rejects(
        &request(&[], &[("Transfer-Encoding", "chunked")]),
        HandshakeError::InvalidHeader {
            name: "Transfer-Encoding",
            reason: "a handshake request has no body",
        },
        400,
        &[],
    );
    assert_server_rejects(
        &request(&[], &[("Content-Length", "0"), ("Content-Length", "0")]),
        HandshakeError::DuplicateHeader("Content-Length"),
        400,
        &[],
    );
}

#[test]
fn server_rejects_malformed_protocols_extensions_and_origin() {
    for bad in ["a b", "chat;v=1", "\"chat\""] {
        assert_server_rejects(
            &request(&[], &[("Sec-WebSocket-Protocol", bad)]),
            HandshakeError::InvalidHeader {
                name: "Sec-WebSocket-Protocol",
                reason: "list element is not a token",
            },
            400,
            &[],
        );
    }
    for bad in ["permessage-deflate; x=\"a b\"", "; x", "a b", "a; =1"] {
        let err = ServerHandshake::new()
            .receive(&request(&[], &[("Sec-WebSocket-Extensions", bad)]))
            .unwrap_err();
        let HandshakeError::InvalidHeader { name, .. } = err.clone() else {
            panic!("{err:?}")
        };
        assert_eq!(name, "Sec-WebSocket-Extensions");
        assert_server_rejects(
            &request(&[], &[("Sec-WebSocket-Extensions", bad)]),
            err,
            400,
            &[],
        );
    }
    assert_server_rejects(
        &request(&[], &[("Origin", "http://a"), ("Origin", "http://b")]),
        HandshakeError::DuplicateHeader("Origin"),
        400,
        &[],
    );
    let mut bytes = request(&[], &[]);
    let end = bytes.len() - 2;
    bytes.splice(end..end, b"Origin: \xff\xfe\r\n".iter().copied());
    assert_server_rejects(
        &bytes,
        HandshakeError::InvalidHeader {
            name: "Origin",
            reason: "not valid UTF-8",
        },
        400,
        &[],
    );
}

#[test]
fn server_limits_header_size_with_431() {
    let big = "x".repeat(9000);
    assert_server_rejects(
        &request(&[], &[("X-Big", &big)]),
        HandshakeError::HeadersTooLarge { limit: 8192 },
        431,
        &[],
    );
    // Memory stays bounded however the bytes come: the error comes as soon as the limit is
    // passed, byte by byte or in one megabyte.
    let mut server = ServerHandshake::new();
    let endless = vec![b'a'; 1 << 20];
    assert!(matches!(
        server.receive(&endless),
        Err(HandshakeError::HeadersTooLarge { limit: 8192 })
    ));
    let mut server = ServerHandshake::new();
    for i in 0..8192 {
        assert_eq!(server.receive(b"a").unwrap(), None, "byte {i}");
    }
    assert!(server.receive(b"a").is_err());

    // A head of exactly the limit is accepted; a custom limit applies.
    let bytes = request(&[], &[]);
    let limits = HandshakeLimits::default().max_header_size(bytes.len());
    let mut server = ServerHandshake::new().limits(limits);
    assert!(server.receive(&bytes).unwrap().is_some());
    let limits = HandshakeLimits::default().max_header_size(bytes.len() - 1);
    let mut server = ServerHandshake::new().limits(limits);
    assert_eq!(
        server.receive(&bytes).unwrap_err(),
        HandshakeError::HeadersTooLarge {
            limit: bytes.len() - 1
        }
    );
}

#[test]
fn server_limits_header_count_with_431() {
    let names: Vec<String> = (0..60).map(|i| format!("X-{i}")).collect();
    let extra: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    // 5 + 60 = 65 fields: one too many.
    assert_server_rejects(
        &request(&[], &extra),
        HandshakeError::TooManyHeaders { limit: 64 },
        431,
        &[],
    );
    // 64 are fine.
    let mut server = ServerHandshake::new();
    assert_eq!(
        server
            .receive(&request(&[], &extra[..59]))
            .unwrap()
            .unwrap()
            .headers()
            .len(),
        64
    );
    let mut server = ServerHandshake::new().limits(HandshakeLimits::default().max_headers(5));
    assert!(server.receive(&request(&[], &[])).unwrap().is_some());
    let mut server = ServerHandshake::new().limits(HandshakeLimits::default().max_headers(4));
    assert_eq!(
        server.receive(&request(&[], &[])).unwrap_err(),
        HandshakeError::TooManyHeaders { limit: 4 }
    );
}

#[test]
fn application_rejects_with_any_status_and_headers() {
    let mut server = ServerHandshake::new();
    server
        .receive(&request(&[], &[("Origin", "http://evil.example")]))
        .unwrap();
    let mut headers = Headers::new();
    headers.push("X-Reason", "origin").unwrap();
    headers.push("Set-Cookie", "a=1").unwrap();
    let bytes = server.reject(403, &headers, b"forbidden origin").unwrap();
    let r = parse_response(&bytes);
    assert_eq!((r.status, r.reason.as_str()), (403, "Forbidden"));
    assert_eq!(r.header("X-Reason"), Some("origin"));
    assert_eq!(r.header("Set-Cookie"), Some("a=1"));
    assert_eq!(r.header("Connection"), Some("close"));
    assert_eq!(r.header("Content-Length"), Some("16"));
    assert_eq!(r.body, b"forbidden origin");
    assert_eq!(
        server.accept(AcceptOptions::new()).unwrap_err(),
        HandshakeError::Finished
    );

    // Unusual statuses get an empty reason phrase; invalid ones and reserved headers are refused.
    let mut server = ServerHandshake::new();
    let r = parse_response(&server.reject(499, &Headers::new(), b"").unwrap());
    assert_eq!((r.status, r.reason.as_str(), r.body.len()), (499, "", 0));
    let mut server = ServerHandshake::new();
    for status in [0, 99, 101, 199, 600, 1000] {
        assert_eq!(
            server.reject(status, &Headers::new(), b"").unwrap_err(),
            HandshakeError::InvalidStatus(status)
        );
    }
    for name in ["Content-Length", "connection", "Transfer-Encoding"] {
        let mut h = Headers::new();
        h.push(name, "1").unwrap();
        assert_eq!(
            server.reject(400, &h, b"").unwrap_err(),
            HandshakeError::ReservedHeader(name.into())
        );
    }
    // Still usable after refused attempts; also before the request is complete.
    assert!(server.reject(503, &Headers::new(), b"busy").is_ok());
}

#[test]
fn application_accept_errors_leave_the_handshake_usable() {
    let mut server = ServerHandshake::new();
    assert_eq!(
        server.accept(AcceptOptions::new()).unwrap_err(),
        HandshakeError::NotReady
    );
    server
        .receive(&request(
            &[],
            &[
                ("Sec-WebSocket-Protocol", "chat"),
                ("Sec-WebSocket-Extensions", "permessage-deflate"),
            ],
        ))
        .unwrap();
    assert_eq!(
        server
            .accept(AcceptOptions::new().subprotocol(Some("superchat")))
            .unwrap_err(),
        HandshakeError::SubprotocolNotOffered("superchat".into())
    );
    assert_eq!(
        server
            .accept(AcceptOptions::new().extensions("x-webkit-deflate-frame"))
            .unwrap_err(),
        HandshakeError::ExtensionNotOffered("x-webkit-deflate-frame".into())
    );
    assert!(matches!(
        server.accept(AcceptOptions::new().extensions("permessage-deflate; a=\"b c\"")),
        Err(HandshakeError::InvalidExtensions(_))
    ));
    assert_eq!(
        server
            .accept(AcceptOptions::new().extensions("permessage-deflate, permessage-deflate"))
            .unwrap_err(),
        HandshakeError::InvalidExtensions("the same extension is listed twice")
    );
    for reserved in [
        "Upgrade",
        "Connection",
        "Sec-WebSocket-Accept",
        "sec-websocket-protocol",
        "Sec-WebSocket-Extensions",
        "Content-Length",
    ] {
        assert_eq!(
            AcceptOptions::new().header(reserved, "x").unwrap_err(),
            HandshakeError::ReservedHeader(reserved.into())
        );
    }
    assert!(AcceptOptions::new().header("X", "a\nb").is_err());
    // An empty extension list sends no header.
    let (bytes, _) = server
        .accept(
            AcceptOptions::new()
                .subprotocol(Some("chat"))
                .extensions(" , "),
        )
        .unwrap();
    let r = parse_response(&bytes);
    assert_eq!(r.status, 101);
    assert_eq!(r.header("Sec-WebSocket-Extensions"), None);
    assert_eq!(r.header("Sec-WebSocket-Protocol"), Some("chat"));
}

// ---------------------------------------------------------------------------------------------
// Client: every rejection path
// ---------------------------------------------------------------------------------------------

fn response_101(accept: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut h = vec![
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", accept),
    ];
    h.extend_from_slice(extra);
    build("HTTP/1.1 101 Switching Protocols", &h)
}

fn test_client(protocols: &[&str], extensions: &[&str]) -> ClientHandshake {
    let mut request = ClientRequest::from_url("ws://h/").unwrap();
    request = request.protocols(protocols).unwrap();
    for e in extensions {
        request = request.extension(e).unwrap();
    }
    ClientHandshake::with_random(request, Config::default(), counter_rng())
}

fn client_accept() -> String {
    accept_key(COUNTER_KEY.as_bytes())
}

/// Feeds a response to a fresh client, in one piece and byte by byte; both must fail with
/// `expected`.
fn assert_client_fails(
    protocols: &[&str],
    extensions: &[&str],
    bytes: &[u8],
    expected: HandshakeError,
) {
    let mut client = test_client(protocols, extensions);
    assert_eq!(client.receive(bytes).unwrap_err(), expected);
    assert_eq!(client.receive(b"x").unwrap_err(), expected, "final");
    let mut client = test_client(protocols, extensions);
    let mut got = None;
    for b in bytes {
        match client.receive(std::slice::from_ref(b)) {
            Ok(ClientOutcome::Partial) => {}
            Ok(other) => panic!("unexpected {other:?}"),
            Err(e) => {
                got = Some(e);
                break;
            }
        }
    }
    assert_eq!(got, Some(expected), "byte by byte");
}

#[test]
fn client_rejects_a_101_without_proper_upgrade_or_connection() {
    let acc = client_accept();
    let bytes = build(
        "HTTP/1.1 101 Switching Protocols",
        &[("Connection", "Upgrade"), ("Sec-WebSocket-Accept", &acc)],
    );
    assert_client_fails(&[], &[], &bytes, HandshakeError::MissingHeader("Upgrade"));
    let bytes = build(
        "HTTP/1.1 101 Switching Protocols",
        &[
            ("Upgrade", "h2c"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", &acc),
        ],
    );
    assert_client_fails(
        &[],
        &[],
        &bytes,
        HandshakeError::InvalidHeader {
            name: "Upgrade",
            reason: "does not include websocket",
        },
    );
    let bytes = build(
        "HTTP/1.1 101 Switching Protocols",
        &[("Upgrade", "websocket"), ("Sec-WebSocket-Accept", &acc)],
    );
    assert_client_fails(
        &[],
        &[],
        &bytes,
        HandshakeError::MissingHeader("Connection"),
    );
    let bytes = build(
        "HTTP/1.1 101 Switching Protocols",
        &[
            ("Upgrade", "websocket"),
            ("Connection", "keep-alive"),
            ("Sec-WebSocket-Accept", &acc),
        ],
    );
    assert_client_fails(
        &[],
        &[],
        &bytes,
        HandshakeError::InvalidHeader {
            name: "Connection",
            reason: "does not include upgrade",
        },
    );
    // Case and lists are fine.
    let bytes = build(
        "HTTP/1.1 101 Switching Protocols",
        &[
            ("upgrade", "WebSocket"),
            ("CONNECTION", "keep-alive, upgrade"),
            ("sec-websocket-accept", &acc),
        ],
    );
    assert!(matches!(
        test_client(&[], &[]).receive(&bytes),
        Ok(ClientOutcome::Accepted { .. })
    ));
}

#[test]
fn client_rejects_a_missing_wrong_or_duplicate_accept() {
    let bytes = build(
        "HTTP/1.1 101 Switching Protocols",
        &[("Upgrade", "websocket"), ("Connection", "Upgrade")],
    );
    assert_client_fails(
        &[],
        &[],
        &bytes,
        HandshakeError::MissingHeader("Sec-WebSocket-Accept"),
    );
    // The RFC's accept belongs to another key.
    assert_client_fails(
        &[],
        &[],
        &response_101(ACCEPT, &[]),
        HandshakeError::AcceptMismatch,
    );
    let lower = client_accept().to_lowercase();
    assert_client_fails(
        &[],
        &[],
        &response_101(&lower, &[]),
        HandshakeError::AcceptMismatch,
    );
    let acc = client_accept();
    assert_client_fails(
        &[],
        &[],
        &response_101(&acc, &[("Sec-WebSocket-Accept", &acc)]),
        HandshakeError::DuplicateHeader("Sec-WebSocket-Accept"),
    );
}

#[test]
fn client_rejects_subprotocols_it_did_not_offer() {
    let acc = client_accept();
    assert_client_fails(
        &[],
        &[],
        &response_101(&acc, &[("Sec-WebSocket-Protocol", "chat")]),
        HandshakeError::SubprotocolNotOffered("chat".into()),
    );
    assert_client_fails(
        &["chat"],
        &[],
        &response_101(&acc, &[("Sec-WebSocket-Protocol", "Chat")]),
        HandshakeError::SubprotocolNotOffered("Chat".into()),
    );
    assert_client_fails(
        &["a", "b"],
        &[],
        &response_101(&acc, &[("Sec-WebSocket-Protocol", "a, b")]),
        HandshakeError::InvalidHeader {
            name: "Sec-WebSocket-Protocol",
            reason: "not a single token",
        },
    );
    assert_client_fails(
        &["a", "b"],
        &[],
        &response_101(
            &acc,
            &[
                ("Sec-WebSocket-Protocol", "a"),
                ("Sec-WebSocket-Protocol", "a"),
            ],
        ),
        HandshakeError::DuplicateHeader("Sec-WebSocket-Protocol"),
    );
}

#[test]
fn client_rejects_extensions_it_did_not_offer() {
    let acc = client_accept();
    assert_client_fails(
        &[],
        &[],
        &response_101(&acc, &[("Sec-WebSocket-Extensions", "permessage-deflate")]),
        HandshakeError::ExtensionNotOffered("permessage-deflate".into()),
    );
    assert_client_fails(
        &[],
        &["permessage-deflate"],
        &response_101(&acc, &[("Sec-WebSocket-Extensions", "x-foo")]),
        HandshakeError::ExtensionNotOffered("x-foo".into()),
    );
    assert_client_fails(
        &[],
        &["permessage-deflate"],
        &response_101(
            &acc,
            &[(
                "Sec-WebSocket-Extensions",
                "permessage-deflate, permessage-deflate",
            )],
        ),
        HandshakeError::InvalidExtensions("the same extension is listed twice"),
    );
    let mut client = test_client(&[], &["permessage-deflate"]);
    let err = client
        .receive(&response_101(
            &acc,
            &[("Sec-WebSocket-Extensions", "permessage-deflate; x=\"a b\"")],
        ))
        .unwrap_err();
    assert!(matches!(
        err,
        HandshakeError::InvalidHeader {
            name: "Sec-WebSocket-Extensions",
            ..
        }
    ));
}

#[test]
fn client_rejects_malformed_and_oversized_responses() {
    assert_client_fails(
        &[],
        &[],
        b"HTTP/1.0 101 Switching Protocols\r\n\r\n",
        HandshakeError::UnsupportedHttpVersion,
    );
    assert_client_fails(
        &[],
        &[],
        b"HTTP/1.1 1O1 Switching\r\n\r\n",
        HandshakeError::MalformedHttp("invalid status code"),
    );
    assert_client_fails(
        &[],
        &[],
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
        HandshakeError::MalformedHttp("invalid HTTP version"),
    );
    let big = "x".repeat(9000);
    let acc = client_accept();
    assert_client_fails(
        &[],
        &[],
        &response_101(&acc, &[("X-Big", &big)]),
        HandshakeError::HeadersTooLarge { limit: 8192 },
    );
    let names: Vec<String> = (0..62).map(|i| format!("X-{i}")).collect();
    let extra: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    assert_client_fails(
        &[],
        &[],
        &response_101(&acc, &extra),
        HandshakeError::TooManyHeaders { limit: 64 },
    );
    // Custom limits.
    let mut client = test_client(&[], &[]).limits(HandshakeLimits::default().max_header_size(50));
    assert_eq!(
        client.receive(&response_101(&acc, &[])).unwrap_err(),
        HandshakeError::HeadersTooLarge { limit: 50 }
    );
}

#[test]
fn client_reports_eof_before_the_response() {
    let mut client = test_client(&[], &[]);
    assert!(matches!(
        client.receive(b"HTTP/1.1 101 Switching"),
        Ok(ClientOutcome::Partial)
    ));
    assert_eq!(
        client.receive_eof().unwrap_err(),
        HandshakeError::UnexpectedEof
    );
    assert_eq!(
        client.receive(b"x").unwrap_err(),
        HandshakeError::UnexpectedEof
    );
}

#[test]
fn client_skips_interim_responses() {
    let mut wire =
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n".to_vec();
    wire.extend(response_101(&client_accept(), &[]));
    for split in 0..wire.len() {
        let mut client = test_client(&[], &[]);
        let first = client.receive(&wire[..split]).unwrap();
        let outcome = match first {
            ClientOutcome::Partial => client.receive(&wire[split..]).unwrap(),
            other => other,
        };
        let ClientOutcome::Accepted { response, .. } = outcome else {
            panic!("split {split}: {outcome:?}")
        };
        assert_eq!(response.status(), 101);
        assert!(!response.headers().contains("Link"));
    }
}

#[test]
fn client_reports_rejections_with_status_headers_and_body() {
    // With a Content-Length: the body is waited for, whatever the split.
    let wire = b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\nContent-Length: 12\r\n\r\nlog in first, junk after";
    for split in 0..wire.len() {
        let mut client = test_client(&[], &[]);
        let mut outcome = client.receive(&wire[..split]).unwrap();
        if let ClientOutcome::Partial = outcome {
            outcome = client.receive(&wire[split..]).unwrap();
        }
        let ClientOutcome::Rejected {
            status,
            reason,
            headers,
            body,
        } = outcome
        else {
            panic!("split {split}: {outcome:?}")
        };
        assert_eq!((status, reason.as_str()), (401, "Unauthorized"));
        assert_eq!(headers.get_str("www-authenticate"), Some("Bearer"));
        assert_eq!(body, b"log in first");
        assert_eq!(client.receive(b"x").unwrap_err(), HandshakeError::Finished);
    }

    // Without one: the bytes that came with the head.
    let mut client = test_client(&[], &[]);
    let ClientOutcome::Rejected { status, body, .. } = client
        .receive(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 5\r\n\r\nslow down")
        .unwrap()
    else {
        panic!()
    };
    assert_eq!((status, body.as_slice()), (429, &b"slow down"[..]));

    // 204 has no body; a redirect keeps its Location.
    let mut client = test_client(&[], &[]);
    let ClientOutcome::Rejected { status, body, .. } = client
        .receive(b"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n")
        .unwrap()
    else {
        panic!()
    };
    assert_eq!((status, body.len()), (204, 0));
    let mut client = test_client(&[], &[]);
    let ClientOutcome::Rejected { headers, .. } = client
        .receive(
            b"HTTP/1.1 301 Moved Permanently\r\nLocation: wss://h/\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(headers.get_str("location"), Some("wss://h/"));

    // The transport ends while the body arrives: what came is reported.
    let mut client = test_client(&[], &[]);
    assert!(matches!(
        client
            .receive(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 100\r\n\r\npart")
            .unwrap(),
        ClientOutcome::Partial
    ));
    let ClientOutcome::Rejected { status, body, .. } = client.receive_eof().unwrap() else {
        panic!()
    };
    assert_eq!((status, body.as_slice()), (403, &b"part"[..]));
    assert_eq!(client.receive_eof().unwrap_err(), HandshakeError::Finished);

    // The body kept is bounded.
    let limits = HandshakeLimits::default().max_body_size(4);
    let mut client = test_client(&[], &[]).limits(limits);
    let ClientOutcome::Rejected { body, .. } = client
        .receive(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 1000000\r\n\r\nabcdefgh")
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(body, b"abcd");
    let mut client = test_client(&[], &[]).limits(limits);
    let ClientOutcome::Rejected { body, .. } = client
        .receive(b"HTTP/1.1 500 Internal Server Error\r\n\r\nabcdefgh")
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(body, b"abcd");
}

// ---------------------------------------------------------------------------------------------
// Any split
// ---------------------------------------------------------------------------------------------

/// Cuts `bytes` at the given points.
fn split<'a>(bytes: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
    points.push(0);
    points.push(bytes.len());
    points.sort_unstable();
    points.windows(2).map(|w| &bytes[w[0]..w[1]]).collect()
}

/// Client frames carrying `payloads` as binary messages.
fn client_frames(payloads: &[Vec<u8>]) -> Vec<u8> {
    let mut conn = Connection::with_random(Role::Client, Config::default(), counter_rng());
    for p in payloads {
        conn.send_binary(p).unwrap();
    }
    drain(&mut conn)
}

fn binary_events(payloads: &[Vec<u8>]) -> Vec<Event> {
    payloads
        .iter()
        .map(|p| Event::Binary(p.clone().into()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A valid request, followed by frames, in any split: the same request, and the frames reach
    /// the connection intact, whether they came before or after the application accepted.
    #[test]
    fn server_completes_identically_for_any_split(
        resource in "/[a-z0-9/]{0,20}(\\?[a-z0-9=&]{0,12})?",
        protocols in prop::collection::btree_set("[a-z][a-z0-9.]{0,8}", 0..4),
        cookie in "[ -~]{0,40}",
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..4),
        cuts in prop::collection::vec(any::<Index>(), 0..12),
        accept_late in any::<bool>(),
    ) {
        let protocols: Vec<String> = protocols.into_iter().collect();
        let request = ClientRequest::new("example.com", &resource).unwrap()
            .protocols(&protocols).unwrap()
            .header("Cookie", &cookie).unwrap();
        let client = ClientHandshake::with_random(request, Config::default(), counter_rng());
        let head_len = client.request_bytes().len();
        let mut wire = client.request_bytes().to_vec();
        wire.extend(client_frames(&payloads));

        let mut reference = ServerHandshake::new();
        let expected: Request = reference.receive(&wire[..head_len]).unwrap().unwrap().clone();
        prop_assert_eq!(expected.resource(), resource.as_str());
        prop_assert_eq!(expected.protocols(), protocols.as_slice());

        let mut server = ServerHandshake::new();
        let mut conn: Option<Connection> = None;
        let mut got = None;
        for piece in split(&wire, &cuts) {
            if let Some(c) = conn.as_mut() {
                c.receive(piece);
                continue;
            }
            if let Some(req) = server.receive(piece).unwrap() {
                got = Some(req.clone());
                if !accept_late {
                    conn = Some(server.accept(AcceptOptions::new()).unwrap().1);
                }
            }
        }
        prop_assert_eq!(got.as_ref(), Some(&expected));
        let mut conn = match conn {
            Some(c) => c,
            None => server.accept(AcceptOptions::new()).unwrap().1,
        };
        prop_assert_eq!(conn.buffered_input(), wire.len() - head_len);
        prop_assert_eq!(events(&mut conn), binary_events(&payloads));
    }

    /// A valid 101, followed by server frames, in any split: the same response, and the frames
    /// reach the connection intact.
    #[test]
    fn client_completes_identically_for_any_split(
        protocols in prop::collection::btree_set("[a-z][a-z0-9.]{0,8}", 1..4),
        pick in any::<Index>(),
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..4),
        cuts in prop::collection::vec(any::<Index>(), 0..12),
    ) {
        let protocols: Vec<String> = protocols.into_iter().collect();
        let chosen = protocols[pick.index(protocols.len())].clone();
        let make_client = || {
            let request = ClientRequest::from_url("ws://example.com/chat").unwrap()
                .protocols(&protocols).unwrap();
            ClientHandshake::with_random(request, Config::default(), counter_rng())
        };
        let client = make_client();
        let mut server = ServerHandshake::new();
        server.receive(client.request_bytes()).unwrap().unwrap();
        let (head, mut server_conn) = server
            .accept(AcceptOptions::new().subprotocol(Some(chosen.as_str())))
            .unwrap();
        for p in &payloads {
            server_conn.send_binary(p).unwrap();
        }
        let mut wire = head.clone();
        wire.extend(drain(&mut server_conn));

        let ClientOutcome::Accepted { response: expected, .. } = make_client().receive(&head).unwrap()
        else { panic!("not accepted") };
        prop_assert_eq!(expected.subprotocol(), Some(chosen.as_str()));

        let mut client = make_client();
        let mut conn: Option<Connection> = None;
        let mut got = None;
        for piece in split(&wire, &cuts) {
            match conn.as_mut() {
                Some(c) => c.receive(piece),
                None => match client.receive(piece).unwrap() {
                    ClientOutcome::Partial => {}
                    ClientOutcome::Accepted { connection, response } => {
                        conn = Some(connection);
                        got = Some(response);
                    }
                    other => panic!("unexpected {other:?}"),
                },
            }
        }
        prop_assert_eq!(got.as_ref(), Some(&expected));
        let mut conn = conn.unwrap();
        prop_assert_eq!(conn.buffered_input(), wire.len() - head.len());
        prop_assert_eq!(events(&mut conn), binary_events(&payloads));
    }

    /// Arbitrary bytes never panic either side, and never buffer past the limit.
    #[test]
    fn arbitrary_bytes_never_panic(
        data in prop::collection::vec(any::<u8>(), 0..2000),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
    ) {
        let limits = HandshakeLimits::default().max_header_size(512).max_headers(8);
        let mut server = ServerHandshake::new().limits(limits);
        let mut client = test_client(&[], &[]).limits(limits);
        for piece in split(&data, &cuts) {
            let _ = server.receive(piece);
            let _ = client.receive(piece);
        }
        if let Err(e) = server.receive(&[])
            && let Some(r) = e.response()
        {
            prop_assert!(r.starts_with(b"HTTP/1.1 4"));
        }
    }
}

#[test]
fn byte_by_byte_large_request_matches_one_piece() {
    let names: Vec<String> = (0..50).map(|i| format!("X-Header-{i}")).collect();
    let value = "v".repeat(140);
    let extra: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), value.as_str())).collect();
    let bytes = request(&[], &extra);
    assert!(bytes.len() > 7000 && bytes.len() <= 8192, "{}", bytes.len());
    let expected = ServerHandshake::new()
        .receive(&bytes)
        .unwrap()
        .unwrap()
        .clone();
    let mut server = ServerHandshake::new();
    for (i, b) in bytes.iter().enumerate() {
        let done = server.receive(std::slice::from_ref(b)).unwrap().cloned();
        if i + 1 < bytes.len() {
            assert_eq!(done, None);
        } else {
            assert_eq!(done, Some(expected.clone()));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The `http` crate
// ---------------------------------------------------------------------------------------------

#[cfg(feature = "http")]
mod http_conversions {
    use super::*;

    fn upgrade_request() -> http::request::Builder {
        http::Request::get("/chat?room=1")
            .header("Host", "example.com")
            .header("Upgrade", "websocket")
            .header("Connection", "keep-alive, Upgrade")
            .header("Sec-WebSocket-Key", KEY)
            .header("Sec-WebSocket-Version", "13")
            .header("Sec-WebSocket-Protocol", "v2, v1")
            .header("Sec-WebSocket-Extensions", "permessage-deflate")
            .header("Origin", "https://example.com")
    }

    #[test]
    fn client_request_from_an_http_request() {
        use wsproto::handshake::IntoClientRequest;
        // The server's view of a request is a full handshake request: as a client request it
        // gives the same bytes (key included) back.
        let incoming = upgrade_request().header("Cookie", "a=1").body(()).unwrap();
        let request = (&incoming).into_client_request().unwrap();
        assert_eq!(request.host(), "example.com");
        assert_eq!(request.resource(), "/chat?room=1");
        assert_eq!(request.offered_protocols(), ["v2", "v1"]);
        assert_eq!(request.origin_value(), Some("https://example.com"));
        assert_eq!(request.headers().len(), 1);
        assert_eq!(request.headers().get_str("cookie"), Some("a=1"));
        let client = ClientHandshake::new(request);
        assert_eq!(client.key(), KEY);
        let mut server = ServerHandshake::new();
        let seen = server.receive(client.request_bytes()).unwrap().unwrap();
        assert_eq!(seen.key(), KEY);
        assert_eq!(seen.protocols(), ["v2", "v1"]);
        assert_eq!(seen.extensions()[0].name, "permessage-deflate");
        assert_eq!(seen.headers().get_str("cookie"), Some("a=1"));

        // An absolute URI; `Host` may override its authority.
        let r = http::Request::get("wss://example.com:9000/x")
            .body(())
            .unwrap()
            .into_client_request()
            .unwrap();
        assert_eq!((r.host(), r.resource()), ("example.com:9000", "/x"));
        assert!(r.url().unwrap().is_secure());
        let uri: http::Uri = "ws://h/y".parse().unwrap();
        assert_eq!(uri.into_client_request().unwrap().resource(), "/y");

        // What the handshake writes itself must agree with it, or is refused.
        for (name, value) in [
            ("Upgrade", "h2c"),
            ("Connection", "close"),
            ("Sec-WebSocket-Version", "8"),
            ("Sec-WebSocket-Accept", "x"),
            ("Content-Length", "3"),
        ] {
            let r = http::Request::get("ws://h/")
                .header(name, value)
                .body(())
                .unwrap();
            assert_eq!(
                r.into_client_request().unwrap_err(),
                HandshakeError::ReservedHeader(name.to_ascii_lowercase()),
                "{name}"
            );
        }
        let bad_key = http::Request::get("ws://h/")
            .header("Sec-WebSocket-Key", "short")
            .body(())
            .unwrap();
        assert_eq!(
            bad_key.into_client_request().unwrap_err(),
            HandshakeError::InvalidHeaderValue("Sec-WebSocket-Key".into())
        );
        let post = http::Request::post("ws://h/").body(()).unwrap();
        assert_eq!(
            post.into_client_request().unwrap_err(),
            HandshakeError::MethodNotAllowed("POST".into())
        );
        let no_host = http::Request::get("/x").body(()).unwrap();
        assert!(matches!(
            no_host.into_client_request(),
            Err(HandshakeError::InvalidUrl(_))
        ));
        let http_url = http::Request::get("http://h/").body(()).unwrap();
        assert!(matches!(
            http_url.into_client_request(),
            Err(HandshakeError::InvalidUrl(_))
        ));
    }

    #[test]
    fn server_validates_an_http_request_and_builds_the_101() {
        let incoming = upgrade_request().body(()).unwrap();
        let request = Request::try_from(&incoming).unwrap();
        assert_eq!(request.resource(), "/chat?room=1");
        assert_eq!(request.protocols(), ["v2", "v1"]);
        assert_eq!(request.origin(), Some("https://example.com"));
        assert_eq!(request.extensions()[0].name, "permessage-deflate");

        let response = request
            .accept(
                &AcceptOptions::new()
                    .subprotocol(Some("v1"))
                    .extensions("permessage-deflate")
                    .header("Set-Cookie", "a=1")
                    .unwrap(),
            )
            .unwrap();
        let http_response = http::Response::<()>::try_from(&response).unwrap();
        assert_eq!(http_response.status(), 101);
        let h = http_response.headers();
        assert_eq!(h["upgrade"], "websocket");
        assert_eq!(h["connection"], "Upgrade");
        assert_eq!(h["sec-websocket-accept"], ACCEPT);
        assert_eq!(h["sec-websocket-protocol"], "v1");
        assert_eq!(h["sec-websocket-extensions"], "permessage-deflate");
        assert_eq!(h["set-cookie"], "a=1");

        // And back to an http::Request.
        let again = http::Request::<()>::try_from(&request).unwrap();
        assert_eq!(again.uri(), "/chat?room=1");
        assert_eq!(again.headers()["sec-websocket-key"], KEY);
        assert_eq!(Request::try_from(&again).unwrap(), request);
    }

    #[test]
    fn server_rejections_as_http_responses() {
        let post = http::Request::post("/chat")
            .header("Host", "h")
            .body(())
            .unwrap();
        let err = Request::try_from(&post).unwrap_err();
        assert_eq!(err, HandshakeError::MethodNotAllowed("POST".into()));
        let r = err.to_http_response().unwrap();
        assert_eq!(r.status(), 405);
        assert_eq!(r.headers()["allow"], "GET");
        assert_eq!(r.body().as_ref(), format!("{err}\n").as_bytes());

        let old = upgrade_request()
            .header("Sec-WebSocket-Version", "8")
            .body(())
            .unwrap();
        let err = Request::try_from(&old).unwrap_err();
        assert_eq!(err, HandshakeError::UnsupportedVersion);
        let r = err.to_http_response().unwrap();
        assert_eq!(r.status(), 426);
        assert_eq!(r.headers()["sec-websocket-version"], "13");
        // A 426 lists `Upgrade` in `Connection` (RFC 9110 §7.8), in both forms of the response.
        assert_eq!(r.headers()["connection"], "Upgrade, close");
        assert_eq!(r.headers()["upgrade"], "websocket");

        // One builder: the http form has exactly the fields of the bytes form, minus
        // `Content-Length`, and the same body.
        for err in [
            HandshakeError::MethodNotAllowed("POST".into()),
            HandshakeError::UnsupportedVersion,
            HandshakeError::MissingHeader("Host"),
            HandshakeError::HeadersTooLarge { limit: 10 },
        ] {
            let bytes = err.response().unwrap();
            let http = err.to_http_response().unwrap();
            let mut slots = [httparse::EMPTY_HEADER; 16];
            let mut parsed = httparse::Response::new(&mut slots);
            let httparse::Status::Complete(head) = parsed.parse(&bytes).unwrap() else {
                panic!("incomplete")
            };
            assert_eq!(parsed.code, Some(http.status().as_u16()));
            let from_bytes: Vec<(String, Vec<u8>)> = parsed
                .headers
                .iter()
                .filter(|h| !h.name.eq_ignore_ascii_case("content-length"))
                .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
                .collect();
            let from_http: Vec<(String, Vec<u8>)> = http
                .headers()
                .iter()
                .map(|(n, v)| (n.as_str().to_string(), v.as_bytes().to_vec()))
                .collect();
            assert_eq!(from_bytes, from_http, "{err}");
            assert_eq!(&bytes[head..], http.body().as_ref());
        }

        let h2 = upgrade_request()
            .version(http::Version::HTTP_2)
            .body(())
            .unwrap();
        // Over HTTP/2 a WebSocket is an extended CONNECT (RFC 8441), not a GET.
        let err = Request::try_from(&h2).unwrap_err();
        assert_eq!(err, HandshakeError::ConnectRequired("GET".into()));
        assert_eq!(
            err.to_http_response().unwrap().headers()["allow"],
            "CONNECT"
        );
        let h10 = upgrade_request()
            .version(http::Version::HTTP_10)
            .body(())
            .unwrap();
        assert_eq!(
            Request::try_from(&h10).unwrap_err(),
            HandshakeError::UnsupportedHttpVersion
        );
        let no_key = http::Request::get("/")
            .header("Host", "h")
            .header("Upgrade", "websocket")
            .header("Connection", "upgrade")
            .header("Sec-WebSocket-Version", "13")
            .body(())
            .unwrap();
        let err = Request::try_from(&no_key).unwrap_err();
        assert_eq!(err, HandshakeError::MissingHeader("Sec-WebSocket-Key"));
        assert_eq!(err.to_http_response().unwrap().status(), 400);
        assert!(HandshakeError::AcceptMismatch.to_http_response().is_none());
    }

    #[test]
    fn client_sends_and_checks_through_http_types() {
        let request = ClientRequest::from_url("ws://example.com:8080/chat")
            .unwrap()
            .protocols(["v1"])
            .unwrap()
            .header("Authorization", "Bearer x")
            .unwrap();
        let mut client = ClientHandshake::with_random(request, Config::default(), counter_rng());
        let outgoing = client.to_http_request().unwrap();
        assert_eq!(outgoing.uri(), "/chat");
        assert_eq!(outgoing.headers()["host"], "example.com:8080");
        assert_eq!(outgoing.headers()["authorization"], "Bearer x");

        // The server side, through the http types as well.
        let server_request = Request::try_from(&outgoing).unwrap();
        let response = server_request
            .accept(&AcceptOptions::new().subprotocol(Some("v1")))
            .unwrap();
        let http_response = http::Response::<()>::try_from(&response).unwrap();

        let ClientOutcome::Accepted {
            mut connection,
            response,
        } = client.receive_http_response(&http_response).unwrap()
        else {
            panic!()
        };
        assert_eq!(response.subprotocol(), Some("v1"));
        assert_eq!(connection.subprotocol(), Some("v1"));
        connection.send_text("x").unwrap();
        assert_eq!(
            client.receive_http_response(&http_response).unwrap_err(),
            HandshakeError::Finished
        );

        // A wrong accept, and a rejection.
        let mut client = test_client(&[], &[]);
        let bad = http::Response::builder()
            .status(101)
            .header("Upgrade", "websocket")
            .header("Connection", "Upgrade")
            .header("Sec-WebSocket-Accept", ACCEPT)
            .body(())
            .unwrap();
        assert_eq!(
            client.receive_http_response(&bad).unwrap_err(),
            HandshakeError::AcceptMismatch
        );
        let mut client = test_client(&[], &[]);
        let forbidden = http::Response::builder()
            .status(403)
            .header("X-Why", "no")
            .body(())
            .unwrap();
        let ClientOutcome::Rejected {
            status,
            reason,
            headers,
            body,
        } = client.receive_http_response(&forbidden).unwrap()
        else {
            panic!()
        };
        assert_eq!((status, reason.as_str()), (403, "Forbidden"));
        assert_eq!(headers.get_str("x-why"), Some("no"));
        assert!(body.is_empty());
    }
}

#[test]
fn redirect_locations_resolve_against_the_request() {
    let base = ClientRequest::from_url("ws://example.com:8080/a/b/chat?q=1")
        .unwrap()
        .protocols(["chat"])
        .unwrap()
        .origin("http://example.com")
        .unwrap()
        .header("Cookie", "s=1")
        .unwrap()
        .header("X-Trace", "7")
        .unwrap();
    let cases = [
        ("/new", "example.com:8080", "/new", false),
        ("other?x", "example.com:8080", "/a/b/other?x", false),
        ("//example.net/p", "example.net", "/p", false),
        (
            "ws://example.com:8080/same",
            "example.com:8080",
            "/same",
            false,
        ),
        ("http://example.org/h", "example.org", "/h", false),
        ("https://example.org/s", "example.org", "/s", true),
        ("wss://example.com:8080/up", "example.com:8080", "/up", true),
    ];
    for (location, host, resource, secure) in cases {
        let next = base.redirect(location).unwrap();
        assert_eq!(
            (next.host(), next.resource()),
            (host, resource),
            "{location}"
        );
        assert_eq!(next.url().unwrap().is_secure(), secure, "{location}");
        assert_eq!(next.offered_protocols(), ["chat"]);
        assert_eq!(next.origin_value(), Some("http://example.com"));
        assert_eq!(next.headers().get_str("x-trace"), Some("7"));
        // Credentials stay with the origin (upgrading ws to wss keeps it).
        let same_host = host == "example.com:8080";
        assert_eq!(next.headers().contains("cookie"), same_host, "{location}");
    }
    // Downgrading wss to ws drops credentials too.
    let secure = ClientRequest::from_url("wss://h/")
        .unwrap()
        .header("Authorization", "Bearer x")
        .unwrap();
    assert!(
        !secure
            .redirect("ws://h/")
            .unwrap()
            .headers()
            .contains("authorization")
    );
    assert!(
        secure
            .redirect("/p")
            .unwrap()
            .headers()
            .contains("authorization")
    );
    for bad in ["ftp://h/", "ws://h/#frag", "ws://user@h/"] {
        assert!(
            matches!(base.redirect(bad), Err(HandshakeError::InvalidUrl(_))),
            "{bad}"
        );
    }
}

#[test]
fn a_redirect_exposes_its_location() {
    let request = ClientRequest::from_url("ws://example.com/old").unwrap();
    for (status, location) in [
        (301, Some("/a")),
        (302, Some("/a")),
        (307, Some("/a")),
        (308, Some("/a")),
        (404, None),
    ] {
        let mut client = ClientHandshake::new(request.clone());
        let response = format!("HTTP/1.1 {status} X\r\nLocation: /a\r\nContent-Length: 0\r\n\r\n");
        let outcome = client.receive(response.as_bytes()).unwrap();
        assert!(matches!(outcome, ClientOutcome::Rejected { .. }));
        assert_eq!(outcome.location(), location, "{status}");
    }
    let mut client = ClientHandshake::new(request);
    let outcome = client
        .receive(b"HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    assert_eq!(outcome.location(), None);
}
