//! Random identifiers in the shapes the real upstreams use.

use rand::Rng;
use rand::distr::Alphanumeric;

/// Random ASCII letters and digits, for tokens and id suffixes.
pub(crate) fn alphanumeric(len: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// A Stripe-style id: `acct_`, `tr_`, `po_`, `trr_`… then 24 mixed-case
/// letters and digits.
pub(crate) fn stripe(prefix: &str) -> String {
    format!("{prefix}_{}", alphanumeric(24))
}

/// A Medusa-style id: `payout_01` then 24 upper-case letters and digits,
/// close enough to the ULIDs Medusa uses for ids to sort and read alike.
pub(crate) fn medusa(prefix: &str) -> String {
    format!("{prefix}_01{}", alphanumeric(24).to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_prefix_and_length() {
        let id = stripe("acct");
        assert!(id.starts_with("acct_") && id.len() == 29, "{id}");
        let id = medusa("payout");
        assert!(id.starts_with("payout_01") && id.len() == 33, "{id}");
        assert_ne!(stripe("tr"), stripe("tr"));
    }
}
