//! The blocking driver over real loopback sockets.
#![cfg(feature = "blocking")]

mod io_common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use io_common::{frame, pattern, tcp_pair, within_limit};
use wsproto::driver::blocking::{MaybeTlsStream, Transport, WebSocket};
use wsproto::driver::{Error, Options, Rejection};
use wsproto::handshake::{AcceptOptions, ClientRequest, HandshakeError};
use wsproto::{Bytes, CloseCode, CloseFrame, Config, Connection, Message, Role, State};

/// A client and a server driver over loopback TCP, after a real opening handshake.
fn ws_pair(config: Config) -> (WebSocket<MaybeTlsStream>, WebSocket<TcpStream>) {
    ws_pair_with(Options::default().config(config))
}

/// [`ws_pair`] with the same [`Options`] on both sides.
fn ws_pair_with(options: Options) -> (WebSocket<MaybeTlsStream>, WebSocket<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server_options = options.clone();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        WebSocket::accept_with_options(stream, &server_options).unwrap()
    });
    let (client, response) =
        WebSocket::connect_with_options(format!("ws://{addr}/echo"), &options).unwrap();
    assert_eq!(response.status(), 101);
    (client, server.join().unwrap())
}

/// A driver over one end of a loopback pair whose handshake is taken as done; the other end
/// stays raw, for hand-made frames.
fn raw_peer(role: Role, config: Config) -> (TcpStream, WebSocket<TcpStream>) {
    let (c, s) = tcp_pair();
    match role {
        Role::Server => (
            c,
            WebSocket::from_connection(s, Connection::new(role, config)),
        ),
        Role::Client => (
            s,
            WebSocket::from_connection(c, Connection::new(role, config)),
        ),
    }
}

/// Echoes every data message until the connection ends; returns how it ended.
fn echo<S: Transport>(ws: &mut WebSocket<S>) -> Error {
    loop {
        match ws.read() {
            Ok(msg @ (Message::Text(_) | Message::Binary(_))) => ws.send(msg).unwrap(),
            Ok(_) => {}
            Err(e) => return e,
        }
    }
}

#[test]
fn messages_round_trip_and_client_closes() {
    within_limit(|| {
        let (mut client, mut server) = ws_pair(Config::default());
        let server = thread::spawn(move || {
            let end = echo(&mut server);
            (end, server.connection().state())
        });
        client.send(Message::text("hello")).unwrap();
        assert_eq!(client.read().unwrap(), Message::text("hello"));
        client.send(Message::text("")).unwrap();
        assert_eq!(client.read().unwrap(), Message::text(""));
        client.send(Message::text("κόσμε 🌍")).unwrap();
        assert_eq!(client.read().unwrap(), Message::text("κόσμε 🌍"));
        client.send(Message::binary(vec![0u8, 1, 2, 255])).unwrap();
        assert_eq!(
            client.read().unwrap(),
            Message::binary(vec![0u8, 1, 2, 255])
        );
        client
            .send(Message::Ping(Bytes::from_static(b"p")))
            .unwrap();
        assert_eq!(
            client.read().unwrap(),
            Message::Pong(Bytes::from_static(b"p"))
        );

        client.close(CloseCode::NORMAL, "bye").unwrap();
        assert_eq!(client.connection().state(), State::Closing);
        // The server echoes the code; the reason is not echoed.
        assert_eq!(
            client.read().unwrap(),
            Message::Close(Some(CloseFrame::new(CloseCode::NORMAL, "")))
        );
        // The server closes TCP first; then the client is done.
        assert!(matches!(client.read(), Err(Error::Closed)));
        assert!(matches!(client.read(), Err(Error::Closed)));
        let (end, state) = server.join().unwrap();
        assert!(matches!(end, Error::Closed), "{end:?}");
        assert_eq!(state, State::Closed);
    });
}

#[test]
fn server_initiates_close() {
    within_limit(|| {
        let (mut client, mut server) = ws_pair(Config::default());
        let server = thread::spawn(move || {
            server.send(Message::text("last words")).unwrap();
            server
                .close(CloseCode::GOING_AWAY, "shutting down")
                .unwrap();
            // Nothing more may be sent.
            assert!(matches!(
                server.send(Message::text("late")),
                Err(Error::Send(wsproto::SendError::Closed))
            ));
            let reply = server.read().unwrap();
            let end = server.read();
            (reply, end)
        });
        assert_eq!(client.read().unwrap(), Message::text("last words"));
        assert_eq!(
            client.read().unwrap(),
            Message::Close(Some(CloseFrame::new(
                CloseCode::GOING_AWAY,
                "shutting down"
            )))
        );
        assert!(matches!(client.read(), Err(Error::Closed)));
        let (reply, end) = server.join().unwrap();
        assert_eq!(
            reply,
            Message::Close(Some(CloseFrame::new(CloseCode::GOING_AWAY, "")))
        );
        assert!(matches!(end, Err(Error::Closed)));
    });
}

/// Without permessage-deflate: the options for byte-exact sizes on the wire.
fn uncompressed() -> Options {
    let options = Options::default();
    #[cfg(feature = "deflate")]
    let options = options.deflate(None);
    options
}

#[test]
fn sixteen_mib_message() {
    sixteen_mib_messages(uncompressed(), true);
}

#[cfg(feature = "deflate")]
#[test]
fn sixteen_mib_message_compressed() {
    // (Random data is left out: deflating 16 MiB of it takes long in a debug build.)
    sixteen_mib_messages(Options::default(), false);
}

fn sixteen_mib_messages(options: Options, random: bool) {
    within_limit(move || {
        let (mut client, mut server) = ws_pair_with(options);
        let server = thread::spawn(move || echo(&mut server));
        if random {
            let big = pattern(7, 16 << 20);
            client.send(Message::binary(big.clone())).unwrap();
            match client.read().unwrap() {
                Message::Binary(data) => assert!(data == big, "echo differs"),
                other => panic!("{other:?}"),
            }
        }
        let text = "a".repeat(16 << 20);
        client.send(Message::text(text.as_str())).unwrap();
        match client.read().unwrap() {
            Message::Text(data) => assert!(data == text.as_str(), "echo differs"),
            other => panic!("{other:?}"),
        }
        client.close(CloseCode::NORMAL, "").unwrap();
        assert!(matches!(client.read(), Ok(Message::Close(_))));
        assert!(matches!(client.read(), Err(Error::Closed)));
        assert!(matches!(server.join().unwrap(), Error::Closed));
    });
}

#[test]
fn peer_dropping_tcp_mid_frame_is_an_error() {
    within_limit(|| {
        let (mut raw, mut server) = raw_peer(Role::Server, Config::default());
        // One whole message, then half of a 1000-byte frame, then the connection drops.
        raw.write_all(&frame(0x1, true, b"whole", true)).unwrap();
        let partial = frame(0x2, true, &[9u8; 1000], true);
        raw.write_all(&partial[..500]).unwrap();
        drop(raw);
        assert_eq!(server.read().unwrap(), Message::text("whole"));
        match server.read() {
            Err(Error::Connection(wsproto::Error::UnexpectedEof)) => {}
            other => panic!("{other:?}"),
        }
        assert!(matches!(server.read(), Err(Error::Closed)));
    });
}

#[test]
fn peer_resetting_tcp_mid_frame_is_an_error() {
    within_limit(|| {
        let (mut raw, mut server) = raw_peer(Role::Server, Config::default());
        // The peer leaves what the server sent unread, so closing it resets the connection.
        server.send(Message::text("never read")).unwrap();
        raw.write_all(&frame(0x2, true, &[1u8; 100], true)[..50])
            .unwrap();
        let reader = thread::spawn(move || server.read());
        drop(raw);
        match reader.join().unwrap() {
            Err(Error::Connection(wsproto::Error::UnexpectedEof)) | Err(Error::Io(_)) => {}
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn data_before_a_protocol_error_is_delivered_then_the_close_frame_is_written() {
    within_limit(|| {
        let (mut raw, mut server) = raw_peer(Role::Server, Config::default());
        let mut bytes = frame(0x1, true, b"first", true);
        bytes.extend(frame(0x1, true, b"second", true));
        bytes.extend(frame(0x1, true, &[0xff, 0xfe], true)); // invalid UTF-8
        raw.write_all(&bytes).unwrap();
        // The server echoes each message as it reads it.
        let end = echo(&mut server);
        assert!(
            matches!(
                end,
                Error::Connection(wsproto::Error::Protocol(
                    wsproto::ProtocolError::InvalidUtf8
                ))
            ),
            "{end:?}"
        );
        assert!(matches!(server.read(), Err(Error::Closed)));
        drop(server); // closes TCP
        let mut got = Vec::new();
        raw.read_to_end(&mut got).unwrap();
        let mut expected = frame(0x1, true, b"first", false);
        expected.extend(frame(0x1, true, b"second", false));
        assert_eq!(&got[..expected.len()], &expected[..], "echoes come first");
        let close = &got[expected.len()..];
        assert_eq!(close[0], 0x88);
        assert_eq!(&close[2..4], &1007u16.to_be_bytes());
    });
}

#[test]
fn keepalive_times_out_against_a_silent_peer() {
    within_limit(|| {
        let (mut raw, s) = tcp_pair();
        let config = Config::default()
            .keepalive_interval(Some(Duration::from_millis(50)))
            .keepalive_timeout(Duration::from_millis(100));
        let mut server = WebSocket::from_connection(s, Connection::new(Role::Server, config));
        // The peer never answers: the read must not block forever.
        match server.read() {
            Err(Error::Connection(wsproto::Error::KeepaliveTimeout)) => {}
            other => panic!("{other:?}"),
        }
        // The keepalive ping went out before the timeout.
        let mut buf = [0u8; 64];
        let n = raw.read(&mut buf).unwrap();
        assert!(n >= 2 && buf[0] == 0x89, "{:?}", &buf[..n]);
    });
}

#[test]
fn keepalive_pings_are_answered_and_the_connection_stays_up() {
    within_limit(|| {
        let config = Config::default()
            .keepalive_interval(Some(Duration::from_millis(20)))
            .keepalive_timeout(Duration::from_secs(5));
        let (mut client, mut server) = ws_pair(config);
        let server = thread::spawn(move || {
            // Keep reading for a while: pongs from the client arrive as events.
            let mut pongs = 0;
            while pongs < 3 {
                match server.read().unwrap() {
                    Message::Pong(_) => pongs += 1,
                    Message::Ping(_) => {}
                    other => panic!("{other:?}"),
                }
            }
            server.send(Message::text("done")).unwrap();
            echo(&mut server)
        });
        // The client answers pings as it reads; its own keepalive pings are answered too.
        loop {
            match client.read().unwrap() {
                Message::Text(t) if t == "done" => break,
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("{other:?}"),
            }
        }
        client.close(CloseCode::NORMAL, "").unwrap();
        loop {
            match client.read() {
                Ok(_) => {}
                Err(Error::Closed) => break,
                Err(e) => panic!("{e:?}"),
            }
        }
        assert!(matches!(server.join().unwrap(), Error::Closed));
    });
}

#[test]
fn close_timeout_ends_a_close_the_peer_never_answers() {
    within_limit(|| {
        let config = Config::default().close_timeout(Some(Duration::from_millis(100)));
        let (_raw, mut server) = raw_peer(Role::Server, config);
        server.close(CloseCode::NORMAL, "").unwrap();
        match server.read() {
            Err(Error::Connection(wsproto::Error::CloseTimeout)) => {}
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn slow_reader_buffers_then_receives_everything() {
    within_limit(|| {
        let (client, mut server) = ws_pair_with(uncompressed());
        // 32 MiB in 1 MiB messages: far more than the socket buffers hold.
        let count = 32;
        server.get_mut().set_nonblocking(true).unwrap();
        for i in 0..count {
            server.queue(Message::binary(pattern(i, 1 << 20))).unwrap();
        }
        assert_eq!(server.buffered_amount(), count as usize * ((1 << 20) + 10));
        // The peer reads nothing: the write stops short and the rest stays queued.
        match server.flush() {
            Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("{other:?}"),
        }
        let waiting = server.buffered_amount();
        assert!(waiting > 0 && waiting < count as usize * ((1 << 20) + 10));
        // More messages can still be queued behind.
        server.queue(Message::text("tail")).unwrap();
        assert_eq!(server.buffered_amount(), waiting + 6);

        // Now the peer reads: everything arrives, in order.
        let reader = thread::spawn(move || {
            let mut client = client;
            for i in 0..count {
                match client.read().unwrap() {
                    Message::Binary(data) => assert!(data == pattern(i, 1 << 20), "message {i}"),
                    other => panic!("{other:?}"),
                }
            }
            assert_eq!(client.read().unwrap(), Message::text("tail"));
        });
        server.get_mut().set_nonblocking(false).unwrap();
        server.flush().unwrap();
        assert_eq!(server.buffered_amount(), 0);
        reader.join().unwrap();
    });
}

#[test]
fn many_concurrent_connections() {
    within_limit(|| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let n = 200;
        let server = thread::spawn(move || {
            let mut handles = Vec::new();
            for _ in 0..n {
                let (s, _) = listener.accept().unwrap();
                handles.push(thread::spawn(move || {
                    let mut ws = WebSocket::from_connection(
                        s,
                        Connection::new(Role::Server, Config::default()),
                    );
                    echo(&mut ws)
                }));
            }
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        });
        let clients: Vec<_> = (0..n)
            .map(|i| {
                thread::spawn(move || {
                    let s = TcpStream::connect(addr).unwrap();
                    let mut ws = WebSocket::from_connection(
                        s,
                        Connection::new(Role::Client, Config::default()),
                    );
                    for j in 0..10u32 {
                        let msg = Message::binary(pattern(i * 100 + j, 100 + j as usize * 50));
                        ws.send(msg.clone()).unwrap();
                        assert_eq!(ws.read().unwrap(), msg);
                    }
                    ws.close(CloseCode::NORMAL, "").unwrap();
                    assert!(matches!(ws.read(), Ok(Message::Close(_))));
                    assert!(matches!(ws.read(), Err(Error::Closed)));
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        for end in server.join().unwrap() {
            assert!(matches!(end, Error::Closed), "{end:?}");
        }
    });
}

#[test]
fn client_dropping_tcp_mid_frame_is_an_error_for_the_client_too() {
    within_limit(|| {
        let (mut raw, mut client) = raw_peer(Role::Client, Config::default());
        // The server sends half of a frame and goes away.
        raw.write_all(&frame(0x1, true, b"hello world", false)[..6])
            .unwrap();
        drop(raw);
        match client.read() {
            Err(Error::Connection(wsproto::Error::UnexpectedEof)) => {}
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn accept_with_selects_a_subprotocol_from_the_request() {
    within_limit(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut ws = WebSocket::accept_with(stream, |request| {
                assert_eq!(request.path(), "/chat");
                assert_eq!(request.query(), Some("room=1"));
                Ok(AcceptOptions::new().subprotocol(request.select_subprotocol(&["v2", "v1"])))
            })
            .unwrap();
            assert_eq!(ws.connection().subprotocol(), Some("v2"));
            echo(&mut ws)
        });
        let stream = TcpStream::connect(addr).unwrap();
        let request = ClientRequest::from_url(&format!("ws://{addr}/chat?room=1"))
            .unwrap()
            .protocols(["v3", "v2"])
            .unwrap();
        let (mut ws, response) = WebSocket::client(stream, request).unwrap();
        assert_eq!(response.subprotocol(), Some("v2"));
        assert_eq!(ws.connection().subprotocol(), Some("v2"));
        ws.send(Message::text("hi")).unwrap();
        assert_eq!(ws.read().unwrap(), Message::text("hi"));
        ws.close(CloseCode::NORMAL, "").unwrap();
        assert!(matches!(ws.read(), Ok(Message::Close(_))));
        assert!(matches!(ws.read(), Err(Error::Closed)));
        assert!(matches!(server.join().unwrap(), Error::Closed));
    });
}

#[test]
fn a_rejection_reaches_the_client_with_its_status_and_body() {
    within_limit(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            WebSocket::accept_with(stream, |request| {
                assert_eq!(request.path(), "/private");
                Err(Rejection::new(403).body("go away"))
            })
            .unwrap_err()
        });
        match WebSocket::connect(format!("ws://{addr}/private")) {
            Err(Error::Rejected { status, body, .. }) => {
                assert_eq!(status, 403);
                assert_eq!(body, b"go away");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            server.join().unwrap(),
            Error::Rejected { status: 403, .. }
        ));
    });
}

#[test]
fn a_plain_http_request_is_answered_with_an_error_status() {
    within_limit(|| {
        let (mut raw, s) = tcp_pair();
        let server = thread::spawn(move || WebSocket::accept(s).unwrap_err());
        raw.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut response = String::new();
        raw.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 400 "), "{response}");
        assert!(matches!(
            server.join().unwrap(),
            Error::Handshake(HandshakeError::MissingHeader("Upgrade"))
        ));
    });
}

#[test]
fn a_silent_client_fails_the_handshake_timeout() {
    within_limit(|| {
        let (_raw, s) = tcp_pair();
        let options = Options::default().handshake_timeout(Some(Duration::from_millis(100)));
        match WebSocket::accept_with_options(s, &options) {
            Err(Error::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::TimedOut),
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn wss_needs_a_tls_stream() {
    // With the `rustls` feature, wss:// dials (tests/tls.rs); port 1 refuses the connection.
    #[cfg(not(feature = "rustls"))]
    assert!(matches!(
        WebSocket::connect("wss://127.0.0.1:1/"),
        Err(Error::TlsRequired)
    ));
    #[cfg(feature = "rustls")]
    assert!(matches!(
        WebSocket::connect("wss://127.0.0.1:1/"),
        Err(Error::Io(_))
    ));
    assert!(matches!(
        WebSocket::connect("http://127.0.0.1:1/"),
        Err(Error::Handshake(HandshakeError::InvalidUrl(_)))
    ));
}

#[cfg(feature = "deflate")]
#[test]
fn permessage_deflate_is_negotiated_and_compresses() {
    within_limit(|| {
        let (mut client, mut server) = ws_pair(Config::default());
        assert!(client.connection().deflate_enabled());
        assert!(server.connection().deflate_enabled());
        let server = thread::spawn(move || echo(&mut server));
        let text = "compressible ".repeat(10_000);
        client.send(Message::text(text.as_str())).unwrap();
        assert_eq!(client.read().unwrap(), Message::text(text.as_str()));
        client.close(CloseCode::NORMAL, "").unwrap();
        assert!(matches!(client.read(), Ok(Message::Close(_))));
        assert!(matches!(client.read(), Err(Error::Closed)));
        assert!(matches!(server.join().unwrap(), Error::Closed));
    });
}

#[cfg(feature = "deflate")]
#[test]
fn deflate_can_be_turned_off() {
    within_limit(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            WebSocket::accept(stream).unwrap()
        });
        let options = Options::default().deflate(None);
        let (client, response) =
            WebSocket::connect_with_options(format!("ws://{addr}/"), &options).unwrap();
        assert!(response.extensions().is_empty());
        assert!(!client.connection().deflate_enabled());
        assert!(!server.join().unwrap().connection().deflate_enabled());
    });
}

#[test]
fn a_reset_after_the_close_handshake_ends_the_connection_cleanly() {
    within_limit(|| {
        let (mut raw, mut client) = raw_peer(Role::Client, Config::default());
        raw.write_all(&frame(0x8, true, &1000u16.to_be_bytes(), false))
            .unwrap();
        assert_eq!(
            client.read().unwrap(),
            Message::Close(Some(CloseFrame::new(CloseCode::NORMAL, "")))
        );
        // The server drops TCP with the client's close reply unread: the kernel resets it.
        drop(raw);
        assert!(matches!(client.read(), Err(Error::Closed)));
    });
}

#[test]
fn read_joins_streamed_fragments_and_read_event_keeps_them() {
    within_limit(|| {
        let config = Config::default().stream_messages(true);
        let (mut raw, mut server) = raw_peer(Role::Server, config.clone());
        let mut bytes = frame(0x1, false, "hé".as_bytes(), true);
        bytes.extend(frame(0x9, true, b"p", true)); // a ping between fragments
        bytes.extend(frame(0x0, false, &"llo €".as_bytes()[..5], true)); // € split
        bytes.extend(frame(0x0, true, &"llo €".as_bytes()[5..], true));
        bytes.extend(frame(0x2, false, &[1, 2], true));
        bytes.extend(frame(0x0, true, &[3], true));
        bytes.extend(frame(0x2, true, &[4, 5], true)); // one fragment, fin
        raw.write_all(&bytes).unwrap();
        assert_eq!(
            server.read().unwrap(),
            Message::Ping(Bytes::from_static(b"p"))
        );
        assert_eq!(server.read().unwrap(), Message::text("héllo €"));
        assert_eq!(server.read().unwrap(), Message::binary(vec![1, 2, 3]));
        assert_eq!(server.read().unwrap(), Message::binary(vec![4, 5]));

        // read_event hands the fragments out as they are.
        let (mut raw, mut server) = raw_peer(Role::Server, config);
        let mut bytes = frame(0x1, false, b"ab", true);
        bytes.extend(frame(0x0, true, b"c", true));
        raw.write_all(&bytes).unwrap();
        let mut parts = Vec::new();
        while parts.len() < 2 {
            match server.read_event().unwrap() {
                wsproto::Event::TextFragment { data, fin } => parts.push((data, fin)),
                other => panic!("{other:?}"),
            }
        }
        let text: String = parts.iter().map(|(d, _)| d.as_str()).collect();
        assert_eq!(text, "abc");
        assert!(parts.last().unwrap().1);
    });
}

#[test]
fn read_of_streamed_fragments_is_bounded_by_max_message_size() {
    within_limit(|| {
        let config = Config::default().stream_messages(true).max_message_size(8);
        let (mut raw, mut server) = raw_peer(Role::Server, config);
        let mut bytes = frame(0x2, false, &[0; 5], true);
        bytes.extend(frame(0x0, true, &[0; 5], true));
        raw.write_all(&bytes).unwrap();
        match server.read() {
            Err(Error::Connection(wsproto::Error::Protocol(
                wsproto::ProtocolError::MessageTooLarge { limit: 8 },
            ))) => {}
            other => panic!("{other:?}"),
        }
        // The close frame saying why (1009) is on the wire.
        let mut head = [0u8; 4];
        raw.read_exact(&mut head).unwrap();
        assert_eq!(head[0], 0x88);
        assert_eq!(&head[2..4], &1009u16.to_be_bytes());
    });
}

#[test]
fn read_request_lets_the_decision_happen_later() {
    within_limit(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            for _ in 0..2 {
                let (stream, _) = listener.accept().unwrap();
                let pending = WebSocket::read_request(stream, &Options::default()).unwrap();
                // The decision may take time, or another thread.
                let request = pending.request().clone();
                let decision = thread::spawn(move || request.path() == "/ok")
                    .join()
                    .unwrap();
                if decision {
                    let mut ws = pending
                        .accept(AcceptOptions::new().subprotocol(Some("chat")))
                        .unwrap();
                    let msg = ws.read().unwrap();
                    ws.send(msg).unwrap();
                    let _ = echo(&mut ws);
                } else {
                    let stream = pending.reject(Rejection::new(403).body("not you")).unwrap();
                    drop(stream);
                }
            }
        });
        let request = ClientRequest::from_url(&format!("ws://{addr}/ok"))
            .unwrap()
            .protocols(["chat"])
            .unwrap();
        let (mut ws, response) = WebSocket::connect(request).unwrap();
        assert_eq!(response.subprotocol(), Some("chat"));
        ws.send(Message::text("hi")).unwrap();
        assert_eq!(ws.read().unwrap(), Message::text("hi"));
        ws.close(CloseCode::NORMAL, "").unwrap();
        while ws.read().is_ok() {}
        match WebSocket::connect(format!("ws://{addr}/no")) {
            Err(Error::Rejected { status, body, .. }) => {
                assert_eq!(status, 403);
                assert_eq!(body, b"not you");
            }
            other => panic!("{other:?}"),
        }
        server.join().unwrap();
    });
}

#[test]
fn a_handshake_error_in_the_decision_becomes_a_rejection() {
    within_limit(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            WebSocket::accept_with(stream, |_| {
                // `?` on a HandshakeError inside the callback.
                let options = AcceptOptions::new().header("Set-Cookie", "a\r\nInjected: 1")?;
                Ok(options)
            })
            .unwrap_err()
        });
        match WebSocket::connect(format!("ws://{addr}/")) {
            Err(Error::Rejected { status, body, .. }) => {
                assert_eq!(status, 500);
                assert_eq!(
                    body,
                    format!(
                        "{}\n",
                        HandshakeError::InvalidHeaderValue("Set-Cookie".into())
                    )
                    .as_bytes()
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            server.join().unwrap(),
            Error::Rejected { status: 500, .. }
        ));
    });
    // A request error keeps its own status and fields.
    let r = Rejection::from(HandshakeError::MethodNotAllowed("POST".into()));
    assert_eq!(r.status, 405);
    assert_eq!(r.headers.get_str("allow"), Some("GET"));
    assert_eq!(r.headers.get("connection"), None); // `reject` writes it
    let r = Rejection::from(HandshakeError::UnsupportedVersion);
    assert_eq!(r.status, 426);
    assert_eq!(r.headers.get_str("sec-websocket-version"), Some("13"));
}

#[test]
fn driver_errors_convert_to_io_errors() {
    use std::io::ErrorKind;
    let io = |e: Error| std::io::Error::from(e);
    let reset = std::io::Error::new(ErrorKind::ConnectionReset, "reset");
    assert_eq!(io(Error::Io(reset)).kind(), ErrorKind::ConnectionReset);
    for (error, kind) in [
        (
            Error::Connection(wsproto::Error::UnexpectedEof),
            ErrorKind::UnexpectedEof,
        ),
        (
            Error::Connection(wsproto::Error::KeepaliveTimeout),
            ErrorKind::TimedOut,
        ),
        (
            Error::Connection(wsproto::Error::Protocol(
                wsproto::ProtocolError::InvalidUtf8,
            )),
            ErrorKind::InvalidData,
        ),
        (
            Error::Send(wsproto::SendError::Closed),
            ErrorKind::BrokenPipe,
        ),
        (
            Error::Handshake(HandshakeError::AcceptMismatch),
            ErrorKind::InvalidData,
        ),
        (
            Error::Handshake(HandshakeError::InvalidUrl("x")),
            ErrorKind::InvalidInput,
        ),
        (Error::TlsRequired, ErrorKind::Unsupported),
        (Error::Closed, ErrorKind::NotConnected),
    ] {
        let text = error.to_string();
        let converted = io(error);
        assert_eq!(converted.kind(), kind, "{text}");
        // The driver error is inside, for whoever wants it back.
        let inner = converted
            .get_ref()
            .unwrap()
            .downcast_ref::<Error>()
            .unwrap();
        assert_eq!(inner.to_string(), text);
    }
    // `?` in io::Result code.
    fn connect_io(url: &str) -> std::io::Result<()> {
        WebSocket::connect(url)?;
        Ok(())
    }
    // Without TLS support `wss://` is refused before dialling; with it, nothing listens there.
    let expected = if cfg!(feature = "rustls") {
        ErrorKind::ConnectionRefused
    } else {
        ErrorKind::Unsupported
    };
    assert_eq!(
        connect_io("wss://127.0.0.1:1/").unwrap_err().kind(),
        expected
    );
}

/// A server that answers every request on `listener` with `status` and `Location: location`.
fn redirecting_server(listener: TcpListener, status: u16, location: String, times: usize) {
    thread::spawn(move || {
        for _ in 0..times {
            let (stream, _) = listener.accept().unwrap();
            let location = location.clone();
            let _ = WebSocket::accept_with(stream, move |_| {
                Err(Rejection::new(status).header("Location", &location)?)
            });
        }
    });
}

#[test]
fn redirects_are_followed_only_when_asked_and_only_so_often() {
    within_limit(|| {
        // The target: a real WebSocket server.
        let target = TcpListener::bind("127.0.0.1:0").unwrap();
        let target_addr = target.local_addr().unwrap();
        let target_server = thread::spawn(move || {
            let (stream, _) = target.accept().unwrap();
            let mut path = String::new();
            let ws = WebSocket::accept_with(stream, |request| {
                path = request.resource().to_string();
                Ok(AcceptOptions::new())
            });
            (ws.is_ok(), path)
        });
        let hop1 = TcpListener::bind("127.0.0.1:0").unwrap();
        let hop1_addr = hop1.local_addr().unwrap();
        // 307 to an absolute URL; 308 from hop2 to hop1 as a path.
        redirecting_server(hop1, 307, format!("ws://{target_addr}/final?x=1"), 3);
        let hop2 = TcpListener::bind("127.0.0.1:0").unwrap();
        let hop2_addr = hop2.local_addr().unwrap();
        redirecting_server(hop2, 308, format!("http://{hop1_addr}/moved"), 2);

        // Off by default: the redirect comes back, with its Location.
        match WebSocket::connect(format!("ws://{hop1_addr}/start")) {
            Err(e @ Error::Rejected { status: 307, .. }) => {
                assert_eq!(
                    e.location(),
                    Some(format!("ws://{target_addr}/final?x=1").as_str())
                );
            }
            other => panic!("{other:?}"),
        }
        // Two hops needed, one allowed: the second redirect is returned.
        let one = Options::default().max_redirects(1);
        match WebSocket::connect_with_options(format!("ws://{hop2_addr}/"), &one) {
            Err(Error::Rejected { status: 307, .. }) => {}
            other => panic!("{other:?}"),
        }
        // Two allowed: connected to the target.
        let two = Options::default().max_redirects(2);
        let (_ws, response) =
            WebSocket::connect_with_options(format!("ws://{hop2_addr}/"), &two).unwrap();
        assert_eq!(response.status(), 101);
        assert_eq!(
            target_server.join().unwrap(),
            (true, "/final?x=1".to_string())
        );
    });
}

#[test]
fn a_redirect_to_wss_is_followed_only_with_tls() {
    within_limit(|| {
        let hop = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = hop.local_addr().unwrap();
        redirecting_server(hop, 301, "wss://127.0.0.1:1/".into(), 1);
        let options = Options::default().max_redirects(3);
        let result = WebSocket::connect_with_options(format!("ws://{addr}/"), &options);
        if cfg!(feature = "rustls") {
            // Followed: the hop dials 127.0.0.1:1 for TLS, where nothing listens.
            assert!(
                matches!(&result, Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused),
                "{result:?}"
            );
        } else {
            assert!(matches!(result, Err(Error::TlsRequired)), "{result:?}");
        }
    });
}

#[test]
fn an_unusable_answer_to_a_pending_request_is_a_500() {
    within_limit(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let mut results = Vec::new();
            for _ in 0..2 {
                let (stream, _) = listener.accept().unwrap();
                let pending = WebSocket::read_request(stream, &Options::default()).unwrap();
                if pending.request().path() == "/status" {
                    // 101 is not a rejection status.
                    results.push(pending.reject(Rejection::new(101)).unwrap_err());
                } else {
                    // A subprotocol the client did not offer.
                    let options = AcceptOptions::new().subprotocol(Some("unoffered"));
                    results.push(pending.accept(options).unwrap_err());
                }
            }
            results
        });
        for path in ["/status", "/protocol"] {
            match WebSocket::connect(format!("ws://{addr}{path}")) {
                Err(Error::Rejected { status: 500, .. }) => {}
                other => panic!("{path}: {other:?}"),
            }
        }
        let results = server.join().unwrap();
        assert!(matches!(
            results[0],
            Error::Handshake(HandshakeError::InvalidStatus(101))
        ));
        assert!(matches!(
            results[1],
            Error::Handshake(HandshakeError::SubprotocolNotOffered(_))
        ));
    });
}
