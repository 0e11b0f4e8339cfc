//! The chat transport (90-chat-transport): device keys, rooms, the hand-over of chat keys and
//! messages. The server only ever handles public keys, opaque blobs and ciphertext.

pub mod deletion;
pub mod effects;
pub mod handover;
pub mod join;
pub mod keys;
pub mod messages;
pub mod rooms;
pub mod settings;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

/// Padding optional; bits beyond the last whole byte are ignored, as most decoders do, since the
/// canonical form is what the server stores and hands out.
const PADDING_OPTIONAL: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, PADDING_OPTIONAL);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, PADDING_OPTIONAL);

/// Decodes base64 as §1.4 reads it: the standard or the URL-safe alphabet, with or without
/// padding, no white space, and never the two alphabets mixed in one string.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let url_safe = text.contains(['-', '_']);
    if url_safe && text.contains(['+', '/']) {
        return None;
    }
    let engine = if url_safe { &URL_SAFE } else { &STANDARD };
    engine.decode(text).ok()
}

/// The canonical form of a public key (§1.4): the standard alphabet with padding, 44 characters.
pub fn canonical_key(bytes: &[u8; 32]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::decode_base64;

    #[test]
    fn both_alphabets_with_or_without_padding_but_never_mixed() {
        assert_eq!(decode_base64("+/8=").unwrap(), [0xfb, 0xff]);
        assert_eq!(decode_base64("+/8").unwrap(), [0xfb, 0xff]);
        assert_eq!(decode_base64("-_8").unwrap(), [0xfb, 0xff]);
        assert_eq!(decode_base64("-_8=").unwrap(), [0xfb, 0xff]);
        assert!(decode_base64("+_8=").is_none());
        assert!(decode_base64("+/8 ").is_none());
        assert!(decode_base64("+/8=\n").is_none());
    }
}
