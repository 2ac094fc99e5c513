//! wsproto against tungstenite 0.30, fastwebsockets 0.10, tokio-websockets 0.13 and yawc 0.5, in
//! one process, with the definitions of issue 15:
//!
//! - **decode**: a server reads client-masked frames (a different mask key per frame) from an
//!   in-memory stream that returns at most 16 KiB per read; wsproto through `read_buf`/`commit`
//!   and `poll_event` (whole messages). Every library hands each message to the caller as a user
//!   gets it: text as `&str` (through the library's own accessor; where that accessor validates
//!   again, as wsproto's `Utf8Bytes::as_str` and yawc's `Frame::as_str` do, that cost counts),
//!   binary as `&[u8]`. Limit: memcpy of the payload from an unmasked copy (+ simdutf8 for text).
//! - **encode**: `send_binary`, then write `output()` until drained, one flush per message, into
//!   an in-memory socket buffer (a `Vec` that a write appends to, emptied when full, as a kernel
//!   socket buffer is). Peers use their ordinary send call with a flush per message. Limit: the
//!   header and a memcpy of the payload (a fused copy+mask for a client) in one write. Column
//!   "wsproto send(Bytes)" shows the zero-copy alternative (`send(Message::Binary(Bytes))` and
//!   one vectored write) and column "wsproto send_binary_through" the write-through send (the
//!   header and the borrowed payload in one vectored write); the ratios use the `send_binary`
//!   column.
//! - **mask**: in-place masking of 16 B / 125 B / 1 KiB / 16 KiB one byte past a 64-byte
//!   boundary, with the libraries that export their masking function.
//!
//! Timing: each (workload, library) cell is calibrated to about `PEERS_SAMPLE_MS` (default 100)
//! milliseconds per sample; then `PEERS_REPS` (default 11) rounds each take one sample of every
//! library, in rotating order, so that load from elsewhere on the machine hits all alike. Tables
//! show the best sample (interference only ever slows a sample down) and the median. The clock
//! is wall time (`PEERS_CLOCK=cpu` for the thread's CPU time).
//!
//! Usage: `wsproto-peers [SECTION] [FILTER]`, SECTION one of `decode`, `encode`, `mask`, `all`
//! (default), FILTER a substring of the workload name.
//!
//! Profiling: `PEERS_PROFILE=COLUMN` runs only that column, `PEERS_PASSES` (default 3) passes
//! over each selected workload, with no timing (for `valgrind --tool=callgrind`).

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

#[path = "../../common/workloads.rs"]
mod workloads;

use workloads::{READ_SIZE, Workload};

/// One library (or the limit) running one workload.
trait Contender {
    /// Runs `passes` passes over the workload; returns a count checked against
    /// `passes * Workload::check`.
    fn run(&mut self, passes: usize) -> usize;
}

/// A table row: the columns' contenders and what one pass returns.
struct Row {
    name: String,
    /// Items per pass (messages, or mask calls).
    items: usize,
    /// Payload bytes per pass.
    bytes: usize,
    check: usize,
    contenders: Vec<Box<dyn Contender>>,
}

// ---------------------------------------------------------------------------------------------
// In-memory transports.

/// An endless stream of the workload's bytes, at most 16 KiB per read, starting over at the end
/// (a read never crosses the end, so every pass is the same sequence of reads). Writes vanish.
struct CycleStream {
    data: &'static [u8],
    pos: usize,
}

impl CycleStream {
    fn new(data: &'static [u8]) -> Self {
        CycleStream { data, pos: 0 }
    }

    fn next_read(&mut self, max: usize) -> &'static [u8] {
        let n = max.min(READ_SIZE).min(self.data.len() - self.pos);
        let read = &self.data[self.pos..self.pos + n];
        self.pos += n;
        if self.pos == self.data.len() {
            self.pos = 0;
        }
        read
    }
}

impl Read for CycleStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.next_read(buf.len());
        buf[..read.len()].copy_from_slice(read);
        Ok(read.len())
    }
}

impl Write for CycleStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsyncRead for CycleStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let read = self.next_read(buf.remaining());
        buf.put_slice(read);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for CycleStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// An in-memory socket buffer: every write is copied in (as into a kernel socket buffer), and
/// the buffer is emptied when it would overflow. Counts the bytes written. Reads never return.
struct SinkStream {
    buf: Vec<u8>,
    written: Arc<AtomicUsize>,
}

const SINK_CAPACITY: usize = 1 << 20;

impl SinkStream {
    fn new() -> Self {
        SinkStream {
            buf: Vec::with_capacity(SINK_CAPACITY),
            written: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn put(&mut self, data: &[u8]) -> usize {
        if self.buf.len() + data.len() > SINK_CAPACITY {
            self.buf.clear();
        }
        let n = data.len().min(SINK_CAPACITY);
        self.buf.extend_from_slice(&data[..n]);
        self.written.fetch_add(n, Ordering::Relaxed);
        n
    }

    /// A handle on the count of bytes written, for streams a library keeps to itself.
    fn counter(&self) -> Arc<AtomicUsize> {
        self.written.clone()
    }

    /// Bytes written since the last call.
    fn take_written(&mut self) -> usize {
        self.written.swap(0, Ordering::Relaxed)
    }
}

impl Read for SinkStream {
    fn read(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }
}

impl Write for SinkStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(self.put(buf))
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let mut n = 0;
        for b in bufs {
            let w = self.put(b);
            n += w;
            if w < b.len() {
                break;
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsyncRead for SinkStream {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        _buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Pending
    }
}

impl AsyncWrite for SinkStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(self.put(buf)))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Write::write_vectored(&mut *self, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime")
}

// ---------------------------------------------------------------------------------------------
// Decode.

/// What the caller does with each received message: text as `&str`, binary as `&[u8]`.
fn text_len(s: &str) -> usize {
    std::hint::black_box(s).len()
}

fn bytes_len(b: &[u8]) -> usize {
    std::hint::black_box(b).len()
}

fn wsproto_server() -> wsproto::Connection {
    wsproto::Connection::new(wsproto::Role::Server, wsproto::Config::default())
}

/// Polls every event out of `conn`; returns (messages, payload bytes).
fn wsproto_drain(conn: &mut wsproto::Connection) -> (usize, usize) {
    let (mut messages, mut bytes) = (0, 0);
    while let Some(event) = conn.poll_event().expect("wsproto: valid input") {
        match event {
            wsproto::Event::Text(text) => {
                messages += 1;
                bytes += text_len(text.as_str());
            }
            wsproto::Event::Binary(data) => {
                messages += 1;
                bytes += bytes_len(&data);
            }
            _ => {}
        }
    }
    (messages, bytes)
}

struct WsprotoReadBuf {
    conn: wsproto::Connection,
    stream: CycleStream,
    messages: usize,
}

impl Contender for WsprotoReadBuf {
    fn run(&mut self, passes: usize) -> usize {
        let target = passes * self.messages;
        let (mut messages, mut bytes) = (0, 0);
        while messages < target {
            let n = self.stream.read(self.conn.read_buf()).unwrap();
            self.conn.commit(n);
            let (m, b) = wsproto_drain(&mut self.conn);
            messages += m;
            bytes += b;
        }
        bytes
    }
}

struct WsprotoReceive {
    conn: wsproto::Connection,
    stream: CycleStream,
    messages: usize,
}

impl Contender for WsprotoReceive {
    fn run(&mut self, passes: usize) -> usize {
        let target = passes * self.messages;
        let (mut messages, mut bytes) = (0, 0);
        while messages < target {
            self.conn.receive(self.stream.next_read(READ_SIZE));
            let (m, b) = wsproto_drain(&mut self.conn);
            messages += m;
            bytes += b;
        }
        bytes
    }
}

struct TungsteniteDecode {
    ws: tungstenite::WebSocket<CycleStream>,
    messages: usize,
}

impl Contender for TungsteniteDecode {
    fn run(&mut self, passes: usize) -> usize {
        let mut bytes = 0;
        for _ in 0..passes * self.messages {
            match self.ws.read().expect("tungstenite: valid input") {
                tungstenite::Message::Text(text) => bytes += text_len(text.as_str()),
                tungstenite::Message::Binary(data) => bytes += bytes_len(&data),
                other => panic!("tungstenite: unexpected {other:?}"),
            }
        }
        bytes
    }
}

struct FastWebSocketsDecode {
    rt: tokio::runtime::Runtime,
    ws: fastwebsockets::FragmentCollector<CycleStream>,
    messages: usize,
}

impl Contender for FastWebSocketsDecode {
    fn run(&mut self, passes: usize) -> usize {
        let n = passes * self.messages;
        let ws = &mut self.ws;
        self.rt.block_on(async move {
            let mut bytes = 0;
            for _ in 0..n {
                let frame = ws.read_frame().await.expect("fastwebsockets: valid input");
                bytes += match frame.opcode {
                    // The library validated the text, but hands out bytes: a caller that wants
                    // `&str` must check again (or use `unsafe`).
                    fastwebsockets::OpCode::Text => {
                        text_len(simdutf8::basic::from_utf8(&frame.payload).expect("utf-8"))
                    }
                    fastwebsockets::OpCode::Binary => bytes_len(&frame.payload),
                    other => panic!("fastwebsockets: unexpected {other:?}"),
                };
            }
            bytes
        })
    }
}

struct TokioWebSocketsDecode {
    rt: tokio::runtime::Runtime,
    ws: tokio_websockets::WebSocketStream<CycleStream>,
    messages: usize,
}

impl Contender for TokioWebSocketsDecode {
    fn run(&mut self, passes: usize) -> usize {
        let n = passes * self.messages;
        let ws = &mut self.ws;
        self.rt.block_on(async move {
            let mut bytes = 0;
            for _ in 0..n {
                let message = ws
                    .next()
                    .await
                    .expect("tokio-websockets: stream ended")
                    .expect("tokio-websockets: valid input");
                bytes += match message.as_text() {
                    Some(text) => text_len(text),
                    None if message.is_binary() => bytes_len(&message.as_payload()[..]),
                    None => panic!("tokio-websockets: unexpected {message:?}"),
                };
            }
            bytes
        })
    }
}

struct YawcDecode {
    rt: tokio::runtime::Runtime,
    ws: yawc::WebSocket<CycleStream>,
    messages: usize,
}

impl Contender for YawcDecode {
    fn run(&mut self, passes: usize) -> usize {
        let n = passes * self.messages;
        let ws = &mut self.ws;
        self.rt.block_on(async move {
            let mut bytes = 0;
            for _ in 0..n {
                let frame = ws.next_frame().await.expect("yawc: valid input");
                bytes += match frame.opcode() {
                    yawc::frame::OpCode::Text => text_len(frame.as_str()),
                    yawc::frame::OpCode::Binary => bytes_len(frame.payload()),
                    other => panic!("yawc: unexpected {other:?}"),
                };
            }
            bytes
        })
    }
}

struct MemcpyDecode {
    workload: &'static Workload,
    dst: Vec<u8>,
}

impl Contender for MemcpyDecode {
    fn run(&mut self, passes: usize) -> usize {
        let mut bytes = 0;
        for _ in 0..passes {
            std::hint::black_box(workloads::memcpy_reference(
                std::hint::black_box(self.workload),
                &mut self.dst,
            ));
            bytes += self.workload.payload_bytes();
        }
        bytes
    }
}

const DECODE_COLUMNS: [&str; 7] = [
    "wsproto",
    "wsproto receive",
    "tungstenite",
    "fastwebsockets",
    "tokio-websockets",
    "yawc",
    "limit",
];

fn decode_row(w: &'static Workload) -> Row {
    let wire: &'static [u8] = &w.wire;
    let messages = w.messages;
    let limit = (w.max_message + 1).max(64 << 20);

    let tungstenite_config = tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit));
    let tungstenite = tungstenite::WebSocket::from_raw_socket(
        CycleStream::new(wire),
        tungstenite::protocol::Role::Server,
        Some(tungstenite_config),
    );

    let mut fast = fastwebsockets::WebSocket::after_handshake(
        CycleStream::new(wire),
        fastwebsockets::Role::Server,
    );
    fast.set_max_message_size(limit);

    let tokio_ws = tokio_websockets::ServerBuilder::new()
        .limits(tokio_websockets::Limits::default().max_payload_len(Some(limit)))
        .serve(CycleStream::new(wire));

    let yawc_ws = yawc::WebSocket::from_stream(
        CycleStream::new(wire),
        yawc::Role::Server,
        yawc::Options::default()
            .with_limits(limit, limit)
            .with_utf8(),
    )
    .expect("yawc");

    Row {
        name: w.name.to_string(),
        items: messages,
        bytes: w.payload_bytes(),
        check: w.payload_bytes(),
        contenders: vec![
            Box::new(WsprotoReadBuf {
                conn: wsproto_server(),
                stream: CycleStream::new(wire),
                messages,
            }),
            Box::new(WsprotoReceive {
                conn: wsproto_server(),
                stream: CycleStream::new(wire),
                messages,
            }),
            Box::new(TungsteniteDecode {
                ws: tungstenite,
                messages,
            }),
            Box::new(FastWebSocketsDecode {
                rt: runtime(),
                ws: fastwebsockets::FragmentCollector::new(fast),
                messages,
            }),
            Box::new(TokioWebSocketsDecode {
                rt: runtime(),
                ws: tokio_ws,
                messages,
            }),
            Box::new(YawcDecode {
                rt: runtime(),
                ws: yawc_ws,
                messages,
            }),
            Box::new(MemcpyDecode {
                workload: w,
                dst: vec![0; w.max_message],
            }),
        ],
    }
}

// ---------------------------------------------------------------------------------------------
// Encode.

/// One encode workload: `count` binary messages of `size` bytes, sent by a server or a client.
struct EncodeWorkload {
    count: usize,
    size: usize,
    client: bool,
}

const ENCODE_WORKLOADS: [EncodeWorkload; 4] = [
    EncodeWorkload {
        count: 100_000,
        size: 16,
        client: false,
    },
    EncodeWorkload {
        count: 2_000,
        size: 64 * 1024,
        client: false,
    },
    EncodeWorkload {
        count: 100_000,
        size: 16,
        client: true,
    },
    EncodeWorkload {
        count: 2_000,
        size: 64 * 1024,
        client: true,
    },
];

impl EncodeWorkload {
    fn name(&self) -> String {
        let size = if self.size >= 1024 {
            format!("{} KiB", self.size / 1024)
        } else {
            format!("{} B", self.size)
        };
        let role = if self.client {
            "client send, masked"
        } else {
            "server send"
        };
        format!("{} x {size} {role}", self.count)
    }

    fn wire_bytes(&self) -> usize {
        let header = match self.size {
            0..=125 => 2,
            126..=0xffff => 4,
            _ => 10,
        } + if self.client { 4 } else { 0 };
        self.count * (header + self.size)
    }
}

fn encode_payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i * 7 + 3) as u8).collect()
}

/// Writes `conn`'s output to `sink` until drained, then flushes: a user's write loop.
#[inline(always)]
fn write_out(conn: &mut wsproto::Connection, sink: &mut SinkStream) {
    loop {
        let out = conn.output();
        if out.is_empty() {
            break;
        }
        let n = sink.write(out).unwrap();
        conn.consume_output(n);
    }
    sink.flush().unwrap();
}

struct WsprotoEncode {
    conn: wsproto::Connection,
    sink: SinkStream,
    payload: Vec<u8>,
    count: usize,
}

impl Contender for WsprotoEncode {
    fn run(&mut self, passes: usize) -> usize {
        for _ in 0..passes * self.count {
            self.conn.send_binary(&self.payload).unwrap();
            write_out(&mut self.conn, &mut self.sink);
        }
        self.sink.take_written()
    }
}

/// wsproto's zero-copy send: `send(Message::Binary(Bytes))` (a server queues a payload of at
/// least `Config::zero_copy_threshold` uncopied), written with one vectored write per message.
struct WsprotoEncodeShared {
    conn: wsproto::Connection,
    sink: SinkStream,
    payload: bytes::Bytes,
    count: usize,
}

impl Contender for WsprotoEncodeShared {
    fn run(&mut self, passes: usize) -> usize {
        for _ in 0..passes * self.count {
            self.conn
                .send(wsproto::Message::Binary(self.payload.clone()))
                .unwrap();
            while self.conn.buffered_output() > 0 {
                let mut slices = [io::IoSlice::new(&[]); 8];
                let k = self.conn.output_io_slices(&mut slices);
                let n = self.sink.write_vectored(&slices[..k]).unwrap();
                self.conn.consume_output(n);
            }
            self.sink.flush().unwrap();
        }
        self.sink.take_written()
    }
}

/// wsproto's write-through send: `send_binary_through` hands the header and the borrowed
/// payload to one vectored write (a server's message of at least `Config::zero_copy_threshold`;
/// anything else is queued as `send_binary` queues it), then any rest is written as usual.
struct WsprotoEncodeThrough {
    conn: wsproto::Connection,
    sink: SinkStream,
    payload: Vec<u8>,
    count: usize,
}

impl Contender for WsprotoEncodeThrough {
    fn run(&mut self, passes: usize) -> usize {
        for _ in 0..passes * self.count {
            let sink = &mut self.sink;
            self.conn
                .send_binary_through(&self.payload, |runs| {
                    let mut slices = [io::IoSlice::new(&[]); 8];
                    for (slot, run) in slices.iter_mut().zip(runs) {
                        *slot = io::IoSlice::new(run);
                    }
                    sink.write_vectored(&slices[..runs.len()]).unwrap()
                })
                .unwrap();
            write_out(&mut self.conn, &mut self.sink);
        }
        self.sink.take_written()
    }
}

struct TungsteniteEncode {
    ws: tungstenite::WebSocket<SinkStream>,
    payload: tungstenite::Bytes,
    count: usize,
}

impl Contender for TungsteniteEncode {
    fn run(&mut self, passes: usize) -> usize {
        for _ in 0..passes * self.count {
            self.ws
                .send(tungstenite::Message::Binary(self.payload.clone()))
                .unwrap();
        }
        self.ws.get_mut().take_written()
    }
}

struct FastWebSocketsEncode {
    rt: tokio::runtime::Runtime,
    ws: fastwebsockets::WebSocket<SinkStream>,
    written: Arc<AtomicUsize>,
    payload: Vec<u8>,
    count: usize,
}

impl Contender for FastWebSocketsEncode {
    fn run(&mut self, passes: usize) -> usize {
        let n = passes * self.count;
        let (ws, payload) = (&mut self.ws, &self.payload);
        self.rt.block_on(async move {
            for _ in 0..n {
                let frame =
                    fastwebsockets::Frame::binary(fastwebsockets::Payload::Borrowed(payload));
                ws.write_frame(frame).await.unwrap();
                ws.flush().await.unwrap();
            }
        });
        self.written.swap(0, Ordering::Relaxed)
    }
}

struct TokioWebSocketsEncode {
    rt: tokio::runtime::Runtime,
    ws: tokio_websockets::WebSocketStream<SinkStream>,
    written: Arc<AtomicUsize>,
    payload: bytes::Bytes,
    count: usize,
}

impl Contender for TokioWebSocketsEncode {
    fn run(&mut self, passes: usize) -> usize {
        let n = passes * self.count;
        let (ws, payload) = (&mut self.ws, &self.payload);
        self.rt.block_on(async move {
            for _ in 0..n {
                ws.send(tokio_websockets::Message::binary(payload.clone()))
                    .await
                    .unwrap();
            }
        });
        self.written.swap(0, Ordering::Relaxed)
    }
}

struct YawcEncode {
    rt: tokio::runtime::Runtime,
    ws: yawc::WebSocket<SinkStream>,
    written: Arc<AtomicUsize>,
    payload: bytes::Bytes,
    count: usize,
}

impl Contender for YawcEncode {
    fn run(&mut self, passes: usize) -> usize {
        let n = passes * self.count;
        let (ws, payload) = (&mut self.ws, &self.payload);
        self.rt.block_on(async move {
            for _ in 0..n {
                ws.send(yawc::frame::Frame::binary(payload.clone()))
                    .await
                    .unwrap();
            }
        });
        self.written.swap(0, Ordering::Relaxed)
    }
}

/// The limit: the header and the payload (masked on the way for a client) copied into one
/// buffer, one write.
struct LimitEncode {
    sink: SinkStream,
    payload: Vec<u8>,
    frame: Vec<u8>,
    count: usize,
    client: bool,
    keys: u64,
}

impl Contender for LimitEncode {
    fn run(&mut self, passes: usize) -> usize {
        let len = self.payload.len();
        for _ in 0..passes * self.count {
            self.frame.clear();
            self.frame.push(0x82);
            let mask_bit = if self.client { 0x80 } else { 0 };
            match len {
                0..=125 => self.frame.push(mask_bit | len as u8),
                126..=0xffff => {
                    self.frame.push(mask_bit | 126);
                    self.frame.extend_from_slice(&(len as u16).to_be_bytes());
                }
                _ => {
                    self.frame.push(mask_bit | 127);
                    self.frame.extend_from_slice(&(len as u64).to_be_bytes());
                }
            }
            let header = self.frame.len();
            if self.client {
                self.keys ^= self.keys << 13;
                self.keys ^= self.keys >> 7;
                self.keys ^= self.keys << 17;
                let key = (self.keys as u32).to_le_bytes();
                self.frame.extend_from_slice(&key);
                self.frame.resize(header + 4 + len, 0);
                wsproto::__mask_paths::dispatch().copy(
                    &mut self.frame[header + 4..],
                    &self.payload,
                    key,
                    0,
                );
            } else {
                self.frame.extend_from_slice(&self.payload);
            }
            self.sink.write_all(&self.frame).unwrap();
            self.sink.flush().unwrap();
        }
        self.sink.take_written()
    }
}

const ENCODE_COLUMNS: [&str; 8] = [
    "wsproto",
    "wsproto send(Bytes)",
    "wsproto send_binary_through",
    "tungstenite",
    "fastwebsockets",
    "tokio-websockets",
    "yawc",
    "limit",
];

fn encode_row(w: &EncodeWorkload) -> Row {
    let payload = encode_payload(w.size);
    let shared = bytes::Bytes::from(payload.clone());
    let role = if w.client {
        wsproto::Role::Client
    } else {
        wsproto::Role::Server
    };
    let tungstenite_role = if w.client {
        tungstenite::protocol::Role::Client
    } else {
        tungstenite::protocol::Role::Server
    };
    let fast_role = if w.client {
        fastwebsockets::Role::Client
    } else {
        fastwebsockets::Role::Server
    };
    let (fast_sink, tokio_sink, yawc_sink) =
        (SinkStream::new(), SinkStream::new(), SinkStream::new());
    let (fast_written, tokio_written, yawc_written) = (
        fast_sink.counter(),
        tokio_sink.counter(),
        yawc_sink.counter(),
    );
    let tokio_ws = if w.client {
        tokio_websockets::ClientBuilder::new().take_over(tokio_sink)
    } else {
        tokio_websockets::ServerBuilder::new().serve(tokio_sink)
    };
    let yawc_role = if w.client {
        yawc::Role::Client
    } else {
        yawc::Role::Server
    };
    Row {
        name: w.name(),
        items: w.count,
        bytes: w.count * w.size,
        check: w.wire_bytes(),
        contenders: vec![
            Box::new(WsprotoEncode {
                conn: wsproto::Connection::new(role, wsproto::Config::default()),
                sink: SinkStream::new(),
                payload: payload.clone(),
                count: w.count,
            }),
            Box::new(WsprotoEncodeShared {
                conn: wsproto::Connection::new(role, wsproto::Config::default()),
                sink: SinkStream::new(),
                payload: shared.clone(),
                count: w.count,
            }),
            Box::new(WsprotoEncodeThrough {
                conn: wsproto::Connection::new(role, wsproto::Config::default()),
                sink: SinkStream::new(),
                payload: payload.clone(),
                count: w.count,
            }),
            Box::new(TungsteniteEncode {
                ws: tungstenite::WebSocket::from_raw_socket(
                    SinkStream::new(),
                    tungstenite_role,
                    None,
                ),
                payload: shared.clone(),
                count: w.count,
            }),
            Box::new(FastWebSocketsEncode {
                rt: runtime(),
                ws: fastwebsockets::WebSocket::after_handshake(fast_sink, fast_role),
                written: fast_written,
                payload: payload.clone(),
                count: w.count,
            }),
            Box::new(TokioWebSocketsEncode {
                rt: runtime(),
                ws: tokio_ws,
                written: tokio_written,
                payload: shared.clone(),
                count: w.count,
            }),
            Box::new(YawcEncode {
                rt: runtime(),
                ws: yawc::WebSocket::from_stream(yawc_sink, yawc_role, yawc::Options::default())
                    .expect("yawc"),
                written: yawc_written,
                payload: shared,
                count: w.count,
            }),
            Box::new(LimitEncode {
                sink: SinkStream::new(),
                payload,
                frame: Vec::with_capacity(w.size + 14),
                count: w.count,
                client: w.client,
                keys: 0x9e37_79b9_7f4a_7c15,
            }),
        ],
    }
}

// ---------------------------------------------------------------------------------------------
// Masking in place.

/// Buffers of one size starting one byte past a 64-byte boundary, used in turn (about 16 KiB in
/// all, so they stay in L1, and a call never unmasks the bytes the previous one just stored).
struct Ring {
    storage: Vec<Vec<u8>>,
    starts: Vec<usize>,
    len: usize,
}

impl Ring {
    fn new(len: usize) -> Self {
        let count = (16 * 1024 / len).clamp(1, 256);
        let storage: Vec<Vec<u8>> = (0..count)
            .map(|k| (0..len + 128).map(|i| (i * 31 + k) as u8).collect())
            .collect();
        let starts = storage
            .iter()
            .map(|s| (s.as_ptr().addr().wrapping_neg() & 63) + 1)
            .collect();
        Ring {
            storage,
            starts,
            len,
        }
    }
}

/// An in-place masking function.
type MaskFn = fn(&mut [u8], [u8; 4]);

struct MaskBench {
    ring: Ring,
    calls: usize,
    f: MaskFn,
}

impl Contender for MaskBench {
    fn run(&mut self, passes: usize) -> usize {
        let n = self.ring.storage.len();
        let len = self.ring.len;
        for i in 0..passes * self.calls {
            let k = i % n;
            let start = self.ring.starts[k];
            let buf = &mut self.ring.storage[k][start..start + len];
            (self.f)(
                std::hint::black_box(buf),
                std::hint::black_box([0x37, 0xfa, 0x21, 0x3d]),
            );
        }
        passes * self.calls
    }
}

fn wsproto_mask(buf: &mut [u8], key: [u8; 4]) {
    wsproto::__mask_paths::apply_mask(buf, key, 0);
}

const MASK_COLUMNS: [&str; 3] = ["wsproto", "fastwebsockets", "yawc"];

fn mask_row(size: usize) -> Row {
    let calls = (1 << 20) / size;
    let fs: [MaskFn; 3] = [wsproto_mask, fastwebsockets::unmask, yawc::mask::apply_mask];
    let size_name = if size >= 1024 {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    };
    Row {
        name: format!("mask in place, {size_name} at +1"),
        items: calls,
        bytes: calls * size,
        check: calls,
        contenders: fs
            .into_iter()
            .map(|f| {
                Box::new(MaskBench {
                    ring: Ring::new(size),
                    calls,
                    f,
                }) as Box<dyn Contender>
            })
            .collect(),
    }
}

// ---------------------------------------------------------------------------------------------
// Measurement and the tables.

#[derive(Clone, Copy)]
enum Clock {
    ThreadCpu,
    Wall,
}

impl Clock {
    fn from_env() -> Self {
        match std::env::var("PEERS_CLOCK").as_deref() {
            Ok("cpu") => Clock::ThreadCpu,
            _ => Clock::Wall,
        }
    }

    /// Seconds since an arbitrary origin.
    fn now(self) -> f64 {
        match self {
            Clock::Wall => {
                static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
                START.get_or_init(Instant::now).elapsed().as_secs_f64()
            }
            Clock::ThreadCpu => {
                let mut ts = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant.
                let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
                assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
                ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
            }
        }
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// Seconds per pass: the best and the median sample.
struct Cell {
    best: f64,
    median: f64,
}

struct Settings {
    reps: usize,
    sample: Duration,
    clock: Clock,
}

fn measure(row: &mut Row, columns: &[&str], s: &Settings) -> Vec<Cell> {
    // Check every contender does the whole workload, and warm up (buffers reach steady size).
    for (name, c) in columns.iter().zip(row.contenders.iter_mut()) {
        for _ in 0..2 {
            assert_eq!(c.run(1), row.check, "{name} on {}", row.name);
        }
    }
    let passes: Vec<usize> = row
        .contenders
        .iter_mut()
        .map(|c| {
            let start = s.clock.now();
            c.run(1);
            let once = (s.clock.now() - start).max(1e-9);
            ((s.sample.as_secs_f64() / once).ceil() as usize).max(1)
        })
        .collect();
    let k = row.contenders.len();
    let mut samples = vec![Vec::with_capacity(s.reps); k];
    for rep in 0..s.reps {
        for j in 0..k {
            let i = (j + rep) % k;
            let start = s.clock.now();
            let check = std::hint::black_box(row.contenders[i].run(passes[i]));
            let secs = s.clock.now() - start;
            assert_eq!(check, passes[i] * row.check);
            samples[i].push(secs / passes[i] as f64);
        }
    }
    samples
        .iter_mut()
        .map(|xs| Cell {
            best: xs.iter().copied().fold(f64::INFINITY, f64::min),
            median: median(xs),
        })
        .collect()
}

fn rate(n: f64) -> String {
    if n >= 1e6 {
        format!("{:.2} M", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1} k", n / 1e3)
    } else {
        format!("{n:.0}")
    }
}

/// Runs the rows and prints two tables (best sample, median sample). `ours` is the column
/// index of wsproto, `peers` the peers' columns, the last column the limit (if `limit`).
fn section(
    title: &str,
    columns: &[&str],
    mut rows: Vec<Row>,
    limit: bool,
    unit: &str,
    s: &Settings,
) {
    let peers: Vec<usize> = columns
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.starts_with("wsproto") && **c != "limit")
        .map(|(i, _)| i)
        .collect();
    let results: Vec<(String, usize, usize, Vec<Cell>)> = rows
        .iter_mut()
        .map(|row| {
            let cells = measure(row, columns, s);
            (row.name.clone(), row.items, row.bytes, cells)
        })
        .collect();
    for (label, pick) in [
        ("best sample", (|c: &Cell| c.best) as fn(&Cell) -> f64),
        ("median sample", |c: &Cell| c.median),
    ] {
        println!("\n### {title} ({label})\n");
        let mut head = format!("| workload | {} | ours ÷ best peer |", columns.join(" | "));
        if limit {
            head += " ours ÷ limit |";
        }
        println!("{head}");
        println!(
            "|---|{}",
            "---:|".repeat(columns.len() + 1 + usize::from(limit))
        );
        for (name, items, bytes, cells) in &results {
            let mut line = format!("| {name} |");
            for c in cells {
                let t = pick(c);
                line += &format!(
                    " {} {unit}/s, {:.2} GB/s |",
                    rate(*items as f64 / t),
                    *bytes as f64 / t / 1e9
                );
            }
            let ours = pick(&cells[0]);
            let (best_i, best) = peers
                .iter()
                .map(|&i| (i, pick(&cells[i])))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .expect("peers");
            line += &format!(" {:.2}× ({}) |", best / ours, columns[best_i]);
            if limit {
                line += &format!(" {:.2}× |", pick(&cells[cells.len() - 1]) / ours);
            }
            println!("{line}");
        }
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (section_name, filter) = match args.first().map(String::as_str) {
        Some(s @ ("decode" | "encode" | "mask" | "all")) => {
            (s.to_string(), args.get(1).cloned().unwrap_or_default())
        }
        _ => ("all".to_string(), args.first().cloned().unwrap_or_default()),
    };
    let settings = Settings {
        reps: env_usize("PEERS_REPS", 11).max(1),
        sample: Duration::from_millis(env_usize("PEERS_SAMPLE_MS", 100) as u64),
        clock: Clock::from_env(),
    };
    let want = |s: &str| section_name == "all" || section_name == s;

    if let Ok(column) = std::env::var("PEERS_PROFILE") {
        // One library on the matching workloads of the chosen section (decode unless named),
        // with nothing else running: for perf, callgrind or `perf stat` instruction counts.
        let passes = env_usize("PEERS_PASSES", 3);
        let rows: Vec<Row> = if section_name == "encode" {
            ENCODE_WORKLOADS
                .iter()
                .filter(|w| w.name().contains(&filter))
                .map(encode_row)
                .collect()
        } else {
            Vec::leak(workloads::matching(&filter))
                .iter()
                .map(decode_row)
                .collect()
        };
        let columns: &[&str] = if section_name == "encode" {
            &ENCODE_COLUMNS
        } else {
            &DECODE_COLUMNS
        };
        let i = columns
            .iter()
            .position(|c| *c == column)
            .unwrap_or_else(|| panic!("PEERS_PROFILE must be one of {columns:?}"));
        for mut row in rows {
            let c = &mut row.contenders[i];
            assert_eq!(c.run(1), row.check);
            assert_eq!(c.run(passes), passes * row.check);
            println!("{column}: {} x {passes} passes done", row.name);
        }
        return;
    }

    println!(
        "{}, {} logical CPUs; rustc-built release; {} rounds of one ~{} ms sample per library \
         ({}), libraries interleaved. Cells: items/s and GB/s of payload (1 GB = 10^9 bytes). \
         Ratios > 1 mean wsproto is faster.",
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        settings.reps,
        settings.sample.as_millis(),
        match settings.clock {
            Clock::ThreadCpu => "thread CPU time",
            Clock::Wall => "wall time",
        },
    );
    if want("decode") {
        let all: &'static [Workload] = Vec::leak(workloads::matching(&filter));
        let rows = all.iter().map(decode_row).collect();
        section(
            "Decode: server, masked client frames, 16 KiB reads, whole messages",
            &DECODE_COLUMNS,
            rows,
            true,
            "msg",
            &settings,
        );
    }
    if want("encode") {
        let rows = ENCODE_WORKLOADS
            .iter()
            .filter(|w| w.name().contains(&filter))
            .map(encode_row)
            .collect();
        section(
            "Encode: send a binary message, write it out, flush, per message",
            &ENCODE_COLUMNS,
            rows,
            true,
            "msg",
            &settings,
        );
    }
    if want("mask") {
        let rows = [16, 125, 1024, 16 * 1024]
            .into_iter()
            .map(mask_row)
            .filter(|r| r.name.contains(&filter))
            .collect();
        section(
            "Masking in place, one byte past a 64-byte boundary",
            &MASK_COLUMNS,
            rows,
            false,
            "call",
            &settings,
        );
    }
}
