//! The marketplace's Medusa vendor routes (UPSTREAMS.md §5.6), as far as
//! onboarding needs them. Authenticated with the tenant's secret API key,
//! which the host attaches as `Basic base64("sk_…:")`.

use serde::Deserialize;
use switchyard_plugin_sdk::PluginError;
use switchyard_plugin_sdk::http::{Credential, Request, Retry, encode_component};

use crate::account::Onboarding;
use crate::event::is_plain_id;
use crate::settings::{self, MEDUSA_API_KEY};

/// Per-request timeout: Medusa answers vendor look-ups quickly, and the
/// host's deadline for the whole call is the real limit.
const TIMEOUT_MS: u32 = 10_000;

/// How many vendors to ask for when searching by account: one is expected,
/// two are enough to notice a conflict.
const SEARCH_LIMIT: u32 = 10;

/// A vendor, with the fields the plugin reads; others are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Vendor {
    /// The vendor's id.
    pub id: String,
    /// The connected account linked to the vendor, if any.
    #[serde(default)]
    pub stripe_account_id: Option<String>,
    /// Where the vendor stands in onboarding (`pending`, `complete`, …).
    #[serde(default)]
    pub onboarding_status: Option<String>,
}

impl Vendor {
    /// True unless the vendor is linked to a different account. A vendor
    /// with no account yet may own one that names it in metadata, since
    /// only the platform writes an account's metadata.
    pub fn may_own(&self, account_id: &str) -> bool {
        self.stripe_account_id
            .as_deref()
            .is_none_or(|a| a == account_id)
    }
}

#[derive(Deserialize)]
struct VendorBody {
    vendor: Vendor,
}

#[derive(Deserialize)]
struct VendorList {
    #[serde(default)]
    vendors: Vec<Vendor>,
}

/// A client for one tenant's Medusa.
#[derive(Debug, Clone)]
pub struct Medusa {
    base: String,
}

impl Medusa {
    /// The tenant's Medusa, from its settings.
    pub fn from_config() -> Result<Self, PluginError> {
        Ok(Self {
            base: settings::medusa_url()?,
        })
    }

    fn request(&self, request: fn(String) -> Request, path: &str) -> Request {
        request(format!("{}{path}", self.base))
            .header("Accept", "application/json")
            .credential(Credential::basic(MEDUSA_API_KEY))
            .timeout_ms(TIMEOUT_MS)
    }

    /// The vendor `id`, or none when Medusa has no such vendor.
    pub fn vendor(&self, id: &str) -> Result<Option<Vendor>, PluginError> {
        let path = format!("/admin/vendors/{}", encode_component(id));
        let request = self.request(Request::get, &path);
        let response = request.send_retrying(&Retry::default())?;
        if response.status == 404 {
            return Ok(None);
        }
        let response = request.success(response)?;
        Ok(Some(checked(response.json::<VendorBody>()?.vendor)?))
    }

    /// The vendors linked to `account_id`. Medusa is asked to filter, and
    /// the answer is filtered again: a backend that ignores an unknown
    /// filter would otherwise hand back every vendor.
    pub fn vendors_by_account(&self, account_id: &str) -> Result<Vec<Vendor>, PluginError> {
        let request = self
            .request(Request::get, "/admin/vendors")
            .query("stripe_account_id", account_id)
            .query("limit", SEARCH_LIMIT);
        let list: VendorList = request.send_with_retry(&Retry::default())?.json()?;
        let linked = list.vendors.into_iter();
        linked
            .filter(|v| v.stripe_account_id.as_deref() == Some(account_id))
            .map(checked)
            .collect()
    }

    /// Writes the vendor's onboarding status.
    pub fn set_onboarding_status(&self, id: &str, status: Onboarding) -> Result<(), PluginError> {
        let path = format!("/admin/vendors/{}", encode_component(id));
        let body = serde_json::json!({ "onboarding_status": status.as_str() });
        self.request(Request::post, &path).json(&body)?.send_ok()?;
        Ok(())
    }
}

/// A vendor whose id is safe to put in a path; Medusa's answer is data
/// from outside like any other.
fn checked(vendor: Vendor) -> Result<Vendor, PluginError> {
    if is_plain_id(&vendor.id) {
        Ok(vendor)
    } else {
        Err(PluginError::permanent(
            "Medusa answered a vendor whose id is not a plain id",
        ))
    }
}
