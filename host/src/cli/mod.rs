//! The command line: one file per subcommand.

mod check;
mod plugins;
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
        Command::Plugins(PluginsCommand::List(args)) => {
            plugins::list(&args.config.config, args.url.as_deref(), args.json).await
        }
    };
    match outcome {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
