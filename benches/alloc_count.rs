//! Heap allocations per received message, counted by a global allocator.
//!
//! For each decode workload (see `benches/common/workloads.rs`) a server connection is warmed up
//! with the workload twice, then fed it once more while counting; the table shows allocations
//! (and reallocations, and bytes requested) per message in that steady state, for both the
//! `receive` and the `read_buf`/`commit` feeding paths. Messages are dropped right after
//! they are polled, as a server that handles each message before reading on would; a third row
//! keeps every message alive instead, so the buffer they share cannot be reused.
//!
//! Run: `cargo bench --bench alloc_count`. With `ALLOC_CHECK=1` it also fails (exit 1) unless
//! every steady-state row of a single-frame workload with messages dropped as they come, and
//! every send row, shows zero allocations: the zero-copy goal of issue 4, as a CI check.
//! With `ALLOC_TRACE=N` in the environment, the first N steady-state allocations of each
//! measured run print a backtrace to stderr (to find where they come from).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

use wsproto::{Bytes, Config, Connection, Event, Message, Role};

#[path = "common/feed.rs"]
mod feed;
#[path = "common/workloads.rs"]
mod workloads;

use feed::{feed_read_buf, feed_receive};
use workloads::{READ_SIZE, Workload};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static REALLOCS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);
static TRACE_LEFT: AtomicUsize = AtomicUsize::new(0);
static TRACING: AtomicBool = AtomicBool::new(false);

thread_local! {
    static IN_TRACE: Cell<bool> = const { Cell::new(false) };
}

fn trace(what: &str, size: usize) {
    if !TRACING.load(Relaxed) || TRACE_LEFT.load(Relaxed) == 0 {
        return;
    }
    // The backtrace allocates: don't trace (or recurse into) those allocations.
    if IN_TRACE.with(|t| t.replace(true)) {
        return;
    }
    TRACE_LEFT.fetch_sub(1, Relaxed);
    let bt = std::backtrace::Backtrace::force_capture();
    eprintln!("--- {what} of {size} bytes:\n{bt}");
    IN_TRACE.with(|t| t.set(false));
}

// SAFETY (for the reader; this is not the crate): every method forwards to `System` unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size(), Relaxed);
        trace("alloc", layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size(), Relaxed);
        trace("alloc_zeroed", layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        REALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(new_size.saturating_sub(layout.size()), Relaxed);
        trace("realloc", new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Clone, Copy)]
struct Counts {
    allocs: usize,
    reallocs: usize,
    bytes: usize,
}

fn snapshot() -> Counts {
    Counts {
        allocs: ALLOCS.load(Relaxed),
        reallocs: REALLOCS.load(Relaxed),
        bytes: BYTES.load(Relaxed),
    }
}

/// Runs `f` with counting (and, if asked for, tracing) on; returns what it allocated.
fn measure(f: impl FnOnce()) -> Counts {
    let trace_n = std::env::var("ALLOC_TRACE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    TRACE_LEFT.store(trace_n, Relaxed);
    TRACING.store(true, Relaxed);
    let before = snapshot();
    f();
    let after = snapshot();
    TRACING.store(false, Relaxed);
    Counts {
        allocs: after.allocs - before.allocs,
        reallocs: after.reallocs - before.reallocs,
        bytes: after.bytes - before.bytes,
    }
}

/// Rows that must show no allocation for `ALLOC_CHECK=1`, with what they showed.
static MUST_BE_ZERO: std::sync::Mutex<Vec<(String, usize, usize)>> =
    std::sync::Mutex::new(Vec::new());

fn expect_zero(what: String, c: Counts) {
    MUST_BE_ZERO
        .lock()
        .unwrap()
        .push((what, c.allocs, c.reallocs));
}

fn row(workload: &str, path: &str, messages: usize, c: Counts) {
    let per = |x: usize| x as f64 / messages as f64;
    println!(
        "| {workload} | {path} | {messages} | {} | {:.3} | {} | {:.3} | {:.1} |",
        c.allocs,
        per(c.allocs),
        c.reallocs,
        per(c.reallocs),
        per(c.bytes),
    );
}

/// Like `feed_receive`, but keeps every message alive (as a server that queues them for later
/// would), so the connection cannot reuse the buffer they were split from.
fn feed_receive_keep(conn: &mut Connection, wire: &[u8], kept: &mut Vec<Event>) -> usize {
    let mut messages = 0;
    for read in wire.chunks(READ_SIZE) {
        conn.receive(read);
        while let Some(event) = conn.poll_event().expect("valid input") {
            if matches!(event, Event::Text(_) | Event::Binary(_)) {
                messages += 1;
            }
            kept.push(event);
        }
    }
    messages
}

fn decode_keep_row(w: &Workload) {
    let mut conn = Connection::new(Role::Server, Config::default());
    let mut kept = Vec::with_capacity(w.messages + 1);
    for _ in 0..2 {
        assert_eq!(feed_receive_keep(&mut conn, &w.wire, &mut kept), w.messages);
        kept.clear();
    }
    let mut received = 0;
    let counts = measure(|| received = feed_receive_keep(&mut conn, &w.wire, &mut kept));
    assert_eq!(received, w.messages);
    row(w.name, "receive, messages kept", w.messages, counts);
}

fn decode_row(w: &Workload, path: &str, feed: fn(&mut Connection, &[u8]) -> usize) {
    let mut conn = Connection::new(Role::Server, Config::default());
    // Warm-up: the buffer reaches its steady size, lazily created state exists.
    for _ in 0..2 {
        assert_eq!(feed(&mut conn, &w.wire), w.messages);
    }
    let mut received = 0;
    let counts = measure(|| received = feed(&mut conn, &w.wire));
    assert_eq!(received, w.messages);
    row(w.name, path, w.messages, counts);
    if !w.fragmented {
        expect_zero(format!("{} / {path}", w.name), counts);
    }
}

fn encode_row(name: &str, messages: usize, mut send: impl FnMut(&mut Connection), role: Role) {
    let mut conn = Connection::new(role, Config::default());
    let flush = |conn: &mut Connection| {
        let n = conn.buffered_output();
        conn.consume_output(n);
    };
    for _ in 0..16 {
        send(&mut conn);
        flush(&mut conn);
    }
    let counts = measure(|| {
        for _ in 0..messages {
            send(&mut conn);
            flush(&mut conn);
        }
    });
    row(name, "send + consume_output", messages, counts);
    expect_zero(name.to_string(), counts);
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        // `cargo bench -- --list` and test harness probes: nothing to list.
        return;
    }
    println!("## Allocations per received message (steady state, after 2 warm-up passes)\n");
    println!(
        "| workload | path | messages | allocs | allocs/msg | reallocs | reallocs/msg | bytes/msg |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for w in workloads::all() {
        decode_row(&w, "receive", feed_receive);
        decode_row(&w, "read_buf/commit", feed_read_buf);
        decode_keep_row(&w);
    }

    println!("\n## Allocations per sent message (steady state)\n");
    println!(
        "| message | path | messages | allocs | allocs/msg | reallocs | reallocs/msg | bytes/msg |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for size in [16usize, 64 * 1024] {
        let payload = vec![0x5au8; size];
        let shared = Bytes::from(payload.clone());
        encode_row(
            &format!("{size} B client send_binary"),
            1000,
            |c| c.send_binary(&payload).unwrap(),
            Role::Client,
        );
        encode_row(
            &format!("{size} B server send_binary"),
            1000,
            |c| c.send_binary(&payload).unwrap(),
            Role::Server,
        );
        encode_row(
            &format!("{size} B server send_binary_through"),
            1000,
            // A writer that leaves the last 100 bytes offered: they are queued.
            |c| {
                c.send_binary_through(&payload, |runs| {
                    let offered: usize = runs.iter().map(|r| r.len()).sum();
                    offered.saturating_sub(100)
                })
                .unwrap();
            },
            Role::Server,
        );
        encode_row(
            &format!("{size} B server send(Bytes)"),
            1000,
            |c| c.send(Message::Binary(shared.clone())).unwrap(),
            Role::Server,
        );
    }

    if std::env::var_os("ALLOC_CHECK").is_some() {
        let rows = MUST_BE_ZERO.lock().unwrap();
        let failed: Vec<_> = rows.iter().filter(|(_, a, r)| a + r > 0).collect();
        for (what, allocs, reallocs) in &failed {
            eprintln!("ALLOC_CHECK: {what}: {allocs} allocations, {reallocs} reallocations");
        }
        if !failed.is_empty() {
            std::process::exit(1);
        }
        println!(
            "\nALLOC_CHECK: {} steady-state rows, no allocation",
            rows.len()
        );
    }
}
