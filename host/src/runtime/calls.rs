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
            "verify-webhook",
            move |inst, store, ctx| {
                Box::pin(async move {
                    inst.switchyard_plugin_plugin()
                        .call_verify_webhook(store, &ctx, &req)
                        .await
                })
            },
        )
        .await
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
        self.call_in_txn(
            plugin,
            binding,
            txn,
            "handle-webhook",
            move |inst, store, ctx| {
                Box::pin(async move {
                    inst.switchyard_plugin_plugin()
                        .call_handle_webhook(store, &ctx, &delivery)
                        .await
                })
            },
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
        self.call_in_txn(
            plugin,
            binding,
            txn,
            "handle-event",
            move |inst, store, ctx| {
                Box::pin(async move {
                    inst.switchyard_plugin_plugin()
                        .call_handle_event(store, &ctx, &event)
                        .await
                })
            },
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
        self.call(plugin, binding, "run-job", move |inst, store, ctx| {
            Box::pin(async move {
                inst.switchyard_plugin_plugin()
                    .call_run_job(store, &ctx, &name)
                    .await
            })
        })
        .await
    }

    /// `call-action` with JSON input; answers JSON.
    pub async fn call_action(
        &self,
        plugin: &Plugin,
        binding: &Arc<Binding>,
        name: String,
        input: String,
    ) -> CallResult<String> {
        self.call(plugin, binding, "call-action", move |inst, store, ctx| {
            Box::pin(async move {
                inst.switchyard_plugin_plugin()
                    .call_call_action(store, &ctx, &name, &input)
                    .await
            })
        })
        .await
    }
}
