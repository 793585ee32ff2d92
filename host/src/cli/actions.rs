//! `switchyard actions call`: run a plugin's admin action on a running host.

use std::process::ExitCode;

use anyhow::Context;
use serde_json::Value;

use super::CallArgs;
use super::out::outln;
use super::remote::AdminApi;

/// Calls the action `args` name with its JSON input and prints the
/// plugin's answer.
pub(super) async fn call(args: CallArgs) -> anyhow::Result<ExitCode> {
    let input: Value = serde_json::from_str(&args.input).context("--input is not JSON")?;
    let api = AdminApi::locate(&args.host)?;
    let path = ["actions", &args.plugin, &args.tenant, &args.action];
    let answer = api.post(&path, &input).await?;
    outln!("{:#}", answer["result"]);
    Ok(ExitCode::SUCCESS)
}
