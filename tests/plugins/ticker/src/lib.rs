//! `ticker`: a test plugin whose one job, `tick`, is due every second and
//! returns at once, counting its runs in kv, so tests can see that it keeps
//! to its schedule whatever other plugins' jobs do.

wit_bindgen::generate!({
    path: "../../../wit",
    world: "integration",
});

use exports::switchyard::plugin::plugin::{
    CallContext, Delivery, Event, Guest, JobReport, JobSpec, PluginManifest as Manifest, Verified,
    WebhookRequest,
};
use switchyard::plugin::kv;
use switchyard::plugin::types::PluginError;

struct Ticker;

impl Guest for Ticker {
    fn manifest() -> Manifest {
        Manifest {
            name: "ticker".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            wit_version: "0.1.0".into(),
            description: "An instant job".into(),
            jobs: vec![JobSpec {
                name: "tick".into(),
                schedule: "* * * * * *".into(),
                description: "counts its runs".into(),
            }],
            subscriptions: Vec::new(),
            actions: Vec::new(),
            config: Vec::new(),
            hosts: Vec::new(),
            routes: Vec::new(),
        }
    }

    fn verify_webhook(_ctx: CallContext, _req: WebhookRequest) -> Result<Verified, String> {
        Err("ticker takes no webhooks".into())
    }

    fn handle_webhook(_ctx: CallContext, delivery: Delivery) -> Result<String, PluginError> {
        Err(PluginError::Unsupported(delivery.event_type))
    }

    fn handle_event(_ctx: CallContext, event: Event) -> Result<String, PluginError> {
        Err(PluginError::Unsupported(event.name))
    }

    fn run_job(_ctx: CallContext, name: String) -> Result<JobReport, PluginError> {
        if name != "tick" {
            return Err(PluginError::Unsupported(name));
        }
        let ticks =
            kv::increment("ticks", 1).map_err(|e| PluginError::Retryable(format!("{e:?}")))?;
        let ticks = u64::try_from(ticks).unwrap_or(0);
        Ok(JobReport {
            counts: vec![("ticks".into(), ticks)],
            summary: format!("tick {ticks}"),
        })
    }

    fn call_action(_ctx: CallContext, name: String, _input: String) -> Result<String, PluginError> {
        Err(PluginError::Unsupported(name))
    }
}

export!(Ticker);
