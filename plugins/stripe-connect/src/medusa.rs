//! The marketplace's Medusa vendor and payout routes (UPSTREAMS.md §5.6).
//! Authenticated with the tenant's secret API key, which the host attaches
//! as `Basic base64("sk_…:")`.

use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_plugin_sdk::http::{Credential, Request, Retry, encode_component};
use switchyard_plugin_sdk::{PluginError, log};

use crate::account::Onboarding;
use crate::event::is_plain_id;
use crate::settings::{self, MEDUSA_API_KEY};

/// Per-request timeout: Medusa answers vendor look-ups quickly, and the
/// host's deadline for the whole call is the real limit.
const TIMEOUT_MS: u32 = 10_000;

/// How many vendors to ask for when searching by account: one is expected,
/// two are enough to notice a conflict.
const SEARCH_LIMIT: u32 = 10;

/// Payouts asked for per page.
const PAGE_SIZE: usize = 100;

/// The most payouts one listing reads: far more than a day's payouts, and
/// a bound on a backend whose paging never ends.
pub const MAX_PAYOUTS: usize = 5_000;

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
    /// The platform's commission in basis points, when Medusa states it.
    #[serde(default)]
    pub commission_rate_bps: Option<u32>,
    /// The vendor's email, passed on to a new Express account.
    #[serde(default)]
    pub email: Option<String>,
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

impl Vendor {
    /// True when Stripe onboarding is done and an account is linked: only
    /// then may the vendor be paid.
    pub fn is_onboarded(&self) -> bool {
        self.stripe_account_id.is_some() && self.onboarding_status.as_deref() == Some("complete")
    }
}

/// A payout the marketplace recorded, with the fields the plugin reads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Payout {
    /// The payout's id.
    pub id: String,
    /// The vendor to pay.
    pub vendor_id: String,
    /// The amount as Medusa sent it; integer minor units by the contract.
    #[serde(default)]
    pub amount: Value,
    /// The currency code.
    #[serde(default)]
    pub currency: String,
    /// `pending`, `transferred`, `paid`, `failed` or `reversed`.
    #[serde(default)]
    pub status: String,
    /// The group the marketplace chose for the payout's transfers.
    #[serde(default)]
    pub transfer_group: Option<String>,
    /// The transfer that paid it, once known.
    #[serde(default)]
    pub stripe_transfer_id: Option<String>,
    /// The Stripe payout that took it to the bank, once known.
    #[serde(default)]
    pub stripe_payout_id: Option<String>,
}

#[derive(Deserialize)]
struct PayoutBody {
    payout: Payout,
}

#[derive(Deserialize)]
struct PayoutList {
    #[serde(default)]
    payouts: Vec<Payout>,
    #[serde(default)]
    count: Option<u64>,
}

/// What the plugin reports about a payout (`POST /admin/payouts/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct PayoutUpdate {
    /// The new status.
    pub status: String,
    /// The transfer, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stripe_transfer_id: Option<String>,
    /// The Stripe payout, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stripe_payout_id: Option<String>,
    /// Why it failed, for `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_code: Option<String>,
    /// Stripe's words on the failure, for `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
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
        self.update_vendor(id, &json!({ "onboarding_status": status.as_str() }))
    }

    /// Links `account` to the vendor, with an onboarding status when known.
    pub fn link_account(
        &self,
        id: &str,
        account: &str,
        status: Option<Onboarding>,
    ) -> Result<(), PluginError> {
        let mut body = json!({ "stripe_account_id": account });
        if let Some(status) = status {
            body["onboarding_status"] = json!(status.as_str());
        }
        self.update_vendor(id, &body)
    }

    /// Unlinks the vendor's account; onboarding starts again from `pending`.
    pub fn unlink_account(&self, id: &str) -> Result<(), PluginError> {
        let body = json!({ "stripe_account_id": null, "onboarding_status": "pending" });
        self.update_vendor(id, &body)
    }

    fn update_vendor(&self, id: &str, body: &Value) -> Result<(), PluginError> {
        let path = format!("/admin/vendors/{}", encode_component(id));
        self.request(Request::post, &path).json(body)?.send_ok()?;
        Ok(())
    }

    /// The payout `id`, or none when Medusa has no such payout.
    pub fn payout(&self, id: &str) -> Result<Option<Payout>, PluginError> {
        let path = format!("/admin/payouts/{}", encode_component(id));
        let request = self.request(Request::get, &path);
        let response = request.send_retrying(&Retry::default())?;
        if response.status == 404 {
            return Ok(None);
        }
        let response = request.success(response)?;
        Ok(Some(checked_payout(response.json::<PayoutBody>()?.payout)?))
    }

    /// Every payout matching `filter` (`("status", "pending")`), all pages,
    /// at most [`MAX_PAYOUTS`]. Read in full before anything changes them,
    /// since offsets move as payouts leave a status.
    pub fn payouts(&self, filter: (&str, &str)) -> Result<Vec<Payout>, PluginError> {
        let mut all = Vec::new();
        while all.len() < MAX_PAYOUTS {
            let (page, count) = self.payout_page(filter, all.len())?;
            let read = page.len();
            all.extend(page);
            let total = count.map_or(usize::MAX, |c| usize::try_from(c).unwrap_or(usize::MAX));
            if read == 0 || all.len() >= total {
                break;
            }
        }
        all.truncate(MAX_PAYOUTS);
        let read = all.len();
        let usable: Vec<Payout> = all
            .into_iter()
            .filter_map(|p| checked_payout(p).ok())
            .collect();
        if usable.len() < read {
            let dropped = (read - usable.len()).to_string();
            log::warn(
                "skipped payouts whose ids are not plain ids",
                &[("count", &dropped)],
            );
        }
        Ok(usable)
    }

    fn payout_page(
        &self,
        filter: (&str, &str),
        offset: usize,
    ) -> Result<(Vec<Payout>, Option<u64>), PluginError> {
        let request = self
            .request(Request::get, "/admin/payouts")
            .query(filter.0, filter.1)
            .query("limit", PAGE_SIZE)
            .query("offset", offset);
        let list: PayoutList = request.send_with_retry(&Retry::default())?.json()?;
        Ok((list.payouts, list.count))
    }

    /// Reports a Stripe outcome for the payout.
    pub fn update_payout(&self, id: &str, update: &PayoutUpdate) -> Result<(), PluginError> {
        let path = format!("/admin/payouts/{}", encode_component(id));
        self.request(Request::post, &path).json(update)?.send_ok()?;
        Ok(())
    }
}

/// A payout whose ids are safe to put in paths and kv keys.
fn checked_payout(payout: Payout) -> Result<Payout, PluginError> {
    if is_plain_id(&payout.id) && is_plain_id(&payout.vendor_id) {
        Ok(payout)
    } else {
        Err(PluginError::permanent(
            "Medusa answered a payout whose ids are not plain ids",
        ))
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
