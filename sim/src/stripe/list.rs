//! Stripe list pages: `limit` (1–100, default 10), `starting_after` or
//! `ending_before` an object id, and `{object:"list", data, has_more, url}`.

use serde_json::{Value, json};

use super::error::ApiError;
use super::params::Params;

/// Stripe's default and largest page sizes.
const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: u64 = 100;

/// The paging parameters every list route accepts.
pub(crate) const PAGING: [&str; 3] = ["limit", "starting_after", "ending_before"];

/// One page of `items` (newest first), as served at `url`.
pub(crate) fn page(items: &[&Value], query: &Params, url: &str) -> Result<Value, ApiError> {
    let limit = limit(query)?;
    let after = query.text("starting_after")?;
    let before = query.text("ending_before")?;
    let (candidates, from_end) = match (after, before) {
        (Some(_), Some(_)) => {
            let message = "You may only specify one of starting_after and ending_before.";
            return Err(ApiError::invalid("ending_before", None, message.to_owned()));
        }
        (Some(id), None) => (&items[position(items, id, "starting_after")? + 1..], false),
        (None, Some(id)) => (&items[..position(items, id, "ending_before")?], true),
        (None, None) => (items, false),
    };
    let data = if from_end {
        &candidates[candidates.len().saturating_sub(limit)..]
    } else {
        &candidates[..limit.min(candidates.len())]
    };
    let has_more = candidates.len() > limit;
    Ok(json!({"object": "list", "data": data, "has_more": has_more, "url": url}))
}

fn limit(query: &Params) -> Result<usize, ApiError> {
    match query.count("limit")? {
        None => Ok(DEFAULT_LIMIT),
        Some(limit @ 1..=MAX_LIMIT) => Ok(usize::try_from(limit).unwrap_or(DEFAULT_LIMIT)),
        Some(_) => {
            let message = format!("Invalid limit: must be between 1 and {MAX_LIMIT}");
            Err(ApiError::invalid("limit", None, message))
        }
    }
}

fn position(items: &[&Value], id: &str, param: &str) -> Result<usize, ApiError> {
    let found = items.iter().position(|item| item["id"] == id);
    found.ok_or_else(|| ApiError::no_such("object", id, Some(param)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items() -> Vec<Value> {
        (0..5)
            .rev()
            .map(|i| json!({"id": format!("tr_{i}")}))
            .collect()
    }

    fn ids(page: &Value) -> Vec<&str> {
        let data = page["data"].as_array().expect("data");
        data.iter()
            .map(|item| item["id"].as_str().expect("id"))
            .collect()
    }

    fn query(raw: &str) -> Params {
        Params::parse(raw.as_bytes()).expect("parses")
    }

    #[test]
    fn pages_forward_and_backward() {
        let items = items();
        let refs: Vec<&Value> = items.iter().collect();
        let first = page(&refs, &query("limit=2"), "/v1/transfers").expect("page");
        assert_eq!(
            (ids(&first), first["has_more"].clone()),
            (vec!["tr_4", "tr_3"], json!(true))
        );
        let next = page(&refs, &query("limit=2&starting_after=tr_3"), "/v1/x").expect("page");
        assert_eq!(ids(&next), ["tr_2", "tr_1"]);
        let back = page(&refs, &query("limit=2&ending_before=tr_1"), "/v1/x").expect("page");
        assert_eq!(ids(&back), ["tr_3", "tr_2"]);
        let last = page(&refs, &query("starting_after=tr_1"), "/v1/x").expect("page");
        assert_eq!(
            (ids(&last), last["has_more"].clone()),
            (vec!["tr_0"], json!(false))
        );
    }

    #[test]
    fn refuses_bad_paging() {
        let items = items();
        let refs: Vec<&Value> = items.iter().collect();
        for raw in [
            "limit=0",
            "limit=101",
            "limit=x",
            "starting_after=tr_9",
            "starting_after=tr_1&ending_before=tr_3",
        ] {
            assert!(page(&refs, &query(raw), "/v1/x").is_err(), "{raw}");
        }
    }
}
