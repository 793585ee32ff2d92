//! The command line: one file per subcommand.

mod actions;
mod check;
mod deliveries;
mod jobs;
mod out;
mod plugins;
mod remote;
mod serve;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// The configuration file read when neither `--config` nor
/// `SWITCHYARD_CONFIG` names one.
const DEFAULT_CONFIG: &str = "plugins.toml";

/// Most rows a list command shows at once: the store caps a listing there.
const MAX_LIMIT: i64 = 1000;

/// Switchyard runs marketplace integrations as sandboxed WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "switchyard", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Load the plugins and serve webhooks, events and the admin API.
    Serve(ServeArgs),
    /// Validate the config and every plugin; exit non-zero on any error.
    Check(ConfigArg),
    /// Work with plugins.
    #[command(subcommand)]
    Plugins(PluginsCommand),
    /// Run plugin actions on a running host.
    #[command(subcommand)]
    Actions(ActionsCommand),
    /// List and replay the delivery inbox; reads the database directly, so
    /// it works while the host is down.
    #[command(subcommand)]
    Deliveries(DeliveriesCommand),
    /// List scheduled jobs and their runs, or run one now.
    #[command(subcommand)]
    Jobs(JobsCommand),
}

#[derive(Debug, Subcommand)]
enum DeliveriesCommand {
    /// Deliveries, newest first.
    List(DeliveryListArgs),
    /// Reset dead deliveries to pending, attempts cleared; a running host
    /// picks them up within a second.
    Replay(ReplayArgs),
}

#[derive(Debug, Args)]
struct DeliveryListArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Only deliveries in this status: pending, processing, done or dead.
    #[arg(long)]
    status: Option<String>,
    /// Only this plugin's.
    #[arg(long)]
    plugin: Option<String>,
    /// Only this tenant's.
    #[arg(long)]
    tenant: Option<String>,
    /// At most this many, 1 to 1000.
    #[arg(long, default_value_t = 50, value_parser = limit_parser())]
    limit: u32,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ReplayArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Ids of the deliveries (`dlv_…`).
    #[arg(required = true)]
    ids: Vec<String>,
    /// Also replay deliveries that are done (they will be processed again).
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Subcommand)]
enum JobsCommand {
    /// Scheduled jobs with their next due times, and the recent runs; reads
    /// the database directly.
    List(JobsListArgs),
    /// Run a job now through a running host's admin API, with the same
    /// history and no-overlap rule as a scheduled run.
    Run(JobRunArgs),
}

#[derive(Debug, Args)]
struct JobsListArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Recent runs to show, 1 to 1000.
    #[arg(long, default_value_t = 20, value_parser = limit_parser())]
    limit: u32,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct JobRunArgs {
    #[command(flatten)]
    host: HostArgs,
    /// The plugin that offers the job.
    plugin: String,
    /// The job's name.
    job: String,
    /// The tenant to run it for.
    #[arg(long)]
    tenant: String,
}

/// How a command finds a running host and proves it may use the admin API.
#[derive(Debug, Args)]
struct HostArgs {
    /// The configuration file whose `listen` address locates the host when
    /// `--url` is not given; by default `plugins.toml`, and the default
    /// address when that file does not exist.
    #[arg(long, short, env = "SWITCHYARD_CONFIG")]
    config: Option<PathBuf>,
    /// The running host; by default the config's `listen` address
    /// (`http://127.0.0.1:8787` when there is no config file).
    #[arg(long, env = "SWITCHYARD_URL")]
    url: Option<String>,
    /// The admin API's bearer token; prefer the variable, as other users of
    /// this machine can see command lines.
    #[arg(long, env = "SWITCHYARD_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

#[derive(Debug, Subcommand)]
enum ActionsCommand {
    /// Call an action, e.g. `actions call stripe-connect balance --tenant demo`.
    /// The token comes from SWITCHYARD_ADMIN_TOKEN.
    Call(CallArgs),
}

#[derive(Debug, Args)]
struct CallArgs {
    #[command(flatten)]
    host: HostArgs,
    /// The plugin, e.g. `stripe-connect`.
    plugin: String,
    /// The action, as the plugin's manifest names it.
    action: String,
    /// The tenant to run it for.
    #[arg(long)]
    tenant: String,
    /// The action's input, as JSON.
    #[arg(long, default_value = "{}")]
    input: String,
}

#[derive(Debug, Subcommand)]
enum PluginsCommand {
    /// List the plugins in the plugins directory, their versions and tenants.
    List(ListArgs),
}

#[derive(Debug, Args)]
struct ConfigArg {
    /// The configuration file.
    #[arg(long, short, env = "SWITCHYARD_CONFIG", default_value = DEFAULT_CONFIG)]
    config: PathBuf,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Address to listen on, overriding `listen` in the config.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Freeze the host clock at this Unix time in seconds (for tests).
    #[arg(long, value_name = "UNIX_SECONDS")]
    fixed_clock: Option<u64>,
}

#[derive(Debug, Args)]
struct ListArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Ask the host running at this URL (admin API; the token comes from
    /// SWITCHYARD_ADMIN_TOKEN) instead of loading the plugins here.
    #[arg(long, env = "SWITCHYARD_URL")]
    url: Option<String>,
    /// The admin API's bearer token, with `--url`.
    #[arg(long, env = "SWITCHYARD_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Accepts a `--limit` the store honours as given, rather than one it
/// would quietly clamp.
fn limit_parser() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(1..=MAX_LIMIT)
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> ExitCode {
    let outcome = match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Check(args) => check::run(&args.config).await,
        Command::Actions(ActionsCommand::Call(args)) => actions::call(args).await,
        Command::Plugins(PluginsCommand::List(args)) => plugins::list(args).await,
        Command::Deliveries(DeliveriesCommand::List(args)) => deliveries::list(args).await,
        Command::Deliveries(DeliveriesCommand::Replay(args)) => deliveries::replay(args).await,
        Command::Jobs(JobsCommand::List(args)) => jobs::list(args).await,
        Command::Jobs(JobsCommand::Run(args)) => jobs::run(args).await,
    };
    match outcome {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
