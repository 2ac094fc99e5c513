//! `wsd`: any command as a WebSocket server (the idea of websocketd).
//!
//! ```text
//! cargo run --release --all-features --example wsd -- --port 8080 -- COMMAND ARGS...
//! ```
//!
//! listens on `127.0.0.1:8080` (another address with `--address`) and runs `COMMAND ARGS...`
//! once per WebSocket connection, on any path:
//!
//! - each line the command prints on stdout is sent as a text message (without the newline;
//!   bytes that are not UTF-8 become U+FFFD; a line longer than `--max-line` bytes is sent in
//!   pieces of at most that size);
//! - each message received (text or binary) is written to the command's stdin, followed by a
//!   newline;
//! - when the command exits (and its stdout is drained), the connection is closed with 1000,
//!   or with 1011 and the reason `exit status N` / `killed by signal N` when it failed;
//! - when the client leaves (close frame, or the connection drops), the command's stdin is
//!   closed (EOF); if it has not exited after `--grace` seconds its process group gets SIGTERM,
//!   and after another grace period SIGKILL. Its stdout is drained (and discarded) meanwhile, so
//!   it can finish writing. Every child is reaped: no zombies, and no process left behind (the
//!   command runs in its own process group, which is signalled as a whole).
//!
//! Backpressure both ways: a line is read from the command only once the previous ones have
//! been written to the socket (so a slow client slows the command down through its stdout
//! pipe), and a message is read from the socket only once the previous one has been written to
//! the command's stdin. Memory per connection is bounded by `--max-line` and the message limit
//! (1 MiB). At most `--max-forks` commands run at once; further clients get `503`. The flip
//! side: while a command does not read its stdin, wsd does not read the socket either (no pongs,
//! no close handshake); a client that leaves then is noticed when the command next prints,
//! reads or exits.
//!
//! Try it:
//!
//! ```text
//! cargo run --release --all-features --example wsd -- --port 8080 -- sh -c 'while read l; do echo "you said $l"; done'
//! ```
//!
//! and in a browser's console: `ws = new WebSocket("ws://127.0.0.1:8080/");
//! ws.onmessage = (e) => console.log(e.data); ws.onopen = () => ws.send("hello")`. A command
//! whose stdout is a pipe may buffer it in blocks: run it line-buffered (`stdbuf -oL`,
//! `python3 -u`) for interactive use.
//!
//! On SIGTERM or SIGINT wsd stops accepting, sends SIGTERM to every running command's process
//! group (SIGKILL after the grace period) and exits once they are reaped.
//!
//! The command inherits wsd's environment and stderr. Do not expose a shell on a public
//! address: the command runs with wsd's privileges.

use std::collections::HashSet;
use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Semaphore;
use wsproto::driver::tokio::{WebSocketReader, WebSocketStream, WebSocketWriter};
use wsproto::driver::{Options, Rejection};
use wsproto::{CloseCode, Config, Message};

/// The largest message accepted from a client.
const MAX_MESSAGE: usize = 1 << 20;

const USAGE: &str = "usage: wsd [--address ADDR] [--port PORT] [--grace SECONDS] \
                     [--max-line BYTES] [--max-forks N] -- COMMAND [ARGS...]";

/// The command line, parsed in one place.
#[derive(Clone)]
struct Args {
    /// The address to listen on (default 127.0.0.1).
    address: String,
    /// The port (default 8080; 0 picks a free one, printed on startup).
    port: u16,
    /// How long a command gets after EOF before SIGTERM, and after SIGTERM before SIGKILL.
    grace: Duration,
    /// The longest line sent as one message.
    max_line: usize,
    /// The most commands running at once.
    max_forks: usize,
    /// The command and its arguments.
    command: Vec<OsString>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        address: "127.0.0.1".into(),
        port: 8080,
        grace: Duration::from_secs(2),
        max_line: 64 * 1024,
        max_forks: 64,
        command: Vec::new(),
    };
    let mut it = std::env::args_os().skip(1);
    fn value(it: &mut impl Iterator<Item = OsString>, flag: &str) -> Result<String, String> {
        it.next()
            .and_then(|v| v.into_string().ok())
            .ok_or_else(|| format!("{flag} needs a value"))
    }
    fn number<T: std::str::FromStr>(text: String, flag: &str) -> Result<T, String> {
        text.parse()
            .map_err(|_| format!("{flag}: not a number: {text}"))
    }
    while let Some(arg) = it.next() {
        match arg.to_str() {
            Some("--") => {
                args.command = it.collect();
                break;
            }
            Some("--address") => args.address = value(&mut it, "--address")?,
            Some("--port") => args.port = number(value(&mut it, "--port")?, "--port")?,
            Some("--grace") => {
                let seconds: f64 = number(value(&mut it, "--grace")?, "--grace")?;
                args.grace = Duration::try_from_secs_f64(seconds)
                    .map_err(|_| format!("--grace: not a duration: {seconds}"))?;
            }
            Some("--max-line") => {
                args.max_line = number(value(&mut it, "--max-line")?, "--max-line")?;
                if args.max_line == 0 {
                    return Err("--max-line must be at least 1".into());
                }
            }
            Some("--max-forks") => {
                args.max_forks = number(value(&mut it, "--max-forks")?, "--max-forks")?
            }
            Some("-h" | "--help") => return Err(String::new()),
            _ => {
                return Err(format!(
                    "unexpected argument {arg:?} (the command goes after --)"
                ));
            }
        }
    }
    if args.command.is_empty() {
        return Err("no command given".into());
    }
    Ok(args)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let args = match parse_args() {
        Ok(args) => Arc::new(args),
        Err(why) => {
            if !why.is_empty() {
                eprintln!("wsd: {why}");
            }
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    let listener = TcpListener::bind((args.address.as_str(), args.port)).await?;
    println!("wsd listening on ws://{}/", listener.local_addr()?);
    let forks = Arc::new(Semaphore::new(args.max_forks));
    let groups = Groups::default();
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            // Out of file descriptors and the like: wait a little rather than spin.
            Err(e) => {
                eprintln!("wsd: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let args = Arc::clone(&args);
        let groups = Arc::clone(&groups);
        let permit = Arc::clone(&forks).try_acquire_owned().ok();
        tokio::spawn(async move {
            if let Err(e) = serve(stream, &args, &groups, permit.is_some()).await {
                eprintln!("wsd: {peer}: {e}");
            }
            drop(permit);
        });
    }
    shutdown(&groups, args.grace).await;
    Ok(())
}

/// The process groups of the commands running now (each until it has been reaped).
type Groups = Arc<Mutex<HashSet<u32>>>;

fn running(groups: &Groups) -> Vec<u32> {
    let groups = groups.lock().unwrap_or_else(|p| p.into_inner());
    groups.iter().copied().collect()
}

/// Keeps a command's group in [`Groups`] until dropped.
struct Running<'a>(&'a Groups, u32);

impl<'a> Running<'a> {
    fn new(groups: &'a Groups, group: u32) -> Self {
        groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(group);
        Running(groups, group)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.1);
    }
}

/// On SIGTERM or SIGINT: every running command's group gets SIGTERM, and SIGKILL if it is
/// still there after the grace period; then wsd exits, leaving nothing behind.
async fn shutdown(groups: &Groups, grace: Duration) {
    let wait_until_reaped = async |limit: Duration| {
        let deadline = tokio::time::Instant::now() + limit;
        while !running(groups).is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    for group in running(groups) {
        signal_group(group, rustix::process::Signal::TERM);
    }
    wait_until_reaped(grace).await;
    for group in running(groups) {
        signal_group(group, rustix::process::Signal::KILL);
    }
    wait_until_reaped(Duration::from_secs(1)).await;
    // A moment for the close frames (1011, "killed by signal 15") to go out.
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Why a connection ended.
enum End {
    /// The command exited and its output was sent.
    Exited(ExitStatus),
    /// The command exited but something it started keeps its stdout open.
    ExitedOutputOpen(ExitStatus),
    /// The client left (or the socket failed) first.
    ClientLeft,
}

async fn serve(
    stream: TcpStream,
    args: &Args,
    groups: &Groups,
    may_fork: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    stream.set_nodelay(true)?;
    let options = Options::default().config(Config::default().max_message_size(MAX_MESSAGE));
    let ws = WebSocketStream::accept_with_options_and(stream, &options, |_| {
        if may_fork {
            Ok(wsproto::handshake::AcceptOptions::new())
        } else {
            Err(Rejection::new(503).body("too many commands running\n"))
        }
    })
    .await?;
    let (mut reader, mut writer) = ws.split();

    let spawned = Command::new(&args.command[0])
        .args(&args.command[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        // Its own process group, so that the signals reach whatever it started too.
        .process_group(0)
        // A last resort should this task end early (a panic): tokio reaps what it kills.
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            let reason = truncate(&format!("cannot run the command: {e}"));
            writer.close(CloseCode::INTERNAL_ERROR, &reason).await?;
            while reader.read().await.is_ok() {}
            return Ok(());
        }
    };
    let (Some(stdin), Some(mut stdout), Some(group)) =
        (child.stdin.take(), child.stdout.take(), child.id())
    else {
        unreachable!("both pipes were asked for, and the command has not been reaped yet");
    };
    let running = Running::new(groups, group);

    // Socket → stdin runs until the client has left; it owns stdin, so its end is the EOF.
    // Boxed so that it can be dropped early (closing stdin) if it has not finished.
    let mut incoming = Box::pin(to_stdin(&mut reader, stdin));
    let mut client_left = false;
    let end = {
        let outgoing = to_socket(&mut stdout, &mut writer, args.max_line);
        tokio::pin!(outgoing);
        let mut output_done = false;
        let mut status = None;
        let mut output_deadline = None;
        loop {
            if let (true, Some(status)) = (output_done, status) {
                break End::Exited(status);
            }
            tokio::select! {
                sent = &mut outgoing, if !output_done => match sent {
                    Ok(()) => output_done = true,
                    Err(_) => break End::ClientLeft,
                },
                () = &mut incoming, if !client_left => {
                    client_left = true;
                    break End::ClientLeft;
                }
                exited = child.wait(), if status.is_none() => {
                    status = Some(exited?);
                    output_deadline = Some(tokio::time::Instant::now() + args.grace);
                }
                () = sleep_until(output_deadline), if !output_done => {
                    break End::ExitedOutputOpen(status.expect("set with the deadline"));
                }
            }
        }
    };

    match end {
        End::Exited(status) | End::ExitedOutputOpen(status) => {
            let (code, reason) = if status.success() {
                (CloseCode::NORMAL, String::new())
            } else if let Some(code) = status.code() {
                (CloseCode::INTERNAL_ERROR, format!("exit status {code}"))
            } else {
                let signal = status.signal().unwrap_or_default();
                (
                    CloseCode::INTERNAL_ERROR,
                    format!("killed by signal {signal}"),
                )
            };
            // Whatever the command left running in its group goes too.
            signal_group(group, rustix::process::Signal::KILL);
            drop(running);
            if writer.close(code, &reason).await.is_ok() {
                // The client's reply ends `incoming` (bounded by the close timeout).
                incoming.await;
            }
        }
        End::ClientLeft => {
            // Let `incoming` finish the close handshake if it is under way, and drop stdin.
            if !client_left {
                let _ = tokio::time::timeout(Duration::from_secs(5), &mut incoming).await;
            }
            drop(incoming);
            stop(&mut child, group, stdout, args.grace).await;
            drop(running);
        }
    }
    Ok(())
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Ends a command whose client has left: its stdin is closed already; waits a grace period,
/// then SIGTERM, another grace period, then SIGKILL, and reaps it. Its stdout is drained
/// (discarded) meanwhile so that it is not stuck writing.
async fn stop(child: &mut Child, group: u32, mut stdout: ChildStdout, grace: Duration) {
    let drain = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut stdout, &mut tokio::io::sink()).await;
    });
    let exited = match tokio::time::timeout(grace, child.wait()).await {
        Ok(exited) => exited.ok(),
        Err(_) => {
            signal_group(group, rustix::process::Signal::TERM);
            match tokio::time::timeout(grace, child.wait()).await {
                Ok(exited) => exited.ok(),
                Err(_) => None,
            }
        }
    };
    // Also what the command started and left behind (or the command itself, still running).
    signal_group(group, rustix::process::Signal::KILL);
    if exited.is_none() {
        let _ = child.wait().await;
    }
    drain.abort();
}

/// Sends `signal` to the process group `group` (the command's pid, taken at spawn).
///
/// The kernel does not hand out a pid that is still some group's id, so while anything of the
/// command's group is alive (even as an unreaped zombie) this reaches only that group. Once it
/// is empty, the call fails with ESRCH, the usual and harmless outcome.
fn signal_group(group: u32, signal: rustix::process::Signal) {
    if let Some(pid) = i32::try_from(group)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process_group(pid, signal);
    }
}

/// Writes each message from the client to `stdin`, followed by a newline, until the client has
/// left. If the command stops reading (closes stdin, exits), later messages are discarded, but
/// reading goes on so that pongs and the close handshake still happen.
async fn to_stdin(reader: &mut WebSocketReader<TcpStream>, stdin: ChildStdin) {
    let mut stdin = Some(stdin);
    loop {
        let message = match reader.read().await {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => message,
            // Pings are answered by the driver; a close frame is answered too, and the next
            // read ends.
            Ok(_) => continue,
            Err(_) => return,
        };
        let data: &[u8] = match &message {
            Message::Text(text) => text.as_bytes(),
            Message::Binary(data) => data,
            _ => continue,
        };
        if let Some(pipe) = &mut stdin {
            let written = async {
                pipe.write_all(data).await?;
                pipe.write_all(b"\n").await?;
                pipe.flush().await
            };
            if written.await.is_err() {
                stdin = None;
            }
        }
    }
}

/// Sends each line of `stdout` as a text message until end of file, writing each batch out
/// before reading more. Fails only when the socket does.
async fn to_socket(
    stdout: &mut (impl AsyncRead + Unpin),
    writer: &mut WebSocketWriter<TcpStream>,
    max_line: usize,
) -> Result<(), wsproto::driver::Error> {
    // Holds at most one partial line (plus the bytes read with it).
    let mut buf = vec![0u8; max_line];
    let mut filled = 0;
    loop {
        // A read error on a pipe means it is gone: treat it as the end.
        let n: usize = stdout.read(&mut buf[filled..]).await.unwrap_or_default();
        if n == 0 {
            if filled > 0 {
                writer.send(text_message(&buf[..filled])).await?;
            }
            return Ok(());
        }
        let end = filled + n;
        let mut start = 0;
        let mut from = filled;
        while let Some(i) = buf[from..end].iter().position(|&b| b == b'\n') {
            writer.queue(text_message(&buf[start..from + i]))?;
            start = from + i + 1;
            from = start;
        }
        // Backpressure: everything queued goes to the socket before the next read.
        writer.flush().await?;
        buf.copy_within(start..end, 0);
        filled = end - start;
        if filled == buf.len() {
            // A line longer than the buffer: send what fits, cut at a character boundary.
            let cut = match std::str::from_utf8(&buf[..filled]) {
                Ok(_) => filled,
                Err(e) if e.error_len().is_none() && e.valid_up_to() > 0 => e.valid_up_to(),
                Err(_) => filled,
            };
            writer.send(text_message(&buf[..cut])).await?;
            buf.copy_within(cut..filled, 0);
            filled -= cut;
        }
    }
}

fn text_message(line: &[u8]) -> Message {
    Message::text(String::from_utf8_lossy(line).into_owned())
}

/// A close reason fits in 123 bytes.
fn truncate(reason: &str) -> String {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_string()
}
