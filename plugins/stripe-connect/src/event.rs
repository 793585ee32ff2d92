//! Stripe event envelopes, read defensively: a body that passed the
//! signature check still comes from outside and may be malformed.

use serde::Deserialize;
use serde_json::Value;

/// The longest id or type accepted; Stripe's are far shorter, and the host
/// stores the id as a dedupe key.
pub const MAX_ID_LEN: usize = 255;

/// One Stripe event, with the fields the plugin reads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StripeEvent {
    /// `evt_…`: the host acknowledges repeats of it without processing.
    pub id: String,
    /// Such as `account.updated`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Always `event` for a real event.
    #[serde(default)]
    pub object: Option<String>,
    /// When Stripe created the event, in Unix seconds: orders out-of-order
    /// deliveries.
    #[serde(default)]
    pub created: Option<u64>,
    /// The connected account the event happened on, for Connect events.
    #[serde(default)]
    pub account: Option<String>,
    /// The resource snapshot.
    #[serde(default)]
    pub data: Option<EventData>,
}

/// The `data` member of an event.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EventData {
    /// The full resource as it was when the event happened.
    pub object: Value,
}

impl StripeEvent {
    /// Parses a webhook body. Anything without a plain string `id` and
    /// `type`, or whose `object` is not `event`, is not a Stripe event.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let event: Self =
            serde_json::from_slice(body).map_err(|e| format!("body is not a Stripe event: {e}"))?;
        if event.object.as_deref().is_some_and(|o| o != "event") {
            return Err("body is not a Stripe event: object is not \"event\"".to_owned());
        }
        if !is_plain_id(&event.id) {
            return Err("event id is empty, too long or not a plain id".to_owned());
        }
        if !is_event_type(&event.kind) {
            return Err("event type is empty, too long or has unexpected characters".to_owned());
        }
        Ok(event)
    }

    /// The resource snapshot, if the event carries one.
    pub fn object(&self) -> Option<&Value> {
        self.data.as_ref().map(|d| &d.object)
    }
}

/// True for ids as Stripe and Medusa make them (`acct_1Pg…`, `01JD…`,
/// `vendor-12`): letters, digits, `_` and `-`, at most [`MAX_ID_LEN`].
/// Such an id is safe in a URL path, a query and a kv key as it is.
pub fn is_plain_id(id: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    !id.is_empty() && id.len() <= MAX_ID_LEN && id.chars().all(allowed)
}

/// True for event types such as `account.application.deauthorized`.
fn is_event_type(kind: &str) -> bool {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._".contains(c);
    !kind.is_empty() && kind.len() <= MAX_ID_LEN && kind.chars().all(allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_envelope() {
        let body = br#"{"id":"evt_1","object":"event","type":"account.updated","created":7,
            "account":"acct_1","data":{"object":{"id":"acct_1"}}}"#;
        let event = StripeEvent::parse(body).unwrap();
        assert_eq!(
            (event.id.as_str(), event.kind.as_str()),
            ("evt_1", "account.updated")
        );
        assert_eq!(
            (event.created, event.account.as_deref()),
            (Some(7), Some("acct_1"))
        );
        assert_eq!(
            event.object().and_then(|o| o["id"].as_str()),
            Some("acct_1")
        );
    }

    #[test]
    fn rejects_what_is_not_a_stripe_event() {
        let bodies: [&[u8]; 7] = [
            b"not json",
            b"{}",
            br#"{"id":1,"type":"account.updated"}"#,
            br#"{"id":"evt_1"}"#,
            br#"{"id":"evt_1","type":"account.updated","object":"account"}"#,
            br#"{"id":"","type":"account.updated"}"#,
            br#"{"id":"evt 1","type":"account.updated"}"#,
        ];
        for body in bodies {
            assert!(
                StripeEvent::parse(body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(StripeEvent::parse(br#"{"id":"evt_1","type":"Account <b>"}"#).is_err());
    }

    #[test]
    fn plain_ids_are_safe_in_paths() {
        assert!(is_plain_id("acct_1PgafTB7WZ01zgkW"));
        assert!(is_plain_id("vendor-12"));
        for bad in ["", "../admin", "a/b", "a?b", "a b", "ä", &"a".repeat(256)] {
            assert!(!is_plain_id(bad), "{bad}");
        }
    }
}
