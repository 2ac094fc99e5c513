//! The blocking and the tokio drivers talking to each other over loopback TCP.
#![cfg(all(feature = "blocking", feature = "tokio"))]

mod io_common;

use std::thread;

use io_common::{LIMIT, pattern, within_limit};
use tokio::net::TcpListener;
use wsproto::driver::Error;
use wsproto::driver::blocking::WebSocket;
use wsproto::driver::tokio::WebSocketStream;
use wsproto::{Bytes, CloseCode, CloseFrame, Message};

/// The messages each side sends, in order.
fn script() -> Vec<Message> {
    let mut messages = vec![
        Message::text("hello"),
        Message::text(""),
        Message::text("ünïcödé ✓ 𝄞"),
        Message::binary(pattern(1, 1 << 20)),
        Message::binary(Vec::new()),
    ];
    messages.extend((0..100).map(|i| Message::text(format!("burst {i}"))));
    messages
}

#[test]
fn blocking_client_and_tokio_server() {
    within_limit(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = runtime.spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut ws = WebSocketStream::accept(stream).await.unwrap();
            let mut pings = 0;
            loop {
                match ws.read().await {
                    Ok(msg @ (Message::Text(_) | Message::Binary(_))) => {
                        ws.send(msg).await.unwrap()
                    }
                    Ok(Message::Ping(_)) => pings += 1,
                    Ok(_) => {}
                    Err(e) => return (e, pings),
                }
            }
        });

        let (mut client, _) = WebSocket::connect(format!("ws://{addr}/")).unwrap();
        // The whole script in one burst, then the echoes.
        for msg in script() {
            client.queue(msg).unwrap();
        }
        client
            .send(Message::Ping(Bytes::from_static(b"x")))
            .unwrap();
        for expected in script() {
            assert_eq!(client.read().unwrap(), expected);
        }
        assert_eq!(
            client.read().unwrap(),
            Message::Pong(Bytes::from_static(b"x"))
        );
        client.close(CloseCode::NORMAL, "done").unwrap();
        assert_eq!(
            client.read().unwrap(),
            Message::Close(Some(CloseFrame::new(CloseCode::NORMAL, "")))
        );
        assert!(matches!(client.read(), Err(Error::Closed)));

        let (end, pings) = runtime
            .block_on(async { tokio::time::timeout(LIMIT, server).await })
            .unwrap()
            .unwrap();
        assert!(matches!(end, Error::Closed), "{end:?}");
        assert_eq!(pings, 1);
    });
}

#[test]
fn tokio_client_and_blocking_server() {
    within_limit(|| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut ws = WebSocket::accept(stream).unwrap();
            // The server starts the close after echoing the script.
            for _ in script() {
                let msg = ws.read().unwrap();
                ws.send(msg).unwrap();
            }
            ws.close(CloseCode::GOING_AWAY, "bye").unwrap();
            let reply = ws.read().unwrap();
            (reply, ws.read())
        });

        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (ws, _) = WebSocketStream::connect(format!("ws://{addr}/"))
                .await
                .unwrap();
            let (mut reader, mut writer) = ws.split();
            let writing = tokio::spawn(async move {
                for msg in script() {
                    writer.send(msg).await.unwrap();
                }
                writer
            });
            for expected in script() {
                assert_eq!(reader.read().await.unwrap(), expected);
            }
            assert_eq!(
                reader.read().await.unwrap(),
                Message::Close(Some(CloseFrame::new(CloseCode::GOING_AWAY, "bye")))
            );
            assert!(matches!(reader.read().await, Err(Error::Closed)));
            let _writer = writing.await.unwrap();
        });

        let (reply, end) = server.join().unwrap();
        assert_eq!(
            reply,
            Message::Close(Some(CloseFrame::new(CloseCode::GOING_AWAY, "")))
        );
        assert!(matches!(end, Err(Error::Closed)));
    });
}

#[test]
fn many_blocking_clients_on_a_tokio_server() {
    within_limit(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let n = 200;
        runtime.spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut ws = WebSocketStream::accept(stream).await.unwrap();
                    while let Ok(msg) = ws.read().await {
                        if let Message::Text(_) | Message::Binary(_) = msg {
                            ws.send(msg).await.unwrap();
                        }
                    }
                });
            }
        });
        let clients: Vec<_> = (0..n)
            .map(|i| {
                thread::spawn(move || {
                    let (mut ws, _) = WebSocket::connect(format!("ws://{addr}/")).unwrap();
                    for j in 0..5u32 {
                        let msg = Message::binary(pattern(i * 10 + j, 2000));
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
    });
}
