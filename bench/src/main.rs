//! `cargo run --release -p switchyard-bench`: webhook ingest end to end
//! (HTTP, signature verification, durable commit, 2xx) through the host
//! with the real `stripe-connect` Wasm plugin verifying, against a native
//! baseline that does the same work in plain Rust: the same axum server,
//! the same HMAC check over the same bytes, the same inbox commit.
//!
//! Both run in this process on fresh SQLite files, without the dispatcher,
//! so only ingest is measured; the load generator (a bare HTTP/1.1 client on
//! keep-alive connections) shares the machine, as a local proxy would.
//! Prints requests per second and p50/p99 latency at each concurrency.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use switchyard::capabilities::clock::Clock;
use switchyard::config::Config;
use switchyard::inbox::{Webhook, store_webhook};
use switchyard::registry::Registry;
use switchyard::runtime::Runtime;
use switchyard::scheduler::Scheduler;
use switchyard::server::{self, App};
use switchyard::services::HostServices;
use switchyard::store::Store;
use switchyard_signature::{DEFAULT_TOLERANCE_SECS, SignatureHeader};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The webhook signing secret both servers check against.
const WHSEC: &str = "whsec_switchyard_bench";

/// Set in the re-executed child, whose environment holds the secrets.
const CHILD: &str = "SWITCHYARD_BENCH_CHILD";

const CONCURRENCY: [usize; 3] = [1, 16, 64];

fn main() -> ExitCode {
    let outcome = if std::env::var_os(CHILD).is_some() {
        run_child()
    } else {
        reexec()
    };
    match outcome {
        Ok(code) => code,
        Err(err) => {
            eprintln!("bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The host reads secrets only from its environment, and this crate may
/// not set its own, so the benchmark runs as a child that has them.
fn reexec() -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let status = Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(CHILD, "1")
        .env("BENCH_WHSEC", WHSEC)
        .env("BENCH_STRIPE_KEY", "sk_test_bench")
        .env("BENCH_MEDUSA_KEY", "sk_bench_medusa")
        .status()
        .context("cannot start the benchmark")?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn run_child() -> anyhow::Result<ExitCode> {
    let seconds: u64 = match std::env::args().nth(1) {
        Some(arg) => arg
            .parse()
            .with_context(|| format!("{arg:?} is not a number of seconds"))?,
        None => 5,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(bench(Duration::from_secs(seconds)))?;
    Ok(ExitCode::SUCCESS)
}

async fn bench(duration: Duration) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let host = serve(host_router(dir.path()).await?).await?;
    let native = serve(native_router(dir.path()).await?).await?;
    println!(
        "webhook ingest, {}s per run, {} cores",
        duration.as_secs(),
        cores()
    );
    println!(
        "{:<8} {:>5} {:>10} {:>9} {:>9} {:>8}",
        "server", "conc", "req/s", "p50 ms", "p99 ms", "errors"
    );
    for concurrency in CONCURRENCY {
        let mut pair = Vec::new();
        for (name, url) in [("host", &host), ("native", &native)] {
            let path = format!("{url}/webhooks/stripe-connect/bench");
            let result = load(&path, name, concurrency, duration).await;
            println!(
                "{name:<8} {concurrency:>5} {:>10.0} {:>9.2} {:>9.2} {:>8}",
                result.rate, result.p50_ms, result.p99_ms, result.errors
            );
            pair.push(result.rate);
        }
        println!(
            "{:<8} {concurrency:>5} {:>9.0}%",
            "host/nat",
            100.0 * pair[0] / pair[1]
        );
    }
    Ok(())
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// The real host router with `stripe-connect` for tenant `bench`.
async fn host_router(dir: &Path) -> anyhow::Result<Router> {
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins)?;
    let wasm = plugin_file()?;
    std::fs::copy(&wasm, plugins.join("stripe-connect.wasm"))
        .with_context(|| format!("cannot copy {}", wasm.display()))?;
    let text = r#"
plugins_dir = "plugins"
database = "sqlite://host.db"
[tenants.bench.plugins.stripe-connect]
config = { medusa_url = "http://127.0.0.1:9" }
[tenants.bench.plugins.stripe-connect.secrets]
stripe_webhook_secret = { env = "BENCH_WHSEC" }
stripe_secret_key = { env = "BENCH_STRIPE_KEY" }
medusa_api_key = { env = "BENCH_MEDUSA_KEY" }
"#;
    let config = Config::parse(&dir.join("plugins.toml"), text)?;
    let store = Store::open(&config.database).await?;
    let services = HostServices::new(Clock::system(), store)?;
    let runtime = Arc::new(Runtime::new(services.clone(), &config)?);
    let registry = Registry::load(&runtime, &config).await;
    if registry.has_errors() {
        bail!("the plugin did not load: {:?}", registry.problems());
    }
    services.registry.store(Arc::new(registry));
    // No dispatcher and no scheduler tasks: only ingest is measured.
    let scheduler = Scheduler::new(runtime.clone(), &config);
    let app = App {
        runtime,
        max_body_bytes: config.max_body_bytes,
        admin_token: None,
        scheduler,
    };
    Ok(server::router(app))
}

fn plugin_file() -> anyhow::Result<PathBuf> {
    // `cargo run` says where this checkout is; the compile-time path may be
    // another checkout's that shares the target dir.
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    let root = dir.join("..");
    let path = root.join("target/plugins/stripe-connect.wasm");
    if !path.exists() {
        bail!(
            "{} is missing: run `cargo xtask plugins` first",
            path.display()
        );
    }
    Ok(path)
}

/// The baseline: the same route, verified natively.
async fn native_router(dir: &Path) -> anyhow::Result<Router> {
    let url = format!("sqlite://{}", dir.join("native.db").display());
    let store = Store::open(&url).await?;
    let services = HostServices::new(Clock::system(), store)?;
    Ok(Router::new()
        .route("/webhooks/{plugin}/{tenant}", post(native_receive))
        .with_state(services))
}

#[derive(serde::Deserialize)]
struct EventHead {
    id: String,
    #[serde(rename = "type")]
    kind: String,
}

async fn native_receive(
    State(services): State<Arc<HostServices>>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> (StatusCode, String) {
    let header = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let verified = SignatureHeader::parse(header).and_then(|parsed| {
        parsed.check_time(services.clock.now_secs(), DEFAULT_TOLERANCE_SECS)?;
        let payload = parsed.signed_payload(&body);
        parsed.verify_with(|sig| {
            let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(WHSEC.as_bytes()) else {
                return false;
            };
            mac.update(&payload);
            // verify_slice compares in constant time, as the host does.
            mac.verify_slice(sig).is_ok()
        })
    });
    if let Err(reason) = verified {
        return (StatusCode::BAD_REQUEST, reason.to_string());
    }
    let Ok(event) = serde_json::from_slice::<EventHead>(&body) else {
        return (StatusCode::BAD_REQUEST, "not an event".into());
    };
    let webhook = Webhook {
        plugin: "stripe-connect",
        tenant: "bench",
        event_id: event.id,
        event_type: event.kind,
        headers: Vec::new(),
        body: body.to_vec(),
    };
    match store_webhook(&services, webhook).await {
        Ok(_) => (StatusCode::OK, "{\"status\":\"accepted\"}".into()),
        Err(err) => (StatusCode::SERVICE_UNAVAILABLE, err.to_string()),
    }
}

/// Serves `router` with the host's own accept loop, for both servers.
async fn serve(router: Router) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let forever = tokio_util::sync::CancellationToken::new();
    tokio::spawn(server::serve(listener, router, forever));
    Ok(url)
}

struct LoadResult {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: usize,
}

/// `concurrency` senders post fresh signed events for `duration`, after a
/// short warm-up that is not counted.
async fn load(url: &str, tag: &str, concurrency: usize, duration: Duration) -> LoadResult {
    let warmup = Instant::now() + Duration::from_millis(500);
    let end = warmup + duration;
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let url = url.to_owned();
        let prefix = format!("evt_{tag}_{concurrency}_{worker}");
        tasks.push(tokio::spawn(sender(url, prefix, warmup, end)));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        if let Ok((mut done, failed)) = task.await {
            latencies.append(&mut done);
            errors += failed;
        }
    }
    latencies.sort_unstable();
    let at = |q: f64| {
        let i = ((latencies.len() as f64 - 1.0) * q).round() as usize;
        latencies
            .get(i)
            .map_or(0.0, |d: &Duration| d.as_secs_f64() * 1000.0)
    };
    LoadResult {
        rate: latencies.len() as f64 / duration.as_secs_f64(),
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        errors,
    }
}

/// One keep-alive connection posting until `end`; returns the latencies of
/// the 2xx answers after `warmup` and the count of other outcomes.
async fn sender(
    url: String,
    prefix: String,
    warmup: Instant,
    end: Instant,
) -> (Vec<Duration>, usize) {
    let mut latencies = Vec::new();
    let mut errors = 0;
    let Some((address, path)) = url.strip_prefix("http://").and_then(|u| u.split_once('/')) else {
        return (latencies, 1);
    };
    let path = format!("/{path}");
    let mut conn = None;
    let mut n = 0u64;
    while Instant::now() < end {
        n += 1;
        let body = format!(
            "{{\"id\":\"{prefix}_{n}\",\"object\":\"event\",\"type\":\"payout.paid\",\
             \"created\":1,\"data\":{{\"object\":{{\"id\":\"po_{n}\",\"amount\":1200}}}}}}"
        );
        let request = http_request(address, &path, &sign(body.as_bytes()), &body);
        let started = Instant::now();
        let status = send_request(&mut conn, address, &request).await;
        if started < warmup {
            continue;
        }
        match status {
            Ok(200..=299) if Instant::now() <= end => latencies.push(started.elapsed()),
            Ok(200..=299) => {}
            _ => errors += 1,
        }
    }
    (latencies, errors)
}

fn http_request(address: &str, path: &str, signature: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\n\
         stripe-signature: {signature}\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Sends one request on the kept-alive connection (opening one when there
/// is none) and reads the answer; a bare HTTP/1.1 client, so the load
/// generator costs little of the machine it shares with the servers.
async fn send_request(
    conn: &mut Option<BufReader<TcpStream>>,
    address: &str,
    request: &[u8],
) -> std::io::Result<u16> {
    let stream = match conn {
        Some(stream) => stream,
        None => conn.insert(BufReader::new(TcpStream::connect(address).await?)),
    };
    let answer = exchange(stream, request).await;
    if answer.is_err() {
        *conn = None;
    }
    answer
}

async fn exchange(stream: &mut BufReader<TcpStream>, request: &[u8]) -> std::io::Result<u16> {
    stream.get_mut().write_all(request).await?;
    let mut line = String::new();
    stream.read_line(&mut line).await?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut length = 0;
    loop {
        line.clear();
        stream.read_line(&mut line).await?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await?;
    Ok(status)
}

fn sign(body: &[u8]) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(WHSEC.as_bytes()) else {
        return String::new();
    };
    mac.update(&switchyard_signature::signed_payload(now, body));
    switchyard_signature::format_header(now, &[&mac.finalize().into_bytes()])
}
