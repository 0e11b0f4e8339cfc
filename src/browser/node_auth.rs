//! Requests between the nodes of a deployment (92-browser-rooms §10.3): the viewer a relaying
//! node speaks for, the signature over the request, and the nonces the owning node remembers so
//! that a captured request cannot be played again.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The viewer a relayed request speaks for.
pub const VIEWER_HEADER: &str = "x-portal-node-viewer";
/// The signature of a relayed request.
pub const AUTH_HEADER: &str = "x-portal-node-auth";

/// How far a request's time may be from the receiver's clock.
pub const CLOCK_SKEW_S: i64 = 30;
/// How long a nonce is remembered: a request older than this fails the time check anyway.
pub const NONCE_MEMORY_S: i64 = 60;
/// Nonces remembered at most; beyond it requests are refused rather than nonces forgotten, since
/// forgetting one early would let its request be replayed.
pub const MAX_NONCES: usize = 100_000;
const NONCE_BYTES: usize = 16;

/// The viewer of a relayed screen: the user, their session's suffix and the relaying node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeViewer {
    pub user_id: i64,
    pub device: String,
    pub node: String,
}

impl NodeViewer {
    /// `user_id={id}; device={token_suffix}; node={identity}`.
    pub fn header_value(&self) -> String {
        format!("user_id={}; device={}; node={}", self.user_id, self.device, self.node)
    }

    pub fn parse(value: &str) -> Option<NodeViewer> {
        let mut parts = value.split("; ");
        let user_id = parts.next()?.strip_prefix("user_id=")?.parse().ok()?;
        let device = parts.next()?.strip_prefix("device=")?;
        let node = parts.next()?.strip_prefix("node=")?;
        let plain = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic() && b != b';');
        if parts.next().is_some() || user_id < 1 || !plain(device) || !plain(node) {
            return None;
        }
        Some(NodeViewer {
            user_id,
            device: device.to_owned(),
            node: node.to_owned(),
        })
    }
}

/// A fresh nonce: 16 random bytes, base64url without padding.
pub fn new_nonce() -> String {
    let mut bytes = [0u8; NONCE_BYTES];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The signature as lower-case hex: HMAC-SHA-256 keyed with the secret, over
/// `v1\n{METHOD}\n{path}\n{t}\n{nonce}\n{viewer}`.
pub fn signature(secret: &str, method: &str, path: &str, t: i64, nonce: &str, viewer: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(format!("v1\n{method}\n{path}\n{t}\n{nonce}\n{viewer}").as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// `v1 t={t} n={nonce} s={signature}` for a request made now.
pub fn auth_header(secret: &str, method: &str, path: &str, now_s: i64, viewer: &str) -> String {
    let nonce = new_nonce();
    let s = signature(secret, method, path, now_s, &nonce, viewer);
    format!("v1 t={now_s} n={nonce} s={s}")
}

struct AuthFields<'a> {
    t: i64,
    nonce: &'a str,
    signature: &'a str,
}

fn parse_auth(value: &str) -> Option<AuthFields<'_>> {
    let mut parts = value.split(' ');
    if parts.next()? != "v1" {
        return None;
    }
    let t = parts.next()?.strip_prefix("t=")?.parse().ok()?;
    let nonce = parts.next()?.strip_prefix("n=")?;
    let signature = parts.next()?.strip_prefix("s=")?;
    let nonce_ok = URL_SAFE_NO_PAD
        .decode(nonce)
        .is_ok_and(|bytes| bytes.len() == NONCE_BYTES);
    (parts.next().is_none() && nonce_ok).then_some(AuthFields { t, nonce, signature })
}

/// Checks a request's two headers against the secret, the clock and the nonces seen; the viewer
/// when all hold. The nonce is remembered only once the signature matched, so that requests
/// nobody signed cannot fill the memory.
pub fn verify(
    secret: &str,
    method: &str,
    path: &str,
    viewer: &str,
    auth: &str,
    now_s: i64,
    nonces: &NonceMemory,
) -> Option<NodeViewer> {
    let fields = parse_auth(auth)?;
    if (fields.t - now_s).abs() > CLOCK_SKEW_S {
        return None;
    }
    let expected = signature(secret, method, path, fields.t, fields.nonce, viewer);
    if !bool::from(expected.as_bytes().ct_eq(fields.signature.as_bytes())) {
        return None;
    }
    let viewer = NodeViewer::parse(viewer)?;
    nonces.first_use(fields.nonce, now_s).then_some(viewer)
}

/// The nonces of the last `NONCE_MEMORY_S` seconds, oldest first, bounded by `MAX_NONCES`.
#[derive(Default)]
pub struct NonceMemory {
    seen: Mutex<Nonces>,
}

#[derive(Default)]
struct Nonces {
    order: VecDeque<(i64, String)>,
    set: HashSet<String>,
}

impl NonceMemory {
    /// Remembers the nonce; `false` when it was seen within the window, or the memory is full.
    pub fn first_use(&self, nonce: &str, now_s: i64) -> bool {
        self.first_use_within(nonce, now_s, MAX_NONCES)
    }

    fn first_use_within(&self, nonce: &str, now_s: i64, max: usize) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        while let Some((at, _)) = seen.order.front() {
            if now_s - at < NONCE_MEMORY_S {
                break;
            }
            if let Some((_, old)) = seen.order.pop_front() {
                seen.set.remove(&old);
            }
        }
        if seen.set.contains(nonce) || seen.order.len() >= max {
            return false;
        }
        seen.set.insert(nonce.to_owned());
        seen.order.push_back((now_s, nonce.to_owned()));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";
    const PATH: &str = "/v1/internal/browser/machines/7/screen";

    fn viewer() -> String {
        NodeViewer {
            user_id: 9,
            device: "Ab3dE9".into(),
            node: "http://10.0.0.6:8080".into(),
        }
        .header_value()
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_the_documented_text_in_lower_hex() {
        // RFC 4231 test case 2, to pin the HMAC itself.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(format!("v1\nGET\n{PATH}\n1700000000\nnonce\n{}", viewer()).as_bytes());
        let by_hand: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        let signed = signature(SECRET, "GET", PATH, 1_700_000_000, "nonce", &viewer());
        assert_eq!(signed, by_hand);
        assert_eq!(signed.len(), 64);
        assert!(signed.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    }

    #[test]
    fn a_signed_request_is_accepted_once_within_the_clock_window() {
        let nonces = NonceMemory::default();
        let auth = auth_header(SECRET, "GET", PATH, 1000, &viewer());
        let nonce = auth.split(' ').nth(2).unwrap().strip_prefix("n=").unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(nonce).unwrap().len(), 16);
        assert_eq!(nonce.len(), 22);

        let accepted = verify(SECRET, "GET", PATH, &viewer(), &auth, 1029, &nonces).unwrap();
        assert_eq!(accepted, NodeViewer::parse(&viewer()).unwrap());
        assert_eq!(accepted.user_id, 9);
        // The same request again is a replay.
        assert_eq!(verify(SECRET, "GET", PATH, &viewer(), &auth, 1029, &nonces), None);

        let late = auth_header(SECRET, "GET", PATH, 1000, &viewer());
        assert_eq!(verify(SECRET, "GET", PATH, &viewer(), &late, 1031, &nonces), None);
        let early = auth_header(SECRET, "GET", PATH, 1000, &viewer());
        assert_eq!(verify(SECRET, "GET", PATH, &viewer(), &early, 969, &nonces), None);
        assert!(verify(SECRET, "GET", PATH, &viewer(), &early, 970, &nonces).is_some());
    }

    #[test]
    fn anything_changed_after_signing_fails() {
        let nonces = NonceMemory::default();
        let auth = auth_header(SECRET, "GET", PATH, 1000, &viewer());
        let other_secret = "fedcba9876543210fedcba9876543210";
        assert_eq!(verify(other_secret, "GET", PATH, &viewer(), &auth, 1000, &nonces), None);
        assert_eq!(verify(SECRET, "POST", PATH, &viewer(), &auth, 1000, &nonces), None);
        let other_path = "/v1/internal/browser/machines/8/screen";
        assert_eq!(verify(SECRET, "GET", other_path, &viewer(), &auth, 1000, &nonces), None);
        let other_viewer = viewer().replace("user_id=9", "user_id=1");
        assert_eq!(verify(SECRET, "GET", PATH, &other_viewer, &auth, 1000, &nonces), None);
        // The hex must be lower-case, as signed.
        let (head, hex) = auth.rsplit_once("s=").unwrap();
        let upper = format!("{head}s={}", hex.to_uppercase());
        assert_eq!(verify(SECRET, "GET", PATH, &viewer(), &upper, 1000, &nonces), None);
        for broken in ["", "v1", "v2 t=1000 n=AAAAAAAAAAAAAAAAAAAAAA s=00", "v1 t=x n=a s=b"] {
            assert_eq!(verify(SECRET, "GET", PATH, &viewer(), broken, 1000, &nonces), None);
        }
        // A short nonce is refused even when signed.
        let v = viewer();
        let s = signature(SECRET, "GET", PATH, 1000, "abc", &v);
        let short = format!("v1 t=1000 n=abc s={s}");
        assert_eq!(verify(SECRET, "GET", PATH, &v, &short, 1000, &nonces), None);
        // Nothing above was remembered: the untouched request still passes.
        assert!(verify(SECRET, "GET", PATH, &viewer(), &auth, 1000, &nonces).is_some());
    }

    #[test]
    fn nonces_are_forgotten_after_a_minute_and_the_memory_is_bounded() {
        let nonces = NonceMemory::default();
        assert!(nonces.first_use_within("a", 100, 2));
        assert!(!nonces.first_use_within("a", 159, 2));
        assert!(nonces.first_use_within("b", 159, 2));
        // Full: refused rather than forgetting "a" early.
        assert!(!nonces.first_use_within("c", 159, 2));
        // A minute after "a", it is forgotten and there is room again.
        assert!(nonces.first_use_within("c", 160, 2));
        assert!(!nonces.first_use_within("b", 160, 2));
        assert!(nonces.first_use_within("a", 160, 3));
    }

    #[test]
    fn the_viewer_header_reads_back_and_refuses_anything_else() {
        let value = viewer();
        assert_eq!(value, "user_id=9; device=Ab3dE9; node=http://10.0.0.6:8080");
        let parsed = NodeViewer::parse(&value).unwrap();
        assert_eq!(parsed.header_value(), value);
        for bad in [
            "",
            "user_id=0; device=Ab3dE9; node=n",
            "user_id=9; device=; node=n",
            "user_id=9; device=Ab3dE9",
            "user_id=9; device=Ab3dE9; node=n; extra=1",
            "device=Ab3dE9; user_id=9; node=n",
            "user_id=9; device=a b; node=n",
        ] {
            assert_eq!(NodeViewer::parse(bad), None, "{bad}");
        }
    }
}
