//! Header fields and the grammar of the handshake's header values: tokens, comma-separated lists
//! (RFC 9110 §5.6.1) and `Sec-WebSocket-Extensions` (RFC 6455 §9.1, RFC 7692 §5).

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use super::error::HandshakeError;

/// One header field, borrowed from [`Headers`]: a name (case preserved; compared without regard
/// to ASCII case) and a raw value (bytes, since HTTP allows non-ASCII `obs-text` in values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header<'a> {
    name: &'a str,
    value: &'a [u8],
}

impl<'a> Header<'a> {
    /// The field name as it was written.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The raw field value, without the surrounding whitespace.
    pub fn value(&self) -> &'a [u8] {
        self.value
    }

    /// The field value as text, if it is valid UTF-8.
    pub fn value_str(&self) -> Option<&'a str> {
        core::str::from_utf8(self.value).ok()
    }
}

/// Where one field's name and value are in a [`Headers`]' buffers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Field {
    name: Range<usize>,
    value: Range<usize>,
}

/// An ordered list of header fields. Every name is an HTTP token and no value holds a line break
/// or another control character, so a `Headers` can always be written out safely.
///
/// All names share one buffer and all values another: a parsed request costs three allocations,
/// however many fields it has.
///
/// ```
/// use wsproto::handshake::Headers;
///
/// let mut headers = Headers::new();
/// headers.push("Set-Cookie", "session=abc; HttpOnly")?;
/// assert_eq!(headers.get_str("set-cookie"), Some("session=abc; HttpOnly"));
/// assert!(headers.push("Bad Name", "x").is_err());
/// assert!(headers.push("X-Injected", "a\r\nEvil: 1").is_err());
/// # Ok::<(), wsproto::handshake::HandshakeError>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Headers {
    names: String,
    values: Vec<u8>,
    fields: Vec<Field>,
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.iter()
                    .map(|h| (h.name, alloc::string::String::from_utf8_lossy(h.value))),
            )
            .finish()
    }
}

impl Headers {
    /// Checks the upgrade pair of both handshake messages (RFC 6455 §4.1, §4.2.1): `Upgrade`
    /// includes `websocket` and `Connection` includes `upgrade` (case-insensitive token lists).
    pub(crate) fn check_upgrade(&self) -> Result<(), HandshakeError> {
        for (name, token, reason) in [
            ("Upgrade", "websocket", "does not include websocket"),
            ("Connection", "upgrade", "does not include upgrade"),
        ] {
            if !self.contains(name) {
                return Err(HandshakeError::MissingHeader(name));
            }
            if !self.has_token(name, token) {
                return Err(HandshakeError::InvalidHeader { name, reason });
            }
        }
        Ok(())
    }

    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Room for `fields` fields of `bytes` bytes in all.
    pub(crate) fn with_capacity(fields: usize, bytes: usize) -> Self {
        Headers {
            names: String::with_capacity(fields * 16),
            values: Vec::with_capacity(bytes),
            fields: Vec::with_capacity(fields),
        }
    }

    /// Appends a field after checking that `name` is a token and `value` has no control
    /// characters (horizontal tab excepted). Leading and trailing whitespace of `value` is
    /// dropped.
    pub fn push(&mut self, name: &str, value: impl AsRef<[u8]>) -> Result<(), HandshakeError> {
        if !is_token(name) {
            return Err(HandshakeError::InvalidHeaderName(name.to_string()));
        }
        let value = value.as_ref();
        if !is_valid_value(value) {
            return Err(HandshakeError::InvalidHeaderValue(name.to_string()));
        }
        self.push_trusted(name, trim_ows(value));
        Ok(())
    }

    /// Appends a field already known to be valid (a constant, or checked by the caller).
    pub(crate) fn push_trusted(&mut self, name: &str, value: &[u8]) {
        debug_assert!(is_token(name) && is_valid_value(value));
        let n = self.names.len();
        self.names.push_str(name);
        let v = self.values.len();
        self.values.extend_from_slice(value);
        self.fields.push(Field {
            name: n..self.names.len(),
            value: v..self.values.len(),
        });
    }

    fn view(&self, field: &Field) -> Header<'_> {
        Header {
            name: &self.names[field.name.clone()],
            value: &self.values[field.value.clone()],
        }
    }

    /// The value of the first field called `name` (ASCII case-insensitive).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.get_all(name).next()
    }

    /// The value of the first field called `name`, if it is valid UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| core::str::from_utf8(v).ok())
    }

    /// The values of every field called `name`, in order.
    pub fn get_all<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// Whether a field called `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// How many fields there are.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// All fields, in order.
    pub fn iter(&self) -> HeadersIter<'_> {
        HeadersIter {
            headers: self,
            fields: self.fields.iter(),
        }
    }

    /// Appends every field of `other`.
    pub(crate) fn extend_from(&mut self, other: &Headers) {
        for h in other {
            self.push_trusted(h.name, h.value);
        }
    }

    /// The one value of a field that may appear at most once: `Ok(None)` when absent, an error
    /// when repeated.
    pub(crate) fn single(&self, name: &'static str) -> Result<Option<&[u8]>, HandshakeError> {
        let mut values = self.get_all(name);
        let first = values.next();
        if values.next().is_some() {
            return Err(HandshakeError::DuplicateHeader(name));
        }
        Ok(first)
    }

    /// Whether any field called `name` lists `token` in its comma-separated value (ASCII
    /// case-insensitive), as `Connection: keep-alive, Upgrade` lists `upgrade`.
    pub(crate) fn has_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name)
            .flat_map(list_items)
            .any(|item| item.eq_ignore_ascii_case(token.as_bytes()))
    }
}

/// The fields of a [`Headers`], in order.
#[derive(Debug, Clone)]
pub struct HeadersIter<'a> {
    headers: &'a Headers,
    fields: core::slice::Iter<'a, Field>,
}

impl<'a> Iterator for HeadersIter<'a> {
    type Item = Header<'a>;
    fn next(&mut self) -> Option<Header<'a>> {
        self.fields.next().map(|f| self.headers.view(f))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.fields.size_hint()
    }
}

impl DoubleEndedIterator for HeadersIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.fields.next_back().map(|f| self.headers.view(f))
    }
}

impl ExactSizeIterator for HeadersIter<'_> {}

impl<'a> IntoIterator for &'a Headers {
    type Item = Header<'a>;
    type IntoIter = HeadersIter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// `tchar` of RFC 9110 §5.6.2.
pub(crate) fn is_tchar(b: u8) -> bool {
    TCHAR[b as usize]
}

const TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        i += 1;
    }
    table
};

/// Whether `s` is a non-empty HTTP token.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// A field value may hold visible characters, spaces, tabs and `obs-text`, nothing else.
pub(crate) fn is_valid_value(value: &[u8]) -> bool {
    value
        .iter()
        .all(|&b| b == b'\t' || (b >= b' ' && b != 0x7f))
}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// `value` without leading and trailing spaces and tabs.
pub(crate) fn trim_ows(value: &[u8]) -> &[u8] {
    let start = value
        .iter()
        .position(|&b| !is_ows(b))
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|&b| !is_ows(b))
        .map_or(start, |i| i + 1);
    &value[start..end]
}

/// The non-empty, trimmed elements of a comma-separated list (RFC 9110 §5.6.1: empty elements
/// are ignored).
pub(crate) fn list_items(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|item| !item.is_empty())
}

/// Every element of the comma-separated lists in all `name` fields, each required to be a token
/// (as `Sec-WebSocket-Protocol` requires, RFC 6455 §4.1).
pub(crate) fn token_list(
    headers: &Headers,
    name: &'static str,
) -> Result<Vec<String>, HandshakeError> {
    let mut out = Vec::new();
    for item in headers.get_all(name).flat_map(list_items) {
        match core::str::from_utf8(item) {
            Ok(s) if is_token(s) => out.push(s.to_string()),
            _ => {
                return Err(HandshakeError::InvalidHeader {
                    name,
                    reason: "list element is not a token",
                });
            }
        }
    }
    Ok(out)
}

/// One extension from a `Sec-WebSocket-Extensions` list: its name and parameters, as offered by
/// a client or answered by a server (RFC 6455 §9.1).
///
/// ```
/// use wsproto::handshake::Extension;
///
/// let offers = Extension::parse_list(
///     "permessage-deflate; client_max_window_bits, permessage-deflate; server_max_window_bits=\"10\"",
/// )?;
/// assert_eq!(offers.len(), 2);
/// assert_eq!(offers[0].name, "permessage-deflate");
/// assert_eq!(offers[0].param("client_max_window_bits"), Some(None));
/// // A quoted value is unquoted.
/// assert_eq!(offers[1].param("server_max_window_bits"), Some(Some("10")));
/// assert_eq!(offers[1].to_string(), "permessage-deflate; server_max_window_bits=10");
/// # Ok::<(), wsproto::handshake::HandshakeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Extension {
    /// The extension's registered token, such as `permessage-deflate`.
    pub name: String,
    /// Its parameters, in order.
    pub params: Vec<ExtensionParam>,
}

/// A parameter of an [`Extension`]: `name` or `name=value`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExtensionParam {
    /// The parameter's name (a token).
    pub name: String,
    /// Its value, unquoted (always a token), or `None` for a parameter without one.
    pub value: Option<String>,
}

impl Extension {
    /// Parses a `Sec-WebSocket-Extensions` value: a comma-separated list of extensions, each
    /// with `;`-separated parameters whose values are tokens or quoted strings that unquote to
    /// tokens. Empty list elements are ignored.
    pub fn parse_list(value: &str) -> Result<Vec<Extension>, HandshakeError> {
        let mut out = Vec::new();
        parse_extensions(value.as_bytes(), &mut out).map_err(HandshakeError::InvalidExtensions)?;
        Ok(out)
    }

    /// The parameter called `name`: `None` if absent, `Some(None)` if present without a
    /// value, `Some(Some(value))` otherwise. Parameter names compare ASCII case-insensitively.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value.as_deref())
    }
}

impl fmt::Display for Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for p in &self.params {
            write!(f, "; {}", p.name)?;
            if let Some(v) = &p.value {
                write!(f, "={v}")?;
            }
        }
        Ok(())
    }
}

/// Parses every `Sec-WebSocket-Extensions` field of `headers` into one list; a malformed value
/// is reported as an invalid `Sec-WebSocket-Extensions` header.
pub(crate) fn extensions_in(headers: &Headers) -> Result<Vec<Extension>, HandshakeError> {
    let mut out = Vec::new();
    for value in headers.get_all("Sec-WebSocket-Extensions") {
        parse_extensions(value, &mut out).map_err(|reason| HandshakeError::InvalidHeader {
            name: "Sec-WebSocket-Extensions",
            reason,
        })?;
    }
    Ok(out)
}

/// Checks the extensions a `101` response accepts (RFC 6455 §9.1): each one was offered
/// (`offered` says whether a name was, ASCII case-insensitive) and none is listed twice. Both
/// roles use it: a client on the response it received, a server on the response it is about to
/// send.
pub(crate) fn check_accepted_extensions(
    extensions: &[Extension],
    offered: impl Fn(&str) -> bool,
) -> Result<(), HandshakeError> {
    for (i, e) in extensions.iter().enumerate() {
        if !offered(&e.name) {
            return Err(HandshakeError::ExtensionNotOffered(e.name.clone()));
        }
        if extensions[..i]
            .iter()
            .any(|d| d.name.eq_ignore_ascii_case(&e.name))
        {
            return Err(HandshakeError::InvalidExtensions(
                "the same extension is listed twice",
            ));
        }
    }
    Ok(())
}

/// A cursor over a header value.
struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_ows(&mut self) {
        while self.peek().is_some_and(is_ows) {
            self.pos += 1;
        }
    }

    fn token(&mut self, what: &'static str) -> Result<String, &'static str> {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(what);
        }
        // Token characters are ASCII, hence UTF-8.
        core::str::from_utf8(&self.s[start..self.pos])
            .map(String::from)
            .map_err(|_| what)
    }

    /// A quoted-string (RFC 9110 §5.6.4), unescaped; the opening quote is next.
    fn quoted(&mut self) -> Result<String, &'static str> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err("unterminated quoted string"),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b) if b == b'\t' || (b' '..0x7f).contains(&b) => {
                            out.push(b as char);
                            self.pos += 1;
                        }
                        _ => return Err("invalid escape in quoted string"),
                    }
                }
                Some(b) if b == b'\t' || (b' '..0x7f).contains(&b) => {
                    out.push(b as char);
                    self.pos += 1;
                }
                Some(_) => return Err("invalid character in quoted string"),
            }
        }
    }
}

/// The extension-list grammar of RFC 6455 §9.1, with optional whitespace around separators.
fn parse_extensions(value: &[u8], out: &mut Vec<Extension>) -> Result<(), &'static str> {
    let mut c = Cursor { s: value, pos: 0 };
    loop {
        c.skip_ows();
        match c.peek() {
            None => return Ok(()),
            Some(b',') => {
                c.pos += 1;
                continue;
            }
            Some(_) => {}
        }
        let name = c.token("expected an extension name")?;
        let mut params = Vec::new();
        loop {
            c.skip_ows();
            match c.peek() {
                None | Some(b',') => break,
                Some(b';') => c.pos += 1,
                Some(_) => return Err("expected ';' or ',' after an extension or parameter"),
            }
            c.skip_ows();
            let pname = c.token("expected a parameter name")?;
            c.skip_ows();
            let value = if c.peek() == Some(b'=') {
                c.pos += 1;
                c.skip_ows();
                let v = if c.peek() == Some(b'"') {
                    let v = c.quoted()?;
                    if !is_token(&v) {
                        return Err("quoted parameter value is not a token");
                    }
                    v
                } else {
                    c.token("expected a parameter value")?
                };
                Some(v)
            } else {
                None
            };
            params.push(ExtensionParam { name: pname, value });
        }
        out.push(Extension { name, params });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn param(name: &str, value: Option<&str>) -> ExtensionParam {
        ExtensionParam {
            name: name.into(),
            value: value.map(Into::into),
        }
    }

    #[test]
    fn parses_extension_lists() {
        let list = Extension::parse_list(
            " permessage-deflate ;client_max_window_bits; server_max_window_bits = 10 ,, x-foo ,",
        )
        .unwrap();
        assert_eq!(
            list,
            vec![
                Extension {
                    name: "permessage-deflate".into(),
                    params: vec![
                        param("client_max_window_bits", None),
                        param("server_max_window_bits", Some("10")),
                    ],
                },
                Extension {
                    name: "x-foo".into(),
                    params: vec![],
                },
            ]
        );
        assert_eq!(Extension::parse_list("").unwrap(), vec![]);
        assert_eq!(Extension::parse_list(" , ").unwrap(), vec![]);
    }

    #[test]
    fn quoted_values_unescape_and_must_be_tokens() {
        let list = Extension::parse_list(r#"e; a="1"; b="x\yz""#).unwrap();
        assert_eq!(
            list[0].params,
            vec![param("a", Some("1")), param("b", Some("xyz"))]
        );
        for bad in [
            r#"e; a="1 2""#,
            r#"e; a="""#,
            r#"e; a="1"#,
            r#"e; a="a,b""#,
            "e; a=\"\\\u{1}\"",
        ] {
            assert!(Extension::parse_list(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rejects_malformed_extension_lists() {
        for bad in [
            "; a", "e;", "e; =1", "e; a=", "e a", "e; a b", "e; a=1 2", "é", "e; a=é", "e;;a",
        ] {
            assert!(Extension::parse_list(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn extension_display_round_trips() {
        let s = "permessage-deflate; client_max_window_bits; server_max_window_bits=10";
        let list = Extension::parse_list(s).unwrap();
        assert_eq!(list[0].to_string(), s);
        assert_eq!(list[0].param("SERVER_MAX_WINDOW_BITS"), Some(Some("10")));
        assert_eq!(list[0].param("nope"), None);
    }

    #[test]
    fn token_lists_ignore_empty_elements_and_case() {
        let mut h = Headers::new();
        h.push("Connection", "keep-alive, ,Upgrade").unwrap();
        h.push("connection", "").unwrap();
        assert!(h.has_token("CONNECTION", "upgrade"));
        assert!(!h.has_token("Connection", "close"));
        let mut p = Headers::new();
        p.push("Sec-WebSocket-Protocol", "chat, , superchat")
            .unwrap();
        p.push("Sec-WebSocket-Protocol", "v2").unwrap();
        assert_eq!(
            token_list(&p, "Sec-WebSocket-Protocol").unwrap(),
            vec!["chat", "superchat", "v2"]
        );
        p.push("Sec-WebSocket-Protocol", "a b").unwrap();
        assert!(token_list(&p, "Sec-WebSocket-Protocol").is_err());
    }

    #[test]
    fn header_validation() {
        let mut h = Headers::new();
        assert!(h.push("", "x").is_err());
        assert!(h.push("a:b", "x").is_err());
        assert!(h.push("a", "x\ny").is_err());
        assert!(h.push("a", "x\0y").is_err());
        assert!(h.push("a", "x\u{7f}").is_err());
        h.push("a", " \tx\ty \t").unwrap();
        assert_eq!(h.get("A"), Some(&b"x\ty"[..]));
        h.push("b", [0xffu8, b'x']).unwrap();
        assert_eq!(h.get_str("b"), None);
        assert_eq!(h.iter().nth(1).unwrap().value_str(), None);
        assert_eq!(h.len(), 2);
        assert!(h.single("a").unwrap().is_some());
        h.push("A", "again").unwrap();
        assert_eq!(h.single("a"), Err(HandshakeError::DuplicateHeader("a")));
    }
}
