//! Typed reads of Stripe request parameters (form bodies and query
//! strings), answering Stripe-style errors that name the parameter.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde_json::{Map, Value};

use super::error::ApiError;
use crate::form;

/// Stripe's largest amount in minor units (eight digits, $999,999.99); it
/// also keeps balance arithmetic far from overflow.
const MAX_AMOUNT: i64 = 99_999_999;
/// Stripe's bounds on metadata: 50 keys, 40-character keys, 500-character values.
const METADATA_KEYS: usize = 50;
const METADATA_KEY_CHARS: usize = 40;
const METADATA_VALUE_CHARS: usize = 500;

/// Parsed parameters: strings, nested objects and arrays.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Params(Map<String, Value>);

/// A metadata change: `metadata=""` clears it, `metadata[k]=""` drops `k`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum MetadataPatch {
    Clear,
    Merge(Map<String, Value>),
}

impl Params {
    /// Parses a form body or query string.
    pub(crate) fn parse(input: &[u8]) -> Result<Self, ApiError> {
        let fields =
            form::parse(input).map_err(|error| ApiError::malformed(format!("{error}.")))?;
        Ok(Self(fields))
    }

    /// Refuses any parameter not in `allowed` (`expand` is always allowed).
    pub(crate) fn only(&self, allowed: &[&str]) -> Result<(), ApiError> {
        let unknown = self
            .0
            .keys()
            .find(|key| *key != "expand" && !allowed.contains(&key.as_str()));
        unknown.map_or(Ok(()), |key| Err(ApiError::unknown_param(key)))
    }

    /// Whether a parameter was sent.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// A text parameter; a nested value is an error.
    pub(crate) fn text(&self, key: &str) -> Result<Option<&str>, ApiError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(invalid_type(key, "a string")),
        }
    }

    /// A text parameter that must be present and non-empty.
    pub(crate) fn required(&self, key: &str) -> Result<&str, ApiError> {
        match self.text(key)? {
            Some(text) if !text.is_empty() => Ok(text),
            _ => Err(ApiError::missing(key)),
        }
    }

    /// One of a fixed set of values.
    pub(crate) fn choice(&self, key: &str, allowed: &[&str]) -> Result<Option<&str>, ApiError> {
        let Some(value) = self.text(key)? else {
            return Ok(None);
        };
        if allowed.contains(&value) {
            return Ok(Some(value));
        }
        let message = format!("Invalid {key}: must be one of {}", allowed.join(", "));
        Err(ApiError::invalid(key, None, message))
    }

    /// A positive integer amount in minor units.
    pub(crate) fn amount(&self, key: &str) -> Result<Option<i64>, ApiError> {
        let Some(text) = self.text(key)? else {
            return Ok(None);
        };
        match text.parse::<i64>() {
            Ok(amount @ 1..=MAX_AMOUNT) => Ok(Some(amount)),
            Ok(amount) if amount > MAX_AMOUNT => {
                let message = format!("Amount must be no more than {MAX_AMOUNT}");
                Err(ApiError::invalid(key, Some("amount_too_large"), message))
            }
            Ok(_) => Err(ApiError::invalid(
                key,
                None,
                format!("Invalid {key}: must be positive"),
            )),
            Err(_) => Err(invalid_type(key, "an integer")),
        }
    }

    /// A non-negative integer such as `delay_days`.
    pub(crate) fn count(&self, key: &str) -> Result<Option<u64>, ApiError> {
        let Some(text) = self.text(key)? else {
            return Ok(None);
        };
        text.parse()
            .map(Some)
            .map_err(|_| invalid_type(key, "an integer"))
    }

    /// `true` or `false`.
    pub(crate) fn boolean(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.text(key)? {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(invalid_type(key, "a boolean (true or false)")),
        }
    }

    /// The required `currency`: three letters, lower-cased.
    pub(crate) fn currency(&self) -> Result<String, ApiError> {
        let currency = self.required("currency")?;
        if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_alphabetic()) {
            let message = format!("Invalid currency: {currency}");
            return Err(ApiError::invalid("currency", None, message));
        }
        Ok(currency.to_ascii_lowercase())
    }

    /// A nested parameter such as `capabilities[transfers][requested]`,
    /// read as its own parameter set (`capabilities` becomes the prefix of
    /// every error's `param`).
    pub(crate) fn nested(&self, key: &str) -> Result<Option<Params>, ApiError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Object(fields)) => Ok(Some(Self(fields.clone()))),
            Some(_) => Err(invalid_type(key, "an object")),
        }
    }

    /// The nested keys, in order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.keys()
    }

    /// The parameters as JSON.
    pub(crate) fn as_json(&self) -> &Map<String, Value> {
        &self.0
    }

    /// The `metadata` change, checked against Stripe's limits.
    pub(crate) fn metadata(&self) -> Result<Option<MetadataPatch>, ApiError> {
        let entries = match self.0.get("metadata") {
            None => return Ok(None),
            Some(Value::String(text)) if text.is_empty() => return Ok(Some(MetadataPatch::Clear)),
            Some(Value::Object(entries)) => entries.clone(),
            // `metadata[0]=x` parses as an array; Stripe takes `0` as a key.
            Some(Value::Array(items)) => indexed(items),
            Some(_) => return Err(invalid_type("metadata", "an object")),
        };
        check_metadata(&entries)?;
        Ok(Some(MetadataPatch::Merge(entries)))
    }
}

fn indexed(items: &[Value]) -> Map<String, Value> {
    items
        .iter()
        .enumerate()
        .map(|(index, item)| (index.to_string(), item.clone()))
        .collect()
}

fn check_metadata(entries: &Map<String, Value>) -> Result<(), ApiError> {
    if entries.len() > METADATA_KEYS {
        let message = format!("Metadata can have at most {METADATA_KEYS} keys.");
        return Err(ApiError::invalid("metadata", None, message));
    }
    for (key, value) in entries {
        let param = format!("metadata[{key}]");
        let text = value
            .as_str()
            .ok_or_else(|| invalid_type(&param, "a string"))?;
        if key.chars().count() > METADATA_KEY_CHARS || text.chars().count() > METADATA_VALUE_CHARS {
            let message = format!(
                "Metadata keys are limited to {METADATA_KEY_CHARS} characters \
                                   and values to {METADATA_VALUE_CHARS}."
            );
            return Err(ApiError::invalid(&param, None, message));
        }
    }
    Ok(())
}

/// Applies a metadata patch to an object's `metadata`.
pub(crate) fn apply_metadata(object: &mut Value, patch: MetadataPatch) {
    let MetadataPatch::Merge(entries) = patch else {
        object["metadata"] = Value::Object(Map::new());
        return;
    };
    let mut metadata = object["metadata"].as_object().cloned().unwrap_or_default();
    for (key, value) in entries {
        if value.as_str() == Some("") {
            metadata.remove(&key);
        } else {
            metadata.insert(key, value);
        }
    }
    object["metadata"] = Value::Object(metadata);
}

fn invalid_type(key: &str, expected: &str) -> ApiError {
    ApiError::invalid(key, None, format!("Invalid {key}: must be {expected}"))
}

/// A POST body, parsed with bracket nesting. A JSON body is refused the
/// way Stripe refuses it, since the plugins must send forms.
impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = request.headers().get(header::CONTENT_TYPE);
        let content_type = content_type
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        if content_type.starts_with("application/json") {
            let message = "Stripe expects application/x-www-form-urlencoded bodies, not JSON.";
            return Err(ApiError::malformed(message.to_owned()));
        }
        let body = Bytes::from_request(request, state).await;
        let body =
            body.map_err(|error| ApiError::malformed(format!("Unreadable body: {error}")))?;
        Self::parse(&body)
    }
}

/// The query string of a GET, parsed like a body.
pub(crate) struct Query(pub Params);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let raw = parts.uri.query().unwrap_or_default();
        Params::parse(raw.as_bytes()).map(Query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(body: &str) -> Params {
        Params::parse(body.as_bytes()).expect("parses")
    }

    #[test]
    fn reads_typed_values() {
        let params =
            params("amount=1100&currency=USD&flag=true&capabilities[transfers][requested]=true");
        assert_eq!(params.amount("amount"), Ok(Some(1100)));
        assert_eq!(params.currency(), Ok("usd".to_owned()));
        assert_eq!(params.boolean("flag"), Ok(Some(true)));
        let transfers = params
            .nested("capabilities")
            .and_then(|c| c.expect("present").nested("transfers"));
        assert_eq!(
            transfers
                .expect("ok")
                .expect("present")
                .boolean("requested"),
            Ok(Some(true))
        );
    }

    #[test]
    fn refuses_amounts_beyond_eight_digits() {
        let params = params("small=99999999&big=100000000&huge=99999999999999999999");
        assert_eq!(params.amount("small"), Ok(Some(99_999_999)));
        assert_eq!(
            params.amount("big").expect_err("too big").code(),
            Some("amount_too_large")
        );
        assert!(params.amount("huge").is_err());
    }

    #[test]
    fn names_the_parameter_in_errors() {
        let params = params("amount=-5&currency=dollars&flag=yes&nested[a]=1");
        for error in [
            params.amount("amount").expect_err("negative"),
            params.currency().expect_err("not a code"),
            params.boolean("flag").expect_err("not a boolean"),
            params.text("nested").expect_err("not text"),
            params.required("missing").expect_err("absent"),
            params.only(&["amount"]).expect_err("unknown"),
        ] {
            assert_eq!(error.status(), 400);
        }
        assert_eq!(
            params.required("missing").expect_err("absent").code(),
            Some("parameter_missing")
        );
    }

    #[test]
    fn metadata_patches_merge_delete_and_clear() {
        let mut object = json!({"metadata": {"keep": "1", "drop": "2"}});
        let patch = params("metadata[drop]=&metadata[add]=3")
            .metadata()
            .expect("valid");
        apply_metadata(&mut object, patch.expect("present"));
        assert_eq!(object["metadata"], json!({"keep": "1", "add": "3"}));
        let clear = params("metadata=")
            .metadata()
            .expect("valid")
            .expect("present");
        assert_eq!(clear, MetadataPatch::Clear);
        apply_metadata(&mut object, clear);
        assert_eq!(object["metadata"], json!({}));
    }

    #[test]
    fn metadata_limits_are_enforced() {
        let long_key = format!("metadata[{}]=v", "k".repeat(41));
        assert!(params(&long_key).metadata().is_err());
        let many: Vec<String> = (0..51).map(|i| format!("metadata[k{i}]=v")).collect();
        assert!(params(&many.join("&")).metadata().is_err());
        assert!(params("metadata[a][b]=v").metadata().is_err());
        let indexed = params("metadata[0]=v")
            .metadata()
            .expect("valid")
            .expect("present");
        assert_eq!(
            indexed,
            MetadataPatch::Merge(Map::from_iter([("0".into(), json!("v"))]))
        );
    }
}
