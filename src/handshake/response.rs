//! The handshake response: the [`Response`] type and writing HTTP/1.1 response heads.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::headers::{Extension, Headers};

/// A handshake response: what a client received, or what a server is about to send.
///
/// For a `101 Switching Protocols` the negotiated [`subprotocol`](Self::subprotocol) and
/// [`extensions`](Self::extensions) are parsed out of the headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub(crate) status: u16,
    pub(crate) reason: String,
    pub(crate) headers: Headers,
    pub(crate) subprotocol: Option<String>,
    pub(crate) extensions: Vec<Extension>,
}

impl Response {
    /// The status code (101 for an accepted handshake).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The reason phrase (`Switching Protocols`); informative only, may be empty.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// All header fields, in order, including the ones the handshake itself uses.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The subprotocol the server selected (`Sec-WebSocket-Protocol`), if any.
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }

    /// The extensions the server accepted (`Sec-WebSocket-Extensions`), with their parameters,
    /// in the order they apply.
    pub fn extensions(&self) -> &[Extension] {
        &self.extensions
    }

    /// The response head as bytes, ready to write (status line, header fields, empty line).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        write_status_and_headers(&mut out, self.status, &self.reason, &self.headers);
        out.extend_from_slice(b"\r\n");
        out
    }
}

/// The reason phrase RFC 9110 gives a status code (empty for unknown ones, which is allowed).
pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        413 => "Content Too Large",
        414 => "URI Too Long",
        421 => "Misdirected Request",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

fn write_status_and_headers(out: &mut Vec<u8>, status: u16, reason: &str, headers: &Headers) {
    out.extend_from_slice(b"HTTP/1.1 ");
    // Status codes here are always three digits (100-999).
    let digits = [
        b'0' + (status / 100 % 10) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
    ];
    out.extend_from_slice(&digits);
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
    for h in headers {
        write_header(out, h.name(), h.value());
    }
}

pub(crate) fn write_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Writes a response head with the standard reason phrase, `headers`, and a `Content-Length`
/// when a body length is given.
pub(crate) fn write_head(
    out: &mut Vec<u8>,
    status: u16,
    headers: &Headers,
    content_length: Option<usize>,
) {
    write_status_and_headers(out, status, reason_phrase(status), headers);
    if let Some(len) = content_length {
        write_header(out, "Content-Length", len.to_string().as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_heads() {
        let mut h = Headers::new();
        h.push("X-A", "1").unwrap();
        let mut out = Vec::new();
        write_head(&mut out, 404, &h, Some(1234567));
        assert_eq!(
            out,
            b"HTTP/1.1 404 Not Found\r\nX-A: 1\r\nContent-Length: 1234567\r\n\r\n"
        );
        let mut out = Vec::new();
        write_head(&mut out, 599, &Headers::new(), Some(0));
        assert_eq!(out, b"HTTP/1.1 599 \r\nContent-Length: 0\r\n\r\n");
    }
}
