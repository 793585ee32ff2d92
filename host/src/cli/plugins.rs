//! `switchyard plugins list`, and loading plugins without serving.

use std::path::Path;
use std::process::ExitCode;

use serde_json::Value;

use super::out::outln;
use super::remote::admin_request;
use crate::capabilities::clock::Clock;
use crate::config::Config;
use crate::registry::Registry;
use crate::runtime::Runtime;
use crate::services::HostServices;
use crate::store::Store;

/// Loads the config and plugins the way `serve` does, with an in-memory
/// store so nothing on disk changes.
pub(super) async fn load_offline(config_path: &Path) -> anyhow::Result<(Config, Registry)> {
    let config = Config::load(config_path)?;
    let store = Store::open("sqlite::memory:").await?;
    let services = HostServices::new(Clock::system(), store)?;
    let runtime = Runtime::new(services, config.limits.clone(), config.cache_dir.clone())?;
    let registry = Registry::load(&runtime, &config).await;
    Ok((config, registry))
}

/// Lists plugins: those a running host serves when `url` is given (its
/// admin API, with the token from `SWITCHYARD_ADMIN_TOKEN`), else those the
/// config and plugins directory would load.
pub(super) async fn list(
    config_path: &Path,
    url: Option<&str>,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let listing = match url {
        Some(url) => admin_request(url, "plugins", None).await?,
        None => load_offline(config_path).await?.1.describe(),
    };
    if as_json {
        outln!("{listing:#}");
    } else {
        print_table(&listing);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(listing: &Value) {
    outln!(
        "{:<20} {:<12} {:<6} {:<24} FILE",
        "PLUGIN",
        "VERSION",
        "WIT",
        "TENANTS"
    );
    for plugin in listing["plugins"].as_array().into_iter().flatten() {
        let manifest = &plugin["manifest"];
        let tenants: Vec<&str> = plugin["tenants"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let tenants = if tenants.is_empty() {
            "-".to_owned()
        } else {
            tenants.join(",")
        };
        outln!(
            "{:<20} {:<12} {:<6} {:<24} {}",
            text(&manifest["name"]),
            text(&manifest["version"]),
            text(&manifest["wit_version"]),
            tenants,
            text(&plugin["file"])
        );
    }
    for problem in listing["problems"].as_array().into_iter().flatten() {
        let mut line = format!("{}:", text(&problem["severity"]));
        for key in ["file", "plugin", "tenant"] {
            if let Some(value) = problem[key].as_str() {
                line.push_str(&format!(" {key} {value}:"));
            }
        }
        outln!("{line} {}", text(&problem["message"]));
    }
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("-")
}
