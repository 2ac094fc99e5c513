//! `Sec-WebSocket-Key` nonces and the `Sec-WebSocket-Accept` value derived from them (RFC 6455
//! §1.3, §4.1, §4.2.2).

use alloc::string::String;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::random::RandomSource;

/// The GUID every server appends to the client's key before hashing (RFC 6455 §1.3).
pub const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key` value: base64 of the SHA-1 of the
/// key (as sent, without surrounding whitespace) followed by [`WEBSOCKET_GUID`].
///
/// ```
/// use wsproto::handshake::accept_key;
/// assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &[u8]) -> String {
    let mut sha1 = sha1_smol::Sha1::new();
    sha1.update(key);
    sha1.update(WEBSOCKET_GUID.as_bytes());
    STANDARD.encode(sha1.digest().bytes())
}

/// A fresh `Sec-WebSocket-Key`: 16 bytes from `rng`, base64-encoded (24 characters).
pub(crate) fn generate_key(rng: &mut dyn RandomSource) -> String {
    let mut nonce = [0u8; 16];
    rng.fill(&mut nonce);
    STANDARD.encode(nonce)
}

/// Whether a received `Sec-WebSocket-Key` is base64 (canonical, padded) of exactly 16 bytes
/// (§4.2.1 item 5).
pub(crate) fn is_valid_key(key: &[u8]) -> bool {
    // 16 bytes encode to 24 characters; anything else cannot be right, so there is no need to
    // decode (or allocate for) a long value.
    if key.len() != 24 {
        return false;
    }
    let mut out = [0u8; 18];
    matches!(STANDARD.decode_slice(key, &mut out), Ok(16))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6455_example() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn generated_keys_are_valid_and_use_the_source() {
        let mut n = 0u8;
        let mut rng = |d: &mut [u8]| {
            for b in d {
                *b = n;
                n = n.wrapping_add(1);
            }
        };
        let key = generate_key(&mut rng);
        assert_eq!(key, "AAECAwQFBgcICQoLDA0ODw==");
        assert!(is_valid_key(key.as_bytes()));
        let next = generate_key(&mut rng);
        assert_ne!(key, next);
    }

    #[test]
    fn key_validation() {
        assert!(is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        // 15 and 17 bytes.
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ"));
        assert!(!is_valid_key(b"AAAAAAAAAAAAAAAAAAAA"));
        assert!(!is_valid_key(b"AAAAAAAAAAAAAAAAAAAAAAA="));
        assert!(!is_valid_key(b"AAAAAAAAAAAAAAAAAAAAAAAA"));
        // Not base64, or non-canonical trailing bits.
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZ!=="));
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZR=="));
        assert!(!is_valid_key(b""));
    }
}
