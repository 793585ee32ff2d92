//! The admin API under `/admin/api`, behind a bearer token: plugins and
//! their problems, the delivery inbox and its replay, plugin actions, jobs
//! and their history, and (only when the host runs on a fixed clock, for
//! tests) setting the clock.

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::body::read_limited;
use super::{ApiError, App};
use crate::runtime::bindings::types::PluginError;
use crate::scheduler::{Failure, JobKey};
use crate::store::{DeliveryFilter, DeliveryStatus, JobRunFilter, Replay, RunOutcome};

/// Routes of the admin API, all behind the token check.
pub fn router(app: App) -> Router<App> {
    Router::new()
        .route("/plugins", get(plugins))
        .route("/deliveries", get(deliveries))
        .route("/deliveries/{id}/replay", post(replay))
        .route("/actions/{plugin}/{tenant}/{action}", post(action))
        .route("/jobs", get(jobs))
        .route("/jobs/{plugin}/{tenant}/{job}", post(job))
        .route("/clock", post(set_clock))
        .route_layer(middleware::from_fn_with_state(app, authorize))
}

async fn authorize(
    State(app): State<App>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    check_token(&app, request.headers())?;
    Ok(next.run(request).await)
}

/// Refuses a request without the admin bearer token.
pub fn check_token(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = &app.admin_token else {
        let message =
            "the admin API is off: admin_token is not configured or its variable is unset";
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "admin_disabled",
            message,
        ));
    };
    let given = bearer(headers).unwrap_or_default();
    // Comparing digests in constant time says nothing, through timing,
    // about how much of the token matched or how long it is.
    let matches = Sha256::digest(given).ct_eq(&Sha256::digest(token.expose()));
    if !bool::from(matches) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "bad or missing token",
        ));
    }
    Ok(())
}

fn bearer(headers: &HeaderMap) -> Option<Vec<u8>> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    // The scheme name is case-insensitive (RFC 9110); the token is not.
    let (scheme, token) = value.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| token.to_vec())
}

async fn plugins(State(app): State<App>) -> Json<Value> {
    Json(app.runtime.services().registry.load().describe())
}

#[derive(Debug, Deserialize)]
struct DeliveryQuery {
    status: Option<String>,
    plugin: Option<String>,
    tenant: Option<String>,
    limit: Option<u32>,
}

/// Most rows one list answers.
const MAX_LIST: u32 = 1000;

/// The `limit` of a list query: `default` when absent, refused outside
/// 1..=1000 rather than quietly changed.
fn list_limit(limit: Option<u32>, default: u32) -> Result<u32, ApiError> {
    match limit {
        None => Ok(default),
        Some(n) if (1..=MAX_LIST).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be 1 to {MAX_LIST}, not {n}"),
        )),
    }
}

async fn deliveries(
    State(app): State<App>,
    Query(query): Query<DeliveryQuery>,
) -> Result<Json<Value>, ApiError> {
    let status = match query.status.as_deref() {
        None => None,
        Some(text) => Some(DeliveryStatus::parse(text).ok_or_else(|| {
            ApiError::bad_request("invalid_status", format!("unknown status {text:?}"))
        })?),
    };
    let filter = DeliveryFilter {
        status,
        plugin: query.plugin,
        tenant: query.tenant,
        limit: list_limit(query.limit, 100)?,
    };
    let store = &app.runtime.services().store;
    let list = store
        .list_deliveries(&filter)
        .await
        .map_err(|e| ApiError::store_unavailable(&e))?;
    Ok(Json(json!({ "deliveries": list })))
}

async fn action(
    State(app): State<App>,
    Path((plugin, tenant, action)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    run_action(&app, &plugin, &tenant, &action, &headers, body).await
}

/// Runs `action` of `plugin` for `tenant` with the JSON body as input.
pub async fn run_action(
    app: &App,
    plugin: &str,
    tenant: &str,
    action: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let registry = app.runtime.services().registry.load();
    let (loaded, binding) = super::lookup(&registry, plugin, tenant)?;
    let (loaded, binding) = (&loaded, &binding);
    if !loaded.manifest.actions.iter().any(|a| a.name == action) {
        return Err(ApiError::not_found(
            "unknown_action",
            format!("{plugin} has no action {action}"),
        ));
    }
    let body = read_limited(headers, body, app.max_body_bytes).await?;
    let input = if body.is_empty() {
        "{}".to_owned()
    } else {
        String::from_utf8_lossy(&body).into_owned()
    };
    serde_json::from_str::<Value>(&input).map_err(|err| {
        ApiError::bad_request("invalid_json", format!("input is not JSON: {err}"))
    })?;

    let answer = app
        .runtime
        .call_action(loaded, binding, action.to_owned(), input)
        .await;
    match answer {
        Ok(Ok(output)) => {
            let result: Value = serde_json::from_str(&output).unwrap_or(Value::String(output));
            Ok(Json(json!({ "result": result })))
        }
        Ok(Err(err)) => Err(plugin_error(err)),
        Err(err) => Err(ApiError::from_call(plugin, &err)),
    }
}

#[derive(Debug, Deserialize)]
struct ReplayQuery {
    #[serde(default)]
    force: bool,
}

/// Resets a dead delivery (a done one with `?force=true`) to pending and
/// wakes the dispatcher.
async fn replay(
    State(app): State<App>,
    Path(id): Path<String>,
    Query(query): Query<ReplayQuery>,
) -> Result<Json<Value>, ApiError> {
    let services = app.runtime.services();
    let replayed = services
        .store
        .replay_delivery(&id, query.force, services.now_ms())
        .await
        .map_err(|e| ApiError::store_unavailable(&e))?;
    match replayed {
        Replay::Replayed(delivery) => {
            tracing::info!(delivery = %id, force = query.force, "delivery replayed");
            services.inbox_wakeup.notify_one();
            Ok(Json(json!({ "status": "replayed", "delivery": delivery })))
        }
        Replay::NotFound => Err(ApiError::not_found(
            "not_found",
            format!("no delivery {id}"),
        )),
        Replay::NotReplayable(status) => {
            let hint = if status == DeliveryStatus::Done {
                " (force=true replays it)"
            } else {
                ""
            };
            let message = format!("delivery {id} is {}{hint}", status.as_str());
            Err(ApiError::conflict("not_replayable", message))
        }
    }
}

#[derive(Debug, Deserialize)]
struct JobsQuery {
    plugin: Option<String>,
    tenant: Option<String>,
    job: Option<String>,
    limit: Option<u32>,
}

/// Every scheduled job with its next due time, and the recent runs.
async fn jobs(
    State(app): State<App>,
    Query(query): Query<JobsQuery>,
) -> Result<Json<Value>, ApiError> {
    let matches =
        |wanted: &Option<String>, value: &str| wanted.as_deref().is_none_or(|w| w == value);
    let jobs: Vec<_> = app
        .scheduler
        .jobs()
        .into_iter()
        .filter(|j| {
            matches(&query.plugin, &j.plugin)
                && matches(&query.tenant, &j.tenant)
                && matches(&query.job, &j.job)
        })
        .collect();
    let filter = JobRunFilter {
        plugin: query.plugin,
        tenant: query.tenant,
        job: query.job,
        limit: list_limit(query.limit, 50)?,
    };
    let runs = app
        .runtime
        .services()
        .store
        .list_job_runs(&filter)
        .await
        .map_err(|e| ApiError::store_unavailable(&e))?;
    Ok(Json(json!({ "jobs": jobs, "runs": runs })))
}

/// Runs a job now, outside its schedule, with the same history and
/// no-overlap rule as a scheduled run, and answers with its report.
async fn job(
    State(app): State<App>,
    Path((plugin, tenant, job)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let key = JobKey {
        plugin,
        tenant,
        job,
    };
    let registry = app.runtime.services().registry.load();
    super::lookup(&registry, &key.plugin, &key.tenant)?;
    let Some(record) = app.scheduler.run_now(&key).await else {
        let message = format!("{} has no job {}", key.plugin, key.job);
        return Err(ApiError::not_found("unknown_job", message));
    };
    let error = record.end.error.clone().unwrap_or_default();
    match (record.end.outcome, record.failure) {
        (RunOutcome::Ok, _) => {
            let counts: serde_json::Map<String, Value> = record
                .end
                .counts
                .into_iter()
                .map(|(k, v)| (k, Value::from(v)))
                .collect();
            let summary = record.end.summary.unwrap_or_default();
            Ok(Json(
                json!({ "run": record.id, "counts": counts, "summary": summary }),
            ))
        }
        (RunOutcome::Skipped, _) => Err(ApiError::conflict("job_running", error)),
        (_, Some(Failure::Plugin(err))) => Err(plugin_error(err)),
        (_, Some(Failure::Call(err))) => Err(ApiError::from_call(&key.plugin, &err)),
        (_, None) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "plugin_failed",
            error,
        )),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockChange {
    set_ms: Option<u64>,
    advance_ms: Option<u64>,
}

/// Sets or advances a fixed clock (`serve --fixed-clock`), waking the
/// dispatcher and the scheduler; refused on the system clock.
async fn set_clock(
    State(app): State<App>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    // Read like every other body: the size limit and the 30 s deadline.
    let body = read_limited(&headers, body, app.max_body_bytes).await?;
    let change: ClockChange = serde_json::from_slice(&body).map_err(|err| {
        ApiError::bad_request("invalid_json", format!("not a clock change: {err}"))
    })?;
    let clock = &app.runtime.services().clock;
    let now = clock.now_ms();
    let target = match (change.set_ms, change.advance_ms) {
        (Some(at), None) => at,
        (None, Some(by)) => now.saturating_add(by),
        _ => {
            let message = "give exactly one of set_ms and advance_ms";
            return Err(ApiError::bad_request("invalid_input", message));
        }
    };
    if !clock.set_ms(target) {
        let message = "the clock can only be set when the host runs with --fixed-clock";
        return Err(ApiError::conflict("clock_not_fixed", message));
    }
    tracing::info!(from_ms = now, to_ms = target, "fixed clock moved");
    Ok(Json(json!({ "now_ms": target })))
}

fn plugin_error(err: PluginError) -> ApiError {
    match err {
        PluginError::InvalidInput(m) => ApiError::bad_request("invalid_input", m),
        PluginError::Unsupported(m) => ApiError::not_found("unsupported", m),
        PluginError::Retryable(m) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "upstream_unavailable", m)
        }
        PluginError::Permanent(m) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "action_failed", m)
        }
    }
}
