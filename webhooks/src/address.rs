//! Where deliveries may go. Only `http` and `https` URLs, and never to this
//! machine or a private network (loopback, RFC 1918, carrier-grade NAT,
//! link-local, unique-local, unspecified, multicast, broadcast, documentation
//! ranges and IPv4 addresses inside IPv6), unless the deployment allows
//! private addresses (`CRM_WEBHOOKS_ALLOW_PRIVATE`). A host name is resolved
//! and every address it has must be allowed — at registration, and again at
//! every send by the sender's resolver, since a name can point elsewhere
//! later (DNS rebinding); the connection only ever goes to checked addresses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::Url;

/// The longest URL an endpoint may have.
pub const MAX_URL_CHARS: usize = 2048;

/// Why a URL is refused; the message is shown to the admin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Whether private destinations are allowed (tests, on-premises receivers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    pub allow_private: bool,
}

impl AddressPolicy {
    /// The URL's syntax: absolute http(s), a host, no credentials, no fragment.
    pub fn parse(&self, raw: &str) -> Result<Url, Refused> {
        if raw.chars().count() > MAX_URL_CHARS {
            return Err(Refused(format!(
                "must be at most {MAX_URL_CHARS} characters"
            )));
        }
        let url = Url::parse(raw).map_err(|error| Refused(format!("is not a URL: {error}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused("must be an http or https URL".to_owned()));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(Refused("must name a host".to_owned()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refused(
                "must not carry credentials (they would be stored and shown in clear)".to_owned(),
            ));
        }
        if url.fragment().is_some() {
            return Err(Refused("must not have a fragment".to_owned()));
        }
        Ok(url)
    }

    /// Parses `raw` and resolves its host: every address must be allowed.
    pub async fn check(&self, raw: &str) -> Result<Url, Refused> {
        let url = self.parse(raw)?;
        self.resolve(&url).await?;
        Ok(url)
    }

    /// The URL's addresses, all allowed (an IP literal is its own address).
    pub async fn resolve(&self, url: &Url) -> Result<Vec<SocketAddr>, Refused> {
        let port = url.port_or_known_default().unwrap_or(443);
        let addresses = match url.host() {
            Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
            Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
            Some(url::Host::Domain(name)) => self.resolve_name(name, port).await?,
            None => return Err(Refused("must name a host".to_owned())),
        };
        self.allowed(&addresses)?;
        Ok(addresses)
    }

    async fn resolve_name(&self, name: &str, port: u16) -> Result<Vec<SocketAddr>, Refused> {
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
            .await
            .map_err(|error| Refused(format!("host {name} does not resolve: {error}")))?
            .collect();
        if addresses.is_empty() {
            return Err(Refused(format!("host {name} has no address")));
        }
        Ok(addresses)
    }

    fn allowed(&self, addresses: &[SocketAddr]) -> Result<(), Refused> {
        if self.allow_private {
            return Ok(());
        }
        match addresses.iter().find(|address| !is_public(address.ip())) {
            Some(address) => Err(Refused(format!(
                "resolves to {}, a loopback, private or otherwise non-public address \
                 (CRM_WEBHOOKS_ALLOW_PRIVATE=true allows them)",
                address.ip()
            ))),
            None => Ok(()),
        }
    }
}

/// Whether `ip` is on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(mapped) => is_public_v4(mapped),
            None => is_public_v6(ip),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // Carrier-grade NAT (100.64.0.0/10) and the reserved 240.0.0.0/4.
        || (a == 100 && (64..128).contains(&b))
        || a >= 240
        // IETF protocol assignments (192.0.0.0/24) and benchmarking (198.18.0.0/15).
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        || (a == 198 && (b == 18 || b == 19)))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // Unique local fc00::/7, link-local fe80::/10, site-local fec0::/10.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first & 0xffc0) == 0xfec0
        // Documentation 2001:db8::/32; IPv4-compatible ::/96 and NAT64 64:ff9b::/96
        // (they reach IPv4 addresses this check has not seen).
        || (first == 0x2001 && ip.segments()[1] == 0x0db8)
        || ip.segments()[..6].iter().all(|segment| *segment == 0)
        || (first == 0x0064 && ip.segments()[1] == 0xff9b))
}

/// The sender's resolver: resolves as the system does and refuses a name
/// with any disallowed address, so a connection never reaches one, whatever
/// the name resolved to when the endpoint was registered.
#[derive(Debug, Clone)]
pub(crate) struct CheckingResolver {
    pub policy: AddressPolicy,
}

impl reqwest::dns::Resolve for CheckingResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy;
        Box::pin(async move {
            // reqwest puts the URL's port on the addresses it is given.
            let addresses = policy
                .resolve_name(name.as_str(), 0)
                .await
                .and_then(|addresses| policy.allowed(&addresses).map(|()| addresses))
                .map_err(|refused| -> Box<dyn std::error::Error + Send + Sync> {
                    Box::new(refused)
                })?;
            let addresses: reqwest::dns::Addrs = Box::new(addresses.into_iter());
            Ok(addresses)
        })
    }
}

impl CheckingResolver {
    pub fn shared(policy: AddressPolicy) -> Arc<Self> {
        Arc::new(CheckingResolver { policy })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(text: &str) -> bool {
        is_public(text.parse().expect("ip"))
    }

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2001:db8::1",
        ] {
            assert!(!public(private), "{private}");
        }
        for open in [
            "93.184.216.34",
            "8.8.8.8",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(public(open), "{open}");
        }
    }

    #[tokio::test]
    async fn urls_are_http_with_a_public_host() {
        let strict = AddressPolicy::default();
        for (url, why) in [
            ("ftp://example.com/x", "http or https"),
            ("not a url", "is not a URL"),
            ("https://user:pw@93.184.216.34/", "credentials"),
            ("http://127.0.0.1:9/hook", "non-public"),
            ("http://[::1]/hook", "non-public"),
            ("http://169.254.169.254/latest/meta-data", "non-public"),
            ("http://localhost/hook", "non-public"),
            ("https://93.184.216.34/#frag", "fragment"),
        ] {
            let refused = strict.check(url).await.expect_err(url);
            assert!(refused.0.contains(why), "{url}: {refused}");
        }
        let long = format!("https://93.184.216.34/{}", "a".repeat(MAX_URL_CHARS));
        assert!(strict.check(&long).await.is_err());
        assert!(strict.check("https://93.184.216.34/hook").await.is_ok());
        let lenient = AddressPolicy {
            allow_private: true,
        };
        assert!(lenient.check("http://127.0.0.1:9/hook").await.is_ok());
        assert!(lenient.check("ftp://127.0.0.1/").await.is_err());
    }
}
