//! Loopback benchmark plumbing shared by `benches/idle.rs` and the peers crate's `net` binary:
//! a server runs as a child process (this same executable, re-run with an environment
//! variable) so that its memory is measured alone, from `/proc/<pid>/status`; clients are plain
//! sockets speaking just enough WebSocket (the handshake, masked frames out, unmasked frames
//! in), the same for every server.
//!
//! Depends on std only, so every crate can include it with `#[path]`.
#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The environment variable that makes the executable run a server instead of the bench.
pub const SERVER_ENV: &str = "WSPROTO_NET_BENCH_SERVER";

/// A server child process and its address.
pub struct ServerChild {
    child: Child,
    pub addr: SocketAddr,
}

impl ServerChild {
    /// Re-runs this executable with `SERVER_ENV=name`; the child binds 127.0.0.1:0, prints
    /// `listening <addr>` and serves until killed.
    pub fn spawn(name: &str) -> io::Result<Self> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .env(SERVER_ENV, name)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| io::Error::other(format!("server {name} said {line:?}")))?;
        Ok(ServerChild { child, addr })
    }

    /// The child's resident set size, KiB.
    pub fn rss_kib(&self) -> u64 {
        status_kib(self.child.id(), "VmRSS:")
    }

    /// The child's peak resident set size, KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        status_kib(self.child.id(), "VmHWM:")
    }

    /// The CPU time the child's threads have run so far (user and kernel), in nanoseconds,
    /// from `/proc/<pid>/task/*/schedstat` (0 where that is unavailable).
    pub fn cpu_ns(&self) -> u64 {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.child.id())) else {
            return 0;
        };
        tasks
            .flatten()
            .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
            .filter_map(|s| {
                s.split_whitespace()
                    .next()
                    .and_then(|n| n.parse::<u64>().ok())
            })
            .sum()
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// Announces the server's address to the parent (first line of stdout).
pub fn announce(addr: SocketAddr) {
    println!("listening {addr}");
    let _ = io::stdout().flush();
}

/// The opening request every client sends (the key of RFC 6455 §1.3).
pub fn request(addr: SocketAddr) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// The response head for that request.
pub const RESPONSE: &str = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
     Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

/// Reads an HTTP head (up to and including the blank line) byte by byte, so that nothing after
/// it is consumed; returns it.
pub fn read_head(stream: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
        if head.len() > 8192 {
            return Err(io::Error::other("head too long"));
        }
    }
    Ok(head)
}

/// A blocking client connection after the handshake.
pub fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(request(addr).as_bytes())?;
    let head = read_head(&mut s)?;
    if !head.starts_with(b"HTTP/1.1 101") {
        return Err(io::Error::other(
            String::from_utf8_lossy(&head).into_owned(),
        ));
    }
    Ok(s)
}

/// One masked binary frame as a client sends it.
pub fn client_frame(payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(0x82);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= 0xffff {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

/// The length of the unmasked server frame that echoes a `len`-byte payload.
pub fn echo_len(len: usize) -> usize {
    len + if len < 126 {
        2
    } else if len <= 0xffff {
        4
    } else {
        10
    }
}

/// Sends one message on a blocking connection and reads its echo.
pub fn echo_once(s: &mut TcpStream, frame: &[u8], payload_len: usize) -> io::Result<()> {
    s.write_all(frame)?;
    let mut back = vec![0u8; echo_len(payload_len)];
    s.read_exact(&mut back)?;
    if back[0] != 0x82 {
        return Err(io::Error::other("unexpected echo frame"));
    }
    Ok(())
}

/// Idle memory: opens `n` connections (handshaken, silent), then sends one message of
/// `message` bytes on each and waits for its echo. Returns the server's RSS growth per
/// connection in KiB, (after the handshakes, after the echoes), each measured once the server
/// has settled.
pub fn idle(server: &ServerChild, n: usize, message: usize) -> io::Result<(f64, f64)> {
    std::thread::sleep(Duration::from_millis(200));
    let base = server.rss_kib();
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        conns.push(connect(server.addr)?);
    }
    std::thread::sleep(Duration::from_millis(500));
    let open = server.rss_kib();
    let payload: Vec<u8> = (0..message).map(|i| (i * 7) as u8).collect();
    let frame = client_frame(&payload, [1, 2, 3, 4]);
    for c in &mut conns {
        echo_once(c, &frame, message)?;
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = server.rss_kib();
    let per = |kib: u64| kib.saturating_sub(base) as f64 / n as f64;
    drop(conns);
    Ok((per(open), per(after)))
}
