//! `switchyard plugins list`, and loading plugins without serving.

use std::path::Path;
use std::process::ExitCode;

use serde_json::Value;

use super::ListArgs;
use super::out::{outln, print_table};
use super::remote::AdminApi;
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
    let runtime = Runtime::new(services, &config)?;
    let registry = Registry::load(&runtime, &config).await;
    Ok((config, registry))
}

/// Lists plugins: those a running host serves when `--url` is given (its
/// admin API), else those the config and plugins directory would load.
/// Offline, any error among the problems fails the command, as `check`
/// does; a running host's listing succeeds, since that host is serving
/// whatever it lists.
pub(super) async fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let (listing, code) = match &args.url {
        Some(url) => {
            let api = AdminApi::new(url, args.token.as_deref())?;
            (api.get(&["plugins"]).await?, ExitCode::SUCCESS)
        }
        None => {
            let registry = load_offline(&args.config.config).await?.1;
            let code = if registry.has_errors() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
            (registry.describe(), code)
        }
    };
    if args.json {
        outln!("{listing:#}");
    } else {
        print_listing(&listing);
    }
    Ok(code)
}

/// Columns of the plugin table.
const COLUMNS: [&str; 5] = ["PLUGIN", "VERSION", "WIT", "TENANTS", "FILE"];

/// The plugins as a table, then one line per problem.
fn print_listing(listing: &Value) {
    let plugins = listing["plugins"].as_array().into_iter().flatten();
    let rows: Vec<Vec<String>> = plugins.map(plugin_row).collect();
    print_table(&COLUMNS, &rows);
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

fn plugin_row(plugin: &Value) -> Vec<String> {
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
    vec![
        text(&manifest["name"]).to_owned(),
        text(&manifest["version"]).to_owned(),
        text(&manifest["wit_version"]).to_owned(),
        tenants,
        text(&plugin["file"]).to_owned(),
    ]
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("-")
}
