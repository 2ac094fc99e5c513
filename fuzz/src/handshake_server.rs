//! `handshake_server`: arbitrary request bytes, in fuzzer-chosen splits, into a
//! [`ServerHandshake`] with fuzzer-chosen [`HandshakeLimits`].
//!
//! Input layout: `[limits] [splits] [n split sizes...] [request bytes...]`
//! - `limits`: bits 0-1 `max_header_size` (8 KiB, 64, 200, 1024), bits 2-3 `max_headers`
//!   (64, 1, 4, 16).
//! - `splits`: bits 0-2 how many size bytes follow, bits 3-4 scale them by 1, 4, 32 or 256.
//!
//! Checked: no panic; the outcome (incomplete / the request / the error) is the same for the
//! chosen split, for one piece, and byte by byte; while incomplete, no more than
//! `max_header_size` bytes have been taken (so no more are buffered), and a complete head is at
//! most `max_header_size` bytes; an error is final (fed again, it repeats) and its `response()`,
//! if any, is a well-formed HTTP/1.1 `4xx` response with `Connection: close` and a body of its
//! `Content-Length`; on success `accept(AcceptOptions::new())` gives `HTTP/1.1 101` with the right
//! `Sec-WebSocket-Accept`, and a connection that received exactly the bytes after the head.

use wsproto::handshake::{AcceptOptions, HandshakeError, HandshakeLimits, ServerHandshake};
use wsproto::{Config, Role};

use super::wire::{Normalizer, chunks, connection, drain_events, take_all_output};

/// What one run produced.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// The head is not complete.
    Incomplete,
    /// The request (its `Debug` form), the 101 response, and what the connection made of the
    /// bytes after the head.
    Accepted {
        request: String,
        response: Vec<u8>,
        after: Vec<u8>,
    },
    /// The error.
    Failed(HandshakeError),
}

/// Runs one input (any bytes).
pub fn run(data: &[u8]) {
    let [limits_bits, splits, rest @ ..] = data else {
        return;
    };
    let n = usize::from(splits & 7).min(rest.len());
    let scale = [1, 4, 32, 256][usize::from((splits >> 3) & 3)];
    let sizes: Vec<usize> = rest[..n].iter().map(|&s| usize::from(s) * scale).collect();
    let bytes = &rest[n..];
    let limits = HandshakeLimits::default()
        .max_header_size([8 * 1024, 64, 200, 1024][usize::from(limits_bits & 3)])
        .max_headers([64, 1, 4, 16][usize::from((limits_bits >> 2) & 3)]);

    let whole = drive(bytes, &chunks(bytes.len(), &[]), limits);
    let split = drive(bytes, &chunks(bytes.len(), &sizes), limits);
    assert_eq!(whole, split, "the outcome depends on the split");
    if bytes.len() <= 2048 {
        let bytewise = drive(bytes, &chunks(bytes.len(), &[1]), limits);
        assert_eq!(whole, bytewise, "the outcome differs byte by byte");
    }
}

fn drive(bytes: &[u8], ranges: &[core::ops::Range<usize>], limits: HandshakeLimits) -> Outcome {
    let mut server = ServerHandshake::new().limits(limits);
    let mut fed = 0;
    let mut failed: Option<HandshakeError> = None;
    for range in ranges {
        let chunk = &bytes[range.clone()];
        fed += chunk.len();
        let result = server.receive(chunk).map(|r| r.map(|r| format!("{r:?}")));
        match (&failed, result) {
            (Some(e), r) => assert_eq!(r, Err(e.clone()), "an error is not final"),
            (None, Ok(None)) => assert!(
                fed <= limits.max_header_size,
                "{fed} bytes taken without a complete head (limit {})",
                limits.max_header_size
            ),
            (None, Ok(Some(_))) => {}
            (None, Err(e)) => {
                check_error_response(&e);
                failed = Some(e);
            }
        }
    }
    if let Some(e) = failed {
        // Once more, with nothing: still the same error; and accept refuses.
        assert_eq!(server.receive(&[]).err(), Some(e.clone()));
        assert_eq!(
            server.accept(AcceptOptions::new()).err(),
            Some(e.clone()),
            "accept after a failed request"
        );
        return Outcome::Failed(e);
    }
    let Some(request) = server.request() else {
        assert_eq!(
            server.accept(AcceptOptions::new()).err(),
            Some(HandshakeError::NotReady)
        );
        return Outcome::Incomplete;
    };
    let request_debug = format!("{request:?}");
    let expected_accept = wsproto::handshake::accept_key(request.key().as_bytes());
    let head_len = head_end(bytes).expect("a request without the end of its head");
    assert!(
        head_len <= limits.max_header_size,
        "a head of {head_len} bytes accepted (limit {})",
        limits.max_header_size
    );
    let (response, mut conn) = server
        .accept(AcceptOptions::new())
        .expect("accepting a valid request with no options failed");
    assert!(
        response.starts_with(b"HTTP/1.1 101 "),
        "not a 101: {:?}",
        String::from_utf8_lossy(&response)
    );
    let parsed = parse_response(&response).expect("the 101 response does not parse");
    assert_eq!(parsed.body_len, 0);
    assert_eq!(
        parsed.header("sec-websocket-accept"),
        Some(expected_accept.as_bytes()),
        "wrong Sec-WebSocket-Accept"
    );
    assert!(server.request().is_none(), "request kept after accept");
    assert_eq!(
        server.receive(b"x").err(),
        Some(HandshakeError::Finished),
        "receive after accept"
    );
    // The connection got exactly the bytes after the head: it behaves like a fresh server
    // connection given them.
    let after = &bytes[head_len..];
    let config = Config::default();
    let mut fresh = connection(Role::Server, config.clone(), 1);
    fresh.receive(after);
    assert_eq!(conn.buffered_input(), fresh.buffered_input());
    let mut norm_a = Normalizer::new(&config);
    let mut norm_b = Normalizer::new(&config);
    let err_a = drain_events(&mut conn, &mut norm_a);
    let err_b = drain_events(&mut fresh, &mut norm_b);
    assert_eq!(
        err_a, err_b,
        "the connection did not get the bytes after the head"
    );
    assert_eq!(norm_a.events, norm_b.events);
    assert_eq!(norm_a.partial, norm_b.partial);
    let (mut out_a, mut out_b) = (Vec::new(), Vec::new());
    take_all_output(&mut conn, false, &mut out_a);
    take_all_output(&mut fresh, false, &mut out_b);
    assert_eq!(out_a, out_b);
    Outcome::Accepted {
        request: request_debug,
        response,
        after: format!("{:?} {:?} {:?}", norm_a.events, norm_a.partial, err_a).into_bytes(),
    }
}

/// Where the message head ends, by the rule the handshake documents: leading empty lines are
/// skipped, then the head ends with the first empty line (`LF` or `CR LF` right after an `LF`).
pub fn head_end(bytes: &[u8]) -> Option<usize> {
    let start = bytes.iter().position(|&b| b != b'\r' && b != b'\n')?;
    (start + 1..bytes.len()).find_map(|i| {
        let at_line_start = |j: usize| j > start && bytes[j - 1] == b'\n';
        if bytes[i] != b'\n' {
            return None;
        }
        let empty = at_line_start(i) || (bytes[i - 1] == b'\r' && at_line_start(i - 1));
        empty.then_some(i + 1)
    })
}

/// A parsed HTTP/1.1 response.
pub struct ParsedResponse {
    /// The status code.
    pub status: u16,
    /// Header fields, names lower-cased.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Bytes after the head.
    pub body_len: usize,
}

impl ParsedResponse {
    /// The value of the only header field named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        let mut it = self.headers.iter().filter(|(n, _)| n == name);
        let first = it.next()?;
        assert!(it.next().is_none(), "{name} twice");
        Some(&first.1)
    }
}

/// Parses a response this crate wrote, strictly: `HTTP/1.1 SSS Reason\r\n`, then `Name: value\r\n`
/// lines with token names and values without control characters, then `\r\n`.
pub fn parse_response(bytes: &[u8]) -> Result<ParsedResponse, String> {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of head")?
        + 4;
    let head = core::str::from_utf8(&bytes[..end - 4]).map_err(|e| e.to_string())?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or("no status line")?;
    let rest = status_line
        .strip_prefix("HTTP/1.1 ")
        .ok_or("not HTTP/1.1")?;
    let (code, reason) = rest.split_at_checked(3).ok_or("short status line")?;
    if !code.bytes().all(|b| b.is_ascii_digit()) || !reason.starts_with(' ') {
        return Err(format!("bad status line {status_line:?}"));
    }
    if reason.len() < 2 || reason.chars().any(|c| c.is_control()) {
        return Err(format!("bad reason phrase {reason:?}"));
    }
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(": ").ok_or("header without ': '")?;
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty() || !name.bytes().all(token) {
            return Err(format!("bad header name {name:?}"));
        }
        if value.bytes().any(|b| b < 0x20 && b != b'\t' || b == 0x7f) {
            return Err(format!("bad header value {value:?}"));
        }
        headers.push((name.to_ascii_lowercase(), value.as_bytes().to_vec()));
    }
    Ok(ParsedResponse {
        status: code.parse().unwrap(),
        headers,
        body_len: bytes.len() - end,
    })
}

/// A request error's response: well-formed, 4xx, matching the error's status, closing.
fn check_error_response(e: &HandshakeError) {
    let Some(response) = e.response() else {
        assert_eq!(e.status(), None);
        // Errors about received requests all have a response.
        panic!("a received request failed with {e:?}, which has no response");
    };
    let parsed = parse_response(&response)
        .unwrap_or_else(|why| panic!("{why}: {:?}", String::from_utf8_lossy(&response)));
    assert!(
        (400..500).contains(&parsed.status),
        "status {}",
        parsed.status
    );
    assert_eq!(Some(parsed.status), e.status());
    let len = parsed.header("content-length").expect("no Content-Length");
    assert_eq!(
        core::str::from_utf8(len).unwrap().parse::<usize>().unwrap(),
        parsed.body_len,
        "Content-Length is not the body's length"
    );
    let connection = parsed.header("connection").expect("no Connection");
    assert!(
        String::from_utf8_lossy(connection)
            .to_ascii_lowercase()
            .split(',')
            .any(|t| t.trim() == "close"),
        "the error response does not close"
    );
    if parsed.status == 405 {
        assert_eq!(parsed.header("allow"), Some(&b"GET"[..]));
    }
    if parsed.status == 426 {
        assert_eq!(parsed.header("sec-websocket-version"), Some(&b"13"[..]));
    }
}
