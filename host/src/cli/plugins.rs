//! `switchyard plugins list`, and loading plugins without serving.

use std::path::Path;
use std::process::ExitCode;

use serde_json::json;

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
    let runtime = Runtime::new(services, config.call_timeout)?;
    let registry = Registry::load(&runtime, &config).await;
    Ok((config, registry))
}

pub(super) async fn list(config_path: &Path, as_json: bool) -> anyhow::Result<ExitCode> {
    let (_, registry) = load_offline(config_path).await?;
    let tenants_of = |name: &str| -> Vec<String> {
        registry
            .bindings()
            .filter(|b| b.plugin == name)
            .map(|b| b.tenant.clone())
            .collect()
    };
    if as_json {
        let plugins: Vec<_> = registry
            .plugins()
            .map(|p| json!({ "manifest": p.manifest, "file": p.file, "sha256": p.digest, "tenants": tenants_of(&p.manifest.name) }))
            .collect();
        println!(
            "{:#}",
            json!({ "plugins": plugins, "problems": registry.problems() })
        );
        return Ok(ExitCode::SUCCESS);
    }

    println!(
        "{:<20} {:<10} {:<6} {:<24} FILE",
        "PLUGIN", "VERSION", "WIT", "TENANTS"
    );
    for plugin in registry.plugins() {
        let m = &plugin.manifest;
        let tenants = tenants_of(&m.name).join(",");
        let tenants = if tenants.is_empty() {
            "-".to_owned()
        } else {
            tenants
        };
        println!(
            "{:<20} {:<10} {:<6} {:<24} {}",
            m.name,
            m.version,
            m.wit_version,
            tenants,
            plugin.file.display()
        );
    }
    for problem in registry.problems() {
        println!("{problem}");
    }
    Ok(ExitCode::SUCCESS)
}
