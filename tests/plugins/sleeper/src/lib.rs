//! `sleeper`: a test plugin whose one job, `nap`, is due every second and
//! sleeps longer than that (`nap_ms`, 2500 by default), so the scheduler's
//! no-overlap rule and the isolation of other plugins' jobs can be tested.

wit_bindgen::generate!({
    path: "../../../wit",
    world: "integration",
});

use exports::switchyard::plugin::plugin::{
    CallContext, ConfigKey, Delivery, Event, Guest, JobReport, JobSpec, PluginManifest as Manifest,
    Verified, WebhookRequest,
};
use switchyard::plugin::config;
use switchyard::plugin::types::PluginError;

/// How long a nap lasts unless the tenant sets `nap_ms`.
const DEFAULT_NAP_MS: u64 = 2_500;

struct Sleeper;

impl Guest for Sleeper {
    fn manifest() -> Manifest {
        Manifest {
            name: "sleeper".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            wit_version: "0.1.0".into(),
            description: "A job that outlasts its schedule".into(),
            jobs: vec![JobSpec {
                name: "nap".into(),
                schedule: "* * * * * *".into(),
                description: "sleeps for nap_ms".into(),
            }],
            subscriptions: Vec::new(),
            actions: Vec::new(),
            config: vec![ConfigKey {
                name: "nap_ms".into(),
                secret: false,
                required: false,
                description: "how long a nap lasts".into(),
            }],
            hosts: Vec::new(),
            routes: Vec::new(),
        }
    }

    fn verify_webhook(_ctx: CallContext, _req: WebhookRequest) -> Result<Verified, String> {
        Err("sleeper takes no webhooks".into())
    }

    fn handle_webhook(_ctx: CallContext, delivery: Delivery) -> Result<String, PluginError> {
        Err(PluginError::Unsupported(delivery.event_type))
    }

    fn handle_event(_ctx: CallContext, event: Event) -> Result<String, PluginError> {
        Err(PluginError::Unsupported(event.name))
    }

    fn run_job(_ctx: CallContext, name: String) -> Result<JobReport, PluginError> {
        if name != "nap" {
            return Err(PluginError::Unsupported(name));
        }
        let nap_ms = config::get("nap_ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_NAP_MS);
        std::thread::sleep(std::time::Duration::from_millis(nap_ms));
        Ok(JobReport {
            counts: vec![("naps".into(), 1)],
            summary: format!("slept {nap_ms} ms"),
        })
    }

    fn call_action(_ctx: CallContext, name: String, _input: String) -> Result<String, PluginError> {
        Err(PluginError::Unsupported(name))
    }
}

export!(Sleeper);
