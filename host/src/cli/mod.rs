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
    /// At most this many.
    #[arg(long, default_value_t = 50)]
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
    /// Recent runs to show.
    #[arg(long, default_value_t = 20)]
    limit: u32,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct JobRunArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The plugin that offers the job.
    plugin: String,
    /// The job's name.
    job: String,
    /// The tenant to run it for.
    #[arg(long)]
    tenant: String,
    /// The running host; by default the config's `listen` address
    /// (`http://127.0.0.1:8787` when there is no config file).
    #[arg(long, env = "SWITCHYARD_URL")]
    url: Option<String>,
    /// The admin API's bearer token.
    #[arg(long, env = "SWITCHYARD_ADMIN_TOKEN", hide_env_values = true)]
    token: String,
}

#[derive(Debug, Subcommand)]
enum ActionsCommand {
    /// Call an action, e.g. `actions call stripe-connect balance --tenant demo`.
    /// The token comes from SWITCHYARD_ADMIN_TOKEN.
    Call(CallArgs),
}

#[derive(Debug, Args)]
struct CallArgs {
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
    /// The running host.
    #[arg(long, env = "SWITCHYARD_URL", default_value = remote::DEFAULT_URL)]
    url: String,
}

#[derive(Debug, Subcommand)]
enum PluginsCommand {
    /// List the plugins in the plugins directory, their versions and tenants.
    List(ListArgs),
}

#[derive(Debug, Args)]
struct ConfigArg {
    /// The configuration file.
    #[arg(long, short, env = "SWITCHYARD_CONFIG", default_value = "plugins.toml")]
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
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> ExitCode {
    let outcome = match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Check(args) => check::run(&args.config).await,
        Command::Actions(ActionsCommand::Call(a)) => {
            actions::call(&a.url, &a.plugin, &a.tenant, &a.action, &a.input).await
        }
        Command::Plugins(PluginsCommand::List(args)) => {
            plugins::list(&args.config.config, args.url.as_deref(), args.json).await
        }
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
