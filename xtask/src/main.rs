//! `cargo xtask`: the project's two entry points.
//!
//! - `cargo xtask demo` builds the host, the simulators and the plugins,
//!   then serves the demo tenant against local simulators.
//! - `cargo xtask test` builds the plugins and runs every test.
//!
//! Plain Rust rather than a shell script, so it runs wherever cargo does.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};

/// How long the simulators get to bind their ports before the host starts.
const SIMULATOR_START: Duration = Duration::from_millis(300);

/// The target plugins are built for.
const WASM_TARGET: &str = "wasm32-wasip2";

/// Demo secrets: published, so the host warns that it runs with them.
const DEMO_SECRETS: [(&str, &str); 5] = [
    ("STRIPE_WEBHOOK_SECRET", "whsec_switchyard_demo"),
    ("STRIPE_SECRET_KEY", "sk_test_switchyard_demo"),
    ("MEDUSA_API_KEY", "sk_switchyard_demo_medusa"),
    ("SWITCHYARD_DEMO_EVENTS_SECRET", "switchyard_demo_events"),
    ("SWITCHYARD_ADMIN_TOKEN", "switchyard_demo_admin"),
];

/// Plugin workspaces and the components each produces.
const PLUGIN_WORKSPACES: [(&str, &[&str]); 2] = [
    ("plugins/Cargo.toml", &["stripe_connect"]),
    (
        "tests/plugins/Cargo.toml",
        &[
            "probe",
            "spin",
            "hog",
            "trap",
            "panicker",
            "netprobe",
            "exfil",
            "other_wit",
            "sleeper",
            "ticker",
        ],
    ),
];

/// Test plugins built once more with a cargo feature, as (component,
/// feature, installed name): `probe` with `v2` reports another version, for
/// hot-swap tests. Each gets a target folder of its own so that its build
/// never overwrites the ordinary one's artifact.
const TEST_PLUGIN_VARIANTS: [(&str, &str, &str); 1] = [("probe", "v2", "probe-v2")];

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let outcome = match task.as_str() {
        "demo" => demo(),
        "test" => test(),
        "plugins" => build_plugins(),
        _ => {
            eprintln!("usage: cargo xtask <demo|test|plugins>");
            eprintln!("  demo     build everything and serve the demo tenant with simulators");
            eprintln!("  test     build the plugins and run the whole test suite");
            eprintln!("  plugins  build the plugins into target/plugins");
            return ExitCode::from(2);
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    // `cargo run` says where the checkout is at run time; the compile-time
    // value would point at another checkout sharing this target dir.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest_dir
        .parent()
        .map_or(manifest_dir.clone(), Path::to_path_buf)
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(root());
    command
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot run {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}

/// Adds the wasm target when rustup lacks it; a toolchain without rustup
/// must have it already.
fn ensure_wasm_target() -> anyhow::Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    match installed {
        Ok(out)
            if String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|l| l == WASM_TARGET) =>
        {
            Ok(())
        }
        Ok(_) => run(Command::new("rustup").args(["target", "add", WASM_TARGET])),
        Err(_) => {
            eprintln!("xtask: rustup not found; assuming {WASM_TARGET} is installed");
            Ok(())
        }
    }
}

/// Builds every plugin workspace and copies the components into
/// `target/plugins` (product plugins) and `target/test-plugins` (test ones).
fn build_plugins() -> anyhow::Result<()> {
    ensure_wasm_target()?;
    let root = root();
    let target_dir = root.join("target");
    for (manifest, components) in PLUGIN_WORKSPACES {
        run(cargo()
            .args([
                "build",
                "--release",
                "--target",
                WASM_TARGET,
                "--manifest-path",
                manifest,
            ])
            .arg("--target-dir")
            .arg(&target_dir))?;
        let out_dir = if manifest.starts_with("tests/") {
            "test-plugins"
        } else {
            "plugins"
        };
        let out_dir = target_dir.join(out_dir);
        std::fs::create_dir_all(&out_dir)
            .with_context(|| format!("cannot create {}", out_dir.display()))?;
        for component in components {
            let built = target_dir
                .join(WASM_TARGET)
                .join("release")
                .join(format!("{component}.wasm"));
            let installed = out_dir.join(format!("{}.wasm", component.replace('_', "-")));
            std::fs::copy(&built, &installed).with_context(|| {
                format!("cannot copy {} to {}", built.display(), installed.display())
            })?;
        }
    }
    build_test_plugin_variants(&target_dir)
}

/// Builds each of [`TEST_PLUGIN_VARIANTS`] in `target/variants/<name>` and
/// copies it to `target/test-plugins/<name>.wasm`.
fn build_test_plugin_variants(target_dir: &Path) -> anyhow::Result<()> {
    for (component, feature, name) in TEST_PLUGIN_VARIANTS {
        let variant_dir = target_dir.join("variants").join(name);
        run(cargo()
            .args(["build", "--release", "--target", WASM_TARGET])
            .args(["--manifest-path", "tests/plugins/Cargo.toml"])
            .args(["--package", &component.replace('_', "-")])
            .args(["--features", feature])
            .arg("--target-dir")
            .arg(&variant_dir))?;
        let built = variant_dir
            .join(WASM_TARGET)
            .join("release")
            .join(format!("{component}.wasm"));
        let installed = target_dir.join("test-plugins").join(format!("{name}.wasm"));
        std::fs::copy(&built, &installed).with_context(|| {
            format!("cannot copy {} to {}", built.display(), installed.display())
        })?;
    }
    Ok(())
}

fn test() -> anyhow::Result<()> {
    build_plugins()?;
    run(cargo().args(["build", "--workspace", "--bins"]))?;
    run(cargo().args(["test", "--workspace"]))?;
    run(cargo()
        .args(["test", "--manifest-path", "plugins/Cargo.toml", "--target"])
        .arg(host_triple()?))
}

fn host_triple() -> anyhow::Result<String> {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .context("cannot run rustc -vV")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let host = text.lines().find_map(|l| l.strip_prefix("host: "));
    host.map(str::to_owned)
        .context("rustc -vV printed no host triple")
}

fn demo() -> anyhow::Result<()> {
    build_plugins()?;
    run(cargo().args(["build", "--bin", "switchyard", "--bin", "switchyard-sim"]))?;
    let target_dir =
        std::env::var_os("CARGO_TARGET_DIR").map_or(root().join("target"), PathBuf::from);
    let bin = target_dir.join("debug");

    // Demo values only where the caller set nothing, so real ones win.
    let demo_env: Vec<(&str, &str)> = DEMO_SECRETS
        .into_iter()
        .filter(|(var, _)| std::env::var_os(var).is_none())
        .collect();
    for (var, value) in &demo_env {
        eprintln!("xtask: {var}={value} (demo value)");
    }

    let simulators = Command::new(bin.join("switchyard-sim"))
        .current_dir(root())
        .envs(demo_env.iter().copied())
        .spawn()
        .context("cannot start the simulators")?;
    let children = Arc::new(Mutex::new(vec![simulators]));
    stop_children_on_signal(&children)?;
    std::thread::sleep(SIMULATOR_START);
    if let Some(status) = exited(&children, 0) {
        bail!(
            "the simulators stopped at once ({status}): are ports 8791 and 8792 taken, \
             perhaps by a demo still running?"
        );
    }
    let host = Command::new(bin.join("switchyard"))
        .current_dir(root())
        .envs(demo_env.iter().copied())
        .args(["serve", "--config", "plugins.toml"])
        .spawn()
        .context("cannot start the host")?;
    lock(&children).push(host);
    let served = loop {
        if let Some(status) = exited(&children, 1) {
            break status;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    stop_all(&children);
    if !served.success() {
        bail!("the host stopped with {served}");
    }
    Ok(())
}

/// The demo's processes, stopped together however the demo ends.
type Children = Arc<Mutex<Vec<Child>>>;

fn lock(children: &Children) -> std::sync::MutexGuard<'_, Vec<Child>> {
    children
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The exit status of child `index`, once it has exited.
fn exited(children: &Children, index: usize) -> Option<ExitStatus> {
    lock(children).get_mut(index)?.try_wait().ok().flatten()
}

/// Ctrl-C reaches the whole process group, but a SIGTERM or SIGHUP sent to
/// xtask alone would leave the host and simulators holding their ports.
fn stop_children_on_signal(children: &Children) -> anyhow::Result<()> {
    let children = children.clone();
    ctrlc::set_handler(move || {
        stop_all(&children);
        std::process::exit(130);
    })
    .context("cannot handle termination signals")
}

fn stop_all(children: &Children) {
    for child in lock(children).iter_mut() {
        stop(child);
    }
}

fn stop(child: &mut Child) {
    // Neither the simulators nor a demo host hold state worth a graceful
    // stop: the host's inbox is durable.
    let _ = child.kill();
    let _ = child.wait();
}
