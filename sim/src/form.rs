//! Parser for form-encoded bodies and query strings with bracket nesting,
//! the encoding Stripe's libraries send (`capabilities[transfers][requested]=true`,
//! `metadata[order_id]=123`, `expand[0]=destination`) and Medusa's query
//! strings use (`created_at[$gte]=…`, `status[]=completed`).
//!
//! Values stay strings: the form encoding has no types, so each endpoint
//! converts what it reads. A run of children named `0`, `1`, `2`… (or `[]`)
//! becomes a JSON array; any other set of children becomes an object.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

/// Deeper nesting than this is refused; no real request comes close.
const MAX_DEPTH: usize = 16;

/// Why a form body or query string could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormError {
    /// The offending key, as sent (decoded).
    pub key: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl fmt::Display for FormError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid parameter `{}`: {}", self.key, self.reason)
    }
}

impl std::error::Error for FormError {}

/// One parsed key: a leaf string or a branch of named children.
enum Node {
    Leaf(String),
    Branch(Branch),
}

type Branch = BTreeMap<String, Node>;

/// Parses `a=1&b[c]=2&d[0]=x` into `{"a":"1","b":{"c":"2"},"d":["x"]}`.
///
/// A repeated key keeps its last value. A key used both as a value and as
/// a parent (`a=1&a[b]=2`), an unbalanced bracket or an empty name is an
/// error. Invalid percent-encoded UTF-8 is replaced, not refused.
pub fn parse(input: &[u8]) -> Result<Map<String, Value>, FormError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(input).map_err(|_| FormError {
            key: String::new(),
            reason: "not form-encoded",
        })?;
    let mut root = Branch::new();
    for (key, value) in pairs {
        let path = split_key(&key)?;
        insert(&mut root, &path, value).map_err(|reason| FormError { key, reason })?;
    }
    Ok(root
        .into_iter()
        .map(|(key, node)| (key, to_value(node)))
        .collect())
}

/// Splits `a[b][]` into `["a", "b", ""]`.
fn split_key(key: &str) -> Result<Vec<&str>, FormError> {
    let error = |reason| FormError {
        key: key.to_owned(),
        reason,
    };
    let (root, mut rest) = key.split_at(key.find('[').unwrap_or(key.len()));
    if root.is_empty() {
        return Err(error("empty name"));
    }
    let mut path = vec![root];
    while !rest.is_empty() {
        let inner = rest
            .strip_prefix('[')
            .ok_or_else(|| error("text after `]`"))?;
        let close = inner.find(']').ok_or_else(|| error("unclosed `[`"))?;
        path.push(&inner[..close]);
        rest = &inner[close + 1..];
    }
    if path.len() > MAX_DEPTH {
        return Err(error("nested too deeply"));
    }
    Ok(path)
}

/// Stores `value` at `path`, creating branches on the way.
fn insert(root: &mut Branch, path: &[&str], value: String) -> Result<(), &'static str> {
    let Some((last, parents)) = path.split_last() else {
        return Err("empty name");
    };
    let mut branch = root;
    for segment in parents {
        let key = child_key(branch, segment);
        let child = branch
            .entry(key)
            .or_insert_with(|| Node::Branch(Branch::new()));
        branch = match child {
            Node::Branch(inner) => inner,
            Node::Leaf(_) => return Err("used both as a value and as a parent"),
        };
    }
    let key = child_key(branch, last);
    if let Some(Node::Branch(_)) = branch.get(&key) {
        return Err("used both as a value and as a parent");
    }
    branch.insert(key, Node::Leaf(value));
    Ok(())
}

/// `[]` appends: it names the next index after the existing children.
fn child_key(branch: &Branch, segment: &str) -> String {
    if segment.is_empty() {
        branch.len().to_string()
    } else {
        segment.to_owned()
    }
}

fn to_value(node: Node) -> Value {
    match node {
        Node::Leaf(text) => Value::String(text),
        Node::Branch(branch) => branch_to_value(branch),
    }
}

/// An array when the children are exactly `0..n`, else an object.
fn branch_to_value(branch: Branch) -> Value {
    if !is_sequence(&branch) {
        return Value::Object(
            branch
                .into_iter()
                .map(|(key, node)| (key, to_value(node)))
                .collect(),
        );
    }
    let mut items: Vec<(usize, Node)> = branch
        .into_iter()
        .filter_map(|(key, node)| Some((canonical_index(&key)?, node)))
        .collect();
    items.sort_by_key(|(index, _)| *index);
    Value::Array(items.into_iter().map(|(_, node)| to_value(node)).collect())
}

fn is_sequence(branch: &Branch) -> bool {
    let mut indices: Vec<usize> = branch
        .keys()
        .filter_map(|key| canonical_index(key))
        .collect();
    indices.sort_unstable();
    indices.len() == branch.len() && indices.iter().enumerate().all(|(pos, index)| pos == *index)
}

/// `"0"`, `"12"`: decimal without a leading zero. `"01"` is a name.
fn canonical_index(key: &str) -> Option<usize> {
    let index: usize = key.parse().ok()?;
    (index.to_string() == key).then_some(index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parsed(input: &str) -> Value {
        Value::Object(parse(input.as_bytes()).expect("parses"))
    }

    #[test]
    fn nests_brackets_into_objects() {
        let body = "type=express&capabilities[transfers][requested]=true\
                    &capabilities[card_payments][requested]=false&metadata[vendor_id]=v_1";
        assert_eq!(
            parsed(body),
            json!({
                "type": "express",
                "capabilities": {
                    "transfers": {"requested": "true"},
                    "card_payments": {"requested": "false"}
                },
                "metadata": {"vendor_id": "v_1"}
            })
        );
    }

    #[test]
    fn reads_percent_encoded_brackets_and_plus_as_space() {
        let body = "metadata%5Bnote%5D=two+words%21&expand%5B0%5D=destination";
        assert_eq!(
            parsed(body),
            json!({"metadata": {"note": "two words!"}, "expand": ["destination"]})
        );
    }

    #[test]
    fn turns_indexed_and_pushed_children_into_arrays_in_index_order() {
        let body = "expand[1]=b&expand[0]=a&expand[2]=c&expand[10]=k&expand[3]=d\
                    &expand[4]=e&expand[5]=f&expand[6]=g&expand[7]=h&expand[8]=i&expand[9]=j";
        let value = parsed(body);
        assert_eq!(value["expand"][0], "a");
        assert_eq!(value["expand"][10], "k");
        assert_eq!(
            parsed("status[]=a&status[]=b"),
            json!({"status": ["a", "b"]})
        );
    }

    #[test]
    fn keeps_gapped_or_mixed_children_as_objects() {
        assert_eq!(parsed("m[0]=a&m[2]=c"), json!({"m": {"0": "a", "2": "c"}}));
        assert_eq!(parsed("m[0]=a&m[x]=b"), json!({"m": {"0": "a", "x": "b"}}));
        assert_eq!(parsed("m[01]=a"), json!({"m": {"01": "a"}}));
    }

    #[test]
    fn keeps_empty_values_and_the_last_repeat() {
        assert_eq!(
            parsed("metadata[k]=&a=1&a=2"),
            json!({"metadata": {"k": ""}, "a": "2"})
        );
        assert_eq!(parsed(""), json!({}));
        assert_eq!(parsed("&&a=1&"), json!({"a": "1"}));
    }

    #[test]
    fn refuses_malformed_keys() {
        for body in [
            "[a]=1",
            "=1",
            "a[b=1",
            "a[b]c=1",
            "a=1&a[b]=2",
            "a[b]=2&a=1",
            "a[b]]=1",
        ] {
            assert!(parse(body.as_bytes()).is_err(), "{body:?} parsed");
        }
        let deep = format!("a{}=1", "[b]".repeat(MAX_DEPTH));
        assert!(parse(deep.as_bytes()).is_err());
    }

    #[test]
    fn survives_hostile_input() {
        let huge_index = "a[18446744073709551616]=1&a[99999999999]=2";
        assert!(parsed(huge_index)["a"].is_object());
        let invalid_utf8 = parse(b"a=%FF%FE").expect("lossy decode");
        assert_eq!(invalid_utf8["a"], "\u{fffd}\u{fffd}");
    }
}
