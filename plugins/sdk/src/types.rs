//! The plain Rust shapes of what crosses the plugin boundary: the manifest
//! a plugin describes itself with and the requests the host hands it.

/// A header as sent or received: name and value.
pub type Header = (String, String);

/// Who is calling: every call is made for one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Context {
    /// The tenant the call is made for; the host has already scoped every
    /// capability (kv, config, secrets) to it.
    pub tenant: String,
    /// The id of this call, also present in the host's logs.
    pub call_id: String,
}

/// What the plugin is and needs. The SDK adds the WIT version itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Manifest {
    /// The plugin's name, as tenants enable it in `plugins.toml`.
    pub name: String,
    /// The plugin's own version, usually `env!("CARGO_PKG_VERSION")`.
    pub version: String,
    /// One line on what the plugin does, for the admin UI.
    pub description: String,
    /// Scheduled jobs with their default schedules.
    pub jobs: Vec<JobSpec>,
    /// Event names the plugin handles.
    pub subscriptions: Vec<String>,
    /// Admin actions the plugin offers.
    pub actions: Vec<ActionSpec>,
    /// The configuration keys the plugin reads.
    pub config: Vec<ConfigKey>,
    /// Hosts the plugin needs to reach, for the operator's allowlist.
    pub hosts: Vec<String>,
    /// Extra routes the host maps to this plugin.
    pub routes: Vec<RouteAlias>,
}

impl Manifest {
    /// A manifest with a name, a version and a description, and nothing
    /// else yet; the other builder methods add to it.
    pub fn new(name: &str, version: &str, description: &str) -> Self {
        Self {
            name: name.to_owned(),
            version: version.to_owned(),
            description: description.to_owned(),
            ..Self::default()
        }
    }

    /// Adds a scheduled job.
    pub fn job(mut self, name: &str, schedule: &str, description: &str) -> Self {
        let job = JobSpec {
            name: name.to_owned(),
            schedule: schedule.to_owned(),
            description: description.to_owned(),
        };
        self.jobs.push(job);
        self
    }

    /// Subscribes to a domain event by name.
    pub fn subscribe(mut self, event: &str) -> Self {
        self.subscriptions.push(event.to_owned());
        self
    }

    /// Adds an admin action.
    pub fn action(mut self, name: &str, description: &str) -> Self {
        let action = ActionSpec {
            name: name.to_owned(),
            description: description.to_owned(),
        };
        self.actions.push(action);
        self
    }

    /// Declares a configuration key.
    pub fn config(mut self, key: ConfigKey) -> Self {
        self.config.push(key);
        self
    }

    /// Declares a host the plugin calls.
    pub fn host(mut self, host: &str) -> Self {
        self.hosts.push(host.to_owned());
        self
    }

    /// Adds a route alias.
    pub fn route(mut self, path: &str, kind: RouteKind) -> Self {
        self.routes.push(RouteAlias {
            path: path.to_owned(),
            kind,
        });
        self
    }
}

/// A scheduled job the plugin offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSpec {
    /// The name `run_job` receives.
    pub name: String,
    /// Default cron schedule (`sec min hour day month weekday`); tenants may
    /// override it.
    pub schedule: String,
    /// What a run does, for the admin UI.
    pub description: String,
}

/// An admin action the plugin offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionSpec {
    /// The name `call_action` receives.
    pub name: String,
    /// What the action does, for the admin UI.
    pub description: String,
}

/// A configuration key the plugin reads. Secrets are configured on the host
/// and only ever used by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigKey {
    /// The key's name.
    pub name: String,
    /// True for a secret: the host keeps its value and the plugin names it.
    pub secret: bool,
    /// True when a tenant cannot enable the plugin without it.
    pub required: bool,
    /// What the key means, including its default when optional.
    pub description: String,
}

impl ConfigKey {
    /// A plain setting every tenant must give.
    pub fn required(name: &str, description: &str) -> Self {
        Self::new(name, false, true, description)
    }

    /// A plain setting with a default.
    pub fn optional(name: &str, description: &str) -> Self {
        Self::new(name, false, false, description)
    }

    /// A secret every tenant must configure.
    pub fn secret(name: &str, description: &str) -> Self {
        Self::new(name, true, true, description)
    }

    /// A secret a tenant may configure.
    pub fn optional_secret(name: &str, description: &str) -> Self {
        Self::new(name, true, false, description)
    }

    fn new(name: &str, secret: bool, required: bool, description: &str) -> Self {
        let (name, description) = (name.to_owned(), description.to_owned());
        Self {
            name,
            secret,
            required,
            description,
        }
    }
}

/// An extra route the host maps to this plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteAlias {
    /// An absolute path such as `/admin/integrations/stripe/webhook`.
    pub path: String,
    /// What the route does.
    pub kind: RouteKind,
}

/// What a route alias does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteKind {
    /// Behaves like `POST /webhooks/{plugin}/{tenant}`.
    Webhook,
    /// Calls the named action with the request body as input.
    Action(String),
}

/// A webhook as the host received it, before anything was stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WebhookRequest {
    /// The path it was posted to.
    pub path: String,
    /// The raw query string.
    pub query: String,
    /// The headers as received.
    pub headers: Vec<Header>,
    /// The exact received bytes: verify signatures over these.
    pub body: Vec<u8>,
}

impl WebhookRequest {
    /// The first header called `name`, compared without regard to case.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// A webhook that passed verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The upstream's event id; the host drops repeats of it.
    pub event_id: String,
    /// The upstream's event type.
    pub event_type: String,
}

/// A stored webhook being processed, perhaps not for the first time.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Delivery {
    /// The host's id for the delivery.
    pub id: String,
    /// The id `verify_webhook` returned.
    pub event_id: String,
    /// The type `verify_webhook` returned.
    pub event_type: String,
    /// The headers as received.
    pub headers: Vec<Header>,
    /// The raw body as received.
    pub body: Vec<u8>,
    /// When the host received it, in Unix milliseconds.
    pub received_at_ms: u64,
    /// 1 on the first attempt.
    pub attempt: u32,
}

impl Delivery {
    /// The first header called `name`, compared without regard to case.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// A domain event from Medusa or another plugin.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    /// The event's id; redelivery keeps it.
    pub id: String,
    /// Its name, such as `order.placed`.
    pub name: String,
    /// Its data, as JSON text.
    pub data: String,
    /// `medusa`, or the name of the emitting plugin.
    pub source: String,
    /// When the host received it, in Unix milliseconds.
    pub received_at_ms: u64,
    /// 1 on the first attempt.
    pub attempt: u32,
}

/// What one job run did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JobReport {
    /// Counts such as `("transferred", 3)`, shown in the run history.
    pub counts: Vec<(String, u64)>,
    /// One line on the outcome.
    pub summary: String,
}

/// The first header in `headers` called `name`, ignoring ASCII case as HTTP
/// does.
pub fn find_header<'a>(headers: &'a [Header], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lookup_ignores_case() {
        let request = WebhookRequest {
            headers: vec![("stripe-signature".into(), "t=1".into())],
            ..WebhookRequest::default()
        };
        assert_eq!(request.header("Stripe-Signature"), Some("t=1"));
        assert_eq!(request.header("Signature"), None);
    }

    #[test]
    fn manifest_builder_collects_everything() {
        let manifest = Manifest::new("p", "1.0.0", "d")
            .job("j", "0 0 3 * * *", "daily")
            .config(ConfigKey::secret("api_key", "the key"))
            .host("api.example.com")
            .route("/hook", RouteKind::Webhook);
        assert_eq!(manifest.jobs[0].schedule, "0 0 3 * * *");
        assert!(manifest.config[0].secret && manifest.config[0].required);
        assert_eq!(manifest.hosts, ["api.example.com"]);
        assert_eq!(manifest.routes[0].kind, RouteKind::Webhook);
    }
}
