//! `handshake_client`: arbitrary response bytes, in fuzzer-chosen splits, into a
//! [`ClientHandshake`] with a deterministic key.
//!
//! Input layout: `[flags] [splits] [n split sizes...] [response bytes...]`
//! - `flags`: bit 0 offer subprotocols `chat` and `superchat`, bit 1 offer an extension
//!   (`x-test`), bit 2 report end of input at the end, bits 3-4 `max_header_size` (8 KiB, 64,
//!   200, 1024), bits 5-6 `max_body_size` (64 KiB, 0, 10, 300).
//! - `splits`: bits 0-2 how many size bytes follow, bits 3-4 scale them by 1, 4, 32 or 256.
//!
//! Checked: no panic; the outcome is the same for the chosen split, for one piece, and byte by
//! byte (except the body of a rejection without `Content-Length`, documented as the bytes that
//! arrived with the head: a split gives a prefix of it); an error is final; `Accepted` only when
//! the final response head has status 101 and exactly one `Sec-WebSocket-Accept` equal to
//! `accept_key(key)`, and its connection received exactly the bytes after that head; a
//! rejection's status is not 101 and its body is within `max_body_size`.

use wsproto::handshake::{
    ClientHandshake, ClientOutcome, ClientRequest, HandshakeError, HandshakeLimits, accept_key,
};
use wsproto::{Config, Role};

use super::handshake_server::head_end;
use super::wire::{Normalizer, chunks, connection, counter_rng, drain_events};

/// The key source: the handshake key comes from its first 16 bytes.
pub const SEED: u32 = 0x5eed;

/// The request every run uses.
fn request(flags: u8) -> ClientRequest {
    let mut r = ClientRequest::new("example.com", "/chat").unwrap();
    if flags & 1 != 0 {
        r = r.protocols(["chat", "superchat"]).unwrap();
    }
    if flags & 2 != 0 {
        r = r.extension("x-test").unwrap();
    }
    r
}

/// The `Sec-WebSocket-Key` the client sends for `flags` (the seeds use it).
pub fn key_for(flags: u8) -> String {
    ClientHandshake::with_random(request(flags), Config::default(), counter_rng(SEED))
        .key()
        .to_string()
}

/// What one run produced.
#[derive(Debug, PartialEq)]
enum Outcome {
    Partial,
    Accepted {
        response: String,
        subprotocol: Option<String>,
        events: String,
    },
    Rejected {
        status: u16,
        reason: String,
        headers: String,
        body: Vec<u8>,
        sized: bool,
    },
    Failed(HandshakeError),
}

/// Runs one input (any bytes).
pub fn run(data: &[u8]) {
    let [flags, splits, rest @ ..] = data else {
        return;
    };
    let n = usize::from(splits & 7).min(rest.len());
    let scale = [1, 4, 32, 256][usize::from((splits >> 3) & 3)];
    let sizes: Vec<usize> = rest[..n].iter().map(|&s| usize::from(s) * scale).collect();
    let bytes = &rest[n..];
    let limits = HandshakeLimits::default()
        .max_header_size([8 * 1024, 64, 200, 1024][usize::from((flags >> 3) & 3)])
        .max_body_size([64 * 1024, 0, 10, 300][usize::from((flags >> 5) & 3)]);
    let eof = flags & 4 != 0;

    let whole = drive(*flags, bytes, &chunks(bytes.len(), &[]), limits, eof);
    let split = drive(*flags, bytes, &chunks(bytes.len(), &sizes), limits, eof);
    compare(&whole, &split);
    if bytes.len() <= 2048 {
        let bytewise = drive(*flags, bytes, &chunks(bytes.len(), &[1]), limits, eof);
        compare(&whole, &bytewise);
    }
}

fn compare(whole: &Outcome, split: &Outcome) {
    match (whole, split) {
        (
            Outcome::Rejected {
                status: s1,
                reason: r1,
                headers: h1,
                body: b1,
                sized: false,
            },
            Outcome::Rejected {
                status: s2,
                reason: r2,
                headers: h2,
                body: b2,
                sized: false,
            },
        ) => {
            assert_eq!(
                (s1, r1, h1),
                (s2, r2, h2),
                "the rejection depends on the split"
            );
            assert!(
                b1.starts_with(b2),
                "the unsized body of a split is not a prefix of the whole's"
            );
        }
        _ => assert_eq!(whole, split, "the outcome depends on the split"),
    }
}

fn drive(
    flags: u8,
    bytes: &[u8],
    ranges: &[core::ops::Range<usize>],
    limits: HandshakeLimits,
    eof: bool,
) -> Outcome {
    let mut client =
        ClientHandshake::with_random(request(flags), Config::default(), counter_rng(SEED))
            .limits(limits);
    let key = client.key().to_string();
    let mut fed = 0;
    let mut last = Ok(ClientOutcome::Partial);
    for range in ranges {
        let chunk = &bytes[range.clone()];
        fed += chunk.len();
        match &mut last {
            Ok(ClientOutcome::Partial) => last = client.receive(chunk),
            Err(e) => assert_eq!(client.receive(chunk).err(), Some(e.clone()), "not final"),
            Ok(outcome) => {
                let outcome: &mut ClientOutcome = outcome;
                assert_eq!(
                    client.receive(chunk).err(),
                    Some(HandshakeError::Finished),
                    "receive after the outcome"
                );
                // What follows goes to the connection, as a driver would do.
                if let ClientOutcome::Accepted { connection, .. } = outcome {
                    connection.receive(chunk);
                }
            }
        }
    }
    if eof && matches!(last, Ok(ClientOutcome::Partial)) {
        last = client.receive_eof();
        if let Err(e) = &last {
            assert_eq!(e, &HandshakeError::UnexpectedEof, "end of input: {e}");
        }
    }
    match last {
        Ok(ClientOutcome::Partial) => Outcome::Partial,
        Err(e) => {
            assert!(
                !matches!(e, HandshakeError::Finished | HandshakeError::NotReady),
                "{e:?}"
            );
            Outcome::Failed(e)
        }
        Ok(ClientOutcome::Rejected {
            status,
            reason,
            headers,
            body,
        }) => {
            assert_ne!(status, 101, "a 101 reported as a rejection");
            assert!((200..=599).contains(&status), "status {status}");
            assert!(
                body.len() <= limits.max_body_size,
                "body over max_body_size"
            );
            assert!(body.len() <= fed);
            // Sized as documented: 204 and 304 have no body; otherwise one valid
            // Content-Length and no Transfer-Encoding (an invalid length reads as unsized).
            let lengths: Vec<&[u8]> = headers.get_all("Content-Length").collect();
            let sized = status == 204
                || status == 304
                || (!headers.contains("Transfer-Encoding")
                    && matches!(lengths[..], [v] if !v.is_empty() && v.iter().all(u8::is_ascii_digit)));
            Outcome::Rejected {
                status,
                reason,
                headers: format!("{headers:?}"),
                body,
                sized,
            }
        }
        Ok(ClientOutcome::Accepted {
            mut connection,
            response,
        }) => {
            assert_eq!(response.status(), 101);
            // The final head, found independently: skip interim 1xx heads.
            let mut start = 0;
            let (head, end) = loop {
                let n = head_end(&bytes[start..]).expect("accepted without a complete head");
                let head = &bytes[start..start + n];
                let status = status_of(head).expect("accepted a head without a status");
                if status == 101 {
                    break (head, start + n);
                }
                assert!((100..200).contains(&status), "skipped a final {status}");
                start += n;
            };
            assert!(head.len() <= limits.max_header_size);
            let expected = accept_key(key.as_bytes());
            let accepts: Vec<&[u8]> = header_values(head, b"sec-websocket-accept");
            assert_eq!(
                accepts,
                [expected.as_bytes()],
                "accepted without exactly one matching Sec-WebSocket-Accept"
            );
            if let Some(p) = response.subprotocol() {
                assert!(flags & 1 != 0 && ["chat", "superchat"].contains(&p));
            }
            assert_eq!(connection.subprotocol(), response.subprotocol());
            // The connection got exactly the bytes after the head.
            let config = Config::default();
            let mut fresh = connection_like(&config);
            fresh.receive(&bytes[end..]);
            let mut norm_a = Normalizer::new(&config);
            let mut norm_b = Normalizer::new(&config);
            let err_a = drain_events(&mut connection, &mut norm_a);
            let err_b = drain_events(&mut fresh, &mut norm_b);
            assert_eq!(
                err_a, err_b,
                "the connection did not get the bytes after the head"
            );
            assert_eq!(norm_a.events, norm_b.events);
            assert_eq!(norm_a.partial, norm_b.partial);
            assert_eq!(connection.buffered_output(), fresh.buffered_output());
            Outcome::Accepted {
                response: format!("{response:?}"),
                subprotocol: response.subprotocol().map(String::from),
                events: format!("{:?} {:?} {:?}", norm_a.events, norm_a.partial, err_a),
            }
        }
    }
}

fn connection_like(config: &Config) -> wsproto::Connection {
    connection(Role::Client, config.clone(), 3)
}

/// The status code of a response head: `HTTP/1.x SSS` after any leading empty lines.
fn status_of(head: &[u8]) -> Option<u16> {
    let start = head.iter().position(|&b| b != b'\r' && b != b'\n')?;
    let line = &head[start..];
    let rest = line.strip_prefix(b"HTTP/1.")?;
    let code = rest.get(2..5)?;
    if rest.get(1) != Some(&b' ') || !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    core::str::from_utf8(code).ok()?.parse().ok()
}

/// The values (without surrounding spaces and tabs) of the header fields named `name` (lower
/// case) in a head.
fn header_values<'a>(head: &'a [u8], name: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    for line in head.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        if line[..colon].eq_ignore_ascii_case(name) {
            let mut v = &line[colon + 1..];
            while let [b' ' | b'\t', r @ ..] = v {
                v = r;
            }
            while let [r @ .., b' ' | b'\t'] = v {
                v = r;
            }
            out.push(v);
        }
    }
    out
}
