//! Prepares the WIT contract for the bindings and reads its version.
//!
//! Two jobs, both from `wit/`:
//!
//! - `WIT_VERSION` comes from the `package switchyard:plugin@…;` line, so it
//!   can never drift from the contract the bindings are generated from.
//! - The bindings are generated from a copy in `OUT_DIR`, not from `wit/`
//!   itself, because wit-parser refuses `wit/switchyard.wit` as written (0.1.0)
//!   for two reasons, mended in the copy without changing any import or
//!   export name the host sees:
//!   - the kv function `list` is named with a WIT keyword; the copy spells
//!     it `%list`, WIT's escape, which names the same import `list`;
//!   - in interface `plugin` the record `manifest` and the function
//!     `manifest` share one namespace; the copy renames the record to
//!     `plugin-manifest`. Type names are not part of how the host finds or
//!     type-checks the exported function, which keeps its name `manifest`.
//!
//!   Once the contract is mended, these rewrites find nothing to change.

use std::fs;
use std::path::{Path, PathBuf};

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

    let out_dir = std::env::var("OUT_DIR").map_err(|e| format!("OUT_DIR: {e}"))?;
    copy_escaped(Path::new(WIT_DIR), &PathBuf::from(out_dir).join("wit"))
}

/// The version in the `package name@version;` declaration.
fn package_version(text: &str) -> Option<&str> {
    text.lines()
        .map(str::trim)
        .find_map(|line| line.strip_prefix("package switchyard:plugin@"))
        .and_then(|rest| rest.strip_suffix(';'))
        .map(str::trim)
}

/// Copies every `.wit` file of `from` into `to`, mended by [`mend`].
fn copy_escaped(from: &Path, to: &Path) -> Result<(), String> {
    fs::create_dir_all(to).map_err(|e| format!("creating {}: {e}", to.display()))?;
    let entries = fs::read_dir(from).map_err(|e| format!("listing {}: {e}", from.display()))?;
    for entry in entries {
        let path = entry
            .map_err(|e| format!("listing {}: {e}", from.display()))?
            .path();
        if path.extension().is_some_and(|ext| ext == "wit") {
            let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let target = to.join(path.file_name().unwrap_or_default());
            fs::write(&target, mend(&text))
                .map_err(|e| format!("writing {}: {e}", target.display()))?;
        }
    }
    Ok(())
}

/// Whole-line rewrites, on lines compared without their indentation.
const REWRITES: &[(&str, &str)] = &[
    ("list: func(", "%list: func("),
    ("record manifest {", "record plugin-manifest {"),
    (
        "manifest: func() -> manifest;",
        "manifest: func() -> plugin-manifest;",
    ),
];

/// Applies [`REWRITES`] to each line that starts with one of them.
fn mend(text: &str) -> String {
    let lines = text.lines().map(|line| {
        let body = line.trim_start();
        let indent = &line[..line.len() - body.len()];
        let rewrite = REWRITES.iter().find(|(from, _)| body.starts_with(from));
        match rewrite {
            Some((from, to)) => format!("{indent}{to}{}", &body[from.len()..]),
            None => line.to_owned(),
        }
    });
    lines.collect::<Vec<_>>().join("\n")
}
