//! Loopback benches against the echo servers of wsproto (its tokio driver), tokio-tungstenite
//! 0.30, fastwebsockets 0.10, tokio-websockets 0.13 and yawc 0.5. Every server runs in a child
//! process (this executable, re-run) on a tokio `current_thread` runtime, one task per
//! connection, pinned to CPU 0; the load generator runs here, pinned to CPU 1. wsproto accepts
//! with its own handshake (`WebSocketStream::accept`); the peers get the same minimal handshake
//! (read the request head, write the 101 response) and then wrap the stream with their
//! after-handshake constructor.
//!
//! - `net load`: echo load, one message in flight per connection (send, wait for the echo,
//!   repeat), scenarios 100 x 20 B, 10 x 1 KiB, 200 x 16 KiB, 500 x 16 KiB; a fresh server per
//!   (library, scenario), all of a scenario's servers up at once with their connections open;
//!   `LOAD_ROUNDS` (default 5) rounds of `LOAD_SECS` (default 1) seconds in which the libraries
//!   take turns (the order rotating each round, so that outside load falls on all alike), each
//!   library's median round's messages/s; the server's peak RSS (VmHWM).
//! - `net idle`: `IDLE_CONNS` (default 2000) handshaken silent connections per server, then one
//!   16 KiB echo on each; the server's RSS growth per connection before and after.
//!
//! Filter the libraries with `NET_LIBS=wsproto,yawc`, the load scenarios with
//! `LOAD_SCENARIOS=0,2` (indices, in the order above).

#[path = "../../../common/net.rs"]
mod net;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LIBS: [&str; 5] = [
    "wsproto",
    "tungstenite",
    "fastwebsockets",
    "tokio-websockets",
    "yawc",
];

fn pin_to_cpu(cpu: usize) {
    // The machine's CPUs, not `available_parallelism` (which counts the affinity mask): the
    // server child inherits the parent's mask, one CPU, and must still move to CPU 0.
    // SAFETY: sysconf only reads a system setting.
    let cpus = usize::try_from(unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }).unwrap_or(1);
    if cpus < 2 {
        return;
    }
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET and sched_setaffinity only touch
    // it and the calling thread's affinity.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu % cpus, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

// ---------------------------------------------------------------------------------------------
// Servers (child process).

/// The peers' handshake: the request head, then the fixed 101 response.
async fn minimal_handshake(stream: &mut TcpStream) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = vec![0u8; 512];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 || head.len() > 8192 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.extend_from_slice(&chunk[..n]);
    }
    stream.write_all(net::RESPONSE.as_bytes()).await
}

async fn serve_wsproto(stream: TcpStream) {
    use wsproto::Message;
    // The defaults, but no keepalive: the peers' servers send no pings, and the load client (a
    // raw socket reading fixed-size echoes) answers none, so a run longer than the keepalive
    // interval plus its timeout (40 s) would end in an abort.
    let mut options = wsproto::driver::Options::default();
    options.config.keepalive_interval = None;
    let Ok(mut ws) =
        wsproto::driver::tokio::WebSocketStream::accept_with_options(stream, &options).await
    else {
        return;
    };
    while let Ok(m) = ws.read().await {
        if matches!(m, Message::Text(_) | Message::Binary(_)) && ws.send(m).await.is_err() {
            return;
        }
    }
}

async fn serve_tungstenite(mut stream: TcpStream) {
    if minimal_handshake(&mut stream).await.is_err() {
        return;
    }
    let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
        stream,
        tungstenite::protocol::Role::Server,
        None,
    )
    .await;
    while let Some(Ok(m)) = ws.next().await {
        if (m.is_text() || m.is_binary()) && ws.send(m).await.is_err() {
            return;
        }
    }
}

async fn serve_fastwebsockets(mut stream: TcpStream) {
    if minimal_handshake(&mut stream).await.is_err() {
        return;
    }
    let mut ws = fastwebsockets::FragmentCollector::new(
        fastwebsockets::WebSocket::after_handshake(stream, fastwebsockets::Role::Server),
    );
    loop {
        let Ok(frame) = ws.read_frame().await else {
            return;
        };
        let alive = match frame.opcode {
            fastwebsockets::OpCode::Close => false,
            fastwebsockets::OpCode::Text | fastwebsockets::OpCode::Binary => {
                ws.write_frame(frame).await.is_ok()
            }
            _ => true,
        };
        if !alive {
            return;
        }
    }
}

async fn serve_tokio_websockets(mut stream: TcpStream) {
    if minimal_handshake(&mut stream).await.is_err() {
        return;
    }
    let mut ws = tokio_websockets::ServerBuilder::new().serve(stream);
    while let Some(Ok(m)) = ws.next().await {
        if (m.is_text() || m.is_binary()) && ws.send(m).await.is_err() {
            return;
        }
    }
}

async fn serve_yawc(mut stream: TcpStream) {
    if minimal_handshake(&mut stream).await.is_err() {
        return;
    }
    let Ok(mut ws) =
        yawc::WebSocket::from_stream(stream, yawc::Role::Server, yawc::Options::default())
    else {
        return;
    };
    loop {
        let Ok(frame) = ws.next_frame().await else {
            return;
        };
        let alive = match frame.opcode() {
            yawc::frame::OpCode::Close => false,
            yawc::frame::OpCode::Text | yawc::frame::OpCode::Binary => ws.send(frame).await.is_ok(),
            _ => true,
        };
        if !alive {
            return;
        }
    }
}

fn serve(lib: &str) {
    pin_to_cpu(0);
    serve_then(lib, net::announce);
}

/// Runs `lib`'s server on this thread; `bound` gets its address.
fn serve_then(lib: &str, bound: impl FnOnce(std::net::SocketAddr)) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let lib = lib.to_string();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        bound(listener.local_addr().expect("addr"));
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            match lib.as_str() {
                "wsproto" => tokio::spawn(serve_wsproto(stream)),
                "tungstenite" => tokio::spawn(serve_tungstenite(stream)),
                "fastwebsockets" => tokio::spawn(serve_fastwebsockets(stream)),
                "tokio-websockets" => tokio::spawn(serve_tokio_websockets(stream)),
                "yawc" => tokio::spawn(serve_yawc(stream)),
                other => panic!("unknown server {other}"),
            };
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Load generator (parent).

struct Scenario {
    conns: usize,
    size: usize,
}

const SCENARIOS: [Scenario; 4] = [
    Scenario {
        conns: 100,
        size: 20,
    },
    Scenario {
        conns: 10,
        size: 1024,
    },
    Scenario {
        conns: 200,
        size: 16 * 1024,
    },
    Scenario {
        conns: 500,
        size: 16 * 1024,
    },
];

impl Scenario {
    fn name(&self) -> String {
        if self.size >= 1024 {
            format!("{} x {} KiB", self.conns, self.size / 1024)
        } else {
            format!("{} x {} B", self.conns, self.size)
        }
    }
}

/// The load generator's runtime, the masked frame every connection sends for scenario `s`, and
/// the length of its echo.
fn load_client(s: &Scenario) -> (tokio::runtime::Runtime, Rc<Vec<u8>>, usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let payload: Vec<u8> = (0..s.size).map(|i| (i * 7) as u8).collect();
    let frame = Rc::new(net::client_frame(&payload, [9, 8, 7, 6]));
    (rt, frame, net::echo_len(s.size))
}

/// A load-generator connection to `addr` (made with std's connect, then handed to tokio).
fn tokio_connect(addr: std::net::SocketAddr) -> TcpStream {
    let std_stream = net::connect(addr).expect("connect");
    std_stream.set_nonblocking(true).expect("nonblocking");
    TcpStream::from_std(std_stream).expect("tokio stream")
}

/// Runs the echo load on `streams` (handshaken connections to one server) for `secs` seconds
/// after nothing; returns the streams (no echo in flight), the messages/s of that time and the
/// number of echoes completed.
fn load_segment(
    rt: &tokio::runtime::Runtime,
    streams: Vec<TcpStream>,
    frame: &Rc<Vec<u8>>,
    echo: usize,
    secs: f64,
) -> (Vec<TcpStream>, f64, u64) {
    let count = Rc::new(Cell::new(0u64));
    let stop = Rc::new(Cell::new(false));
    rt.block_on(async {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let mut tasks = Vec::new();
                for mut stream in streams {
                    let (frame, count, stop) = (frame.clone(), count.clone(), stop.clone());
                    tasks.push(tokio::task::spawn_local(async move {
                        let mut back = vec![0u8; echo];
                        while !stop.get() {
                            stream.write_all(&frame).await.expect("write");
                            stream.read_exact(&mut back).await.expect("read echo");
                            count.set(count.get() + 1);
                        }
                        stream
                    }));
                }
                let start = std::time::Instant::now();
                tokio::time::sleep(Duration::from_secs_f64(secs)).await;
                let rate = count.get() as f64 / start.elapsed().as_secs_f64();
                stop.set(true);
                let mut streams = Vec::new();
                for t in tasks {
                    streams.push(t.await.expect("load task"));
                }
                (streams, rate, count.get())
            })
            .await
    })
}

/// One library's figures in a scenario.
struct LoadResult {
    /// The median messages/s over the rounds.
    rate: f64,
    /// The median server CPU time (user and kernel) per echo over the rounds, microseconds:
    /// what ranks the servers when the load generator's core is the one that is saturated.
    cpu_us: f64,
    /// The server's peak RSS, KiB.
    peak_rss_kib: u64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Every library's figures over the rounds. All servers run at once, each with its connections
/// open; the rounds take turns, one library at a time in an order that rotates every round, so
/// that load from elsewhere on the machine falls on every library alike (as `wsproto-peers`
/// does).
fn load(libs: &[&str], s: &Scenario, rounds: usize, secs: f64) -> Vec<LoadResult> {
    let (rt, frame, echo) = load_client(s);
    let servers: Vec<net::ServerChild> = libs
        .iter()
        .map(|l| net::ServerChild::spawn(l).expect("server"))
        .collect();
    let mut conns: Vec<Vec<TcpStream>> = servers
        .iter()
        .map(|server| {
            let _guard = rt.enter();
            (0..s.conns).map(|_| tokio_connect(server.addr)).collect()
        })
        .collect();
    let mut rates = vec![Vec::new(); libs.len()];
    let mut cpu = vec![Vec::new(); libs.len()];
    // Warm-up (half a round each, not counted), then the rounds.
    for round in 0..=rounds {
        for k in 0..libs.len() {
            let i = (round + k) % libs.len();
            let secs = if round == 0 { secs / 2.0 } else { secs };
            let cpu_before = servers[i].cpu_ns();
            let (streams, rate, echoes) =
                load_segment(&rt, std::mem::take(&mut conns[i]), &frame, echo, secs);
            let cpu_ns = servers[i].cpu_ns().saturating_sub(cpu_before);
            conns[i] = streams;
            if round > 0 {
                rates[i].push(rate);
                cpu[i].push(cpu_ns as f64 / 1e3 / echoes.max(1) as f64);
            }
        }
    }
    drop(conns);
    rates
        .into_iter()
        .zip(cpu)
        .zip(&servers)
        .map(|((rate, cpu), server)| LoadResult {
            rate: median(rate),
            cpu_us: median(cpu),
            peak_rss_kib: server.peak_rss_kib(),
        })
        .collect()
}

/// `net count`: a fixed number of echoes (`COUNT_MESSAGES`, default 20000, spread over the
/// connections of scenario `LOAD_SCENARIOS`, default 0) against the first of `NET_LIBS`, the
/// server on a thread of this process, unpinned. For deterministic costs, run it under
/// `valgrind --tool=callgrind --separate-threads=yes` at two message counts: the server
/// thread's instruction difference divided by the message difference is its user-space cost per
/// echo, setup excluded.
fn count(lib: &'static str) {
    let index = env_f64("LOAD_SCENARIOS", 0.0) as usize;
    let s = &SCENARIOS[index];
    let per_conn = (env_f64("COUNT_MESSAGES", 20000.0) as usize / s.conns).max(1);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || serve_then(lib, move |addr| tx.send(addr).expect("send addr")));
    let addr = rx.recv().expect("server address");
    let (rt, frame, echo) = load_client(s);
    rt.block_on(async {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let mut tasks = Vec::new();
                for _ in 0..s.conns {
                    let mut stream = tokio_connect(addr);
                    let frame = frame.clone();
                    tasks.push(tokio::task::spawn_local(async move {
                        let mut back = vec![0u8; echo];
                        for _ in 0..per_conn {
                            stream.write_all(&frame).await.expect("write");
                            stream.read_exact(&mut back).await.expect("read echo");
                        }
                    }));
                }
                for t in tasks {
                    let _ = t.await;
                }
            })
            .await;
    });
    println!("{lib} {}: {} echoes", s.name(), per_conn * s.conns);
    std::process::exit(0);
}

fn env_f64(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn libs() -> Vec<&'static str> {
    match std::env::var("NET_LIBS") {
        Ok(list) => LIBS
            .iter()
            .copied()
            .filter(|l| list.split(',').any(|x| x == *l))
            .collect(),
        Err(_) => LIBS.to_vec(),
    }
}

fn main() {
    if let Ok(lib) = std::env::var(net::SERVER_ENV) {
        return serve(&lib);
    }
    pin_to_cpu(1);
    let libs = libs();
    let what = std::env::args().nth(1).unwrap_or_else(|| "load".into());
    match what.as_str() {
        "load" => {
            let rounds = env_f64("LOAD_ROUNDS", 5.0).max(1.0) as usize;
            let secs = env_f64("LOAD_SECS", 1.0);
            println!(
                "Loopback echo, one message in flight per connection; servers on a current_thread \
                 runtime pinned to CPU 0, load generator on CPU 1; median of {rounds} rounds of \
                 {secs} s, the libraries taking turns within each round. Cells: messages/s, the \
                 server's CPU time (user + kernel) per echo, and its peak RSS. Where the load \
                 generator's core is the saturated one (small messages), every server's rate is \
                 near the generator's limit and the CPU per echo is what tells them apart.\n"
            );
            println!(
                "| scenario | {} | rate: ours ÷ best peer | CPU per echo: ours ÷ lowest peer's \
                 | peak RSS: ours ÷ lowest peer's |",
                libs.join(" | ")
            );
            println!("|---|{}---:|---:|---:|", "---:|".repeat(libs.len()));
            // `LOAD_SCENARIOS=0,2`: only those scenarios (indices into the list above).
            let only = std::env::var("LOAD_SCENARIOS").ok();
            for (i, s) in SCENARIOS.iter().enumerate() {
                if let Some(only) = &only
                    && !only.split(',').any(|x| x.trim() == i.to_string())
                {
                    continue;
                }
                let results = load(&libs, s, rounds, secs);
                let mut line = format!("| {} |", s.name());
                for r in &results {
                    line += &format!(
                        " {:.1} k, {:.2} µs ({:.2} MiB) |",
                        r.rate / 1e3,
                        r.cpu_us,
                        r.peak_rss_kib as f64 / 1024.0
                    );
                }
                if libs[0] == "wsproto" && results.len() > 1 {
                    let peers = &results[1..];
                    let best = peers.iter().map(|r| r.rate).fold(0.0, f64::max);
                    let cpu = peers.iter().map(|r| r.cpu_us).fold(f64::INFINITY, f64::min);
                    let rss = peers
                        .iter()
                        .map(|r| r.peak_rss_kib)
                        .min()
                        .unwrap_or(1)
                        .max(1);
                    line += &format!(
                        " {:.2}× | {:.2}× | {:.2}× |",
                        results[0].rate / best,
                        results[0].cpu_us / cpu,
                        results[0].peak_rss_kib as f64 / rss as f64
                    );
                } else {
                    line += " | | |";
                }
                println!("{line}");
            }
        }
        "idle" => {
            let n = env_f64("IDLE_CONNS", 2000.0) as usize;
            let message = env_f64("IDLE_MESSAGE", 16384.0) as usize;
            println!(
                "Idle connections: server RSS growth per handshaken, silent connection ({n} \
                 connections), before and after one {message} B echo on each.\n"
            );
            println!("| server | KiB per idle connection | after one echo each |");
            println!("|---|---:|---:|");
            for lib in libs {
                let server = net::ServerChild::spawn(lib).expect("server");
                let (open, after) = net::idle(&server, n, message).expect("idle run");
                println!("| {lib} | {open:.1} | {after:.1} |");
            }
        }
        "count" => count(libs[0]),
        other => panic!("unknown bench {other}: load, idle or count"),
    }
}
