//! Which IP addresses outbound requests may reach.
//!
//! Loopback, private, link-local, unique-local, carrier-grade NAT and cloud
//! metadata addresses are refused unless the operator allows a range for
//! that tenant's plugin. The check runs on resolved addresses, both before a
//! request (to give the plugin a typed `denied`) and inside the connector's
//! resolver (so a name that changes its answer between the two is still
//! refused).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The addresses one (tenant, plugin) may connect to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    allowed: Vec<IpNet>,
}

impl AddressPolicy {
    /// Public addresses plus the given ranges (say `127.0.0.0/8` for local
    /// simulators).
    pub fn allowing(allowed: Vec<IpNet>) -> Self {
        Self { allowed }
    }

    /// True when `ip` may be reached.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        !is_internal(ip) || self.allowed.iter().any(|net| net.contains(&ip))
    }
}

/// An IPv4 address written as IPv6 (`::ffff:127.0.0.1`) is that IPv4
/// address; checking it as IPv6 would wave loopback through.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => is_internal_v6(v6),
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254.0.0/16, where cloud metadata lives
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || a >= 240 // reserved
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local, fc00::/7 (includes fd00:ec2::254)
        || (first & 0xffc0) == 0xfe80 // link local
        || ip.to_ipv4().is_some_and(is_internal_v4) // IPv4-compatible ::a.b.c.d
}

/// A resolver that drops every address the policy refuses, so the HTTP
/// client can only ever connect to permitted ones.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    policy: Arc<AddressPolicy>,
}

impl GuardedResolver {
    /// A resolver enforcing `policy`.
    pub fn new(policy: Arc<AddressPolicy>) -> Self {
        Self { policy }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let found = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let permitted: Vec<SocketAddr> = found.filter(|a| policy.permits(a.ip())).collect();
            if permitted.is_empty() {
                let message = format!("{} resolves to no permitted address", name.as_str());
                return Err(message.into());
            }
            let addrs: Addrs = Box::new(permitted.into_iter());
            Ok(addrs)
        })
    }
}

/// Resolves `host` and returns the first address the policy refuses, if any.
/// An IP literal is checked as is.
pub async fn first_refused(
    policy: &AddressPolicy,
    host: &str,
    port: u16,
) -> std::io::Result<Option<IpAddr>> {
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return Ok((!policy.permits(ip)).then_some(ip));
    }
    let mut found = tokio::net::lookup_host((host, port)).await?;
    Ok(found
        .find(|addr| !policy.permits(addr.ip()))
        .map(|addr| addr.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    #[test]
    fn refuses_internal_addresses_by_default() {
        let policy = AddressPolicy::default();
        let internal = [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "224.0.0.1",
            "255.255.255.255",
        ];
        for text in internal {
            assert!(!policy.permits(ip(text)), "{text} was permitted");
        }
        for text in [
            "93.184.215.14",
            "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
            "8.8.8.8",
        ] {
            assert!(policy.permits(ip(text)), "{text} was refused");
        }
    }

    #[test]
    fn an_allowed_range_opens_only_that_range() {
        let policy = AddressPolicy::allowing(vec!["127.0.0.0/8".parse().expect("cidr")]);
        assert!(policy.permits(ip("127.0.0.1")));
        assert!(policy.permits(ip("::ffff:127.0.0.1")));
        assert!(!policy.permits(ip("10.0.0.1")));
        assert!(!policy.permits(ip("169.254.169.254")));
    }

    #[tokio::test]
    async fn names_are_checked_after_resolution() {
        let policy = AddressPolicy::default();
        let refused = first_refused(&policy, "localhost", 80)
            .await
            .expect("resolves");
        assert!(refused.is_some_and(|ip| ip.is_loopback()));
        let literal = first_refused(&policy, "[::1]", 80).await.expect("literal");
        assert_eq!(literal, Some(ip("::1")));
    }
}
