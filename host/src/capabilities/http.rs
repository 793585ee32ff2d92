//! `http`: outbound requests on a plugin's behalf, checked against the
//! tenant's allowlist, with secrets attached by the host and the response
//! size capped.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use base64::Engine as _;
use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::capabilities::addresses::{AddressPolicy, GuardedResolver, first_refused};
use crate::capabilities::secrets::{BoundSecret, SecretSet};
use crate::registry::Binding;
use crate::runtime::bindings::http::{self, Credential, Error, Method, Request, Response};
use crate::runtime::state::CallState;

/// Responses larger than this are refused: no upstream answer the plugins
/// need comes near it, and a plugin's memory cap would be hit first anyway.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// Used when the plugin gives no timeout of its own (the call's deadline
/// still applies).
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Headers the HTTP client manages itself; a plugin setting them could
/// smuggle a second request or lie about the body.
const RESERVED_HEADERS: [&str; 6] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
];

/// One allowlist entry: a host name or address, optionally with a port, or a
/// `*.domain` wildcard that matches subdomains only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    host: String,
    port: Option<u16>,
    wildcard: bool,
}

impl HostPattern {
    /// Parses `host`, `host:port`, `[v6]:port` or `*.domain`.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let text = text.trim().to_ascii_lowercase();
        if text.contains('/') || text.contains('@') || text.is_empty() {
            bail!("expected a host or host:port, without scheme or path");
        }
        let url = Url::parse(&format!("http://{}/", text.trim_start_matches("*.")))
            .map_err(|err| anyhow::anyhow!("not a host: {err}"))?;
        let Some(host) = url.host_str() else {
            bail!("not a host")
        };
        let port = explicit_port(&text, url.port());
        Ok(Self {
            host: host.to_owned(),
            port,
            wildcard: text.starts_with("*."),
        })
    }

    /// True when `url` goes to this host (and port, when one is set).
    pub fn matches(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        let host = host.to_ascii_lowercase();
        let host_ok = if self.wildcard {
            host.strip_suffix(&self.host)
                .is_some_and(|rest| rest.ends_with('.'))
        } else {
            host == self.host
        };
        let port_ok = self
            .port
            .is_none_or(|port| url.port_or_known_default() == Some(port));
        host_ok && port_ok
    }
}

/// `Url` drops a port equal to the scheme's default, but `host:80` written in
/// the config still means port 80.
fn explicit_port(text: &str, parsed: Option<u16>) -> Option<u16> {
    parsed.or_else(|| {
        let (_, port) = text.rsplit_once(':')?;
        port.parse().ok().filter(|_| !text.ends_with(']'))
    })
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.wildcard {
            f.write_str("*.")?;
        }
        f.write_str(&self.host)?;
        match self.port {
            Some(port) => write!(f, ":{port}"),
            None => Ok(()),
        }
    }
}

/// The outbound HTTP client shared by every plugin call.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    policy: Arc<AddressPolicy>,
    max_response_bytes: usize,
}

impl HttpClient {
    /// A client for one (tenant, plugin) that can only connect to addresses
    /// `policy` permits. It follows no redirects and no proxy on its own:
    /// `fetch` follows redirects itself, checking every hop.
    pub fn new(policy: Arc<AddressPolicy>) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver::new(policy.clone())))
            .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            policy,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        })
    }
}

impl http::Host for CallState {
    async fn fetch(&mut self, req: Request) -> wasmtime::Result<Result<Response, Error>> {
        let started = Instant::now();
        let method = method_name(req.method);
        let url = Url::parse(&req.url);
        let outcome = match &url {
            Ok(url) => self.outbound().send(req, url).await,
            Err(err) => Err(Error::Invalid(format!("bad url: {err}"))),
        };

        let host = url
            .as_ref()
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned));
        let host = host.unwrap_or_default();
        let label = outcome_label(&outcome);
        self.host
            .metrics
            .observe_outbound(&self.plugin, &host, label, started.elapsed());
        tracing::info!(
            plugin = %self.plugin, tenant = self.tenant(), call_id = %self.call_id,
            method, host, outcome = label, ms = started.elapsed().as_millis() as u64,
            "outbound request"
        );
        Ok(outcome)
    }
}

impl CallState {
    /// What a request needs from the call, owned, so the request future does
    /// not borrow the call state (which is not `Sync`).
    fn outbound(&self) -> Outbound {
        Outbound {
            plugin: self.plugin.clone(),
            binding: self.binding.clone(),
            deadline: self.deadline,
        }
    }
}

/// One request's view of its call.
struct Outbound {
    plugin: Arc<str>,
    binding: Option<Arc<Binding>>,
    deadline: Instant,
}

impl Outbound {
    async fn send(&self, req: Request, url: &Url) -> Result<Response, Error> {
        let Some(binding) = &self.binding else {
            return Err(Error::Denied("no tenant: http is unavailable here".into()));
        };
        let headers = plugin_headers(&req.headers)?;
        // The allowlist speaks first, so an unlisted host is reported as such
        // whatever credential came with the request; then the secrets' own
        // bindings; only then is the name resolved.
        self.check_allowlist(binding, url)?;
        let credential = match &req.credential {
            Some(credential) => Some(credential_header(credential, &binding.secrets, url)?),
            None => None,
        };
        self.check_addresses(binding, url).await?;
        let timeout = self.request_timeout(req.timeout_ms);
        let mut hop = Hop {
            method: reqwest_method(req.method),
            url: url.clone(),
            body: req.body,
        };

        let mut redirects = 0;
        loop {
            if redirects > 0 {
                self.check_target(binding, &hop.url).await?;
            }
            let mut builder = binding
                .http
                .client
                .request(hop.method.clone(), hop.url.clone());
            builder = builder.headers(headers.clone()).timeout(timeout);
            // A credential goes only where the plugin sent it, never to the
            // origin a redirect points at.
            if let Some((name, value)) = credential.as_ref().filter(|_| same_origin(url, &hop.url))
            {
                builder = builder.header(name, value);
            }
            if let Some(body) = &hop.body {
                builder = builder.body(body.clone());
            }
            let response = builder.send().await.map_err(transport_error)?;
            match hop.follow(&response) {
                Some(next) if redirects < MAX_REDIRECTS => {
                    hop = next;
                    redirects += 1;
                }
                // Past the limit the plugin gets the last redirect as is.
                _ => return read_response(response, binding.http.max_response_bytes).await,
            }
        }
    }

    /// The allowlist and the address policy, for the first request and for
    /// every redirect.
    async fn check_target(&self, binding: &Binding, url: &Url) -> Result<(), Error> {
        self.check_allowlist(binding, url)?;
        self.check_addresses(binding, url).await
    }

    fn check_allowlist(&self, binding: &Binding, url: &Url) -> Result<(), Error> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::Invalid(format!(
                "scheme {} is not http or https",
                url.scheme()
            )));
        }
        if !binding.settings.allow_hosts.iter().any(|p| p.matches(url)) {
            return Err(Error::Denied(format!(
                "host {} is not in the allowlist of plugin {} for tenant {}",
                url.host_str().unwrap_or(""),
                self.plugin,
                binding.tenant
            )));
        }
        Ok(())
    }

    async fn check_addresses(&self, binding: &Binding, url: &Url) -> Result<(), Error> {
        let host = url.host_str().unwrap_or("");
        let port = url.port_or_known_default().unwrap_or(443);
        let refused = first_refused(&binding.http.policy, host, port)
            .await
            .map_err(|err| Error::Connect(format!("cannot resolve {host}: {err}")))?;
        if let Some(ip) = refused {
            return Err(Error::Denied(format!(
                "host {host} resolves to {ip}, a loopback, private, link-local or metadata \
                 address; tenant {} does not allow it for plugin {} (allow_private)",
                binding.tenant, self.plugin
            )));
        }
        Ok(())
    }

    fn request_timeout(&self, asked_ms: Option<u32>) -> Duration {
        let asked = asked_ms.map_or(DEFAULT_REQUEST_TIMEOUT, |ms| {
            Duration::from_millis(ms.into())
        });
        asked.min(self.deadline.saturating_duration_since(Instant::now()))
    }
}

/// Redirects followed per request before giving up.
const MAX_REDIRECTS: usize = 5;

/// One request of a chain of redirects.
struct Hop {
    method: reqwest::Method,
    url: Url,
    body: Option<Vec<u8>>,
}

impl Hop {
    /// The next hop when `response` redirects, as browsers and curl do:
    /// 303 (and 301/302 after a POST) become a GET without body; 307 and
    /// 308 repeat the request as it was.
    fn follow(&self, response: &reqwest::Response) -> Option<Hop> {
        let status = response.status().as_u16();
        if !matches!(status, 301 | 302 | 303 | 307 | 308) {
            return None;
        }
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)?
            .to_str()
            .ok()?;
        let url = self.url.join(location).ok()?;
        let keep = matches!(status, 307 | 308) || self.method == reqwest::Method::HEAD;
        if keep {
            return Some(Hop {
                method: self.method.clone(),
                url,
                body: self.body.clone(),
            });
        }
        Some(Hop {
            method: reqwest::Method::GET,
            url,
            body: None,
        })
    }
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

fn plugin_headers(headers: &[(String, String)]) -> Result<HeaderMap, Error> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let name = HeaderName::try_from(name.as_str())
            .map_err(|_| Error::Invalid(format!("bad header name {name:?}")))?;
        if RESERVED_HEADERS.contains(&name.as_str()) {
            return Err(Error::Invalid(format!("header {name} is set by the host")));
        }
        let value = HeaderValue::try_from(value.as_str())
            .map_err(|_| Error::Invalid(format!("bad value for header {name}")))?;
        map.append(name, value);
    }
    Ok(map)
}

/// Builds the header a credential stands for, after checking that every
/// secret it uses may go to the request's host. Error texts name secrets,
/// never their values.
fn credential_header(
    credential: &Credential,
    secrets: &SecretSet,
    url: &Url,
) -> Result<(HeaderName, HeaderValue), Error> {
    let bound = |name: &str| bound_secret(secrets, name, url);
    let (name, mut value) = match credential {
        Credential::Bearer(secret) => {
            let mut value = b"Bearer ".to_vec();
            value.extend_from_slice(bound(secret)?.value.expose());
            (reqwest::header::AUTHORIZATION, value)
        }
        Credential::Basic(basic) => {
            let mut pair = bound(&basic.username)?.value.expose().to_vec();
            pair.push(b':');
            if let Some(password) = &basic.password {
                pair.extend_from_slice(bound(password)?.value.expose());
            }
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
            (
                reqwest::header::AUTHORIZATION,
                format!("Basic {encoded}").into_bytes(),
            )
        }
        Credential::Header(template) => {
            let name = HeaderName::try_from(template.name.as_str())
                .map_err(|_| Error::Invalid(format!("bad header name {:?}", template.name)))?;
            (name, fill_template(&template.template, &bound)?)
        }
    };
    let mut header = HeaderValue::from_bytes(&value)
        .map_err(|_| Error::Invalid("a secret cannot be used in a header value".into()))?;
    value.fill(0);
    header.set_sensitive(true);
    Ok((name, header))
}

fn bound_secret<'a>(
    secrets: &'a SecretSet,
    name: &str,
    url: &Url,
) -> Result<&'a BoundSecret, Error> {
    let secret = secrets
        .get(name)
        .ok_or_else(|| Error::Invalid(format!("no secret named {name}")))?;
    if !secret.hosts.iter().any(|pattern| pattern.matches(url)) {
        let host = url.host_str().unwrap_or("");
        return Err(Error::Denied(format!(
            "secret {name} may not be sent to host {host}"
        )));
    }
    Ok(secret)
}

/// Replaces each `{name}` in `template` with the secret `name`; `{{` and `}}`
/// stand for literal braces.
fn fill_template<'a>(
    template: &str,
    bound: &impl Fn(&str) -> Result<&'a BoundSecret, Error>,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        out.extend_from_slice(&rest.as_bytes()[..open]);
        let tail = &rest[open..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push(tail.as_bytes()[0]);
            rest = &tail[2..];
            continue;
        }
        let close = tail.find('}').filter(|_| tail.starts_with('{'));
        let close = close.ok_or_else(|| Error::Invalid("unbalanced braces in template".into()))?;
        out.extend_from_slice(bound(&tail[1..close])?.value.expose());
        rest = &tail[close + 1..];
    }
    out.extend_from_slice(rest.as_bytes());
    Ok(out)
}

async fn read_response(mut response: reqwest::Response, limit: usize) -> Result<Response, Error> {
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(Error::TooLarge(limit as u64));
    }
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if body.len() + chunk.len() > limit {
            return Err(Error::TooLarge(limit as u64));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn transport_error(err: reqwest::Error) -> Error {
    if err.is_timeout() {
        return Error::Timeout;
    }
    // The full chain says why (refused, reset, DNS) without any header.
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    Error::Connect(text)
}

fn outcome_label(outcome: &Result<Response, Error>) -> &'static str {
    match outcome {
        Ok(r) if r.status < 400 => "ok",
        Ok(r) if r.status < 500 => "client_error",
        Ok(_) => "server_error",
        Err(Error::Denied(_)) => "denied",
        Err(Error::Timeout) => "timeout",
        Err(Error::Connect(_)) => "connect",
        Err(Error::TooLarge(_)) => "too_large",
        Err(Error::Invalid(_)) => "invalid",
    }
}

fn reqwest_method(method: Method) -> reqwest::Method {
    match method {
        Method::Get => reqwest::Method::GET,
        Method::Head => reqwest::Method::HEAD,
        Method::Post => reqwest::Method::POST,
        Method::Put => reqwest::Method::PUT,
        Method::Patch => reqwest::Method::PATCH,
        Method::Delete => reqwest::Method::DELETE,
    }
}

fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::secrets::Secret;

    fn url(text: &str) -> Url {
        Url::parse(text).expect("test url")
    }

    #[test]
    fn patterns_match_host_and_optional_port() {
        let plain = HostPattern::parse("API.stripe.com").expect("valid");
        assert!(plain.matches(&url("https://api.stripe.com/v1/transfers")));
        assert!(plain.matches(&url("http://api.stripe.com:8080/")));
        assert!(!plain.matches(&url("https://api.stripe.com.evil.test/")));
        assert!(!plain.matches(&url("https://evilapi.stripe.com/")));

        let with_port = HostPattern::parse("127.0.0.1:8791").expect("valid");
        assert!(with_port.matches(&url("http://127.0.0.1:8791/admin")));
        assert!(!with_port.matches(&url("http://127.0.0.1:8792/admin")));

        let https_port = HostPattern::parse("example.com:443").expect("valid");
        assert!(https_port.matches(&url("https://example.com/")));
        assert!(!https_port.matches(&url("http://example.com/")));
    }

    #[test]
    fn wildcards_match_subdomains_only() {
        let wild = HostPattern::parse("*.erpnext.example").expect("valid");
        assert!(wild.matches(&url("https://acme.erpnext.example/")));
        assert!(!wild.matches(&url("https://erpnext.example/")));
        assert!(!wild.matches(&url("https://acmeerpnext.example/")));
    }

    #[test]
    fn patterns_refuse_urls() {
        for text in [
            "https://api.stripe.com",
            "api.stripe.com/v1",
            "user@host",
            "",
        ] {
            assert!(HostPattern::parse(text).is_err(), "{text}");
        }
    }

    fn secrets(host: &str) -> SecretSet {
        let hosts = vec![HostPattern::parse(host).expect("valid")];
        SecretSet::from_values([("api_key", Secret::new("k3y"), hosts)])
    }

    #[test]
    fn credentials_only_go_to_their_hosts() {
        let set = secrets("erp.example");
        let bearer = Credential::Bearer("api_key".into());
        let (_, value) =
            credential_header(&bearer, &set, &url("https://erp.example/x")).expect("bound host");
        assert_eq!(value.to_str().expect("ascii"), "Bearer k3y");
        assert!(value.is_sensitive());

        let refused = credential_header(&bearer, &set, &url("https://other.example/x"));
        let Err(Error::Denied(message)) = refused else {
            panic!("expected denied")
        };
        assert!(!message.contains("k3y"));
    }

    #[test]
    fn templates_fill_secrets_and_keep_escaped_braces() {
        let set = secrets("erp.example");
        let bound = |name: &str| bound_secret(&set, name, &url("https://erp.example/"));
        let filled = fill_template("token {api_key}:{{x}}", &bound).expect("fills");
        assert_eq!(filled, b"token k3y:{x}");
        assert!(fill_template("token {api_key", &bound).is_err());
        assert!(fill_template("token {nope}", &bound).is_err());
    }

    #[test]
    fn basic_credentials_encode_user_and_empty_password() {
        let set = secrets("erp.example");
        let basic = Credential::Basic(http::BasicCredential {
            username: "api_key".into(),
            password: None,
        });
        let (_, value) = credential_header(&basic, &set, &url("https://erp.example/")).expect("ok");
        assert_eq!(value.to_str().expect("ascii"), "Basic azN5Og==");
    }
}
