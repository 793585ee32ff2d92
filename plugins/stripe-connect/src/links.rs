//! What the plugin remembers about vendors and their connected accounts in
//! kv, apart from Medusa: which account a vendor got (so a retry after a
//! failed Medusa write neither creates a second account nor loses the
//! first), when it was linked, and which accounts were deauthorized.

use serde::{Deserialize, Serialize};
use switchyard_plugin_sdk::{PluginError, clock, kv};

use crate::event::is_plain_id;

/// How an account came to the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Created by the platform (`POST /v1/accounts`).
    Express,
    /// Connected through OAuth.
    Standard,
}

/// A vendor's link to an account, under `linked/{acct}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The vendor.
    pub vendor_id: String,
    /// How the account came.
    pub kind: Kind,
    /// When it was linked, in Unix seconds: deauthorizations from before
    /// are stale.
    pub linked_at: u64,
}

fn vendor_key(vendor_id: &str) -> String {
    format!("vendor/{vendor_id}")
}

fn link_key(account: &str) -> String {
    format!("linked/{account}")
}

fn deauthorized_key(account: &str) -> String {
    format!("deauthorized/{account}")
}

/// Remembers that `vendor_id` has `account`, which is connected again if
/// it had been deauthorized.
pub fn remember(vendor_id: &str, account: &str, kind: Kind) -> Result<(), PluginError> {
    kv::set(&vendor_key(vendor_id), account.as_bytes(), None)?;
    let link = Link {
        vendor_id: vendor_id.to_owned(),
        kind,
        linked_at: clock::now_secs(),
    };
    kv::set_json(&link_key(account), &link, None)?;
    kv::delete(&deauthorized_key(account))?;
    Ok(())
}

/// The account the plugin gave or connected for `vendor_id`, if any.
pub fn vendor_account(vendor_id: &str) -> Result<Option<String>, PluginError> {
    let bytes = kv::get(&vendor_key(vendor_id))?;
    let account = bytes.and_then(|b| String::from_utf8(b).ok());
    Ok(account.filter(|a| a.starts_with("acct_") && is_plain_id(a)))
}

/// The link of `account`, if the plugin made one.
pub fn link(account: &str) -> Result<Option<Link>, PluginError> {
    // A record that no longer decodes is treated as absent: it only ever
    // adds a hint, Medusa stays the source of truth.
    Ok(kv::get_json(&link_key(account)).ok().flatten())
}

/// Records that `account` left the platform (event time `created`) and
/// forgets which vendor had it.
pub fn deauthorized(
    account: &str,
    created: u64,
    vendor_id: Option<&str>,
) -> Result<(), PluginError> {
    kv::set(
        &deauthorized_key(account),
        created.to_string().as_bytes(),
        None,
    )?;
    kv::delete(&link_key(account))?;
    if let Some(vendor_id) = vendor_id {
        kv::delete(&vendor_key(vendor_id))?;
    }
    Ok(())
}

/// True when `account` was deauthorized and not connected again since.
pub fn is_deauthorized(account: &str) -> Result<bool, PluginError> {
    Ok(kv::get(&deauthorized_key(account))?.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_plugin_sdk::testing::TestHost;

    #[test]
    fn remembers_links_and_deauthorizations() {
        let host = TestHost::install();
        remember("ven_1", "acct_1", Kind::Express).unwrap();
        assert_eq!(vendor_account("ven_1").unwrap().as_deref(), Some("acct_1"));
        let link = link("acct_1").unwrap().unwrap();
        assert_eq!(
            (link.vendor_id.as_str(), link.kind),
            ("ven_1", Kind::Express)
        );
        assert_eq!(link.linked_at, host.now_ms() / 1000);

        deauthorized("acct_1", 7, Some("ven_1")).unwrap();
        assert!(is_deauthorized("acct_1").unwrap());
        assert_eq!(vendor_account("ven_1").unwrap(), None);
        remember("ven_1", "acct_1", Kind::Standard).unwrap();
        assert!(!is_deauthorized("acct_1").unwrap());
    }

    #[test]
    fn ignores_stored_accounts_that_are_not_plain() {
        let host = TestHost::install();
        host.kv_put("vendor/ven_1", b"acct_../x");
        assert_eq!(vendor_account("ven_1").unwrap(), None);
    }
}
