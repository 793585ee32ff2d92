//! The harness of the end-to-end tests: starts the real `switchyard`
//! binary on a config written for the test, with the real plugin
//! components, and keeps every log line it prints for assertions.

#![expect(
    clippy::unwrap_used,
    reason = "test harness: a failed step should fail the test"
)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub mod marketplace;

/// The workspace root: where this checkout is at run time, since a test
/// binary built by another checkout sharing the target dir keeps that
/// checkout's path at compile time.
pub fn workspace() -> PathBuf {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    dir.parent().unwrap().to_path_buf()
}

/// The shared fixtures folder, beside the checkout.
pub fn fixtures() -> PathBuf {
    workspace().join("../shared/fixtures")
}

/// The `switchyard` binary that cargo built next to this test.
pub fn host_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("SWITCHYARD_BIN") {
        return path.into();
    }
    // Test executables live in target/<profile>/deps.
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let bin = profile_dir.join("switchyard");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo xtask test`",
        bin.display()
    );
    bin
}

/// A plugin component built by `cargo xtask plugins`: `stripe-connect`
/// from `target/plugins`, test plugins from `target/test-plugins`.
pub fn plugin(name: &str) -> PathBuf {
    for dir in ["plugins", "test-plugins"] {
        let path = workspace()
            .join("target")
            .join(dir)
            .join(format!("{name}.wasm"));
        if path.exists() {
            return path;
        }
    }
    panic!("plugin {name}.wasm is not built: run `cargo xtask test`");
}

/// Runs `switchyard <args> --config <config>` to completion with only the
/// given environment.
fn run_switchyard(args: &[&str], config: &Path, env: &[(String, String)]) -> std::process::Output {
    Command::new(host_binary())
        .args(args)
        .arg("--config")
        .arg(config)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap()
}

/// A free port on 127.0.0.1 (free when asked; the host binds it next).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A host being configured: its folder, config text, plugins and env.
pub struct HostBuilder {
    dir: TempDir,
    config: String,
    env: Vec<(String, String)>,
    args: Vec<String>,
}

impl HostBuilder {
    /// A host whose `plugins.toml` continues with `config` (tenants and
    /// such); `plugins_dir` and `listen` are set by the builder.
    pub fn new(config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("plugins")).unwrap();
        Self {
            dir,
            config: config.to_owned(),
            env: Vec::new(),
            args: Vec::new(),
        }
    }

    /// Copies the named plugin component into the plugins folder.
    pub fn plugin(self, name: &str) -> Self {
        let target = self.dir.path().join("plugins").join(format!("{name}.wasm"));
        std::fs::copy(plugin(name), target).unwrap();
        self
    }

    /// Sets an environment variable for the host.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Adds command-line arguments to `serve`.
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_owned());
        self
    }

    /// Writes the config and returns its path.
    pub fn write_config(&self, listen: &str) -> PathBuf {
        let path = self.dir.path().join("plugins.toml");
        let text = format!(
            "plugins_dir = \"plugins\"\nlisten = \"{listen}\"\n{}",
            self.config
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Runs `switchyard <args> --config <file>` to completion.
    pub fn run_command(&self, args: &[&str]) -> std::process::Output {
        let config = self.write_config("127.0.0.1:0");
        run_switchyard(args, &config, &self.env)
    }

    /// Starts `switchyard serve` and waits until it listens and `/health`
    /// answers. The harness reads the host's JSON log lines (`LOG_FORMAT`
    /// and `LOG_LEVEL` are its own).
    pub async fn start(self) -> Host {
        let listen = format!("127.0.0.1:{}", free_port());
        let config = self.write_config(&listen);
        let mut args = vec!["serve".to_owned(), "--config".to_owned()];
        args.push(config.display().to_string());
        args.extend(self.args);
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (child, readers) = spawn_host(&args, &self.env, &logs);
        let mut host = Host {
            url: format!("http://{listen}"),
            child,
            readers,
            logs,
            dir: self.dir,
            args,
            env: self.env,
        };
        // Another test's host may take the free port first; a host that
        // cannot listen tries another one.
        let mut first_line = 0;
        for attempt in 1..=3 {
            if host.wait_ready(first_line).await == Ready::Listening {
                return host;
            }
            if attempt == 3 {
                break;
            }
            let listen = format!("127.0.0.1:{}", free_port());
            let old = host.url.trim_start_matches("http://").to_owned();
            let text = std::fs::read_to_string(&config).unwrap();
            std::fs::write(&config, text.replacen(&old, &listen, 1)).unwrap();
            host.url = format!("http://{listen}");
            first_line = host.spawn();
        }
        panic!(
            "no free port for the host; log:\n{}",
            host.logs().join("\n")
        );
    }
}

/// How a start ended.
#[derive(Debug, PartialEq, Eq)]
enum Ready {
    /// Listening, and `/health` answered.
    Listening,
    /// The address was taken.
    PortTaken,
}

/// Starts the host with its output read, line by line, into `logs` by two
/// threads, which end when the process does.
fn spawn_host(
    args: &[String],
    env: &[(String, String)],
    logs: &Arc<Mutex<Vec<String>>>,
) -> (Child, Vec<JoinHandle<()>>) {
    let mut command = Command::new(host_binary());
    command
        .args(args)
        .env_clear()
        .env("LOG_LEVEL", "debug")
        .env("LOG_FORMAT", "json");
    command.envs(env.iter().map(|(k, v)| (k, v)));
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let readers = vec![
        collect(child.stdout.take().unwrap(), logs.clone()),
        collect(child.stderr.take().unwrap(), logs.clone()),
    ];
    (child, readers)
}

fn collect(
    stream: impl std::io::Read + Send + 'static,
    logs: Arc<Mutex<Vec<String>>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            logs.lock().unwrap().push(line);
        }
    })
}

/// A running host, killed when dropped.
pub struct Host {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    child: Child,
    /// The threads reading the running process's output.
    readers: Vec<JoinHandle<()>>,
    logs: Arc<Mutex<Vec<String>>>,
    dir: TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Host {
    /// Kills the host (SIGKILL: no clean shutdown) and starts it again on the
    /// same folder, config and address. The log keeps both runs.
    pub async fn restart(&mut self) {
        self.kill();
        let first_line = self.spawn();
        let ready = self.wait_ready(first_line).await;
        assert_eq!(ready, Ready::Listening, "{}", self.logs().join("\n"));
    }

    /// Starts the process again; returns the index its first log line
    /// will have.
    fn spawn(&mut self) -> usize {
        let first_line = self.logs.lock().unwrap().len();
        let (child, readers) = spawn_host(&self.args, &self.env, &self.logs);
        self.child = child;
        self.readers = readers;
        first_line
    }

    /// Waits until this host's own process says it listens (so `/health`
    /// cannot be another host's answer) and `/health` answers.
    async fn wait_ready(&mut self, first: usize) -> Ready {
        const LISTENING: &str = "\"message\":\"listening\"";
        const PORT_TAKEN: &str = "cannot listen on";
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.printed_since(first, LISTENING) {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.reap();
                if self.printed_since(first, PORT_TAKEN) {
                    return Ready::PortTaken;
                }
                let logs = self.logs().join("\n");
                panic!("host exited with {status} before listening; log:\n{logs}");
            }
            assert!(
                Instant::now() < deadline,
                "host did not start listening; log:\n{}",
                self.logs().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let health = reqwest::get(format!("{}/health", self.url)).await.unwrap();
        assert!(health.status().is_success(), "/health: {}", health.status());
        Ready::Listening
    }

    /// True when a line from the `first`th on contains `needle`.
    fn printed_since(&self, first: usize, needle: &str) -> bool {
        let logs = self.logs.lock().unwrap();
        logs[first..].iter().any(|l| l.contains(needle))
    }

    /// Waits for the output readers of a process that has exited, so the
    /// log holds every line it printed.
    fn reap(&mut self) {
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }

    /// Every line the host printed so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// The host's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The host's folder (config, database, plugins).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The SQLite file of the host's store (the default `database`).
    pub fn database(&self) -> PathBuf {
        self.dir().join(".switchyard/switchyard.db")
    }

    /// Kills the host with SIGKILL, as a crash would, and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.reap();
    }

    /// Sends SIGTERM and waits up to `within` for the process to exit; its
    /// exit status, or none if it was still running.
    pub async fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        assert!(sent.unwrap().success(), "kill -TERM failed");
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.reap();
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// Opens a connection and leaves `partial`, a request half sent, on
    /// it: a client that keeps the host in its shutdown grace. Returns once
    /// the host has accepted the connection; it accepts in order, so an
    /// answer on a connection opened later proves it.
    pub async fn stalled_client(&self, partial: &[u8]) -> tokio::net::TcpStream {
        use tokio::io::AsyncWriteExt;
        let address = self.url.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        stream.write_all(partial).await.unwrap();
        let health = reqwest::get(format!("{}/health", self.url)).await.unwrap();
        assert!(health.status().is_success());
        stream
    }

    /// Like [`Host::restart`], with `serve_args` after `serve --config …`
    /// instead of the ones it was started with.
    pub async fn restart_with_args(&mut self, serve_args: &[&str]) {
        self.args.truncate(3);
        self.args.extend(serve_args.iter().map(|a| (*a).to_owned()));
        self.restart().await;
    }

    /// Runs `switchyard <args> --config <file>` against this host's folder.
    pub fn run_command(&self, args: &[&str]) -> std::process::Output {
        run_switchyard(args, &self.dir().join("plugins.toml"), &self.env)
    }

    /// POSTs JSON to an admin route and returns status and JSON.
    pub async fn admin_post(
        &self,
        path: &str,
        token: &str,
        input: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let response = reqwest::Client::new()
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(&input)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    /// POSTs `body` to `path` with `headers`.
    pub async fn post(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> reqwest::Response {
        let mut request = reqwest::Client::new()
            .post(format!("{}{path}", self.url))
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    /// GETs `path` with the admin token and parses the JSON answer.
    pub async fn admin_get(&self, path: &str, token: &str) -> serde_json::Value {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        response.json().await.unwrap()
    }

    /// POSTs JSON `input` to an admin action and returns status and JSON.
    pub async fn action(
        &self,
        token: &str,
        path: &str,
        input: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let path = format!("/admin/api/actions/{path}");
        self.admin_post(&path, token, input).await
    }

    /// Waits until `done` holds for the admin delivery list of `status`.
    pub async fn wait_for_deliveries(
        &self,
        token: &str,
        status: &str,
        count: usize,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let list = self
                .admin_get(
                    &format!("/admin/api/deliveries?status={status}&limit=1000"),
                    token,
                )
                .await;
            let found = list["deliveries"].as_array().map_or(0, Vec::len);
            if found >= count {
                return list;
            }
            assert!(
                Instant::now() < deadline,
                "waited for {count} {status} deliveries: {list}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        // The host keeps nothing worth a graceful stop in a test.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Unix seconds now.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Polls `check` until it returns true or 30 s pass.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
