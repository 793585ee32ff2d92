//! Webhook signature checks where the secret stays on the host: the plugin
//! parses the header and asks the host to compare each signature.
//!
//! Two schemes: Stripe's timestamped `t=…,v1=…` (also Switchyard's own),
//! parsed by `switchyard-signature`, and the bare hex HMAC of the raw body
//! that Fleetbase sends.

use switchyard_signature::{SignatureError, SignatureHeader};

/// Stripe's default tolerance, in seconds, on either side of the host clock.
pub use switchyard_signature::DEFAULT_TOLERANCE_SECS;

use crate::{clock, secrets};

/// The most `v1` signatures a header may carry. Stripe sends one, or two
/// while a secret is rolled; each one costs a host HMAC per secret, so a
/// header with thousands is refused instead of computed.
pub const MAX_SIGNATURES: usize = 8;

/// The length of an HMAC-SHA256, in bytes.
const HMAC_LEN: usize = 32;

/// Checks a `t=…,v1=…` header over `body`: the timestamp within
/// `tolerance_secs` of the host clock on either side, and any `v1` matching
/// the HMAC of `{t}.{body}` under any of `secret_names` the tenant
/// configured (names it did not configure are skipped).
///
/// The error is a short reason, safe to show to the sender.
pub fn verify_timestamped(
    header_value: &str,
    body: &[u8],
    secret_names: &[&str],
    tolerance_secs: u64,
) -> Result<(), String> {
    let header = SignatureHeader::parse(header_value).map_err(|e| e.to_string())?;
    if header.v1.len() > MAX_SIGNATURES {
        return Err(format!(
            "signature header has more than {MAX_SIGNATURES} signatures"
        ));
    }
    header
        .check_time(clock::now_secs(), tolerance_secs)
        .map_err(|e| e.to_string())?;

    let configured = configured(secret_names)?;
    let payload = header.signed_payload(body);
    header
        .verify_with(|sig| matches_any(&configured, &payload, sig))
        .map_err(|e| e.to_string())
}

/// Checks a header holding the hex HMAC-SHA256 of the exact `body` under the
/// secret `secret_name` (Fleetbase's `Signature`). Upper- or lower-case hex
/// is accepted; there is no timestamp, so replays must be caught by the
/// event id.
pub fn verify_hex_hmac(header_value: &str, body: &[u8], secret_name: &str) -> Result<(), String> {
    let signature = hex::decode(header_value.trim())
        .ok()
        .filter(|sig| sig.len() == HMAC_LEN)
        .ok_or_else(|| SignatureError::Malformed.to_string())?;
    let configured = configured(&[secret_name])?;
    if matches_any(&configured, body, &signature) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch.to_string())
    }
}

/// The names among `secret_names` that the tenant configured; none at all
/// is refused, since nothing could ever verify.
fn configured<'a>(secret_names: &[&'a str]) -> Result<Vec<&'a str>, String> {
    let names: Vec<&str> = secret_names
        .iter()
        .copied()
        .filter(|n| secrets::has(n))
        .collect();
    if names.is_empty() {
        return Err("no webhook secret is configured".to_owned());
    }
    Ok(names)
}

/// True when `signature` is the HMAC of `payload` under any of `names`. A
/// signature of the wrong length cannot match and costs no host call; a
/// secret removed since [`configured`] looked counts as no match.
fn matches_any(names: &[&str], payload: &[u8], signature: &[u8]) -> bool {
    signature.len() == HMAC_LEN
        && names
            .iter()
            .any(|name| secrets::verify_hmac_sha256(name, payload, signature) == Ok(true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{TestHost, hmac_sha256};
    use switchyard_signature::{format_header, signed_payload};

    const NOW: u64 = 1_767_225_600;
    const BODY: &[u8] = br#"{"id":"evt_1","type":"account.updated"}"#;

    fn host() -> TestHost {
        let host = TestHost::install();
        host.set_now_ms(NOW * 1000);
        host.secret("current", b"whsec_current")
            .secret("connect", b"whsec_connect");
        host
    }

    fn header(secrets: &[&[u8]], t: u64) -> String {
        let sigs: Vec<Vec<u8>> = secrets
            .iter()
            .map(|s| hmac_sha256(s, &signed_payload(t, BODY)))
            .collect();
        let refs: Vec<&[u8]> = sigs.iter().map(Vec::as_slice).collect();
        format_header(t, &refs)
    }

    #[test]
    fn accepts_any_v1_under_any_configured_secret() {
        let _host = host();
        let header = header(&[b"whsec_old", b"whsec_connect"], NOW);
        assert_eq!(
            verify_timestamped(&header, BODY, &["current", "connect"], 300),
            Ok(())
        );
    }

    #[test]
    fn skips_secret_names_the_tenant_did_not_configure() {
        let _host = host();
        let header = header(&[b"whsec_current"], NOW);
        assert_eq!(
            verify_timestamped(&header, BODY, &["absent", "current"], 300),
            Ok(())
        );
        let outcome = verify_timestamped(&header, BODY, &["absent"], 300);
        assert_eq!(outcome, Err("no webhook secret is configured".to_owned()));
    }

    #[test]
    fn rejects_a_tampered_body() {
        let _host = host();
        let header = header(&[b"whsec_current"], NOW);
        let outcome = verify_timestamped(&header, b"{}", &["current"], 300);
        assert_eq!(outcome, Err(SignatureError::Mismatch.to_string()));
    }

    #[test]
    fn rejects_timestamps_outside_tolerance_either_side() {
        let _host = host();
        for t in [NOW - 301, NOW + 301] {
            let outcome =
                verify_timestamped(&header(&[b"whsec_current"], t), BODY, &["current"], 300);
            assert_eq!(
                outcome,
                Err(SignatureError::OutsideTolerance.to_string()),
                "t={t}"
            );
        }
        let edge = header(&[b"whsec_current"], NOW - 300);
        assert_eq!(verify_timestamped(&edge, BODY, &["current"], 300), Ok(()));
    }

    #[test]
    fn rejects_malformed_and_oversized_headers() {
        let _host = host();
        for bad in ["", "t=x,v1=00", "v1=00", "t=1,v0=00"] {
            assert!(
                verify_timestamped(bad, BODY, &["current"], 300).is_err(),
                "{bad:?}"
            );
        }
        let many = format!("t={NOW}{}", ",v1=00".repeat(MAX_SIGNATURES + 1));
        assert!(verify_timestamped(&many, BODY, &["current"], 300).is_err());
    }

    #[test]
    fn checks_fleetbase_style_hex_signatures() {
        let _host = host();
        let sig = hex::encode(hmac_sha256(b"whsec_current", BODY));
        assert_eq!(verify_hex_hmac(&sig, BODY, "current"), Ok(()));
        assert_eq!(
            verify_hex_hmac(&sig.to_uppercase(), BODY, "current"),
            Ok(())
        );
        assert!(verify_hex_hmac(&sig, b"{}", "current").is_err());
        assert!(verify_hex_hmac("abc", BODY, "current").is_err());
        assert!(verify_hex_hmac(&sig, BODY, "absent").is_err());
    }

    #[test]
    fn agrees_with_the_shared_stripe_vectors_through_the_host() {
        // Where this checkout is at run time: a binary built by another
        // checkout sharing the target dir keeps that checkout's path.
        let dir = std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
        let path = std::path::Path::new(&dir)
            .join("../../../shared/fixtures/stripe/webhook-signature-vectors.synthesized.json");
        let text = std::fs::read_to_string(path).expect("fixtures are in ../shared");
        let doc: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        let host = TestHost::install();
        let secret = doc["secret"].as_str().expect("secret");
        host.secret("stripe_webhook_secret", secret.as_bytes());
        let payload = doc["payload"].as_str().expect("payload").as_bytes();
        let timestamp = doc["timestamp"].as_u64().expect("timestamp");

        for case in doc["cases"].as_array().expect("cases") {
            host.set_now_ms(case["now"].as_u64().unwrap_or(timestamp) * 1000);
            let header = case["header"].as_str().expect("header");
            let tolerance = case["tolerance"].as_u64().unwrap_or(300);
            let outcome =
                verify_timestamped(header, payload, &["stripe_webhook_secret"], tolerance);
            let valid = case["expect"]
                .as_str()
                .expect("expect")
                .starts_with("valid");
            assert_eq!(outcome.is_ok(), valid, "case {}: {outcome:?}", case["name"]);
        }
    }
}
