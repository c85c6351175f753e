//! The site key: a secret shared by the desks of one site, which keys the case key.
//!
//! A case key is HMAC-SHA-256(site key, site code, Study Instance UID), cut to 16 hex digits.
//! Whoever holds a study and knows the site code cannot compute it without the key, so a
//! label in the dataset cannot be linked back to the study by recomputing its key; every desk
//! of the site, holding the same key, computes the same key for the same study. The key is
//! created once per site (`lungdesk site-key new`), handed to each desk by the site admin, and
//! never leaves the site: it is not in any payload, export, log or `Debug` output. Its life
//! (created, shared, rotated, lost) is in `docs/LABELS.md`.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// What a site key's text form starts with (its version).
pub const SITE_KEY_PREFIX: &str = "ldsk1-";

/// A site key is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SiteKeyError {
    #[error("a site key starts with {SITE_KEY_PREFIX} followed by 64 hex digits; this one {0}")]
    Malformed(&'static str),
    #[error("the operating system's random source failed: {0}")]
    Random(String),
}

/// 256 secret bits shared by the desks of one site.
#[derive(Clone, PartialEq, Eq)]
pub struct SiteKey([u8; 32]);

impl SiteKey {
    /// A new random key, from the operating system's random source.
    pub fn generate() -> Result<Self, SiteKeyError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| SiteKeyError::Random(e.to_string()))?;
        Ok(SiteKey(bytes))
    }

    /// A key from its bytes (tests and benchmarks use fixed ones).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SiteKey(bytes)
    }

    /// Reads the text form (`ldsk1-` and 64 hex digits; surrounding white space is ignored).
    pub fn parse(text: &str) -> Result<Self, SiteKeyError> {
        let hex = text.trim().strip_prefix(SITE_KEY_PREFIX).ok_or(SiteKeyError::Malformed("lacks the prefix"))?;
        if hex.len() != 64 {
            return Err(SiteKeyError::Malformed("does not have 64 hex digits"));
        }
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2).unwrap_or("zz"), 16)
                .map_err(|_| SiteKeyError::Malformed("has a character that is not a hex digit"))?;
        }
        Ok(SiteKey(bytes))
    }

    /// The text form, to hand to another desk of the site. It is the secret itself: show it
    /// only to the site admin who asks for it.
    pub fn reveal(&self) -> String {
        format!("{SITE_KEY_PREFIX}{}", hex(&self.0))
    }

    /// 8 hex digits that tell keys apart without revealing them, so that two desks can check
    /// they hold the same key.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"lungdesk-site-key-fingerprint/1\0");
        h.update(self.0);
        hex(&h.finalize()[..4])
    }

    /// The case key of a study at a site: the first 16 hex digits of
    /// HMAC-SHA-256(key, "lungdesk-case/2" NUL site code NUL Study Instance UID).
    pub fn case_key(&self, site_code: &str, study_uid: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(b"lungdesk-case/2\0");
        mac.update(site_code.as_bytes());
        mac.update(b"\0");
        mac.update(study_uid.as_bytes());
        hex(&mac.finalize().into_bytes()[..8])
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        use std::fmt::Write as _;
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Never the key: only its fingerprint.
impl std::fmt::Debug for SiteKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SiteKey(fingerprint {})", self.fingerprint())
    }
}

impl serde::Serialize for SiteKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.reveal())
    }
}

impl<'de> serde::Deserialize<'de> for SiteKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        SiteKey::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_case_key_needs_the_site_key() {
        let key = SiteKey::from_bytes([7; 32]);
        let other = SiteKey::from_bytes([8; 32]);
        let uid = "1.2.840.113619.2.55.3";
        let k = key.case_key("SITE-A", uid);
        assert_eq!(k.len(), 16);
        assert!(k.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(k, SiteKey::from_bytes([7; 32]).case_key("SITE-A", uid), "every desk of the site agrees");
        assert_ne!(k, other.case_key("SITE-A", uid), "another key, another case key");
        assert_ne!(k, key.case_key("SITE-B", uid));
        assert_ne!(k, key.case_key("SITE-A", "1.2.840.113619.2.55.4"));
        // HMAC-SHA-256 by its definition (RFC 2104), computed here with SHA-256 alone: the key
        // is what makes the case key; site code and UID alone give another value.
        let message = format!("lungdesk-case/2\0SITE-A\0{uid}");
        let block = |pad: u8| [7u8 ^ pad; 32].iter().copied().chain(std::iter::repeat_n(pad, 32)).collect::<Vec<u8>>();
        let inner = Sha256::new().chain_update(block(0x36)).chain_update(message.as_bytes()).finalize();
        let outer = Sha256::new().chain_update(block(0x5c)).chain_update(inner).finalize();
        assert_eq!(k, hex(&outer[..8]));
        let unkeyed = Sha256::digest(message.as_bytes());
        assert_ne!(k, hex(&unkeyed[..8]));
    }

    #[test]
    fn the_key_reads_back_and_never_shows_in_debug() {
        let key = SiteKey::generate().expect("random");
        let text = key.reveal();
        assert!(text.starts_with(SITE_KEY_PREFIX) && text.len() == SITE_KEY_PREFIX.len() + 64);
        assert_eq!(SiteKey::parse(&format!("  {text}\n")).expect("parse"), key);
        let debug = format!("{key:?}");
        assert!(!debug.contains(&text[SITE_KEY_PREFIX.len()..]), "{debug}");
        assert!(debug.contains(&key.fingerprint()));
        assert_ne!(SiteKey::generate().expect("random"), key);
        for bad in
            ["", "ldsk1-", "ldsk1-00", &format!("ldsk2-{}", "0".repeat(64)), &format!("ldsk1-{}", "g".repeat(64))]
        {
            assert!(SiteKey::parse(bad).is_err(), "{bad:?}");
        }
        let json = serde_json::to_string(&key).expect("json");
        assert_eq!(serde_json::from_str::<SiteKey>(&json).expect("back"), key);
    }
}
