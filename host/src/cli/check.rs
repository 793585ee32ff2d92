//! `switchyard check`: load the config and every plugin as `serve` would,
//! print what is wrong, and exit non-zero on any error.

use std::path::Path;
use std::process::ExitCode;

use super::out::outln;
use super::plugins::load_offline;

pub(super) async fn run(config_path: &Path) -> anyhow::Result<ExitCode> {
    let (config, registry) = load_offline(config_path).await?;
    for problem in registry.problems() {
        outln!("{problem}");
    }
    let plugins = registry.plugins().count();
    let bindings = registry.bindings().count();
    let errors = registry
        .problems()
        .iter()
        .filter(|p| p.severity == crate::registry::Severity::Error)
        .count();
    outln!(
        "{}: {plugins} plugin(s), {bindings} tenant binding(s), {errors} error(s)",
        config.path.display()
    );
    Ok(if registry.has_errors() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
