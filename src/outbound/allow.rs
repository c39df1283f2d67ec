//! `KEYHOLD_OUTBOUND_ALLOW`: the operator's list of hosts and ranges that user-supplied
//! hosts may reach although they are private, and that may use plain http.

use std::net::IpAddr;

use ipnet::IpNet;

/// Host names (matched exactly, case-insensitively) and IP ranges the operator allows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundAllow {
    hosts: Vec<String>,
    nets: Vec<IpNet>,
}

/// An entry of `KEYHOLD_OUTBOUND_ALLOW` that is not a host name, IP address or CIDR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{entry}` is not a host name, IP address or CIDR range (write entries such as \
     vllm.internal, 10.0.0.5 or 10.0.0.0/8, comma-separated, without scheme or port)"
)]
pub struct AllowEntryError {
    /// The entry as the operator wrote it (not a secret: host names and ranges).
    pub entry: String,
}

impl OutboundAllow {
    /// Parses a comma-separated list; empty entries are skipped.
    pub fn parse(list: &str) -> Result<OutboundAllow, AllowEntryError> {
        let mut allow = OutboundAllow::default();
        for raw in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let bad = || AllowEntryError {
                entry: raw.to_owned(),
            };
            if raw.contains('/') {
                let net: IpNet = raw.parse().map_err(|_| bad())?;
                allow.nets.push(net.trunc());
                continue;
            }
            match url::Host::parse(raw).map_err(|_| bad())? {
                url::Host::Ipv4(ip) => allow.nets.push(IpNet::from(IpAddr::V4(ip))),
                url::Host::Ipv6(ip) => allow.nets.push(IpNet::from(IpAddr::V6(ip))),
                url::Host::Domain(name) => {
                    let name = normalise_name(&name);
                    if !is_host_name(&name) {
                        return Err(bad());
                    }
                    allow.hosts.push(name);
                }
            }
        }
        Ok(allow)
    }

    /// Whether nothing is allowed (the default).
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty() && self.nets.is_empty()
    }

    /// Whether the list holds IP ranges, which may admit a name once it is resolved.
    pub fn has_ranges(&self) -> bool {
        !self.nets.is_empty()
    }

    /// Whether `ip` falls inside an allowed address or range.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// Whether the host name is listed (exactly; a listed name does not admit its subdomains).
    pub fn allows_name(&self, name: &str) -> bool {
        let name = normalise_name(name);
        self.hosts.contains(&name)
    }
}

/// A destination to check against the allow list: an address or a host name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dest<'a> {
    Ip(IpAddr),
    Name(&'a str),
}

impl From<IpAddr> for Dest<'_> {
    fn from(ip: IpAddr) -> Self {
        Dest::Ip(ip)
    }
}

impl<'a> From<&'a str> for Dest<'a> {
    fn from(name: &'a str) -> Self {
        match name.trim_start_matches('[').trim_end_matches(']').parse() {
            Ok(ip) => Dest::Ip(ip),
            Err(_) => Dest::Name(name),
        }
    }
}

/// Whether the operator allows `dest` (an address inside an allowed range, or a listed name).
pub fn allowed<'a>(dest: impl Into<Dest<'a>>, allow: &OutboundAllow) -> bool {
    match dest.into() {
        Dest::Ip(ip) => allow.allows_ip(ip),
        Dest::Name(name) => allow.allows_name(name),
    }
}

fn normalise_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn an_empty_list_allows_nothing() {
        let allow = OutboundAllow::parse("").expect("empty is fine");
        assert!(allow.is_empty());
        assert!(!allowed(ip("127.0.0.1"), &allow));
        assert!(!allowed("localhost", &allow));
        assert_eq!(OutboundAllow::parse(" , ,").expect("blank entries"), allow);
    }

    #[test]
    fn names_addresses_and_ranges_are_parsed() {
        let allow = OutboundAllow::parse("vLLM.Internal., 127.0.0.1/32, 10.1.2.3, [::1], fd00::/8")
            .expect("valid");
        assert!(allowed("vllm.internal", &allow));
        assert!(allowed("VLLM.internal.", &allow));
        assert!(!allowed("api.vllm.internal", &allow), "no subdomains");
        assert!(allowed(ip("127.0.0.1"), &allow));
        assert!(!allowed(ip("127.0.0.2"), &allow));
        assert!(allowed(ip("10.1.2.3"), &allow));
        assert!(!allowed(ip("10.1.2.4"), &allow));
        assert!(allowed(ip("::1"), &allow));
        assert!(allowed(ip("fd12::5"), &allow));
        assert!(!allowed(ip("fe80::1"), &allow));
        assert!(
            allowed("127.0.0.1", &allow),
            "a string address is an address"
        );
        assert!(allowed("[::1]", &allow));
        assert!(allow.has_ranges());
    }

    #[test]
    fn a_cidr_with_host_bits_covers_its_network() {
        let allow = OutboundAllow::parse("192.168.1.77/24").expect("valid");
        assert!(allowed(ip("192.168.1.1"), &allow));
        assert!(!allowed(ip("192.168.2.1"), &allow));
    }

    #[test]
    fn numeric_spellings_of_an_entry_mean_the_address() {
        let allow = OutboundAllow::parse("127.1").expect("valid");
        assert!(allowed(ip("127.0.0.1"), &allow));
        assert!(!allowed("127.1", &OutboundAllow::default()));
    }

    #[test]
    fn bad_entries_are_named_in_the_error() {
        for bad in [
            "http://vllm.internal",
            "vllm.internal:8000",
            "10.0.0.0/33",
            "10.0.0.0/x",
            "host name",
            "*.example.com",
            "a..b",
            "user@host",
        ] {
            let err = OutboundAllow::parse(&format!("ok.example, {bad}"))
                .expect_err(&format!("{bad} must be refused"));
            assert_eq!(err.entry, bad);
            assert!(err.to_string().contains(bad), "{err}");
        }
    }
}
