//! Talking to a running host through its admin API, for the subcommands
//! that must run inside it (actions, jobs run now, listings of what it
//! serves).

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, bail};
use reqwest::{RequestBuilder, Url};
use serde_json::Value;

use super::{DEFAULT_CONFIG, HostArgs};
use crate::config::{Config, DEFAULT_LISTEN};

/// The admin API of one running host, with the token it asks for.
pub(super) struct AdminApi {
    base: Url,
    token: String,
}

impl AdminApi {
    /// The host `args` point at: `--url` when given, else the `listen`
    /// address of the config. A config named explicitly is read even with
    /// `--url`, so a mistyped path is never silently ignored.
    pub(super) fn locate(args: &HostArgs) -> anyhow::Result<Self> {
        let config = args.config.as_deref();
        let base = match &args.url {
            Some(url) => {
                config.map(Config::load).transpose()?;
                url.clone()
            }
            None => format!("http://{}", host_address(config)?),
        };
        Self::new(&base, args.token.as_deref())
    }

    /// The admin API of the host at `base`; every command that talks to a
    /// host reads its token this way, so they all fail alike without one.
    pub(super) fn new(base: &str, token: Option<&str>) -> anyhow::Result<Self> {
        let base = Url::parse(base).with_context(|| format!("--url {base:?} is not a URL"))?;
        if base.cannot_be_a_base() {
            bail!("--url {base} cannot have a path under it");
        }
        let token = token
            .filter(|t| !t.is_empty())
            .context("no admin token: set SWITCHYARD_ADMIN_TOKEN (or pass --token)")?;
        Ok(Self {
            base,
            token: token.to_owned(),
        })
    }

    /// GETs the admin endpoint whose path is `segments`.
    pub(super) async fn get(&self, segments: &[&str]) -> anyhow::Result<Value> {
        let endpoint = self.endpoint(segments)?;
        let request = reqwest::Client::new().get(endpoint.clone());
        self.send(request, &endpoint).await
    }

    /// POSTs `body` as JSON to the admin endpoint whose path is `segments`.
    pub(super) async fn post(&self, segments: &[&str], body: &Value) -> anyhow::Result<Value> {
        let endpoint = self.endpoint(segments)?;
        let request = reqwest::Client::new().post(endpoint.clone()).json(body);
        self.send(request, &endpoint).await
    }

    /// `/admin/api/` under the base URL, then each of `segments` escaped as
    /// one path segment: a name holding `/`, `?` or `#` must reach the host
    /// as that name, never as another path, a query or a fragment.
    fn endpoint(&self, segments: &[&str]) -> anyhow::Result<Url> {
        for segment in segments {
            check_segment(segment)?;
        }
        let mut endpoint = self.base.clone();
        endpoint.set_query(None);
        endpoint.set_fragment(None);
        endpoint
            .path_segments_mut()
            .map_err(|()| anyhow::anyhow!("{} cannot have a path under it", self.base))?
            .pop_if_empty()
            .extend(["admin", "api"])
            .extend(segments);
        Ok(endpoint)
    }

    /// Sends `request` with the token and returns the JSON answer; an error
    /// answer becomes an error naming the endpoint and the host's code.
    async fn send(&self, request: RequestBuilder, endpoint: &Url) -> anyhow::Result<Value> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("cannot reach {endpoint}"))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .with_context(|| format!("no answer from {endpoint}"))?;
        let answer = serde_json::from_slice::<Value>(&bytes);
        if status.is_success() {
            return answer.with_context(|| format!("{endpoint} answered no JSON"));
        }
        let answer = answer.unwrap_or_default();
        let code = answer["error"].as_str().unwrap_or("error");
        let message = answer["message"].as_str().unwrap_or("");
        bail!("{endpoint} answered {status} {code}: {message}");
    }
}

/// Refuses a name that no URL can carry as one path segment: URL parsing
/// drops `.` and `..` segments and strips tabs and newlines, so such a
/// name would reach the host as a different path.
fn check_segment(segment: &str) -> anyhow::Result<()> {
    let unsendable = segment.is_empty()
        || segment == "."
        || segment == ".."
        || segment.chars().any(char::is_control);
    if unsendable {
        bail!("{segment:?} cannot be sent to the host as a name");
    }
    Ok(())
}

/// The address the host listens on, from the config's `listen`. An
/// explicit `config` must be readable; without one, a missing default
/// file means a host started without a config, on [`DEFAULT_LISTEN`].
fn host_address(config: Option<&Path>) -> anyhow::Result<SocketAddr> {
    let path = match config {
        Some(path) => path,
        None if !Path::new(DEFAULT_CONFIG).exists() => {
            return DEFAULT_LISTEN
                .parse()
                .context("the default listen address is not an address");
        }
        None => Path::new(DEFAULT_CONFIG),
    };
    let listen = Config::load(path)?.listen;
    Ok(reachable(listen))
}

/// A host listening on every interface (`0.0.0.0`, `::`) is reached on the
/// loopback address of the same family.
fn reachable(mut listen: SocketAddr) -> SocketAddr {
    if listen.ip().is_unspecified() {
        let loopback = match listen {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        };
        listen.set_ip(loopback);
    }
    listen
}
