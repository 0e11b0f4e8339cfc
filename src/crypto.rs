//! Secrets: session tokens, bot keys, login codes, and the hashes that are all the database keeps.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::distributions::{Alphanumeric, DistString};
use rand::rngs::OsRng;
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};

/// Lower-case hex SHA-256 of a secret.
pub fn sha256_hex(secret: &str) -> String {
    lower_hex(&Sha256::digest(secret.as_bytes()))
}

/// A byte at a time from a table: every authenticated request hashes its credential, and a hex
/// encoder that collects a `char` at a time cost that request more than the hash itself.
fn lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let text: Vec<u8> = bytes
        .iter()
        .flat_map(|byte| [DIGITS[usize::from(byte >> 4)], DIGITS[usize::from(byte & 0x0f)]])
        .collect();
    String::from_utf8(text).unwrap_or_default()
}

/// 32 random bytes, base64url without padding: 43 characters.
pub fn new_session_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn is_session_token_form(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub fn token_suffix(token: &str) -> &str {
    &token[token.len() - 6..]
}

/// `hbot_` + 40 alphanumerics.
pub fn new_bot_key() -> String {
    format!("hbot_{}", Alphanumeric.sample_string(&mut OsRng, 40))
}

pub fn is_bot_key_form(value: &str) -> bool {
    value.len() == 45 && value.starts_with("hbot_") && value[5..].bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A public API key made by the command-line tool (never starts with `hbot_`).
pub fn new_public_key() -> String {
    format!("pk_{}", Alphanumeric.sample_string(&mut OsRng, 40))
}

/// 8 characters of `[A-Za-z0-9]`, each drawn uniformly.
pub fn new_login_code() -> String {
    Alphanumeric.sample_string(&mut OsRng, 8)
}

/// A match token (91-matchmaking §4.2): 32 characters of `[A-Za-z0-9]`, each drawn uniformly.
pub fn new_match_token() -> String {
    Alphanumeric.sample_string(&mut OsRng, 32)
}

/// A chat invite code: 16 characters, each drawn uniformly from `[a-z0-9]`.
pub fn new_invite_code() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..16)
        .map(|_| ALPHABET[OsRng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

pub fn is_invite_code_form(value: &str) -> bool {
    value.len() == 16 && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// `user_` + 8 lower-case hex digits.
pub fn new_default_username() -> String {
    let mut bytes = [0u8; 4];
    OsRng.fill_bytes(&mut bytes);
    format!("user_{}", lower_hex(&bytes))
}

pub fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_have_their_forms() {
        let token = new_session_token();
        assert!(is_session_token_form(&token));
        assert!(is_bot_key_form(&new_bot_key()));
        let code = new_login_code();
        assert_eq!(code.len(), 8);
        assert!(code.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(new_default_username().starts_with("user_"));
        assert!(is_invite_code_form(&new_invite_code()));
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
