//! Typed calls into a plugin's exports, one function per export, so the
//! rest of the host never touches the generated bindings' call plumbing.

use std::sync::Arc;

use super::bindings::guest::{Delivery, Event, JobReport, Verified, WebhookRequest};
use super::bindings::types::PluginError;
use super::{CallError, Plugin, Runtime};
use crate::registry::Binding;
use crate::store::DeliveryTxn;

/// What a plugin export answered, or how the call failed on the host side.
pub type CallResult<T> = Result<Result<T, PluginError>, CallError>;

/// The closure [`Runtime::call`] runs on a fresh instance: the generated
/// binding `$method` with the call's context and borrowed `$arg`s. Written
/// in argument position, so the compiler infers its higher-ranked type.
macro_rules! export {
    ($method:ident $(, $arg:ident)*) => {
        move |inst, store, ctx| {
            Box::pin(async move {
                inst.switchyard_plugin_plugin()
                    .$method(store, &ctx $(, &$arg)*)
                    .await
            })
        }
    };
}

impl Runtime {
    /// `verify-webhook`: Ok with the event's id and type, or the rejection.
    pub async fn verify_webhook(
        &self,
        plugin: &Plugin,
        binding: &Arc<Binding>,
        req: WebhookRequest,
    ) -> Result<Result<Verified, String>, CallError> {
        self.call(
            plugin,
            binding,
            None,
            "verify-webhook",
            export!(call_verify_webhook, req),
        )
        .await
        .0
    }

    /// `handle-webhook` for a stored delivery; its kv writes and events go
    /// into `txn`, returned with the answer.
    pub async fn handle_webhook(
        &self,
        plugin: &Plugin,
        binding: &Arc<Binding>,
        delivery: Delivery,
        txn: DeliveryTxn,
    ) -> (CallResult<String>, Option<DeliveryTxn>) {
        let txn = Some(txn);
        self.call(
            plugin,
            binding,
            txn,
            "handle-webhook",
            export!(call_handle_webhook, delivery),
        )
        .await
    }

    /// `handle-event` for a stored domain event; its kv writes and events
    /// go into `txn`, returned with the answer.
    pub async fn handle_event(
        &self,
        plugin: &Plugin,
        binding: &Arc<Binding>,
        event: Event,
        txn: DeliveryTxn,
    ) -> (CallResult<String>, Option<DeliveryTxn>) {
        let txn = Some(txn);
        self.call(
            plugin,
            binding,
            txn,
            "handle-event",
            export!(call_handle_event, event),
        )
        .await
    }

    /// `run-job` for the job called `name`.
    pub async fn run_job(
        &self,
        plugin: &Plugin,
        binding: &Arc<Binding>,
        name: String,
    ) -> CallResult<JobReport> {
        self.call(
            plugin,
            binding,
            None,
            "run-job",
            export!(call_run_job, name),
        )
        .await
        .0
    }

    /// `call-action` with JSON input; answers JSON.
    pub async fn call_action(
        &self,
        plugin: &Plugin,
        binding: &Arc<Binding>,
        name: String,
        input: String,
    ) -> CallResult<String> {
        self.call(
            plugin,
            binding,
            None,
            "call-action",
            export!(call_call_action, name, input),
        )
        .await
        .0
    }
}
