//! `ws://` and `wss://` URLs (RFC 6455 §3).

use alloc::format;
use alloc::string::{String, ToString};
use core::fmt;
use core::str::FromStr;

use super::error::HandshakeError;

/// A parsed WebSocket URL: `ws[s]://host[:port][/path][?query]` (RFC 6455 §3).
///
/// The scheme decides TLS and the default port (80 for `ws`, 443 for `wss`); the host may be a
/// name, an IPv4 address or a bracketed IPv6 literal; the path and query together are the
/// *resource name* sent in the request line. A fragment (`#…`), user information (`user@`),
/// another scheme, or a character that would need percent-encoding (space, control, non-ASCII)
/// is an error.
///
/// ```
/// use wsproto::handshake::WsUrl;
///
/// let url = WsUrl::parse("wss://[::1]:9001/chat?room=1")?;
/// assert!(url.is_secure());
/// assert_eq!(url.host(), "::1"); // ready for `TcpStream::connect((url.host(), url.port()))`
/// assert_eq!(url.port(), 9001);
/// assert_eq!(url.resource(), "/chat?room=1");
/// assert_eq!(url.host_header(), "[::1]:9001");
///
/// let url = WsUrl::parse("ws://example.com")?;
/// assert_eq!((url.port(), url.resource(), url.host_header().as_str()), (80, "/", "example.com"));
///
/// assert!(WsUrl::parse("http://example.com/").is_err());
/// assert!(WsUrl::parse("ws://example.com/#top").is_err());
/// # Ok::<(), wsproto::handshake::HandshakeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WsUrl {
    secure: bool,
    host: String,
    ipv6: bool,
    port: u16,
    resource: String,
}

impl WsUrl {
    /// Parses a `ws://` or `wss://` URL.
    pub fn parse(url: &str) -> Result<WsUrl, HandshakeError> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or(HandshakeError::InvalidUrl("expected ws:// or wss://"))?;
        let secure = if scheme.eq_ignore_ascii_case("ws") {
            false
        } else if scheme.eq_ignore_ascii_case("wss") {
            true
        } else {
            return Err(HandshakeError::InvalidUrl(
                "the scheme must be ws or wss (RFC 6455 §3)",
            ));
        };
        if rest.contains('#') {
            return Err(HandshakeError::InvalidUrl(
                "a WebSocket URL may not have a fragment (RFC 6455 §3)",
            ));
        }
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (host, ipv6, port) = parse_authority(authority)?;
        let default = if secure { 443 } else { 80 };
        let resource = match tail.as_bytes().first() {
            None => "/".to_string(),
            Some(b'?') => format!("/{tail}"),
            Some(_) => tail.to_string(),
        };
        check_resource(&resource)?;
        Ok(WsUrl {
            secure,
            host: host.to_string(),
            ipv6,
            port: port.unwrap_or(default),
            resource,
        })
    }

    /// Whether the scheme is `wss` (the connection runs over TLS).
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The host to connect to: a name, an IPv4 address, or an IPv6 address without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port: the one given, or 80 for `ws` and 443 for `wss`.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The resource name for the request line: the path (at least `/`) and query.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The `Host` header value: the host (IPv6 in brackets) and the port unless it is the
    /// scheme's default (RFC 6455 §4.1 item 4).
    pub fn host_header(&self) -> String {
        let default = if self.secure { 443 } else { 80 };
        let host = if self.ipv6 {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

impl FromStr for WsUrl {
    type Err = HandshakeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        WsUrl::parse(s)
    }
}

impl fmt::Display for WsUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.secure { "wss" } else { "ws" };
        write!(f, "{scheme}://{}{}", self.host_header(), self.resource)
    }
}

/// Characters allowed in a registered name or IPv4 address: unreserved, sub-delims and `%`
/// (RFC 3986 §3.2.2).
fn is_reg_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(&b)
}

/// Splits `host[:port]` (the host possibly a bracketed IPv6 literal). Returns the host without
/// brackets, whether it is IPv6, and the port if one was given.
pub(crate) fn parse_authority(
    authority: &str,
) -> Result<(&str, bool, Option<u16>), HandshakeError> {
    if authority.contains('@') {
        return Err(HandshakeError::InvalidUrl(
            "user information (user@host) is not supported in a WebSocket URL",
        ));
    }
    let (host, ipv6, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (literal, after) = rest
            .split_once(']')
            .ok_or(HandshakeError::InvalidUrl("unclosed '[' in the host"))?;
        if literal.parse::<core::net::Ipv6Addr>().is_err() {
            return Err(HandshakeError::InvalidUrl(
                "the bracketed host is not an IPv6 address",
            ));
        }
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or(HandshakeError::InvalidUrl(
                "expected ':' and a port after the IPv6 address",
            ))?),
        };
        (literal, true, port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        if host.is_empty() {
            return Err(HandshakeError::InvalidUrl("the host is empty"));
        }
        if !host.bytes().all(is_reg_name_char) {
            return Err(HandshakeError::InvalidUrl(
                "the host contains a character that is not allowed",
            ));
        }
        (host, false, port)
    };
    let port = match port {
        // An empty port means the default (RFC 3986 §3.2.3).
        None | Some("") => None,
        Some(p) => {
            if !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(HandshakeError::InvalidUrl("the port is not a number"));
            }
            match p.parse::<u16>() {
                Ok(0) | Err(_) => {
                    return Err(HandshakeError::InvalidUrl(
                        "the port is not in the range 1-65535",
                    ));
                }
                Ok(n) => Some(n),
            }
        }
    };
    Ok((host, ipv6, port))
}

/// A resource name must start with `/` and hold only visible ASCII (anything else must be
/// percent-encoded), and no fragment.
pub(crate) fn check_resource(resource: &str) -> Result<(), HandshakeError> {
    if !resource.starts_with('/') {
        return Err(HandshakeError::InvalidUrl(
            "the resource must start with '/'",
        ));
    }
    if resource.contains('#') {
        return Err(HandshakeError::InvalidUrl(
            "a WebSocket URL may not have a fragment (RFC 6455 §3)",
        ));
    }
    if !resource.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(HandshakeError::InvalidUrl(
            "the path or query holds a space, control or non-ASCII character (percent-encode it)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(url: &str) -> (bool, String, u16, String, String) {
        let u = WsUrl::parse(url).unwrap();
        (
            u.is_secure(),
            u.host().into(),
            u.port(),
            u.resource().into(),
            u.host_header(),
        )
    }

    #[test]
    fn parses_hosts_ports_and_resources() {
        assert_eq!(
            parts("ws://example.com/chat"),
            (
                false,
                "example.com".into(),
                80,
                "/chat".into(),
                "example.com".into()
            )
        );
        assert_eq!(
            parts("WSS://Example.com"),
            (
                true,
                "Example.com".into(),
                443,
                "/".into(),
                "Example.com".into()
            )
        );
        assert_eq!(
            parts("ws://127.0.0.1:9001?x=1&y=%20"),
            (
                false,
                "127.0.0.1".into(),
                9001,
                "/?x=1&y=%20".into(),
                "127.0.0.1:9001".into()
            )
        );
        assert_eq!(
            parts("ws://[::1]:9001/a/b?c"),
            (
                false,
                "::1".into(),
                9001,
                "/a/b?c".into(),
                "[::1]:9001".into()
            )
        );
        assert_eq!(
            parts("wss://[2001:db8::7]/"),
            (
                true,
                "2001:db8::7".into(),
                443,
                "/".into(),
                "[2001:db8::7]".into()
            )
        );
        // Explicit default port and empty port.
        assert_eq!(parts("ws://h:80/").4, "h");
        assert_eq!(parts("wss://h:/").2, 443);
        assert_eq!(parts("ws://h:443/").4, "h:443");
    }

    #[test]
    fn display_round_trips() {
        for url in [
            "ws://example.com/chat?x",
            "wss://[::1]:9001/",
            "ws://h:8080/a",
        ] {
            assert_eq!(WsUrl::parse(url).unwrap().to_string(), url);
            assert_eq!(url.parse::<WsUrl>().unwrap().to_string(), url);
        }
    }

    #[test]
    fn rejects_bad_urls() {
        for bad in [
            "http://example.com/",
            "https://example.com/",
            "example.com/chat",
            "ws:/example.com",
            "ws://example.com/chat#frag",
            "ws://example.com#",
            "ws://",
            "ws:///path",
            "ws://:80/",
            "ws://user:pw@example.com/",
            "ws://exa mple.com/",
            "ws://example.com/a b",
            "ws://example.com/é",
            "ws://example.com/\r\nX: y",
            "ws://example.com:0/",
            "ws://example.com:65536/",
            "ws://example.com:-1/",
            "ws://example.com:8o/",
            "ws://[::1/",
            "ws://[::1]x/",
            "ws://[nothex]/",
            "ws://[]/",
            "ws://::1/",
            "ws://a:1:2/",
        ] {
            assert!(WsUrl::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
