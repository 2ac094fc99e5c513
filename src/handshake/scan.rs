//! Collecting an HTTP message head from bytes that arrive in pieces.
//!
//! Each byte is examined once: the reader keeps where it is in the current line across calls,
//! so a request dripping in one byte at a time costs linear time, not a re-parse from the start
//! on every read. Only when the empty line that ends the head has arrived is the head handed to
//! httparse, once. The buffer never holds more than the size limit, and never any byte after
//! the head: those are returned to the caller (they belong to the WebSocket connection).

use alloc::vec::Vec;

use super::error::HandshakeError;
use super::headers::{Headers, trim_ows};

#[derive(Debug, Clone)]
pub(crate) struct HeadReader {
    /// The head so far.
    buf: Vec<u8>,
    max: usize,
    /// A byte other than CR and LF has been seen (empty lines before the start line are skipped,
    /// as RFC 9112 §2.2 allows and httparse does).
    started: bool,
    /// Inside a line that has content: the next LF ends it, and cannot end the head.
    in_line: bool,
    /// At the start of a line, a CR has been seen.
    cr: bool,
    /// Bytes examined in total (for tests of the linear-time guarantee).
    scanned: usize,
}

impl HeadReader {
    pub fn new(max: usize) -> Self {
        HeadReader {
            buf: Vec::new(),
            max,
            started: false,
            in_line: false,
            cr: false,
            scanned: 0,
        }
    }

    /// Takes the next bytes. Returns `Some(n)` when the head is complete: `data[..n]` was its
    /// end and `data[n..]` follows it. `None` means every byte was taken and more are needed.
    pub fn push(&mut self, data: &[u8]) -> Result<Option<usize>, HandshakeError> {
        // Only this many more bytes may belong to the head; looking further is pointless.
        let room = self.max - self.buf.len();
        let window = &data[..data.len().min(room)];
        let found = self.scan(window);
        self.scanned += found.unwrap_or(window.len());
        match found {
            Some(n) => {
                // A head that arrived in one piece is parsed where it lies, without a copy.
                if !self.buf.is_empty() {
                    self.buf.extend_from_slice(&data[..n]);
                }
                Ok(Some(n))
            }
            None if data.len() > room => Err(HandshakeError::HeadersTooLarge { limit: self.max }),
            None => {
                self.buf.extend_from_slice(data);
                Ok(None)
            }
        }
    }

    /// Finds the end of the head in `data` (the position after the LF of the empty line),
    /// carrying the line state over from earlier calls.
    fn scan(&mut self, data: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < data.len() {
            if self.in_line {
                // Skip to the end of the line.
                match data[i..].iter().position(|&b| b == b'\n') {
                    Some(p) => {
                        i += p + 1;
                        self.in_line = false;
                        self.cr = false;
                    }
                    None => return None,
                }
                continue;
            }
            let b = data[i];
            i += 1;
            if !self.started {
                if b != b'\r' && b != b'\n' {
                    self.started = true;
                    self.in_line = true;
                }
                continue;
            }
            match b {
                b'\n' => return Some(i),
                b'\r' if !self.cr => self.cr = true,
                _ => {
                    self.in_line = true;
                    self.cr = false;
                }
            }
        }
        None
    }

    /// The complete head, after `push(data)` returned `Some(n)`.
    pub fn head<'a>(&'a self, data: &'a [u8], n: usize) -> &'a [u8] {
        if self.buf.is_empty() {
            &data[..n]
        } else {
            &self.buf
        }
    }

    /// Starts over for the next message head (after an interim `1xx` response), keeping the
    /// count of scanned bytes.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.started = false;
        self.in_line = false;
        self.cr = false;
    }

    /// Bytes examined so far.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn scanned(&self) -> usize {
        self.scanned
    }
}

/// Room for the header fields of `head`: no more than `max`, and no more than it has lines (so a
/// generous limit costs nothing for a short head).
pub(crate) fn header_slots<'a>(head: &[u8], max: usize) -> Vec<httparse::Header<'a>> {
    let lines = head.iter().filter(|&&b| b == b'\n').count();
    alloc::vec![httparse::EMPTY_HEADER; max.min(lines)]
}

/// The error for an httparse failure.
pub(crate) fn parse_error(e: httparse::Error, max_headers: usize) -> HandshakeError {
    HandshakeError::MalformedHttp(match e {
        httparse::Error::TooManyHeaders => {
            return HandshakeError::TooManyHeaders { limit: max_headers };
        }
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status code",
        httparse::Error::Token => "invalid method or request target",
        httparse::Error::Version => "invalid HTTP version",
    })
}

/// Copies httparse's header fields into [`Headers`]. httparse has already checked that names are
/// tokens and that values hold only tabs, visible characters and `obs-text` (the rules of
/// [`Headers::push`]), so they are not checked twice (debug builds assert it).
pub(crate) fn to_headers(raw: &[httparse::Header<'_>]) -> Headers {
    let bytes = raw.iter().map(|h| h.value.len()).sum();
    let mut headers = Headers::with_capacity(raw.len(), bytes);
    for h in raw {
        headers.push_trusted(h.name, trim_ows(h.value));
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(input: &[u8]) -> Option<usize> {
        HeadReader::new(1 << 20).push(input).unwrap()
    }

    #[test]
    fn finds_the_end_of_the_head() {
        assert_eq!(whole(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nrest"), Some(27));
        assert_eq!(whole(b"GET / HTTP/1.1\n\nrest"), Some(16));
        assert_eq!(whole(b"GET / HTTP/1.1\r\n\nrest"), Some(17));
        assert_eq!(whole(b"GET / HTTP/1.1\n\r\nrest"), Some(17));
        // Leading empty lines are not the end.
        assert_eq!(whole(b"\r\n\r\n\nGET / HTTP/1.1\r\n\r\n"), Some(23));
        // CR CR LF is not an empty line.
        assert_eq!(whole(b"GET / HTTP/1.1\r\n\r\r\nx"), None);
        assert_eq!(whole(b"GET / HTTP/1.1\r\nHost: a\r\n"), None);
    }

    #[test]
    fn every_split_finds_the_same_end_and_scans_each_byte_once() {
        let msg = b"\r\nGET /chat HTTP/1.1\r\nHost: a\r\nX: \r\r\n\r\n\x81\x05hello";
        let end = msg.len() - 7;
        for split in 0..=msg.len() {
            let mut r = HeadReader::new(1 << 20);
            let first = r.push(&msg[..split]).unwrap();
            let (total, head) = match first {
                Some(n) => (n, r.head(&msg[..split], n)),
                None => {
                    let n = r.push(&msg[split..]).unwrap().unwrap();
                    (split + n, r.head(&msg[split..], n))
                }
            };
            assert_eq!(total, end, "split at {split}");
            assert_eq!(head, &msg[..end]);
            assert_eq!(r.scanned(), end);
        }
    }

    #[test]
    fn byte_by_byte_is_linear() {
        let mut msg = alloc::vec::Vec::from(&b"GET / HTTP/1.1\r\n"[..]);
        for i in 0..200 {
            msg.extend_from_slice(alloc::format!("X-Header-{i}: value\r\n").as_bytes());
        }
        msg.extend_from_slice(b"\r\n");
        let mut r = HeadReader::new(1 << 20);
        let mut done = None;
        for (i, b) in msg.iter().enumerate() {
            if let Some(n) = r.push(core::slice::from_ref(b)).unwrap() {
                assert_eq!(n, 1);
                done = Some(i + 1);
            }
        }
        assert_eq!(done, Some(msg.len()));
        assert_eq!(r.scanned(), msg.len());
    }

    #[test]
    fn limit_is_enforced_without_buffering_more() {
        let mut r = HeadReader::new(10);
        assert_eq!(r.push(b"GET / HTT").unwrap(), None);
        assert_eq!(
            r.push(b"P/1.1\r\n\r\n"),
            Err(HandshakeError::HeadersTooLarge { limit: 10 })
        );
        assert!(r.buf.len() <= 10);
        // A head of exactly the limit is fine.
        let mut r = HeadReader::new(6);
        assert_eq!(r.push(b"G\r\n\r\nmore bytes").unwrap(), Some(5));
        let mut r = HeadReader::new(5);
        assert_eq!(r.push(b"G\r\n\r\n").unwrap(), Some(5));
        let mut r = HeadReader::new(4);
        assert!(r.push(b"G\r\n\r\n").is_err());
    }
}
