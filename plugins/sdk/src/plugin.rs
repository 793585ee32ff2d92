//! The [`Plugin`] trait a plugin implements, and the adapter that turns it
//! into the WIT export `switchyard:plugin/plugin`.

use core::marker::PhantomData;

use crate::bindings::exports::switchyard::plugin::plugin as wit;
use crate::{
    Context, Delivery, Event, JobReport, Manifest, PluginError, RouteKind, Verified, WebhookRequest,
};

/// An integration. Only [`Plugin::manifest`] is required: every other call
/// answers "unsupported" until the plugin overrides it.
///
/// Each call runs in a fresh instance, so nothing survives between calls
/// except what the plugin writes to [`crate::kv`]; the methods take no
/// `self` for that reason.
pub trait Plugin {
    /// Describes the plugin. Called when the host loads it; must be pure and
    /// quick. The SDK fills in the WIT version.
    fn manifest() -> Manifest;

    /// Checks a webhook's authenticity, quickly and without side effects,
    /// and names the event. The host answers the sender from the result and
    /// stores the delivery only when it is `Ok`.
    fn verify_webhook(_ctx: &Context, _request: WebhookRequest) -> Result<Verified, String> {
        Err("this plugin accepts no webhooks".to_owned())
    }

    /// Processes a stored webhook, perhaps again after a failure: must be
    /// idempotent. Returns a short summary of what it did.
    fn handle_webhook(_ctx: &Context, _delivery: Delivery) -> Result<String, PluginError> {
        Err(PluginError::unsupported("this plugin handles no webhooks"))
    }

    /// Processes a domain event from Medusa or another plugin, perhaps again
    /// after a failure: must be idempotent.
    fn handle_event(_ctx: &Context, event: Event) -> Result<String, PluginError> {
        Err(PluginError::unsupported(format!(
            "no handler for event {}",
            event.name
        )))
    }

    /// Runs one scheduled job by name.
    fn run_job(_ctx: &Context, name: &str) -> Result<JobReport, PluginError> {
        Err(PluginError::unsupported(format!("no job named {name}")))
    }

    /// Runs an admin action with JSON input, answering JSON.
    fn call_action(_ctx: &Context, name: &str, _input: &str) -> Result<String, PluginError> {
        Err(PluginError::unsupported(format!("no action named {name}")))
    }
}

/// A registered plugin's calls, as [`crate::export_plugin!`] lists them
/// off wasm; what the host would call, for native tests.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct PluginCalls {
    /// [`Plugin::manifest`].
    pub manifest: fn() -> Manifest,
    /// [`Plugin::verify_webhook`].
    pub verify_webhook: fn(&Context, WebhookRequest) -> Result<Verified, String>,
    /// [`Plugin::handle_webhook`].
    pub handle_webhook: fn(&Context, Delivery) -> Result<String, PluginError>,
    /// [`Plugin::handle_event`].
    pub handle_event: fn(&Context, Event) -> Result<String, PluginError>,
    /// [`Plugin::run_job`].
    pub run_job: fn(&Context, &str) -> Result<JobReport, PluginError>,
    /// [`Plugin::call_action`].
    pub call_action: fn(&Context, &str, &str) -> Result<String, PluginError>,
}

/// Implements the WIT export for any [`Plugin`]; [`crate::export_plugin!`]
/// registers it. Not meant to be named by plugin code.
#[doc(hidden)]
pub struct Adapter<P>(PhantomData<P>);

impl<P: Plugin> wit::Guest for Adapter<P> {
    fn manifest() -> wit::PluginManifest {
        to_wit_manifest(P::manifest())
    }

    fn verify_webhook(
        ctx: wit::CallContext,
        req: wit::WebhookRequest,
    ) -> Result<wit::Verified, String> {
        let request = WebhookRequest {
            path: req.path,
            query: req.query,
            headers: req.headers,
            body: req.body,
        };
        let verified = P::verify_webhook(&context(ctx), request)?;
        Ok(wit::Verified {
            event_id: verified.event_id,
            event_type: verified.event_type,
        })
    }

    fn handle_webhook(ctx: wit::CallContext, d: wit::Delivery) -> Result<String, wit::PluginError> {
        let delivery = Delivery {
            id: d.id,
            event_id: d.event_id,
            event_type: d.event_type,
            headers: d.headers,
            body: d.body,
            received_at_ms: d.received_at_ms,
            attempt: d.attempt,
        };
        P::handle_webhook(&context(ctx), delivery).map_err(to_wit_error)
    }

    fn handle_event(ctx: wit::CallContext, e: wit::Event) -> Result<String, wit::PluginError> {
        let event = Event {
            id: e.id,
            name: e.name,
            data: e.data,
            source: e.source,
            received_at_ms: e.received_at_ms,
            attempt: e.attempt,
        };
        P::handle_event(&context(ctx), event).map_err(to_wit_error)
    }

    fn run_job(ctx: wit::CallContext, name: String) -> Result<wit::JobReport, wit::PluginError> {
        let report = P::run_job(&context(ctx), &name).map_err(to_wit_error)?;
        Ok(wit::JobReport {
            counts: report.counts,
            summary: report.summary,
        })
    }

    fn call_action(
        ctx: wit::CallContext,
        name: String,
        input: String,
    ) -> Result<String, wit::PluginError> {
        P::call_action(&context(ctx), &name, &input).map_err(to_wit_error)
    }
}

fn context(ctx: wit::CallContext) -> Context {
    Context {
        tenant: ctx.tenant,
        call_id: ctx.call_id,
    }
}

fn to_wit_error(error: PluginError) -> wit::PluginError {
    match error {
        PluginError::Retryable(m) => wit::PluginError::Retryable(m),
        PluginError::Permanent(m) => wit::PluginError::Permanent(m),
        PluginError::InvalidInput(m) => wit::PluginError::InvalidInput(m),
        PluginError::Unsupported(m) => wit::PluginError::Unsupported(m),
    }
}

fn to_wit_manifest(m: Manifest) -> wit::PluginManifest {
    wit::PluginManifest {
        name: m.name,
        version: m.version,
        wit_version: crate::WIT_VERSION.to_owned(),
        description: m.description,
        jobs: m.jobs.into_iter().map(to_wit_job).collect(),
        subscriptions: m.subscriptions,
        actions: m.actions.into_iter().map(to_wit_action).collect(),
        config: m.config.into_iter().map(to_wit_config).collect(),
        hosts: m.hosts,
        routes: m.routes.into_iter().map(to_wit_route).collect(),
    }
}

fn to_wit_job(job: crate::JobSpec) -> wit::JobSpec {
    wit::JobSpec {
        name: job.name,
        schedule: job.schedule,
        description: job.description,
    }
}

fn to_wit_action(action: crate::ActionSpec) -> wit::ActionSpec {
    wit::ActionSpec {
        name: action.name,
        description: action.description,
    }
}

fn to_wit_config(key: crate::ConfigKey) -> wit::ConfigKey {
    wit::ConfigKey {
        name: key.name,
        secret: key.secret,
        required: key.required,
        description: key.description,
    }
}

fn to_wit_route(route: crate::RouteAlias) -> wit::RouteAlias {
    let kind = match route.kind {
        RouteKind::Webhook => wit::RouteKind::Webhook,
        RouteKind::Action(name) => wit::RouteKind::Action(name),
    };
    wit::RouteAlias {
        path: route.path,
        kind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::exports::switchyard::plugin::plugin::Guest;

    struct Bare;

    impl Plugin for Bare {
        fn manifest() -> Manifest {
            Manifest::new("bare", "0.0.1", "does nothing")
        }
    }

    fn ctx() -> wit::CallContext {
        wit::CallContext {
            tenant: "t".into(),
            call_id: "c".into(),
        }
    }

    #[test]
    fn manifest_carries_the_wit_version() {
        let manifest = <Adapter<Bare> as Guest>::manifest();
        assert_eq!(manifest.wit_version, crate::WIT_VERSION);
        assert_eq!(manifest.name, "bare");
    }

    #[test]
    fn defaults_answer_unsupported() {
        let outcome = <Adapter<Bare> as Guest>::run_job(ctx(), "nightly".into());
        assert!(matches!(outcome, Err(wit::PluginError::Unsupported(m)) if m.contains("nightly")));
        let outcome = <Adapter<Bare> as Guest>::call_action(ctx(), "a".into(), "{}".into());
        assert!(matches!(outcome, Err(wit::PluginError::Unsupported(_))));
    }
}
