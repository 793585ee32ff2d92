//! `switchyard actions call`: run a plugin's admin action on a running host.

use std::process::ExitCode;

use anyhow::Context;
use serde_json::Value;

use super::out::outln;
use super::remote::admin_request;

/// Calls `action` of `plugin` for `tenant` with JSON `input` and prints the
/// plugin's answer.
pub(super) async fn call(
    url: &str,
    plugin: &str,
    tenant: &str,
    action: &str,
    input: &str,
) -> anyhow::Result<ExitCode> {
    let input: Value = serde_json::from_str(input).context("--input is not JSON")?;
    let path = format!("actions/{plugin}/{tenant}/{action}");
    let answer = admin_request(url, &path, Some(&input)).await?;
    outln!("{:#}", answer["result"]);
    Ok(ExitCode::SUCCESS)
}
