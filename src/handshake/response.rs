//! The handshake response: the [`Response`] type, writing HTTP/1.1 response heads, and the one
//! builder of the error responses a server answers a bad request with
//! ([`HandshakeError::response`], and its `http` form in `http.rs`).

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::error::HandshakeError;
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

/// The error response for a received request that has `error`, as parts: the status, every
/// header field but `Content-Length`, and the body. `None` when the error is not about a
/// received request. The one builder behind [`HandshakeError::response`] and
/// `HandshakeError::to_http_response`.
pub(crate) fn error_response(error: &HandshakeError) -> Option<(u16, Headers, String)> {
    let status = error.status()?;
    let mut headers = Headers::new();
    match error {
        HandshakeError::MethodNotAllowed(_) => headers.push_trusted("Allow", b"GET"),
        HandshakeError::ConnectRequired(_) => headers.push_trusted("Allow", b"CONNECT"),
        HandshakeError::UnsupportedVersion => {
            headers.push_trusted("Upgrade", b"websocket");
            headers.push_trusted("Sec-WebSocket-Version", b"13");
        }
        _ => {}
    }
    let connection: &[u8] = if status == 426 {
        // A 426 names the protocol to upgrade to, so `Connection` must list `Upgrade` too
        // (RFC 9110 §7.8).
        b"Upgrade, close"
    } else {
        b"close"
    };
    headers.push_trusted("Connection", connection);
    headers.push_trusted("Content-Type", b"text/plain; charset=utf-8");
    Some((status, headers, alloc::format!("{error}\n")))
}

impl HandshakeError {
    /// The complete HTTP response a server writes, before closing the transport, when a request
    /// it received has this error; `None` when [`status`](Self::status) is `None`.
    ///
    /// The response carries `Connection: close` and a short plain-text body saying what was
    /// wrong; `405` adds `Allow: GET`, `426` adds `Upgrade: websocket`,
    /// `Sec-WebSocket-Version: 13` and `Connection: Upgrade, close`.
    ///
    /// ```
    /// use wsproto::handshake::{HandshakeError, ServerHandshake};
    ///
    /// let mut server = ServerHandshake::new();
    /// let err = server
    ///     .receive(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    ///                Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n")
    ///     .unwrap_err();
    /// assert_eq!(err, HandshakeError::UnsupportedVersion);
    /// let response = err.response().unwrap();
    /// assert!(response.starts_with(b"HTTP/1.1 426 Upgrade Required\r\n"));
    /// ```
    pub fn response(&self) -> Option<Vec<u8>> {
        let (status, headers, body) = error_response(self)?;
        let mut out = Vec::with_capacity(160 + body.len());
        write_head(&mut out, status, &headers, Some(body.len()));
        out.extend_from_slice(body.as_bytes());
        Some(out)
    }
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
