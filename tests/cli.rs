//! End to end: the `switchyard` command line against real hosts and real
//! config files. Each test is the regression test of a bug found in a user
//! trial of the CLI: names spliced raw into admin URLs, a `--config` that
//! was ignored when missing, read-only commands that created an empty
//! database, tokens read two ways, a jobs table out of line, `plugins list`
//! exiting 0 on errors and `--limit 0` clamped quietly.

#![expect(clippy::unwrap_used, reason = "a test fails loudly on any broken step")]

use std::process::{Command, Output};

use switchyard_tests::{Host, HostBuilder, host_binary};

const ADMIN: &str = "admin-token-cli";

/// A host with `plugins` whose admin token is in `SWITCHYARD_ADMIN_TOKEN`,
/// which the commands it runs also get.
async fn start(config: &str, plugins: &[&str]) -> Host {
    let config = format!("admin_token = {{ env = \"SWITCHYARD_ADMIN_TOKEN\" }}\n{config}");
    let mut builder = HostBuilder::new(&config).env("SWITCHYARD_ADMIN_TOKEN", ADMIN);
    for plugin in plugins {
        builder = builder.plugin(plugin);
    }
    builder.start().await
}

/// A host where tenant `acme` has `probe`'s actions and `ticker`'s job.
async fn acme_host() -> Host {
    let config = "[tenants.acme.plugins.probe]\n\
                  [tenants.acme.plugins.ticker.jobs.tick]\nenabled = false\n";
    start(config, &["probe", "ticker"]).await
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts that `output` is a failure whose error output contains `part`.
fn assert_fails_with(output: &Output, part: &str) {
    let text = stderr(output);
    assert!(
        !output.status.success(),
        "succeeded: {}{text}",
        stdout(output)
    );
    assert!(text.contains(part), "{part:?} not in {text:?}");
}

#[tokio::test]
async fn names_holding_url_syntax_reach_the_host_as_one_name() {
    let host = acme_host().await;
    let url = host.url.clone();
    let cli = |args: &[&str]| {
        let mut args = args.to_vec();
        args.extend(["--url", &url]);
        host.run_command(&args)
    };
    // The plain names work, so each failure below is the name's doing.
    let called = cli(&["actions", "call", "probe", "counter", "--tenant", "acme"]);
    assert!(called.status.success(), "{}", stderr(&called));
    let ran = cli(&["jobs", "run", "ticker", "tick", "--tenant", "acme"]);
    assert!(ran.status.success(), "{}", stderr(&ran));

    // Spliced into the URL raw, each of these named `counter` or `tick`
    // for `acme` (the rest became a query, a fragment or a deeper path)
    // and ran it.
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "actions",
                "call",
                "probe",
                "counter?x=1#",
                "--tenant",
                "acme",
            ],
            "unknown_action",
        ),
        (
            &[
                "actions",
                "call",
                "probe",
                "counter",
                "--tenant",
                "acme/counter?",
            ],
            "unknown_tenant",
        ),
        (
            &["jobs", "run", "ticker", "tick?", "--tenant", "acme"],
            "unknown_job",
        ),
        (
            &["jobs", "run", "ticker", "tick", "--tenant", "acme/tick#"],
            "unknown_tenant",
        ),
    ];
    for (args, code) in cases {
        assert_fails_with(&cli(args), code);
    }

    // URL parsing drops a `..` segment, so no escaping can carry it.
    let dots = cli(&["actions", "call", "probe", "..", "--tenant", "acme"]);
    assert_fails_with(&dots, "\"..\" cannot be sent");
}

#[tokio::test]
async fn actions_and_jobs_find_the_host_at_the_configs_listen_address() {
    let host = acme_host().await;
    // No --url: both commands must take the address from the config (the
    // host listens on a free port, never on the default one).
    let called = host.run_command(&["actions", "call", "probe", "counter", "--tenant", "acme"]);
    assert!(called.status.success(), "{}", stderr(&called));
    let ran = host.run_command(&["jobs", "run", "ticker", "tick", "--tenant", "acme"]);
    assert!(ran.status.success(), "{}", stderr(&ran));
    assert!(stdout(&ran).contains("ticks=1"), "{}", stdout(&ran));
}

#[test]
fn an_explicit_config_that_cannot_be_read_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    // Without a token no version of these commands can send a request, so
    // a fallback to the default address fails on the token instead of
    // reaching whatever listens there.
    let commands: [&[&str]; 2] = [
        &["jobs", "run", "ticker", "tick", "--tenant", "acme"],
        &["actions", "call", "probe", "counter", "--tenant", "acme"],
    ];
    for args in commands {
        let output = Command::new(host_binary())
            .args(args)
            .arg("--config")
            .arg(&missing)
            .env_clear()
            .output()
            .unwrap();
        assert_fails_with(
            &output,
            &format!("cannot read config file {}", missing.display()),
        );
    }
}

#[test]
fn read_only_commands_refuse_a_database_that_does_not_exist() {
    let builder = HostBuilder::new("");
    let dir = builder
        .write_config("127.0.0.1:0")
        .parent()
        .unwrap()
        .to_path_buf();
    let database = dir.join(".switchyard/switchyard.db");
    let commands: [&[&str]; 3] = [
        &["deliveries", "list"],
        &["jobs", "list"],
        &["deliveries", "replay", "dlv_missing"],
    ];
    for args in commands {
        let output = builder.run_command(args);
        assert_fails_with(&output, &format!("no database at {}", database.display()));
        assert!(
            !stdout(&output).contains("0 deliveries"),
            "{}",
            stdout(&output)
        );
    }
    assert!(
        !dir.join(".switchyard").exists(),
        "a read-only command created the store's folder"
    );
}

#[test]
fn remote_commands_without_a_token_fail_alike() {
    let builder = HostBuilder::new("");
    let ran = builder.run_command(&["jobs", "run", "ticker", "tick", "--tenant", "acme"]);
    let called = builder.run_command(&["actions", "call", "probe", "counter", "--tenant", "acme"]);
    assert_fails_with(&ran, "SWITCHYARD_ADMIN_TOKEN");
    assert_fails_with(&called, "SWITCHYARD_ADMIN_TOKEN");
    assert_eq!(stderr(&ran), stderr(&called));
}

#[tokio::test]
async fn the_jobs_table_keeps_its_columns_in_line_with_long_names() {
    let tenant = "northwind-marketplace-eu-west";
    let zone = "America/Argentina/Buenos_Aires";
    let config = format!(
        "[tenants.{tenant}]\ntimezone = \"{zone}\"\n\
         [tenants.{tenant}.plugins.ticker.jobs.tick]\nschedule = \"0 0 3 * * *\"\n"
    );
    let host = start(&config, &["ticker"]).await;
    let ran = host.run_command(&["jobs", "run", "ticker", "tick", "--tenant", tenant]);
    assert!(ran.status.success(), "{}", stderr(&ran));

    // 1000 is the largest limit there is, and still accepted.
    let listed = host.run_command(&["jobs", "list", "--limit", "1000"]);
    let text = stdout(&listed);
    assert!(listed.status.success(), "{}", stderr(&listed));
    let (schedules, runs) = text.split_once("\n\n").unwrap();
    let schedule_cells = [
        ("TENANT", tenant),
        ("JOB", "tick"),
        ("SCHEDULE", "0 0 3 * * *"),
        ("TIMEZONE", zone),
    ];
    assert_in_line(schedules, &schedule_cells);
    let run_cells = [
        ("TENANT", tenant),
        ("JOB", "tick"),
        ("TRIGGER", "manual"),
        ("OUTCOME", "ok"),
    ];
    assert_in_line(runs, &run_cells);

    // The plugin table lists the same tenant, wider than its column was.
    let listed = host.run_command(&["plugins", "list"]);
    assert!(listed.status.success(), "{}", stdout(&listed));
    let plugins = host.dir().join("plugins").display().to_string();
    assert_in_line(
        &stdout(&listed),
        &[("TENANTS", tenant), ("FILE", plugins.as_str())],
    );
}

/// Asserts that in `table` (a title line, then rows) the `ticker` row has
/// each cell at the column where its title starts.
fn assert_in_line(table: &str, cells: &[(&str, &str)]) {
    let mut lines = table.lines();
    let titles = lines.next().unwrap();
    let row = lines.find(|l| l.starts_with("ticker")).unwrap();
    for (title, cell) in cells {
        let column = titles.find(&format!(" {title}")).unwrap() + 1;
        let found = row.get(column..).unwrap_or_default();
        assert!(
            found.starts_with(cell),
            "{title} is not above {cell:?}:\n{titles}\n{row}"
        );
    }
}

#[test]
fn plugins_list_fails_on_errors_and_passes_on_warnings() {
    // `unread` is no key of probe's: a warning, and probe still loads.
    let builder = HostBuilder::new("[tenants.acme.plugins.probe]\nconfig = { unread = \"x\" }\n")
        .plugin("probe");
    let warned = builder.run_command(&["plugins", "list"]);
    assert!(warned.status.success(), "{}", stdout(&warned));
    assert!(
        stdout(&warned).lines().any(|l| l.starts_with("warning:")),
        "{}",
        stdout(&warned)
    );

    let plugins = builder
        .write_config("127.0.0.1:0")
        .parent()
        .unwrap()
        .join("plugins");
    std::fs::write(plugins.join("broken.wasm"), b"\0asm but not really").unwrap();
    let failed = builder.run_command(&["plugins", "list"]);
    let text = stdout(&failed);
    assert!(!failed.status.success(), "exited 0 with errors:\n{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("error:") && l.contains("broken.wasm")),
        "{text}"
    );
}

#[test]
fn list_limits_outside_one_to_a_thousand_are_refused() {
    let builder = HostBuilder::new("");
    let commands: [&[&str]; 3] = [
        &["deliveries", "list", "--limit", "0"],
        &["jobs", "list", "--limit", "0"],
        &["deliveries", "list", "--limit", "1001"],
    ];
    for args in commands {
        assert_fails_with(&builder.run_command(args), "is not in 1..=1000");
    }
}
