//! Reads the WIT package version from `wit/switchyard.wit` so that
//! `WIT_VERSION` can never drift from the contract the bindings are
//! generated from.

use std::fs;

/// The contract, relative to this crate.
const WIT_DIR: &str = "../../wit";
/// The file holding the package declaration.
const WIT_FILE: &str = "../../wit/switchyard.wit";

fn main() -> Result<(), String> {
    println!("cargo:rerun-if-changed={WIT_DIR}");
    let text = fs::read_to_string(WIT_FILE).map_err(|e| format!("reading {WIT_FILE}: {e}"))?;
    let version = package_version(&text)
        .ok_or_else(|| format!("{WIT_FILE} has no `package switchyard:plugin@<version>;` line"))?;
    println!("cargo:rustc-env=SWITCHYARD_WIT_VERSION={version}");
    Ok(())
}

/// The version in the `package name@version;` declaration.
fn package_version(text: &str) -> Option<&str> {
    text.lines()
        .map(str::trim)
        .find_map(|line| line.strip_prefix("package switchyard:plugin@"))
        .and_then(|rest| rest.strip_suffix(';'))
        .map(str::trim)
}
