//! Talking to a running host through its admin API, for the subcommands
//! that must run inside it (actions, listings of what it serves).

use anyhow::{Context, bail};
use serde_json::Value;

/// Where the host listens when `--url` is not given.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8787";

/// Sends a request to the admin API at `base` and returns the JSON answer;
/// an error answer becomes an error naming the endpoint and the host's code.
pub async fn admin_request(base: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
    let token = std::env::var("SWITCHYARD_ADMIN_TOKEN")
        .context("set SWITCHYARD_ADMIN_TOKEN to the host's admin token")?;
    let endpoint = format!("{}/admin/api/{path}", base.trim_end_matches('/'));
    let client = reqwest::Client::new();
    let request = match body {
        Some(body) => client.post(&endpoint).json(body),
        None => client.get(&endpoint),
    };
    let response = request
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("cannot reach {endpoint}"))?;
    let status = response.status();
    let answer: Value = response
        .json()
        .await
        .with_context(|| format!("{endpoint} answered no JSON"))?;
    if !status.is_success() {
        let code = answer["error"].as_str().unwrap_or("error");
        let message = answer["message"].as_str().unwrap_or("");
        bail!("{endpoint} answered {status} {code}: {message}");
    }
    Ok(answer)
}
