//! Decode throughput of wsproto against tungstenite, fastwebsockets and tokio-websockets.
//!
//! Every library plays a server receiving masked client frames (the workloads of
//! `benches/common/workloads.rs`) from an in-memory stream that hands out at most 16 KiB per
//! read and starts over at the end of the workload, so one long-lived connection per library
//! and workload is measured in steady state. Each library reads into its own buffer (one copy
//! per byte, as from a socket); wsproto uses `read_buf`/`commit` (column "wsproto") and, for
//! comparison, `receive` straight from the stream's memory (column "wsproto receive").
//!
//! Messages are counted and their payload lengths summed (and checked); payloads are not turned
//! into `&str`, for any library. The reference column copies the same payload bytes and, for
//! text, validates them with `simdutf8`.
//!
//! Timing: each (workload, library) cell is calibrated to about `PEERS_SAMPLE_MS` (default 100)
//! milliseconds per sample; then `PEERS_REPS` (default 15) rounds each take one sample of every
//! library, in rotating order, so that load from elsewhere on the machine hits all alike. The
//! table shows the median sample. Samples are the thread's CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`), so time spent descheduled on a busy machine does not count;
//! `PEERS_CLOCK=wall` measures wall-clock time instead. glibc's allocator is pinned to fixed
//! mmap/trim thresholds (see `pin_allocator`) so that one library's allocations do not change
//! how the next one's are served.
//!
//! Usage: `wsproto-peers [WORKLOAD-FILTER]` (a substring of the workload name).
//!
//! Profiling: with `PEERS_PROFILE=COLUMN` (e.g. `wsproto`, `tungstenite`) only that library runs,
//! `PEERS_PASSES` (default 3) passes over each selected workload after one warm-up pass, with no
//! timing: run it under `valgrind --tool=callgrind`.

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

#[path = "../../common/workloads.rs"]
mod workloads;

use workloads::{Kind, READ_SIZE, Workload};

// ---------------------------------------------------------------------------------------------
// The in-memory transport.

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

// ---------------------------------------------------------------------------------------------
// The contenders.

/// Receives `passes` times the workload's messages; returns the payload bytes received.
trait Decoder {
    fn run(&mut self, passes: usize) -> usize;
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
                bytes += text.len();
            }
            wsproto::Event::Binary(data) => {
                messages += 1;
                bytes += data.len();
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

impl Decoder for WsprotoReadBuf {
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

impl Decoder for WsprotoReceive {
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

struct Tungstenite {
    ws: tungstenite::WebSocket<CycleStream>,
    messages: usize,
}

impl Decoder for Tungstenite {
    fn run(&mut self, passes: usize) -> usize {
        let mut bytes = 0;
        for _ in 0..passes * self.messages {
            match self.ws.read().expect("tungstenite: valid input") {
                tungstenite::Message::Text(text) => bytes += text.len(),
                tungstenite::Message::Binary(data) => bytes += data.len(),
                other => panic!("tungstenite: unexpected {other:?}"),
            }
        }
        bytes
    }
}

struct FastWebSockets {
    rt: tokio::runtime::Runtime,
    ws: fastwebsockets::FragmentCollector<CycleStream>,
    messages: usize,
}

impl Decoder for FastWebSockets {
    fn run(&mut self, passes: usize) -> usize {
        let n = passes * self.messages;
        let ws = &mut self.ws;
        self.rt.block_on(async move {
            let mut bytes = 0;
            for _ in 0..n {
                let frame = ws.read_frame().await.expect("fastwebsockets: valid input");
                assert!(matches!(
                    frame.opcode,
                    fastwebsockets::OpCode::Text | fastwebsockets::OpCode::Binary
                ));
                bytes += frame.payload.len();
            }
            bytes
        })
    }
}

struct TokioWebSockets {
    rt: tokio::runtime::Runtime,
    ws: tokio_websockets::WebSocketStream<CycleStream>,
    messages: usize,
}

impl Decoder for TokioWebSockets {
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
                assert!(message.is_text() || message.is_binary());
                bytes += message.as_payload().len();
            }
            bytes
        })
    }
}

struct Memcpy {
    workload: &'static Workload,
    dst: Vec<u8>,
}

impl Decoder for Memcpy {
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

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime")
}

/// The columns, in table order.
const COLUMNS: [&str; 6] = [
    "wsproto",
    "wsproto receive",
    "tungstenite",
    "fastwebsockets",
    "tokio-websockets",
    "memcpy",
];

fn contenders(w: &'static Workload) -> Vec<Box<dyn Decoder>> {
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

    vec![
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
        Box::new(Tungstenite {
            ws: tungstenite,
            messages,
        }),
        Box::new(FastWebSockets {
            rt: runtime(),
            ws: fastwebsockets::FragmentCollector::new(fast),
            messages,
        }),
        Box::new(TokioWebSockets {
            rt: runtime(),
            ws: tokio_ws,
            messages,
        }),
        Box::new(Memcpy {
            workload: w,
            dst: vec![0; w.max_message],
        }),
    ]
}

// ---------------------------------------------------------------------------------------------
// Measurement and the table.

/// The clock samples are taken with: thread CPU time (default) or wall time.
#[derive(Clone, Copy)]
enum Clock {
    ThreadCpu,
    Wall,
}

impl Clock {
    fn from_env() -> Self {
        match std::env::var("PEERS_CLOCK").as_deref() {
            Ok("wall") => Clock::Wall,
            _ => Clock::ThreadCpu,
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

/// Seconds per pass: the median and the fastest of `reps` samples, and the relative spread
/// (max - min) / median.
struct Cell {
    secs_per_pass: f64,
    fastest: f64,
    spread: f64,
}

fn measure(w: &'static Workload, reps: usize, sample: Duration, clock: Clock) -> Vec<Cell> {
    let mut decoders = contenders(w);
    // Check every library receives the whole workload, and warm up (buffers reach steady size).
    for (name, d) in COLUMNS.iter().zip(decoders.iter_mut()) {
        for _ in 0..2 {
            assert_eq!(d.run(1), w.payload_bytes(), "{name} on {}", w.name);
        }
    }
    // Calibrate: passes per sample so that a sample takes about `sample`.
    let passes: Vec<usize> = decoders
        .iter_mut()
        .map(|d| {
            let start = clock.now();
            d.run(1);
            let once = (clock.now() - start).max(1e-9);
            ((sample.as_secs_f64() / once).ceil() as usize).max(1)
        })
        .collect();
    let mut samples = vec![Vec::with_capacity(reps); decoders.len()];
    for rep in 0..reps {
        for k in 0..decoders.len() {
            let i = (k + rep) % decoders.len();
            let start = clock.now();
            let bytes = std::hint::black_box(decoders[i].run(passes[i]));
            let secs = clock.now() - start;
            assert_eq!(bytes, passes[i] * w.payload_bytes());
            samples[i].push(secs / passes[i] as f64);
        }
    }
    samples
        .iter_mut()
        .map(|s| {
            let (lo, hi) = (
                s.iter().copied().fold(f64::INFINITY, f64::min),
                s.iter().copied().fold(0.0, f64::max),
            );
            let m = median(s);
            Cell {
                secs_per_pass: m,
                fastest: lo,
                spread: (hi - lo) / m,
            }
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

/// Pins glibc's allocator to its steady state. By default its mmap threshold adapts as large
/// blocks are freed, so whether a 1 MiB buffer comes from fresh, page-faulting `mmap` memory
/// depends on what ran before — in one process, on the other libraries. Fixed thresholds
/// (large blocks from the heap, no trimming) make every library see the allocator a
/// long-running server would.
fn pin_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

fn main() {
    pin_allocator();
    let filter = std::env::args().nth(1).unwrap_or_default();
    let reps = env_usize("PEERS_REPS", 15).max(1);
    let sample = Duration::from_millis(env_usize("PEERS_SAMPLE_MS", 100) as u64);
    let clock = Clock::from_env();
    let all: &'static [Workload] = Vec::leak(workloads::matching(&filter));
    if let Ok(column) = std::env::var("PEERS_PROFILE") {
        let i = COLUMNS
            .iter()
            .position(|c| *c == column)
            .unwrap_or_else(|| panic!("PEERS_PROFILE must be one of {COLUMNS:?}"));
        let passes = env_usize("PEERS_PASSES", 3);
        for w in all {
            let mut d = contenders(w).swap_remove(i);
            assert_eq!(d.run(1), w.payload_bytes());
            assert_eq!(d.run(passes), passes * w.payload_bytes());
            println!("{column}: {} x {passes} passes done", w.name);
        }
        return;
    }

    println!(
        "Decode throughput, server receiving masked client frames in 16 KiB reads. {}, {} logical CPUs; \
         median of {reps} samples of ~{} ms {} each, libraries interleaved. Cells: messages/s, GB/s of payload \
         (1 GB = 10^9 bytes). Ratios > 1 mean wsproto is faster.\n",
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        sample.as_millis(),
        match clock {
            Clock::ThreadCpu => "thread CPU time",
            Clock::Wall => "wall time",
        },
    );
    println!(
        "| workload | wsproto | wsproto receive | tungstenite | fastwebsockets | tokio-websockets | memcpy (+utf8) \
         | wsproto / fastest peer | wsproto / tungstenite | wsproto / memcpy (+utf8) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut spreads = Vec::new();
    let mut fastest_rows = Vec::new();
    for w in all {
        let cells = measure(w, reps, sample, clock);
        let msgs = |c: &Cell| w.messages as f64 / c.secs_per_pass;
        let gbs = |c: &Cell| w.payload_bytes() as f64 / c.secs_per_pass / 1e9;
        let mut row = format!("| {} |", w.name);
        for c in &cells {
            row += &format!(" {} msg/s, {:.2} GB/s |", rate(msgs(c)), gbs(c));
        }
        let ours = cells[0].secs_per_pass;
        let fastest_peer = cells[2..5]
            .iter()
            .map(|c| c.secs_per_pass)
            .fold(f64::INFINITY, f64::min);
        let reference = if w.kind == Kind::Text {
            "memcpy + simdutf8"
        } else {
            "memcpy"
        };
        row += &format!(
            " {:.2}× | {:.2}× | {:.2}× ({reference}) |",
            fastest_peer / ours,
            cells[2].secs_per_pass / ours,
            cells[5].secs_per_pass / ours,
        );
        println!("{row}");
        spreads.push((w.name, cells.iter().map(|c| c.spread).collect::<Vec<_>>()));
        let best = |i: usize| cells[i].fastest;
        let best_peer = (2..5).map(best).fold(f64::INFINITY, f64::min);
        fastest_rows.push(format!(
            "| {} | {:.2} GB/s | {:.2}× | {:.2}× | {:.2}× |",
            w.name,
            w.payload_bytes() as f64 / best(0) / 1e9,
            best_peer / best(0),
            best(2) / best(0),
            best(5) / best(0),
        ));
    }
    println!(
        "\nCross-check from the same run, fastest sample of each cell (interference from other \
         work on the machine only ever slows a sample down):\n"
    );
    println!(
        "| workload | wsproto | wsproto / fastest peer | wsproto / tungstenite | wsproto / memcpy (+utf8) |"
    );
    println!("|---|---:|---:|---:|---:|");
    for row in fastest_rows {
        println!("{row}");
    }
    println!("\nSpread of the samples, (max - min) / median:\n");
    println!("| workload | {} |", COLUMNS.join(" | "));
    println!("|---|{}", "---:|".repeat(COLUMNS.len()));
    for (name, s) in spreads {
        let cells: Vec<String> = s.iter().map(|x| format!("{:.0}%", x * 100.0)).collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
}
