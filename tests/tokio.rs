//! The tokio driver over real loopback sockets.
#![cfg(feature = "tokio")]

mod io_common;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use io_common::{LIMIT, frame, pattern};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use wsproto::driver::tokio::{MaybeTlsStream, WebSocketStream};
use wsproto::driver::{Error, Options, Rejection};
use wsproto::handshake::{AcceptOptions, ClientRequest};
use wsproto::{Bytes, CloseCode, CloseFrame, Config, Connection, Message, Role, State};

/// A loopback pair of raw TCP streams: (client end, server end).
async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, server) = tokio::join!(TcpStream::connect(addr), listener.accept());
    let client = client.unwrap();
    let server = server.unwrap().0;
    client.set_nodelay(true).unwrap();
    server.set_nodelay(true).unwrap();
    (client, server)
}

/// Without permessage-deflate: byte-exact sizes on the wire.
fn uncompressed() -> Options {
    let options = Options::default();
    #[cfg(feature = "deflate")]
    let options = options.deflate(None);
    options
}

/// A client and a server after a real opening handshake over loopback TCP.
async fn ws_pair(
    options: Options,
) -> (WebSocketStream<MaybeTlsStream>, WebSocketStream<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server_options = options.clone();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        WebSocketStream::accept_with_options(stream, &server_options)
            .await
            .unwrap()
    });
    let (client, response) =
        WebSocketStream::connect_with_options(format!("ws://{addr}/"), &options)
            .await
            .unwrap();
    assert_eq!(response.status(), 101);
    (client, server.await.unwrap())
}

/// A server driver whose peer is a raw socket, for hand-made frames (handshake taken as done).
async fn raw_client(config: Config) -> (TcpStream, WebSocketStream<TcpStream>) {
    let (c, s) = tcp_pair().await;
    (
        c,
        WebSocketStream::from_connection(s, Connection::new(Role::Server, config)),
    )
}

/// Echoes every data message until the connection ends; returns how it ended.
async fn echo<S>(ws: &mut WebSocketStream<S>) -> Error
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match ws.read().await {
            Ok(msg @ (Message::Text(_) | Message::Binary(_))) => ws.send(msg).await.unwrap(),
            Ok(_) => {}
            Err(e) => return e,
        }
    }
}

/// Runs `f` and fails the test if it takes longer than [`LIMIT`].
async fn limited<T>(f: impl Future<Output = T>) -> T {
    timeout(LIMIT, f).await.expect("test hung")
}

#[tokio::test]
async fn messages_round_trip_and_client_closes() {
    limited(async {
        let (mut client, mut server) = ws_pair(Options::default()).await;
        let server = tokio::spawn(async move {
            let end = echo(&mut server).await;
            (end, server.connection().state())
        });
        for msg in [
            Message::text("hello"),
            Message::text(""),
            Message::text("κόσμε 🌍"),
            Message::binary(vec![0u8, 1, 2, 255]),
        ] {
            client.send(msg.clone()).await.unwrap();
            assert_eq!(client.read().await.unwrap(), msg);
        }
        client
            .send(Message::Ping(Bytes::from_static(b"p")))
            .await
            .unwrap();
        assert_eq!(
            client.read().await.unwrap(),
            Message::Pong(Bytes::from_static(b"p"))
        );
        client.close(CloseCode::NORMAL, "bye").await.unwrap();
        assert_eq!(client.connection().state(), State::Closing);
        assert_eq!(
            client.read().await.unwrap(),
            Message::Close(Some(CloseFrame::new(CloseCode::NORMAL, "")))
        );
        assert!(matches!(client.read().await, Err(Error::Closed)));
        let (end, state) = server.await.unwrap();
        assert!(matches!(end, Error::Closed), "{end:?}");
        assert_eq!(state, State::Closed);
    })
    .await;
}

#[tokio::test]
async fn server_initiates_close_through_the_sink() {
    limited(async {
        let (mut client, mut server) = ws_pair(Options::default()).await;
        let server = tokio::spawn(async move {
            server.send(Message::text("last words")).await.unwrap();
            // Sink::close sends a 1000 close frame.
            SinkExt::close(&mut server).await.unwrap();
            let reply = server.next().await;
            let end = server.next().await;
            (reply, end)
        });
        assert_eq!(
            client.next().await.unwrap().unwrap(),
            Message::text("last words")
        );
        assert_eq!(
            client.next().await.unwrap().unwrap(),
            Message::Close(Some(CloseFrame::new(CloseCode::NORMAL, "")))
        );
        // The server closed TCP first: the stream ends.
        assert!(client.next().await.is_none());
        assert!(client.next().await.is_none());
        let (reply, end) = server.await.unwrap();
        assert!(matches!(reply, Some(Ok(Message::Close(_)))));
        assert!(end.is_none());
    })
    .await;
}

#[tokio::test]
async fn stream_and_sink_echo() {
    limited(async {
        let (mut client, server) = ws_pair(Options::default()).await;
        let server = tokio::spawn(async move {
            // Echo with the combinators: the read half feeds the write half.
            let (mut reader, mut writer) = server.split();
            while let Some(msg) = reader.next().await {
                if let msg @ (Message::Text(_) | Message::Binary(_)) = msg.unwrap() {
                    writer.send(msg).await.unwrap();
                }
            }
        });
        let messages: Vec<Message> = (0..100)
            .map(|i| Message::text(format!("message {i}")))
            .collect();
        let mut burst = futures_util::stream::iter(messages.clone().into_iter().map(Ok));
        client.send_all(&mut burst).await.unwrap();
        for expected in &messages {
            assert_eq!(&client.next().await.unwrap().unwrap(), expected);
        }
        client.close(CloseCode::NORMAL, "").await.unwrap();
        assert!(matches!(client.next().await, Some(Ok(Message::Close(_)))));
        assert!(client.next().await.is_none());
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn split_halves_read_and_write_concurrently() {
    limited(async {
        let (client, mut server) = ws_pair(Options::default()).await;
        let server = tokio::spawn(async move { echo(&mut server).await });
        let (mut reader, mut writer) = client.split();
        let n = 500;
        let write = tokio::spawn(async move {
            for i in 0..n {
                writer
                    .send(Message::binary(pattern(i, 1000 + i as usize)))
                    .await
                    .unwrap();
            }
            writer
        });
        for i in 0..n {
            assert_eq!(
                reader.read().await.unwrap(),
                Message::binary(pattern(i, 1000 + i as usize))
            );
        }
        let mut writer = write.await.unwrap();
        writer.close(CloseCode::NORMAL, "").await.unwrap();
        assert!(matches!(reader.read().await, Ok(Message::Close(_))));
        assert!(matches!(reader.read().await, Err(Error::Closed)));
        let ws = reader.reunite(writer).unwrap();
        assert_eq!(ws.connection().state(), State::Closed);
        assert!(matches!(server.await.unwrap(), Error::Closed));
    })
    .await;
}

#[tokio::test]
async fn the_reading_half_answers_pings_while_the_writing_half_is_idle() {
    limited(async {
        let (mut raw, server) = raw_client(Config::default()).await;
        let (mut reader, _writer) = server.split();
        let reading = tokio::spawn(async move { reader.read().await });
        raw.write_all(&frame(0x9, true, b"are you there", true))
            .await
            .unwrap();
        // The pong comes back although nobody touches the writing half.
        let mut buf = [0u8; 15];
        raw.read_exact(&mut buf).await.unwrap();
        assert_eq!(buf[..], frame(0xA, true, b"are you there", false)[..]);
        assert_eq!(
            reading.await.unwrap().unwrap(),
            Message::Ping(Bytes::from_static(b"are you there"))
        );
    })
    .await;
}

#[tokio::test]
async fn both_halves_waiting_to_write_are_both_woken() {
    limited(async {
        // No high-water mark: the reading half must go on reading with 32 MiB queued.
        let (mut raw, server) =
            raw_client(Config::default().output_high_water_mark(usize::MAX)).await;
        let (mut reader, mut writer) = server.split();
        // The writing half fills the socket buffers and waits.
        let total = 32 * ((1 << 20) + 10);
        for i in 0..32 {
            writer.queue(Message::binary(pattern(i, 1 << 20))).unwrap();
        }
        let flushing = tokio::spawn(async move {
            writer.flush().await.unwrap();
            writer
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!flushing.is_finished());
        // The reading half now has a pong to write, and waits for writability after the writer.
        raw.write_all(&frame(0x9, true, b"ping", true))
            .await
            .unwrap();
        assert_eq!(
            reader.read().await.unwrap(),
            Message::Ping(Bytes::from_static(b"ping"))
        );
        let reading = tokio::spawn(async move {
            let r = reader.read().await;
            (reader, r)
        });
        // The peer drains everything: both the data and the pong arrive, and the writer's
        // flush completes whichever half the socket woke.
        let mut got = vec![0u8; total + 6];
        raw.read_exact(&mut got).await.unwrap();
        let mut writer = flushing.await.unwrap();
        assert_eq!(writer.buffered_amount(), 0);
        // The pong went out after the data queued before it.
        assert_eq!(&got[total..], &frame(0xA, true, b"ping", false)[..]);
        writer.close(CloseCode::NORMAL, "").await.unwrap();
        raw.write_all(&frame(0x8, true, &1000u16.to_be_bytes(), true))
            .await
            .unwrap();
        let (_reader, r) = reading.await.unwrap();
        assert!(matches!(r, Ok(Message::Close(_))), "{r:?}");
    })
    .await;
}

#[tokio::test]
async fn sixteen_mib_message() {
    limited(async {
        let (mut client, mut server) = ws_pair(uncompressed()).await;
        let server = tokio::spawn(async move { echo(&mut server).await });
        let big = pattern(9, 16 << 20);
        client.send(Message::binary(big.clone())).await.unwrap();
        match client.read().await.unwrap() {
            Message::Binary(data) => assert!(data == big, "echo differs"),
            other => panic!("{other:?}"),
        }
        let text = "b".repeat(16 << 20);
        client.send(Message::text(text.as_str())).await.unwrap();
        match client.read().await.unwrap() {
            Message::Text(data) => assert!(data == text.as_str(), "echo differs"),
            other => panic!("{other:?}"),
        }
        client.close(CloseCode::NORMAL, "").await.unwrap();
        assert!(matches!(client.read().await, Ok(Message::Close(_))));
        assert!(matches!(client.read().await, Err(Error::Closed)));
        assert!(matches!(server.await.unwrap(), Error::Closed));
    })
    .await;
}

#[tokio::test]
async fn peer_dropping_tcp_mid_frame_is_an_error() {
    limited(async {
        let (mut raw, mut server) = raw_client(Config::default()).await;
        raw.write_all(&frame(0x1, true, b"whole", true))
            .await
            .unwrap();
        let partial = frame(0x2, true, &[9u8; 1000], true);
        raw.write_all(&partial[..500]).await.unwrap();
        drop(raw);
        assert_eq!(server.read().await.unwrap(), Message::text("whole"));
        match server.read().await {
            Err(Error::Connection(wsproto::Error::UnexpectedEof)) => {}
            other => panic!("{other:?}"),
        }
        assert!(matches!(server.read().await, Err(Error::Closed)));
        assert!(server.next().await.is_none());
    })
    .await;
}

#[tokio::test]
async fn protocol_error_after_data_writes_the_echo_then_the_close_frame() {
    limited(async {
        let (mut raw, mut server) = raw_client(Config::default()).await;
        let mut bytes = frame(0x1, true, b"first", true);
        bytes.extend(frame(0x2, true, b"second", true));
        bytes.extend(frame(0x3, true, b"", true)); // reserved opcode
        raw.write_all(&bytes).await.unwrap();
        let end = echo(&mut server).await;
        assert!(
            matches!(
                end,
                Error::Connection(wsproto::Error::Protocol(
                    wsproto::ProtocolError::ReservedOpcode(3)
                ))
            ),
            "{end:?}"
        );
        assert!(matches!(server.read().await, Err(Error::Closed)));
        // The server shut its side down: the raw peer reads to the end.
        let mut got = Vec::new();
        raw.read_to_end(&mut got).await.unwrap();
        let mut expected = frame(0x1, true, b"first", false);
        expected.extend(frame(0x2, true, b"second", false));
        assert_eq!(&got[..expected.len()], &expected[..]);
        assert_eq!(got[expected.len()], 0x88);
        assert_eq!(
            &got[expected.len() + 2..expected.len() + 4],
            &1002u16.to_be_bytes()
        );
    })
    .await;
}

#[tokio::test]
async fn keepalive_times_out_against_a_silent_peer() {
    limited(async {
        let config = Config::default()
            .keepalive_interval(Some(Duration::from_millis(50)))
            .keepalive_timeout(Duration::from_millis(100));
        let (mut raw, mut server) = raw_client(config).await;
        match server.read().await {
            Err(Error::Connection(wsproto::Error::KeepaliveTimeout)) => {}
            other => panic!("{other:?}"),
        }
        let mut buf = [0u8; 2];
        raw.read_exact(&mut buf).await.unwrap();
        assert_eq!(buf[0], 0x89, "a keepalive ping went out first");
    })
    .await;
}

#[tokio::test]
async fn close_timeout_ends_a_close_the_peer_never_answers() {
    limited(async {
        let config = Config::default().close_timeout(Some(Duration::from_millis(100)));
        let (_raw, mut server) = raw_client(config).await;
        server.close(CloseCode::NORMAL, "").await.unwrap();
        match server.read().await {
            Err(Error::Connection(wsproto::Error::CloseTimeout)) => {}
            other => panic!("{other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn close_timeout_ends_a_close_while_the_peer_floods_messages() {
    limited(async {
        let config = Config::default().close_timeout(Some(Duration::from_millis(100)));
        let (mut raw, mut server) = raw_client(config).await;
        // Many small frames per write, as fast as the server takes them: its reads nearly always
        // find input, and the timer must still run.
        let batch: Vec<u8> = (0..256)
            .flat_map(|_| frame(0x2, true, b"flood", true))
            .collect();
        let flood = tokio::spawn(async move { while raw.write_all(&batch).await.is_ok() {} });
        server.close(CloseCode::NORMAL, "").await.unwrap();
        loop {
            match server.read().await {
                Ok(_) => {}
                Err(Error::Connection(wsproto::Error::CloseTimeout)) => break,
                Err(other) => panic!("{other:?}"),
            }
        }
        drop(server);
        flood.abort();
    })
    .await;
}

#[tokio::test]
async fn slow_reader_buffers_then_receives_everything() {
    limited(async {
        let (client, mut server) = ws_pair(uncompressed()).await;
        let count = 32u32;
        let frame_len = (1 << 20) + 10;
        for i in 0..count {
            server.queue(Message::binary(pattern(i, 1 << 20))).unwrap();
        }
        assert_eq!(server.buffered_amount(), count as usize * frame_len);
        // The peer reads nothing: flushing cannot finish, and what is left is reported.
        assert!(
            timeout(Duration::from_millis(200), server.flush())
                .await
                .is_err()
        );
        let waiting = server.buffered_amount();
        assert!(
            waiting > 0 && waiting < count as usize * frame_len,
            "{waiting}"
        );
        server.queue(Message::text("tail")).unwrap();
        assert_eq!(server.buffered_amount(), waiting + 6);

        let reader = tokio::spawn(async move {
            let mut client = client;
            for i in 0..count {
                match client.read().await.unwrap() {
                    Message::Binary(data) => assert!(data == pattern(i, 1 << 20), "message {i}"),
                    other => panic!("{other:?}"),
                }
            }
            assert_eq!(client.read().await.unwrap(), Message::text("tail"));
        });
        server.flush().await.unwrap();
        assert_eq!(server.buffered_amount(), 0);
        reader.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn sink_applies_backpressure_at_the_write_buffer_limit() {
    limited(async {
        let (_client, mut server) = ws_pair(uncompressed()).await;
        server.set_write_buffer_limit(64 * 1024);
        // The peer reads nothing: feeding stops once the queue passes the limit and the
        // socket buffers are full.
        let feeding = async {
            for i in 0..1000u32 {
                server
                    .feed(Message::binary(pattern(i, 64 * 1024)))
                    .await
                    .unwrap();
            }
        };
        assert!(timeout(Duration::from_millis(300), feeding).await.is_err());
        // What waits is bounded by the limit plus one message.
        assert!(server.buffered_amount() < 64 * 1024 + 64 * 1024 + 20);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_connections() {
    limited(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let n = 200;
        let server = tokio::spawn(async move {
            let mut tasks = Vec::new();
            for _ in 0..n {
                let (stream, _) = listener.accept().await.unwrap();
                tasks.push(tokio::spawn(async move {
                    let mut ws = WebSocketStream::accept(stream).await.unwrap();
                    echo(&mut ws).await
                }));
            }
            let mut ends = Vec::new();
            for t in tasks {
                ends.push(t.await.unwrap());
            }
            ends
        });
        let clients: Vec<_> = (0..n)
            .map(|i| {
                tokio::spawn(async move {
                    let (mut ws, _) = WebSocketStream::connect(format!("ws://{addr}/"))
                        .await
                        .unwrap();
                    for j in 0..10u32 {
                        let msg = Message::binary(pattern(i * 100 + j, 100 + j as usize * 50));
                        ws.send(msg.clone()).await.unwrap();
                        assert_eq!(ws.read().await.unwrap(), msg);
                    }
                    ws.close(CloseCode::NORMAL, "").await.unwrap();
                    assert!(matches!(ws.read().await, Ok(Message::Close(_))));
                    assert!(matches!(ws.read().await, Err(Error::Closed)));
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
        for end in server.await.unwrap() {
            assert!(matches!(end, Error::Closed), "{end:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn accept_with_chooses_a_subprotocol_or_rejects() {
    limited(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let mut results = Vec::new();
            for _ in 0..2 {
                let (stream, _) = listener.accept().await.unwrap();
                let result = WebSocketStream::accept_with(stream, |request| {
                    if request.path() != "/chat" {
                        return Err(Rejection::new(404).body("no such room"));
                    }
                    Ok(AcceptOptions::new().subprotocol(request.select_subprotocol(&["v1"])))
                })
                .await;
                results.push(result.map(|ws| ws.connection().subprotocol().map(String::from)));
            }
            results
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        let request = ClientRequest::from_url(&format!("ws://{addr}/chat"))
            .unwrap()
            .protocols(["v1"])
            .unwrap();
        let (ws, response) = WebSocketStream::client(stream, request).await.unwrap();
        assert_eq!(response.subprotocol(), Some("v1"));
        assert_eq!(ws.connection().subprotocol(), Some("v1"));
        match WebSocketStream::connect(format!("ws://{addr}/elsewhere")).await {
            Err(Error::Rejected { status, body, .. }) => {
                assert_eq!(status, 404);
                assert_eq!(body, b"no such room");
            }
            other => panic!("{other:?}"),
        }
        let results = server.await.unwrap();
        assert_eq!(results[0].as_ref().unwrap().as_deref(), Some("v1"));
        assert!(matches!(
            results[1],
            Err(Error::Rejected { status: 404, .. })
        ));
    })
    .await;
}

#[tokio::test]
async fn a_silent_client_fails_the_handshake_timeout() {
    limited(async {
        let (_raw, s) = tcp_pair().await;
        let options = Options::default().handshake_timeout(Some(Duration::from_millis(100)));
        match WebSocketStream::accept_with_options(s, &options).await {
            Err(Error::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::TimedOut),
            other => panic!("{other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn wss_needs_a_tls_stream() {
    // With the `rustls` feature, wss:// dials (tests/tls.rs); port 1 refuses the connection.
    #[cfg(not(feature = "rustls"))]
    assert!(matches!(
        WebSocketStream::connect("wss://127.0.0.1:1/").await,
        Err(Error::TlsRequired)
    ));
    #[cfg(feature = "rustls")]
    assert!(matches!(
        WebSocketStream::connect("wss://127.0.0.1:1/").await,
        Err(Error::Io(_))
    ));
}

#[cfg(feature = "deflate")]
#[tokio::test]
async fn permessage_deflate_is_negotiated() {
    limited(async {
        let (mut client, mut server) = ws_pair(Options::default()).await;
        assert!(client.connection().deflate_enabled());
        assert!(server.connection().deflate_enabled());
        let server = tokio::spawn(async move { echo(&mut server).await });
        let text = "squeeze me ".repeat(50_000);
        client.send(Message::text(text.as_str())).await.unwrap();
        assert_eq!(client.read().await.unwrap(), Message::text(text.as_str()));
        client.close(CloseCode::NORMAL, "").await.unwrap();
        assert!(matches!(client.read().await, Ok(Message::Close(_))));
        assert!(matches!(client.read().await, Err(Error::Closed)));
        assert!(matches!(server.await.unwrap(), Error::Closed));
    })
    .await;
}

#[tokio::test]
async fn a_reset_after_the_close_handshake_ends_the_connection_cleanly() {
    limited(async {
        let (c, raw) = tcp_pair().await;
        let mut raw = raw;
        let mut client =
            WebSocketStream::from_connection(c, Connection::new(Role::Client, Config::default()));
        raw.write_all(&frame(0x8, true, &1000u16.to_be_bytes(), false))
            .await
            .unwrap();
        assert_eq!(
            client.read().await.unwrap(),
            Message::Close(Some(CloseFrame::new(CloseCode::NORMAL, "")))
        );
        // Wait for the reply to arrive, then drop TCP with it unread: the kernel resets it.
        raw.readable().await.unwrap();
        drop(raw);
        assert!(client.next().await.is_none());
    })
    .await;
}

#[tokio::test]
async fn a_waiting_writer_is_woken_even_if_the_reader_is_not_polled_again() {
    limited(async {
        // No high-water mark: the reading half must go on reading with 32 MiB queued.
        let (mut raw, server) =
            raw_client(Config::default().output_high_water_mark(usize::MAX)).await;
        let (mut reader, mut writer) = server.split();
        let total = 32 * ((1 << 20) + 10);
        for i in 0..32 {
            writer.queue(Message::binary(pattern(i, 1 << 20))).unwrap();
        }
        let flushing = tokio::spawn(async move {
            writer.flush().await.unwrap();
            writer
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!flushing.is_finished());
        // Reading a ping makes the reading half try to write its pong (and wait for
        // writability after the writer); then nobody polls the reading half again.
        raw.write_all(&frame(0x9, true, b"ping", true))
            .await
            .unwrap();
        assert_eq!(
            reader.read().await.unwrap(),
            Message::Ping(Bytes::from_static(b"ping"))
        );
        let mut got = vec![0u8; total + 6];
        raw.read_exact(&mut got).await.unwrap();
        let writer = flushing.await.unwrap();
        assert_eq!(writer.buffered_amount(), 0);
        assert_eq!(&got[total..], &frame(0xA, true, b"ping", false)[..]);
    })
    .await;
}

#[tokio::test]
async fn an_accept_decision_can_await() {
    limited(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // The "database": answers on another task, after a while.
        let (ask, mut questions) =
            tokio::sync::mpsc::channel::<(String, tokio::sync::oneshot::Sender<bool>)>(4);
        tokio::spawn(async move {
            while let Some((token, reply)) = questions.recv().await {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let _ = reply.send(token == "Bearer good");
            }
        });
        let server = tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for _ in 0..2 {
                let (stream, _) = listener.accept().await.unwrap();
                let pending = WebSocketStream::read_request(stream, &Options::default())
                    .await
                    .unwrap();
                let token = pending
                    .request()
                    .headers()
                    .get_str("authorization")
                    .unwrap_or("")
                    .to_string();
                let (reply, answer) = tokio::sync::oneshot::channel();
                ask.send((token, reply)).await.unwrap();
                if answer.await.unwrap() {
                    let mut ws = pending.accept(AcceptOptions::new()).await.unwrap();
                    let msg = ws.read().await.unwrap();
                    ws.send(msg).await.unwrap();
                    outcomes.push(echo(&mut ws).await.to_string());
                } else {
                    let mut stream = pending
                        .reject(Rejection::new(401).body("who are you"))
                        .await
                        .unwrap();
                    stream.shutdown().await.unwrap();
                    outcomes.push("rejected".to_string());
                }
            }
            outcomes
        });
        let good = ClientRequest::from_url(&format!("ws://{addr}/"))
            .unwrap()
            .header("Authorization", "Bearer good")
            .unwrap();
        let (mut ws, _) = WebSocketStream::connect(good).await.unwrap();
        ws.send(Message::text("in")).await.unwrap();
        assert_eq!(ws.read().await.unwrap(), Message::text("in"));
        ws.close(CloseCode::NORMAL, "").await.unwrap();
        while ws.read().await.is_ok() {}
        match WebSocketStream::connect(format!("ws://{addr}/")).await {
            Err(Error::Rejected { status, body, .. }) => {
                assert_eq!(status, 401);
                assert_eq!(body, b"who are you");
            }
            other => panic!("{other:?}"),
        }
        let outcomes = server.await.unwrap();
        assert_eq!(outcomes.len(), 2);
        assert_eq!(outcomes[1], "rejected");
    })
    .await;
}

#[tokio::test]
async fn read_and_the_stream_join_streamed_fragments() {
    limited(async {
        let (mut raw, mut server) = raw_client(Config::default().stream_messages(true)).await;
        let mut bytes = frame(0x1, false, b"hel", true);
        bytes.extend(frame(0x9, true, b"p", true));
        bytes.extend(frame(0x0, true, b"lo", true));
        bytes.extend(frame(0x2, false, &[1], true));
        bytes.extend(frame(0x0, false, &[2], true));
        bytes.extend(frame(0x0, true, &[3], true));
        raw.write_all(&bytes).await.unwrap();
        assert_eq!(
            server.read().await.unwrap(),
            Message::Ping(Bytes::from_static(b"p"))
        );
        assert_eq!(server.read().await.unwrap(), Message::text("hello"));
        assert_eq!(
            server.next().await.unwrap().unwrap(),
            Message::binary(vec![1, 2, 3])
        );
    })
    .await;
}

#[tokio::test]
async fn connect_takes_an_http_request() {
    limited(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let pending = WebSocketStream::read_request(stream, &Options::default())
                .await
                .unwrap();
            let request = pending.request().clone();
            let _ws = pending.accept(AcceptOptions::new()).await.unwrap();
            request
        });
        #[cfg(feature = "http")]
        let request = {
            let mut request = http::Request::get(format!("ws://{addr}/chat?x=1"))
                .body(())
                .unwrap();
            request
                .headers_mut()
                .insert("authorization", "Bearer t".parse().unwrap());
            request
        };
        #[cfg(not(feature = "http"))]
        let request = ClientRequest::from_url(&format!("ws://{addr}/chat?x=1"))
            .unwrap()
            .header("Authorization", "Bearer t")
            .unwrap();
        let (_ws, response) = WebSocketStream::connect(request).await.unwrap();
        assert_eq!(response.status(), 101);
        let seen = server.await.unwrap();
        assert_eq!(seen.resource(), "/chat?x=1");
        assert_eq!(seen.headers().get_str("authorization"), Some("Bearer t"));
    })
    .await;
}

/// A task keeps the size of its future's largest state for its whole life, so the handshake's
/// state (parser, options, timeout) is boxed and freed once it is done: an echo task holds about
/// the connection, not the handshake (it held 4.7 KB before, 1.4 KB after; bounds with room
/// for compiler changes). The idle bench measures the same in server memory.
#[tokio::test]
async fn an_accepting_task_does_not_keep_the_handshake_state() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    async fn echo(stream: TcpStream) {
        let Ok(mut ws) = WebSocketStream::accept(stream).await else {
            return;
        };
        while let Ok(message) = ws.read().await {
            if ws.send(message).await.is_err() {
                return;
            }
        }
    }
    let stream = TcpStream::connect(addr).await.unwrap();
    let task = echo(stream);
    let size = std::mem::size_of_val(&task);
    let connection = std::mem::size_of::<WebSocketStream<TcpStream>>();
    assert!(
        size <= connection + 1024,
        "echo task future: {size} bytes for a {connection}-byte connection"
    );
    let stream = TcpStream::connect(addr).await.unwrap();
    let options = Options::default();
    let accept = WebSocketStream::accept_with_options(stream, &options);
    assert!(
        std::mem::size_of_val(&accept) <= 512,
        "{}",
        std::mem::size_of_val(&accept)
    );
    let stream = TcpStream::connect(addr).await.unwrap();
    let client = WebSocketStream::client(stream, "ws://127.0.0.1/");
    assert!(
        std::mem::size_of_val(&client) <= 1024,
        "{}",
        std::mem::size_of_val(&client)
    );
}
