//! The hello proof: how a client checks that the server at a remembered address is the engine that owns the token
//! before sending it. After a crash `api.json` still names the old port, and whoever binds it next would receive the
//! bearer token; so the client first sends a random nonce to the public `GET /api/v1/hello`, and only the owner of
//! the token can answer HMAC-SHA256(token, "crane-hello-v1" · port · nonce). The port the server listens on is part
//! of the message, so a squatter cannot relay the question to the real engine listening elsewhere.
//!
//! A client holding a user token (`crane_<id>_<secret>`) names the token's id, and the key is the SHA-256 (hex) of
//! its token ([`user_token_key`]): the engine stores exactly that, and a squatter knows neither.
//!
//! **Architecture Invariant:** the proof never reveals the token, and clients compare it in constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Shortest nonce accepted (hex characters): 128 random bits.
pub const MIN_NONCE_LEN: usize = 32;
/// Longest nonce accepted (hex characters).
pub const MAX_NONCE_LEN: usize = 128;

fn mac(token: &str, port: u16, nonce: &str) -> Hmac<Sha256> {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(token.as_bytes()).expect("HMAC accepts any key length");
    mac.update(format!("crane-hello-v1\n{port}\n{nonce}").as_bytes());
    mac
}

/// The hello key of a user token: its SHA-256, lowercase hex (what the engine stores).
pub fn user_token_key(token: &str) -> String {
    crane_engine::access::token_hash(token)
}

/// Whether a token id is well formed (lowercase hex of the length ids have), before anything looks it up.
pub fn token_id_ok(id: &str) -> bool {
    id.len() == crane_engine::access::TOKEN_ID_LEN && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether a nonce is hex of an accepted length.
pub fn nonce_ok(nonce: &str) -> bool {
    (MIN_NONCE_LEN..=MAX_NONCE_LEN).contains(&nonce.len()) && nonce.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A fresh random nonce (32 bytes, hex).
pub fn new_nonce() -> String {
    let bytes: [u8; 32] = rand::random();
    hex(&bytes)
}

/// The proof a server listening on `port` with `token` gives for `nonce` (hex).
pub fn proof(token: &str, port: u16, nonce: &str) -> String {
    hex(&mac(token, port, nonce).finalize().into_bytes())
}

/// Whether `answer` is the proof for `nonce` from a server on `port` holding `token`; compared in constant time.
pub fn verify(token: &str, port: u16, nonce: &str, answer: &str) -> bool {
    let Some(bytes) = unhex(answer.trim()) else {
        return false;
    };
    mac(token, port, nonce).verify_slice(&bytes).is_ok()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    // An HMAC-SHA256 is 32 bytes: 64 hex characters, nothing else.
    if text.len() != 64 {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proof_verifies_only_for_the_same_token_port_and_nonce() {
        let token = "a".repeat(64);
        let nonce = new_nonce();
        assert!(nonce_ok(&nonce));
        let answer = proof(&token, 8080, &nonce);
        assert!(verify(&token, 8080, &nonce, &answer));
        assert!(!verify(&"b".repeat(64), 8080, &nonce, &answer));
        assert!(!verify(&token, 8081, &nonce, &answer), "a relayed answer names another port");
        assert!(!verify(&token, 8080, &new_nonce(), &answer));
        assert!(!verify(&token, 8080, &nonce, &answer[..62]));
        assert!(!verify(&token, 8080, &nonce, "zz"));
        assert!(!answer.contains(&token));
        assert!(!nonce_ok("abc") && !nonce_ok(&"g".repeat(64)) && !nonce_ok(&"a".repeat(129)));
    }
}
