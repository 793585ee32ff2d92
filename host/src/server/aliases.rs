//! Route aliases: fixed paths that plugins declare (such as
//! `/admin/integrations/stripe/webhook`) and tenants claim in the config.
//! They sit in the router's fallback because the set of aliases changes
//! whenever plugins are reloaded.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::Method;
use serde_json::Value;

use super::{ApiError, App, admin, webhooks};

/// Serves a request for an alias, or answers 404.
pub async fn serve(State(app): State<App>, request: Request) -> Result<Json<Value>, ApiError> {
    let registry = app.runtime.services().registry.load();
    let Some(alias) = registry.alias(request.uri().path()).cloned() else {
        return Err(ApiError::not_found("not_found", "no such route"));
    };
    drop(registry);
    if request.method() != Method::POST {
        return Err(ApiError::new(
            axum::http::StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "aliases accept POST only",
        ));
    }

    let (parts, body) = request.into_parts();
    match &alias.action {
        None => {
            let (plugin, tenant) = (&alias.plugin, &alias.tenant);
            webhooks::accept(&app, plugin, tenant, &parts.uri, &parts.headers, body).await
        }
        Some(action) => {
            // Actions change upstream state, so they need the admin token
            // like every other action route.
            admin::check_token(&app, &parts.headers)?;
            admin::run_action(
                &app,
                &alias.plugin,
                &alias.tenant,
                action,
                &parts.headers,
                body,
            )
            .await
        }
    }
}
