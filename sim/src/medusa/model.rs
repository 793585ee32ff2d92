//! The marketplace records the Medusa simulator keeps (tenants, vendors,
//! payouts) and the request bodies that change them.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// A marketplace tenant, as `GET /admin/tenants/{id}` shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Tenant {
    pub id: String,
    pub handle: String,
    pub name: String,
    pub metadata: Map<String, Value>,
}

/// How far a vendor got through Stripe onboarding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum OnboardingStatus {
    #[default]
    Pending,
    Incomplete,
    Complete,
}

impl OnboardingStatus {
    /// The status as Medusa's JSON spells it.
    #[cfg(test)]
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Incomplete => "incomplete",
            Self::Complete => "complete",
        }
    }
}

/// A vendor of the marketplace extension (`UPSTREAMS.md` §5.6).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Vendor {
    pub id: String,
    pub tenant_id: String,
    pub store_id: Option<String>,
    pub handle: String,
    pub name: String,
    pub email: Option<String>,
    pub status: String,
    pub stripe_account_id: Option<String>,
    pub onboarding_status: OnboardingStatus,
    pub payout_schedule: String,
    pub commission_rate_bps: u32,
    pub metadata: Map<String, Value>,
    pub created_at: String,
    pub updated_at: String,
}

/// Where a payout stands; the host moves it on from `pending`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PayoutStatus {
    #[default]
    Pending,
    Transferred,
    Paid,
    Failed,
    Reversed,
}

impl PayoutStatus {
    /// Every status, as the JSON spells it.
    pub(crate) const NAMES: &[&str] = &["pending", "transferred", "paid", "failed", "reversed"];

    /// The status as the JSON spells it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Transferred => "transferred",
            Self::Paid => "paid",
            Self::Failed => "failed",
            Self::Reversed => "reversed",
        }
    }
}

/// A payout decision recorded by the marketplace and settled by the host.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Payout {
    pub id: String,
    pub vendor_id: String,
    pub amount: i64,
    pub currency: String,
    pub status: PayoutStatus,
    pub order_ids: Vec<String>,
    pub transfer_group: Option<String>,
    pub stripe_transfer_id: Option<String>,
    pub stripe_payout_id: Option<String>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub metadata: Map<String, Value>,
    pub created_at: String,
    pub updated_at: String,
}

/// Body of `POST /admin/vendors/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VendorUpdate {
    /// Absent: keep; `null` or `""`: unlink; a string: link.
    #[serde(default, deserialize_with = "present")]
    pub stripe_account_id: Option<Option<String>>,
    pub onboarding_status: Option<OnboardingStatus>,
    pub metadata: Option<Map<String, Value>>,
}

/// Body of `POST /admin/payouts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PayoutCreate {
    pub vendor_id: String,
    pub amount: i64,
    pub currency: String,
    #[serde(default)]
    pub order_ids: Vec<String>,
    pub transfer_group: Option<String>,
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

/// Body of `POST /admin/payouts/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PayoutUpdate {
    pub status: PayoutStatus,
    pub stripe_transfer_id: Option<String>,
    pub stripe_payout_id: Option<String>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub metadata: Option<Map<String, Value>>,
}

/// The fields `POST /admin/products/{id}` accepts, used to check types;
/// the update itself is applied field by field to the stored JSON.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "deserialised only to validate the request body")]
pub(crate) struct ProductUpdate {
    title: Option<String>,
    subtitle: Option<String>,
    description: Option<String>,
    handle: Option<String>,
    status: Option<ProductStatus>,
    thumbnail: Option<String>,
    images: Option<Vec<ImageInput>>,
    external_id: Option<String>,
    is_giftcard: Option<bool>,
    discountable: Option<bool>,
    material: Option<String>,
    hs_code: Option<String>,
    origin_country: Option<String>,
    mid_code: Option<String>,
    weight: Option<f64>,
    length: Option<f64>,
    height: Option<f64>,
    width: Option<f64>,
    collection_id: Option<String>,
    type_id: Option<String>,
    tags: Option<Vec<Value>>,
    categories: Option<Vec<Value>>,
    sales_channels: Option<Vec<Value>>,
    options: Option<Vec<Value>>,
    variants: Option<Vec<Value>>,
    metadata: Option<Map<String, Value>>,
    additional_data: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ProductStatus {
    Draft,
    Proposed,
    Published,
    Rejected,
}

/// One entry of `images` in a product update.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "deserialised only to validate the request body")]
struct ImageInput {
    id: Option<String>,
    url: String,
}

/// Tells an absent field (`None`) from one sent as `null` (`Some(None)`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Applies a metadata patch the way Medusa does: each key is set, and a
/// key sent as `""` or `null` is removed.
pub(crate) fn merge_metadata(metadata: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (key, value) in patch {
        if value.is_null() || value.as_str() == Some("") {
            metadata.remove(&key);
        } else {
            metadata.insert(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("an object")
    }

    #[test]
    fn metadata_merge_sets_keeps_and_deletes() {
        let mut metadata = object(json!({"keep": 1, "change": "a", "blank": "x", "nulled": true}));
        let patch = object(json!({"change": "b", "blank": "", "nulled": null, "new": [1]}));
        merge_metadata(&mut metadata, patch);
        assert_eq!(
            Value::Object(metadata),
            json!({"keep": 1, "change": "b", "new": [1]})
        );
    }

    #[test]
    fn metadata_merge_of_missing_keys_is_harmless() {
        let mut metadata = Map::new();
        merge_metadata(&mut metadata, object(json!({"gone": "", "also": null})));
        assert!(metadata.is_empty());
    }

    #[test]
    fn vendor_update_tells_absent_from_null() {
        let absent: VendorUpdate = serde_json::from_value(json!({})).expect("valid");
        assert_eq!(absent.stripe_account_id, None);
        let null: VendorUpdate =
            serde_json::from_value(json!({"stripe_account_id": null})).expect("valid");
        assert_eq!(null.stripe_account_id, Some(None));
    }

    #[test]
    fn vendor_update_refuses_unknown_status_and_fields() {
        let status = json!({"onboarding_status": "approved"});
        assert!(serde_json::from_value::<VendorUpdate>(status).is_err());
        let unknown = json!({"onboarding": "complete"});
        assert!(serde_json::from_value::<VendorUpdate>(unknown).is_err());
        let wrong_type = json!({"metadata": "x"});
        assert!(serde_json::from_value::<VendorUpdate>(wrong_type).is_err());
    }
}
