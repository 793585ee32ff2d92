//! `switchyard deliveries list|replay`: the inbox, read and reset straight
//! in the database, so they work whether or not the host is running.

use std::process::ExitCode;

use anyhow::{Context, bail};

use super::out::{clip, outln, print_table, utc};
use super::{DeliveryListArgs, ReplayArgs};
use crate::config::Config;
use crate::store::{Delivery, DeliveryFilter, DeliveryStatus, Replay, Store};

/// Columns of the delivery table.
const COLUMNS: [&str; 9] = [
    "ID",
    "STATUS",
    "TRY",
    "PLUGIN",
    "TENANT",
    "RECEIVED (UTC)",
    "EVENT",
    "TYPE",
    "ERROR",
];

/// Opens the store the config names, which a host must have created: these
/// commands inspect a host's data, so a missing database is a wrong config
/// or a host that never ran, not an empty inbox.
pub(super) async fn open_store(config: &Config) -> anyhow::Result<Store> {
    Store::open_existing(&config.database, config.store_busy_timeout)
        .await
        .with_context(|| format!("cannot open the store of {}", config.path.display()))
}

pub(super) async fn list(args: DeliveryListArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config.config)?;
    let status = match args.status.as_deref() {
        None => None,
        Some(text) => match DeliveryStatus::parse(text) {
            Some(status) => Some(status),
            None => bail!("--status {text:?}: use pending, processing, done or dead"),
        },
    };
    let filter = DeliveryFilter {
        status,
        plugin: args.plugin,
        tenant: args.tenant,
        limit: args.limit,
    };
    let store = open_store(&config).await?;
    let list = store
        .list_deliveries(&filter)
        .await
        .context("cannot list deliveries")?;
    if args.json {
        outln!("{:#}", serde_json::json!({ "deliveries": list }));
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = list.iter().map(delivery_row).collect();
    print_table(&COLUMNS, &rows);
    outln!("{} deliveries", list.len());
    Ok(ExitCode::SUCCESS)
}

fn delivery_row(d: &Delivery) -> Vec<String> {
    vec![
        d.id.clone(),
        d.status.as_str().to_owned(),
        d.attempts.to_string(),
        d.plugin.clone(),
        d.tenant.clone(),
        utc(d.received_at_ms),
        clip(&d.event_id, 24),
        clip(&d.event_type, 18),
        clip(d.last_error.as_deref().unwrap_or("-"), 60),
    ]
}

pub(super) async fn replay(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config.config)?;
    let store = open_store(&config).await?;
    let now = i64::try_from(crate::capabilities::clock::Clock::system().now_ms()).unwrap_or(0);
    let mut failed = false;
    for id in &args.ids {
        let outcome = store
            .replay_delivery(id, args.force, now)
            .await
            .with_context(|| format!("cannot replay {id}"))?;
        match outcome {
            Replay::Replayed(d) => outln!(
                "{id}: replayed ({} for {}/{})",
                d.event_id,
                d.plugin,
                d.tenant
            ),
            Replay::NotFound => {
                failed = true;
                outln!("{id}: no such delivery");
            }
            Replay::NotReplayable(status) => {
                failed = true;
                let hint = if status == DeliveryStatus::Done {
                    "; --force replays it"
                } else {
                    ""
                };
                outln!("{id}: not replayed, it is {}{hint}", status.as_str());
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
