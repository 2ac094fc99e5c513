//! The opening handshake: parsing a typical browser request and producing the 101, validating a
//! 101 on the client, and the cost of a slow drip (which must stay linear: compare
//! `server/drip_1_byte` with `server/chrome_request_to_101` scaled by size, in one run).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wsproto::Config;
use wsproto::handshake::{
    AcceptOptions, ClientHandshake, ClientOutcome, ClientRequest, ServerHandshake, accept_key,
};

/// What Chrome sends (headers as of Chrome 126), permessage-deflate offer included.
const CHROME_REQUEST: &[u8] = b"GET /chat?room=lobby HTTP/1.1\r\n\
Host: example.com\r\n\
Connection: Upgrade\r\n\
Pragma: no-cache\r\n\
Cache-Control: no-cache\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36\r\n\
Upgrade: websocket\r\n\
Origin: https://example.com\r\n\
Sec-WebSocket-Version: 13\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-US,en;q=0.9\r\n\
Cookie: session=3f9a1c2e7b5d4a60; theme=dark; _ga=GA1.1.123456789.1700000000\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
\r\n";

fn server(c: &mut Criterion) {
    let mut group = c.benchmark_group("server");
    group.throughput(Throughput::Bytes(CHROME_REQUEST.len() as u64));
    group.bench_function("chrome_request_to_101", |b| {
        b.iter(|| {
            let mut hs = ServerHandshake::new();
            let request = hs.receive(black_box(CHROME_REQUEST)).unwrap().unwrap();
            let deflate = request
                .extensions()
                .iter()
                .any(|e| e.name == "permessage-deflate");
            let mut options = AcceptOptions::new();
            if deflate {
                options = options.extensions("permessage-deflate; client_max_window_bits=15");
            }
            let (response, connection) = hs.accept(options).unwrap();
            black_box((response, connection))
        })
    });
    // The same request, one byte per `receive`: linear scanning keeps this within a small
    // constant factor of the whole-buffer case (per byte: one call instead of a memchr step).
    group.bench_function("drip_1_byte", |b| {
        b.iter(|| {
            let mut hs = ServerHandshake::new();
            for byte in CHROME_REQUEST {
                if hs.receive(std::slice::from_ref(byte)).unwrap().is_some() {
                    break;
                }
            }
            black_box(hs.accept(AcceptOptions::new()).unwrap())
        })
    });
    group.finish();
}

fn client(c: &mut Criterion) {
    let request = ClientRequest::from_url("wss://example.com/chat?room=lobby")
        .unwrap()
        .origin("https://example.com")
        .unwrap()
        .extension("permessage-deflate; client_max_window_bits")
        .unwrap();
    let fixed = |dest: &mut [u8]| dest.fill(7);
    let key = ClientHandshake::with_random(request.clone(), Config::default(), fixed)
        .key()
        .to_string();
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\
         Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=15\r\n\r\n",
        accept_key(key.as_bytes())
    );
    let mut group = c.benchmark_group("client");
    group.bench_function("request_and_validate_101", |b| {
        b.iter(|| {
            let mut hs = ClientHandshake::with_random(request.clone(), Config::default(), fixed);
            black_box(hs.request_bytes());
            match hs.receive(black_box(response.as_bytes())).unwrap() {
                ClientOutcome::Accepted { connection, .. } => black_box(connection),
                other => panic!("{other:?}"),
            }
        })
    });
    group.finish();
    c.bench_function("accept_key", |b| {
        b.iter(|| accept_key(black_box(b"dGhlIHNhbXBsZSBub25jZQ==")))
    });
}

criterion_group!(benches, server, client);
criterion_main!(benches);
