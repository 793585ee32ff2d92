//! Connect OAuth for Standard accounts (UPSTREAMS.md §1.2): the authorize
//! link with a CSRF `state`, its completion, and deauthorization.
//!
//! The `state` is `hex(HMAC-SHA256(webhook secret, "oauth-state" | tenant |
//! vendor | counter | time | call id))`. The host computes the HMAC, so the
//! key never enters the plugin; HMAC is a pseudorandom function, so without
//! the secret the output cannot be predicted even from all the inputs; the
//! kv counter makes every input, and so every state, distinct; and the call
//! id adds 64 random bits drawn by the host. The state is stored in kv with
//! a TTL and consumed with compare-and-swap, so it works once.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use switchyard_plugin_sdk::http::{Form, encode_component};
use switchyard_plugin_sdk::{Context, PluginError, clock, kv, log, secrets};

use crate::account::{AccountState, Onboarding, target_status};
use crate::actions::{account_of, output, plain, vendor};
use crate::links::{self, Kind};
use crate::medusa::Medusa;
use crate::settings::{self, OAUTH_REDIRECT_URI, STRIPE_WEBHOOK_SECRET};
use crate::stripe::{Stripe, id_field};

/// The kv counter that makes each state's input unique.
const STATE_COUNTER: &str = "oauth-state-counter";
/// A state is the hex of a SHA-256 HMAC.
const STATE_LEN: usize = 64;

/// Input of `oauth-authorize-url`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeInput {
    vendor_id: String,
    #[serde(default)]
    redirect_uri: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

/// Input of `oauth-complete`: what Stripe put on the redirect (other
/// parameters, such as `scope`, are ignored).
#[derive(Debug, Deserialize)]
pub struct CompleteInput {
    state: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// Input of `deauthorize`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeauthorizeInput {
    vendor_id: String,
}

/// What a state stands for, under `oauth-state/{state}` until used.
#[derive(Debug, Serialize, Deserialize)]
struct PendingState {
    vendor_id: String,
    created_at_ms: u64,
}

fn state_key(state: &str) -> String {
    format!("oauth-state/{state}")
}

/// `oauth-authorize-url`.
pub fn authorize_url(ctx: &Context, input: AuthorizeInput) -> Result<String, PluginError> {
    let medusa = Medusa::from_config()?;
    let vendor = vendor(&medusa, &input.vendor_id)?;
    let scope = scope(input.scope.as_deref())?;
    let redirect = match input.redirect_uri {
        Some(uri) => Some(settings::checked_url("redirect_uri", &uri)?),
        None => settings::optional_url(OAUTH_REDIRECT_URI)?,
    };
    let (client_id, ttl) = (settings::client_id()?, settings::oauth_state_ttl_secs()?);
    let state = new_state(ctx, &vendor.id)?;
    let pending = PendingState {
        vendor_id: vendor.id.clone(),
        created_at_ms: clock::now_ms(),
    };
    kv::set_json(&state_key(&state), &pending, Some(ttl))?;
    let mut url = format!(
        "{}/oauth/authorize?response_type=code&client_id={}&scope={scope}&state={state}",
        settings::stripe_connect_url()?,
        encode_component(&client_id),
    );
    if let Some(redirect) = redirect {
        url.push_str(&format!("&redirect_uri={}", encode_component(&redirect)));
    }
    output(&json!({"url": url, "state": state, "vendor_id": vendor.id, "expires_in": ttl}))
}

fn scope(asked: Option<&str>) -> Result<&'static str, PluginError> {
    match asked.unwrap_or("read_write") {
        "read_write" => Ok("read_write"),
        "read_only" => Ok("read_only"),
        _ => Err(PluginError::invalid_input(
            "scope must be read_write or read_only",
        )),
    }
}

/// A fresh, unguessable state (see the module docs).
fn new_state(ctx: &Context, vendor_id: &str) -> Result<String, PluginError> {
    let counter = kv::increment(STATE_COUNTER, 1)?;
    let message = format!(
        "oauth-state\n{}\n{vendor_id}\n{counter}\n{}\n{}",
        ctx.tenant,
        clock::now_ms(),
        ctx.call_id
    );
    let mac = secrets::hmac_sha256(STRIPE_WEBHOOK_SECRET, message.as_bytes())?;
    Ok(mac.iter().map(|b| format!("{b:02x}")).collect())
}

/// `oauth-complete`: the state is used up first, whatever follows, so a
/// replayed redirect can never link an account.
pub fn complete(input: CompleteInput) -> Result<String, PluginError> {
    let pending = consume_state(&input.state)?;
    if let Some(error) = input.error.as_deref() {
        let reason = input.error_description.as_deref().unwrap_or(error);
        let reason: String = reason
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
        return Err(PluginError::invalid_input(format!(
            "the vendor did not connect: {reason}"
        )));
    }
    let code = input.code.as_deref().unwrap_or_default();
    if !code.starts_with("ac_") || plain("code", code).is_err() {
        return Err(PluginError::invalid_input("code is not an ac_ code"));
    }
    let stripe = Stripe::from_config()?;
    let account = exchange(&stripe, code)?;
    let status = onboarding_of(&stripe, &account);
    links::remember(&pending.vendor_id, &account, Kind::Standard)?;
    Medusa::from_config()?.link_account(&pending.vendor_id, &account, status)?;
    log::info(
        "standard account connected",
        &[("vendor_id", &pending.vendor_id), ("account", &account)],
    );
    output(&json!({
        "vendor_id": pending.vendor_id,
        "account_id": account,
        "onboarding_status": status.map(Onboarding::as_str),
    }))
}

/// Reads and deletes the state; unknown, expired or already used states
/// are refused alike.
fn consume_state(state: &str) -> Result<PendingState, PluginError> {
    let well_formed = state.len() == STATE_LEN && state.bytes().all(|b| b.is_ascii_hexdigit());
    let refused = || PluginError::invalid_input("unknown, expired or already used state");
    if !well_formed {
        return Err(refused());
    }
    let key = state_key(state);
    let bytes = kv::get(&key)?.ok_or_else(refused)?;
    if !kv::compare_and_swap(&key, Some(&bytes), None)? {
        return Err(refused());
    }
    serde_json::from_slice(&bytes).map_err(|_| refused())
}

/// `POST /oauth/token`: the code for the connected account's id.
fn exchange(stripe: &Stripe, code: &str) -> Result<String, PluginError> {
    let form = Form::new()
        .field("grant_type", "authorization_code")
        .field("code", code);
    let token = stripe.oauth("/oauth/token", &form)?;
    id_field(&token, "stripe_user_id", "acct_")
}

/// The onboarding status the connected account calls for, if it can be
/// read now; `account.updated` will tell later otherwise.
fn onboarding_of(stripe: &Stripe, account: &str) -> Option<Onboarding> {
    match stripe.get(&format!("/v1/accounts/{account}"), None) {
        Ok(object) => target_status(&AccountState::from_object(&object)),
        Err(error) => {
            let reason = PluginError::from(error).to_string();
            log::warn(
                "could not read the connected account",
                &[("account", account), ("error", &reason)],
            );
            None
        }
    }
}

/// `deauthorize`: disconnects the vendor's account at Stripe, then unlinks
/// it in Medusa. A retry after a failed Medusa write skips Stripe, which
/// would refuse an account no longer connected.
pub fn deauthorize(input: DeauthorizeInput) -> Result<String, PluginError> {
    let medusa = Medusa::from_config()?;
    let vendor = vendor(&medusa, &input.vendor_id)?;
    let account = account_of(&vendor)?;
    if !links::is_deauthorized(&account)? {
        disconnect(&account)?;
        links::deauthorized(&account, clock::now_secs(), Some(&vendor.id))?;
    }
    medusa.unlink_account(&vendor.id)?;
    log::info(
        "vendor deauthorized",
        &[("vendor_id", &vendor.id), ("account", &account)],
    );
    output(&json!({"vendor_id": vendor.id, "account_id": account, "deauthorized": true}))
}

fn disconnect(account: &str) -> Result<(), PluginError> {
    let form = Form::new()
        .field("client_id", settings::client_id()?)
        .field("stripe_user_id", account);
    let answer = Stripe::from_config()?.oauth("/oauth/deauthorize", &form);
    match answer {
        Ok(body) if body.get("stripe_user_id").and_then(Value::as_str) == Some(account) => Ok(()),
        Ok(_) => Err(PluginError::permanent("stripe answered another account")),
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{World, field, medusa_host, vendor as medusa_vendor};
    use switchyard_plugin_sdk::http::Response;
    use switchyard_plugin_sdk::testing::TestHost;

    fn ctx() -> Context {
        Context {
            tenant: "acme".into(),
            call_id: "call_1".into(),
        }
    }

    fn connected_world() -> (TestHost, World) {
        let (host, world) = medusa_host(vec![medusa_vendor("ven_1", None, "pending")], vec![]);
        world.on_stripe(|request| {
            let url = request.url();
            if url.ends_with("/oauth/token") {
                Response::json_value(
                    200,
                    &json!({"stripe_user_id": "acct_std", "token_type": "bearer"}),
                )
            } else if url.ends_with("/oauth/deauthorize") {
                Response::json_value(200, &json!({"stripe_user_id": "acct_std"}))
            } else {
                Response::json_value(
                    200,
                    &json!({"id": "acct_std", "charges_enabled": true,
                    "payouts_enabled": true, "details_submitted": true,
                    "requirements": {"currently_due": [], "past_due": []}}),
                )
            }
        });
        (host, world)
    }

    fn authorize(redirect: Option<&str>) -> Value {
        let input = AuthorizeInput {
            vendor_id: "ven_1".into(),
            redirect_uri: redirect.map(str::to_owned),
            scope: None,
        };
        serde_json::from_str(&authorize_url(&ctx(), input).unwrap()).unwrap()
    }

    fn complete_with(state: &str, code: &str) -> Result<String, PluginError> {
        complete(CompleteInput {
            state: state.into(),
            code: Some(code.into()),
            error: None,
            error_description: None,
        })
    }

    #[test]
    fn builds_the_authorize_url_with_a_stored_state() {
        let (host, _world) = connected_world();
        let answer = authorize(Some("https://market.test/back"));
        let state = answer["state"].as_str().unwrap();
        assert_eq!(state.len(), 64);
        assert_eq!(
            answer["url"],
            format!(
                "https://stripe.test/oauth/authorize?response_type=code&client_id=ca_test\
                     &scope=read_write&state={state}\
                     &redirect_uri=https%3A%2F%2Fmarket.test%2Fback"
            )
        );
        assert!(host.kv_value(&format!("oauth-state/{state}")).is_some());
        let second = authorize(None);
        assert_ne!(second["state"], answer["state"], "states must never repeat");
    }

    #[test]
    fn a_state_expires_with_its_ttl() {
        let (host, _world) = connected_world();
        let state = authorize(None)["state"].as_str().unwrap().to_owned();
        host.set_now_ms(host.now_ms() + 601_000);
        assert!(matches!(
            complete_with(&state, "ac_1"),
            Err(PluginError::InvalidInput(_))
        ));
    }

    #[test]
    fn completes_once_and_links_the_vendor() {
        let (host, world) = connected_world();
        let state = authorize(None)["state"].as_str().unwrap().to_owned();
        let answer: Value = serde_json::from_str(&complete_with(&state, "ac_1").unwrap()).unwrap();
        assert_eq!(answer["account_id"], "acct_std");
        assert_eq!(answer["onboarding_status"], "complete");
        let vendor = world.vendors.borrow()[0].clone();
        assert_eq!(
            (
                vendor["stripe_account_id"].clone(),
                vendor["onboarding_status"].clone()
            ),
            (json!("acct_std"), json!("complete"))
        );
        let exchange = host
            .requests()
            .into_iter()
            .find(|r| r.url().ends_with("/oauth/token"))
            .unwrap();
        assert_eq!(
            field(&exchange, "grant_type").as_deref(),
            Some("authorization_code")
        );
        assert_eq!(field(&exchange, "code").as_deref(), Some("ac_1"));
        assert!(matches!(
            complete_with(&state, "ac_1"),
            Err(PluginError::InvalidInput(_))
        ));
    }

    #[test]
    fn refuses_forged_states_and_codes() {
        let (_host, _world) = connected_world();
        assert!(complete_with(&"0".repeat(64), "ac_1").is_err());
        assert!(complete_with("short", "ac_1").is_err());
        let state = authorize(None)["state"].as_str().unwrap().to_owned();
        assert!(complete_with(&state, "xx_1").is_err());
    }

    #[test]
    fn deauthorizes_and_unlinks() {
        let (host, world) = connected_world();
        world.vendors.borrow_mut()[0]["stripe_account_id"] = json!("acct_std");
        let answer: Value = serde_json::from_str(
            &deauthorize(DeauthorizeInput {
                vendor_id: "ven_1".into(),
            })
            .unwrap(),
        )
        .unwrap();
        assert_eq!(answer["deauthorized"], true);
        let sent = host
            .requests()
            .into_iter()
            .find(|r| r.url().ends_with("/oauth/deauthorize"))
            .unwrap();
        assert_eq!(field(&sent, "client_id").as_deref(), Some("ca_test"));
        assert_eq!(field(&sent, "stripe_user_id").as_deref(), Some("acct_std"));
        assert_eq!(world.vendors.borrow()[0]["stripe_account_id"], Value::Null);
    }
}
