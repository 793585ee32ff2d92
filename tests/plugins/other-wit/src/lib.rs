//! `other-wit`: a test plugin built against `switchyard:plugin@0.2.0`, a
//! version of the contract this host does not support (its copy, `wit/`,
//! differs from `wit/switchyard.wit` only in the package line). The host's
//! loading tests use it: the host must refuse it at load, naming the
//! plugin, its version and the supported versions, and still load the
//! rest. Bare wit-bindgen, because the SDK only speaks the current version.

wit_bindgen::generate!({
    path: "wit",
    world: "integration",
});

use exports::switchyard::plugin::plugin::{
    ActionSpec, CallContext, Delivery, Event, Guest, JobReport, PluginManifest, Verified,
    WebhookRequest,
};
use switchyard::plugin::types::PluginError;

/// Every call's answer: reaching one at all means the host ran a plugin it
/// should have refused.
const NEVER: &str = "other-wit targets switchyard:plugin@0.2.0 and should never run";

struct OtherWit;

impl Guest for OtherWit {
    fn manifest() -> PluginManifest {
        PluginManifest {
            name: "other-wit".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            wit_version: "0.2.0".into(),
            description: "Built against an unsupported WIT version".into(),
            jobs: Vec::new(),
            subscriptions: Vec::new(),
            actions: vec![ActionSpec {
                name: "run".into(),
                description: "fails: the plugin should not load".into(),
            }],
            config: Vec::new(),
            hosts: Vec::new(),
            routes: Vec::new(),
        }
    }

    fn verify_webhook(_ctx: CallContext, req: WebhookRequest) -> Result<Verified, String> {
        let id = req
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("x-probe-id"));
        let event_id = id.ok_or("missing x-probe-id")?.1.clone();
        let event_type = "other-wit.webhook".into();
        Ok(Verified {
            event_id,
            event_type,
        })
    }

    fn handle_webhook(_ctx: CallContext, _delivery: Delivery) -> Result<String, PluginError> {
        Err(PluginError::Permanent(NEVER.into()))
    }

    fn handle_event(_ctx: CallContext, _event: Event) -> Result<String, PluginError> {
        Err(PluginError::Permanent(NEVER.into()))
    }

    fn run_job(_ctx: CallContext, _name: String) -> Result<JobReport, PluginError> {
        Err(PluginError::Permanent(NEVER.into()))
    }

    fn call_action(
        _ctx: CallContext,
        _name: String,
        _input: String,
    ) -> Result<String, PluginError> {
        Err(PluginError::Permanent(NEVER.into()))
    }
}

export!(OtherWit);
