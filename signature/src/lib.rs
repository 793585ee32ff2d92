//! The `t=<unix seconds>,v1=<hex>[,v1=<hex>…]` signature scheme that Stripe
//! uses for `Stripe-Signature` and Switchyard uses for `Switchyard-Signature`.
//!
//! The HMAC itself is left to the caller: the host computes it with the
//! secret in hand, while a plugin asks the host to compare it, so the secret
//! never enters guest memory. This crate holds what both sides share: the
//! header grammar, the tolerance window and the signed-payload layout.

#![no_std]

extern crate alloc;

use alloc::vec::Vec;
use core::fmt;

/// Stripe's default tolerance, in seconds, on either side of the host clock.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;

/// A parsed signature header: the timestamp and every `v1` signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    /// The signing time, in Unix seconds.
    pub timestamp: u64,
    /// Each `v1` value, decoded from hex. Several appear while a secret is
    /// being rolled; any one matching is enough.
    pub v1: Vec<Vec<u8>>,
}

/// Why a signature was refused. The messages are safe to show to the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureError {
    /// The header is absent or not valid UTF-8.
    Missing,
    /// A part is not `key=value`, or `t` is not a number.
    Malformed,
    /// No `t=` part.
    NoTimestamp,
    /// No `v1=` part (other schemes such as `v0` are ignored on purpose, so a
    /// downgrade to them is impossible).
    NoV1,
    /// The timestamp is further from the host clock than the tolerance.
    OutsideTolerance,
    /// No `v1` value matches the body.
    Mismatch,
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Self::Missing => "signature header missing",
            Self::Malformed => "signature header malformed",
            Self::NoTimestamp => "signature header has no timestamp",
            Self::NoV1 => "signature header has no v1 signature",
            Self::OutsideTolerance => "signature timestamp outside the tolerance window",
            Self::Mismatch => "no signature matches the body",
        };
        f.write_str(text)
    }
}

impl SignatureHeader {
    /// Parses a header value. The first `t` wins, every `v1` is kept, other
    /// schemes are skipped; a `v1` that is not hex makes the header malformed.
    pub fn parse(header: &str) -> Result<Self, SignatureError> {
        let mut timestamp = None;
        let mut v1 = Vec::new();
        for part in header.split(',') {
            let (key, value) = part
                .trim()
                .split_once('=')
                .ok_or(SignatureError::Malformed)?;
            match key {
                "t" if timestamp.is_none() => {
                    let t = value.parse().map_err(|_| SignatureError::Malformed)?;
                    timestamp = Some(t);
                }
                "v1" => v1.push(hex::decode(value).map_err(|_| SignatureError::Malformed)?),
                _ => {}
            }
        }

        let timestamp = timestamp.ok_or(SignatureError::NoTimestamp)?;
        if v1.is_empty() {
            return Err(SignatureError::NoV1);
        }
        Ok(Self { timestamp, v1 })
    }

    /// Refuses a timestamp more than `tolerance_secs` before or after `now`.
    ///
    /// Stripe's libraries only refuse old timestamps; a timestamp from the
    /// future is refused here too, since a sender's clock that far ahead
    /// means a forged or replayed header as often as a skewed clock.
    pub fn check_time(&self, now_secs: u64, tolerance_secs: u64) -> Result<(), SignatureError> {
        if now_secs.abs_diff(self.timestamp) > tolerance_secs {
            return Err(SignatureError::OutsideTolerance);
        }
        Ok(())
    }

    /// The bytes that were signed: `{t}.{raw body}`.
    pub fn signed_payload(&self, body: &[u8]) -> Vec<u8> {
        signed_payload(self.timestamp, body)
    }

    /// Succeeds when `matches` accepts any of the `v1` signatures. The
    /// closure must compare in constant time.
    pub fn verify_with(
        &self,
        mut matches: impl FnMut(&[u8]) -> bool,
    ) -> Result<(), SignatureError> {
        if self.v1.iter().any(|sig| matches(sig)) {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }
}

/// The bytes a sender signs: the decimal timestamp, a dot, the raw body.
pub fn signed_payload(timestamp: u64, body: &[u8]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(body.len() + 21);
    payload.extend_from_slice(alloc::format!("{timestamp}.").as_bytes());
    payload.extend_from_slice(body);
    payload
}

/// Formats a header for `timestamp` with one `v1` per given signature.
pub fn format_header(timestamp: u64, signatures: &[&[u8]]) -> alloc::string::String {
    let mut header = alloc::format!("t={timestamp}");
    for sig in signatures {
        header.push_str(",v1=");
        header.push_str(&hex::encode(sig));
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    extern crate std;
    use std::string::String;

    fn mac(secret: &str, message: &[u8]) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }

    fn verify(header: &str, secret: &str, body: &[u8], now: u64) -> Result<(), SignatureError> {
        let parsed = SignatureHeader::parse(header)?;
        parsed.check_time(now, DEFAULT_TOLERANCE_SECS)?;
        let expected = mac(secret, &parsed.signed_payload(body));
        parsed.verify_with(|sig| sig == expected.as_slice())
    }

    #[test]
    fn agrees_with_the_shared_stripe_vectors() {
        // Where this checkout is at run time: a binary built by another
        // checkout sharing the target dir keeps that checkout's path.
        let dir = std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| std::string::String::from(env!("CARGO_MANIFEST_DIR")));
        let path = std::path::Path::new(&dir)
            .join("../../shared/fixtures/stripe/webhook-signature-vectors.synthesized.json");
        let text = std::fs::read_to_string(path).expect("fixtures are in ../shared");
        let doc: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        let secret = doc["secret"].as_str().expect("secret");
        let payload = doc["payload"].as_str().expect("payload").as_bytes();
        let timestamp = doc["timestamp"].as_u64().expect("timestamp");

        let cases = doc["cases"].as_array().expect("cases");
        assert!(cases.len() >= 7);
        for case in cases {
            let name = case["name"].as_str().expect("name");
            let header = case["header"].as_str().expect("header");
            let now = case["now"].as_u64().unwrap_or(timestamp);
            let valid = case["expect"]
                .as_str()
                .expect("expect")
                .starts_with("valid");
            let outcome = verify(header, secret, payload, now);
            assert_eq!(outcome.is_ok(), valid, "case {name}: {outcome:?}");
        }
    }

    #[test]
    fn rejects_timestamp_301_seconds_either_side() {
        let header = SignatureHeader {
            timestamp: 1_000_000,
            v1: Vec::new(),
        };
        assert!(header.check_time(1_000_300, 300).is_ok());
        assert!(header.check_time(999_700, 300).is_ok());
        assert_eq!(
            header.check_time(1_000_301, 300),
            Err(SignatureError::OutsideTolerance)
        );
        assert_eq!(
            header.check_time(999_699, 300),
            Err(SignatureError::OutsideTolerance)
        );
    }

    #[test]
    fn rejects_malformed_headers() {
        for header in ["", "t", "t=abc,v1=00", "t=1,v1=zz", "t=1,garbage", "v1=00"] {
            assert!(SignatureHeader::parse(header).is_err(), "{header:?} parsed");
        }
        assert_eq!(
            SignatureHeader::parse("t=1,v0=00"),
            Err(SignatureError::NoV1)
        );
    }

    #[test]
    fn first_timestamp_wins_and_every_v1_is_kept() {
        let parsed = SignatureHeader::parse("t=5,v1=aa,t=9,v1=bb").expect("parses");
        assert_eq!(parsed.timestamp, 5);
        assert_eq!(parsed.v1, [[0xaa], [0xbb]]);
    }

    #[test]
    fn formats_what_it_parses() {
        let sig = mac("whsec_x", &signed_payload(42, b"{}"));
        let header: String = format_header(42, &[&sig]);
        assert!(verify(&header, "whsec_x", b"{}", 42).is_ok());
        assert_eq!(
            verify(&header, "whsec_x", b"{ }", 42),
            Err(SignatureError::Mismatch)
        );
    }
}
