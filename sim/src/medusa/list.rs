//! Query strings of Medusa list routes: `limit`/`offset` paging, equality
//! filters (`status=a`, `status[]=a`) and date ranges
//! (`created_at[$gte]=…`), and the `{entities, count, offset, limit}`
//! envelope. Unknown parameters such as `fields` or `order` are accepted
//! and ignored, as a lenient stand-in for Medusa's field selection.

use serde::Serialize;
use serde_json::{Map, Value};

use super::error::MedusaError;
use crate::form;

/// A parsed query string.
pub(crate) struct ListQuery {
    params: Map<String, Value>,
}

/// Which slice of a list to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Page {
    limit: usize,
    offset: usize,
}

/// An equality filter; `None` lets everything through.
pub(crate) struct Filter(Option<Vec<String>>);

/// Bounds on a date field, compared as ISO 8601 text.
#[derive(Default)]
pub(crate) struct Range {
    gte: Option<String>,
    gt: Option<String>,
    lte: Option<String>,
    lt: Option<String>,
}

impl ListQuery {
    /// Parses the raw query string (bracket nesting allowed).
    pub(crate) fn parse(raw: Option<&str>) -> Result<Self, MedusaError> {
        let params = form::parse(raw.unwrap_or_default().as_bytes())
            .map_err(|error| MedusaError::invalid_data(format!("Invalid query: {error}")))?;
        Ok(Self { params })
    }

    /// `limit` and `offset`, with the route's default limit.
    pub(crate) fn page(&self, default_limit: usize) -> Result<Page, MedusaError> {
        let limit = self.number("limit")?.unwrap_or(default_limit);
        let offset = self.number("offset")?.unwrap_or(0);
        Ok(Page { limit, offset })
    }

    /// A single text parameter such as `currency`.
    pub(crate) fn text(&self, key: &str) -> Result<Option<&str>, MedusaError> {
        match self.params.get(key) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(MedusaError::invalid_data(format!(
                "Invalid query: `{key}` must be text"
            ))),
        }
    }

    /// An equality filter sent as `key=a`, `key[]=a&key[]=b` or `key[0]=a`.
    pub(crate) fn filter(&self, key: &str) -> Result<Filter, MedusaError> {
        let invalid = || MedusaError::invalid_data(format!("Invalid query: `{key}` must be text"));
        let values = match self.params.get(key) {
            None => return Ok(Filter(None)),
            Some(Value::String(text)) => vec![text.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(str::to_owned).ok_or_else(invalid))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(invalid()),
        };
        Ok(Filter(Some(values)))
    }

    /// A date range sent as `key[$gte]=…&key[$lt]=…`.
    pub(crate) fn range(&self, key: &str) -> Result<Range, MedusaError> {
        let invalid =
            || MedusaError::invalid_data(format!("Invalid query: `{key}` must be a range"));
        let Some(bounds) = self.params.get(key) else {
            return Ok(Range::default());
        };
        let bounds = bounds.as_object().ok_or_else(invalid)?;
        let mut range = Range::default();
        for (operator, value) in bounds {
            let value = Some(value.as_str().ok_or_else(invalid)?.to_owned());
            match operator.as_str() {
                "$gte" => range.gte = value,
                "$gt" => range.gt = value,
                "$lte" => range.lte = value,
                "$lt" => range.lt = value,
                _ => return Err(invalid()),
            }
        }
        Ok(range)
    }

    fn number(&self, key: &str) -> Result<Option<usize>, MedusaError> {
        let Some(text) = self.text(key)? else {
            return Ok(None);
        };
        let message = format!("Invalid query: `{key}` must be a non-negative integer");
        text.parse()
            .map(Some)
            .map_err(|_| MedusaError::invalid_data(message))
    }
}

impl Page {
    /// `{name: [this page], count, offset, limit}` over every matching item.
    pub(crate) fn envelope<T: Serialize>(
        &self,
        name: &str,
        items: &[T],
    ) -> Result<Value, MedusaError> {
        let slice: Vec<&T> = items.iter().skip(self.offset).take(self.limit).collect();
        let slice = serde_json::to_value(slice)
            .map_err(|error| MedusaError::unknown(format!("serialising {name}: {error}")))?;
        let mut body = Map::new();
        body.insert(name.to_owned(), slice);
        body.insert("count".to_owned(), items.len().into());
        body.insert("offset".to_owned(), self.offset.into());
        body.insert("limit".to_owned(), self.limit.into());
        Ok(Value::Object(body))
    }
}

impl Filter {
    /// Whether `value` passes: no filter, or equal to one of its values.
    pub(crate) fn admits(&self, value: Option<&str>) -> bool {
        match (&self.0, value) {
            (None, _) => true,
            (Some(allowed), Some(value)) => allowed.iter().any(|item| item == value),
            (Some(_), None) => false,
        }
    }
}

impl Filter {
    /// Refuses a filter value outside `allowed`, naming the parameter.
    pub(crate) fn check(&self, key: &str, allowed: &[&str]) -> Result<(), MedusaError> {
        let values = self.0.iter().flatten();
        match values
            .into_iter()
            .find(|value| !allowed.contains(&value.as_str()))
        {
            None => Ok(()),
            Some(value) => {
                let message = format!("Invalid query: `{key}` cannot be `{value}`");
                Err(MedusaError::invalid_data(message))
            }
        }
    }
}

impl Range {
    /// Whether `value` lies within every bound given.
    pub(crate) fn admits(&self, value: Option<&str>) -> bool {
        let Some(value) = value else {
            return self.gte.is_none()
                && self.gt.is_none()
                && self.lte.is_none()
                && self.lt.is_none();
        };
        let value = value.to_owned();
        self.gte.as_ref().is_none_or(|bound| &value >= bound)
            && self.gt.as_ref().is_none_or(|bound| &value > bound)
            && self.lte.as_ref().is_none_or(|bound| &value <= bound)
            && self.lt.as_ref().is_none_or(|bound| &value < bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pages_with_defaults_and_counts_every_match() {
        let query = ListQuery::parse(Some("offset=1&limit=2")).expect("parses");
        let body = query
            .page(50)
            .expect("page")
            .envelope("items", &[1, 2, 3, 4])
            .expect("json");
        assert_eq!(
            body,
            json!({"items": [2, 3], "count": 4, "offset": 1, "limit": 2})
        );
        let default = ListQuery::parse(None)
            .expect("parses")
            .page(15)
            .expect("page");
        assert_eq!(
            default,
            Page {
                limit: 15,
                offset: 0
            }
        );
    }

    #[test]
    fn refuses_non_numeric_paging() {
        for raw in ["limit=abc", "offset=-1", "limit[]=1"] {
            let query = ListQuery::parse(Some(raw)).expect("parses");
            let error = query.page(10).expect_err(raw);
            assert_eq!(error.kind(), "invalid_data");
        }
    }

    #[test]
    fn filters_by_single_and_listed_values() {
        let query = ListQuery::parse(Some("status[]=a&status[]=b&id=x")).expect("parses");
        let status = query.filter("status").expect("filter");
        assert!(status.admits(Some("b")) && !status.admits(Some("c")) && !status.admits(None));
        assert!(query.filter("id").expect("filter").admits(Some("x")));
        assert!(query.filter("absent").expect("filter").admits(None));
    }

    #[test]
    fn ranges_compare_iso_dates() {
        let raw = "created_at[$gte]=2026-01-01T00:00:00.000Z&created_at[$lt]=2026-02-01";
        let range = ListQuery::parse(Some(raw))
            .expect("parses")
            .range("created_at")
            .expect("range");
        assert!(range.admits(Some("2026-01-15T10:00:00.000Z")));
        assert!(!range.admits(Some("2025-12-31T23:59:59.999Z")));
        assert!(!range.admits(Some("2026-02-01T00:00:00.000Z")));
        let bad = ListQuery::parse(Some("created_at[$near]=x")).expect("parses");
        assert!(bad.range("created_at").is_err());
    }
}
