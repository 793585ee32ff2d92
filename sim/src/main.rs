//! `switchyard-sim`: runs the Medusa and Stripe simulators for a local
//! demo, or signs one Stripe webhook event from the fixtures and posts it
//! to a host.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use serde_json::Value;
use switchyard_sim::medusa::{self, Medusa, MedusaConfig};
use switchyard_sim::stripe::{self, Stripe, StripeConfig, webhook};
use tracing_subscriber::EnvFilter;

const KEYS_HELP: &str = "\
Environment:
  MEDUSA_API_KEY     secret key the Medusa simulator accepts [default: sk_switchyard_demo_medusa]
  STRIPE_SECRET_KEY  secret key the Stripe simulator accepts [default: sk_test_switchyard_demo]
  RUST_LOG           log filter [default: info]";

/// Local simulators of the upstreams Switchyard's plugins talk to.
///
/// Without a subcommand, serves the Medusa and Stripe simulators with the
/// demo data until Ctrl-C.
#[derive(Debug, Parser)]
#[command(version, args_conflicts_with_subcommands = true, after_help = KEYS_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sign one event from the Connect fixtures and post it to a host's
    /// Stripe webhook route; prints the answer's status and body.
    SendEvent(SendEventArgs),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address the Medusa simulator listens on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8791")]
    medusa: SocketAddr,
    /// Address the Stripe simulator listens on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8792")]
    stripe: SocketAddr,
    /// Start empty instead of with the demo marketplace and Stripe account.
    #[arg(long)]
    no_seed: bool,
}

#[derive(Debug, Args)]
struct SendEventArgs {
    /// Event type to send: account.updated, transfer.created,
    /// transfer.reversed, payout.paid or payout.failed.
    #[arg(value_name = "TYPE")]
    kind: String,
    /// The host's webhook URL.
    #[arg(
        long,
        value_name = "URL",
        default_value = "http://127.0.0.1:8787/webhooks/stripe-connect/demo"
    )]
    host_url: String,
    /// Endpoint signing secret; repeat the flag to add one `v1` per secret,
    /// as Stripe does while a secret is being rolled.
    #[arg(long = "secret", value_name = "SECRET", default_value = stripe::DEMO_WEBHOOK_SECRET)]
    secrets: Vec<String>,
    /// File of events shaped `{"events": [...]}`.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "../shared/fixtures/stripe/connect-events.synthesized.json"
    )]
    fixture: PathBuf,
    /// Give the event a new `evt_…` id, so the host does not take it for a
    /// redelivery of the fixture event.
    #[arg(long)]
    fresh_id: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let outcome = match cli.command {
        Some(Command::SendEvent(args)) => send_event(args).await,
        None => serve(cli.serve).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // The causes, one line; a backtrace helps nobody sending events.
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    use std::io::IsTerminal;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a terminal: a log file should not hold escape codes.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

/// Serves both simulators until Ctrl-C.
async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let medusa_config = MedusaConfig {
        port: args.medusa.port(),
        api_key: env_or("MEDUSA_API_KEY", medusa::DEMO_API_KEY),
        seed_demo: !args.no_seed,
    };
    let medusa = Medusa::start_at(args.medusa, medusa_config).await?;
    let stripe_config = StripeConfig {
        port: args.stripe.port(),
        secret_key: env_or("STRIPE_SECRET_KEY", stripe::DEMO_SECRET_KEY),
    };
    let stripe = Stripe::start_at(args.stripe, stripe_config).await?;
    if !args.no_seed {
        stripe.seed_demo();
    }
    println!("Medusa simulator: {}", medusa.base_url());
    println!("Stripe simulator: {}", stripe.base_url());
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    tracing::info!("shutting down");
    Ok(())
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|value| !value.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// Sends one fixture event, stamped and signed now.
async fn send_event(args: SendEventArgs) -> anyhow::Result<()> {
    let mut event = webhook::fixture_event(&args.fixture, &args.kind)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("reading the clock")?
        .as_secs();
    restamp(&mut event, now, args.fresh_id);
    let secrets: Vec<&str> = args.secrets.iter().map(String::as_str).collect();
    let response = webhook::send_event(&args.host_url, &secrets, &event, now).await?;
    let status = response.status();
    let body = response.text().await.context("reading the host's answer")?;
    println!("{status}");
    println!("{body}");
    anyhow::ensure!(status.is_success(), "the host answered {status}");
    Ok(())
}

/// Sets `created` to `now` and, when asked, a new event id.
fn restamp(event: &mut Value, now: u64, fresh_id: bool) {
    let Some(fields) = event.as_object_mut() else {
        return;
    };
    fields.insert("created".to_owned(), now.into());
    if fresh_id {
        fields.insert("id".to_owned(), webhook::new_event_id().into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn send_event_takes_several_secrets() {
        let cli = Cli::parse_from([
            "sim",
            "send-event",
            "--secret",
            "a",
            "--secret",
            "b",
            "payout.paid",
        ]);
        let Some(Command::SendEvent(args)) = cli.command else {
            panic!("not send-event")
        };
        assert_eq!(args.secrets, ["a", "b"]);
        assert_eq!(args.kind, "payout.paid");
    }

    #[test]
    fn restamping_sets_created_and_optionally_the_id() {
        let mut event = serde_json::json!({"id": "evt_1", "created": 1});
        restamp(&mut event, 99, false);
        assert_eq!(event, serde_json::json!({"id": "evt_1", "created": 99}));
        restamp(&mut event, 99, true);
        assert_ne!(event["id"], "evt_1");
    }
}
