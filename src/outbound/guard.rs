//! The checks on a user-supplied URL before anything is sent: scheme, user info, and the
//! host when it is an address. Names are checked again when connecting (see `resolver`).

use std::net::IpAddr;

use url::{Host, Url};

use super::address::is_public;
use super::allow::OutboundAllow;

/// The form field a user-supplied host came from, named in refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostField {
    /// The OpenAI-compatible "API host".
    ApiHost,
    /// The Azure OpenAI "Endpoint".
    Endpoint,
}

impl HostField {
    /// The visible label of the field (SPEC §3).
    pub fn label(self) -> &'static str {
        match self {
            HostField::ApiHost => "API host",
            HostField::Endpoint => "Endpoint",
        }
    }
}

/// Why Keyhold will not call a user-supplied host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HostRefusal {
    /// Not an http(s) URL.
    #[error("the host must be an https:// URL")]
    Scheme,
    /// Plain http to a host the operator has not allowed.
    #[error("the host must use https://")]
    NeedsHttps,
    /// `user:password@` in the URL.
    #[error("the host URL must not hold a user name or password")]
    UserInfo,
    /// No host in the URL.
    #[error("the URL names no host")]
    NoHost,
    /// The host is, or resolves only to, a loopback, private, link-local or reserved address.
    #[error("the host leads to a private or reserved address")]
    NotPublic,
    /// The name does not resolve.
    #[error("the host name could not be resolved")]
    NotFound,
}

impl HostRefusal {
    /// The sentence shown next to `field` on the form.
    pub fn message(self, field: HostField) -> String {
        let label = field.label();
        match self {
            HostRefusal::Scheme => {
                format!("The {label} must be a URL starting with https://.")
            }
            HostRefusal::NeedsHttps => format!(
                "The {label} must start with https://. Plain http:// is only for hosts \
                 the operator allows."
            ),
            HostRefusal::UserInfo => format!(
                "The {label} must not hold a user name or password; put the key in the \
                 API key field."
            ),
            HostRefusal::NoHost => format!("The {label} must name a host."),
            HostRefusal::NotPublic => format!(
                "The {label} leads to a loopback, private, link-local or reserved address, \
                 which Keyhold does not call. Use the host's public name."
            ),
            HostRefusal::NotFound => {
                format!("The {label}'s host name could not be found. Check its spelling.")
            }
        }
    }
}

/// Checks a user-supplied URL: http(s) only, https unless the operator allows the host, no
/// user info, and an address host must be public or allowed. A host name passes here and
/// is checked when connecting, where the address actually used is known.
pub fn check_url(url: &Url, allow: &OutboundAllow) -> Result<(), HostRefusal> {
    let https = match url.scheme() {
        "https" => true,
        "http" => false,
        _ => return Err(HostRefusal::Scheme),
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(HostRefusal::UserInfo);
    }
    // The url crate has already turned every numeric spelling of an IPv4 address
    // (`2130706433`, `0x7f.1`, `017700000001`, `127.1`) into `Host::Ipv4`.
    let (ip, host_allowed) = match url.host().ok_or(HostRefusal::NoHost)? {
        Host::Ipv4(v4) => (Some(IpAddr::V4(v4)), allow.allows_ip(IpAddr::V4(v4))),
        Host::Ipv6(v6) => (Some(IpAddr::V6(v6)), allow.allows_ip(IpAddr::V6(v6))),
        Host::Domain(name) => (None, allow.allows_name(name)),
    };
    if !https && !host_allowed {
        // A name may still be admitted by an allowed range once resolved: the http
        // client then connects only to addresses inside the allowed ranges.
        let decided_at_connect = ip.is_none() && allow.has_ranges();
        if !decided_at_connect {
            return Err(HostRefusal::NeedsHttps);
        }
    }
    if let Some(ip) = ip
        && !host_allowed
        && !is_public(ip)
    {
        return Err(HostRefusal::NotPublic);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str, allow: &str) -> Result<(), HostRefusal> {
        let url = Url::parse(url).expect("url");
        check_url(&url, &OutboundAllow::parse(allow).expect("allow"))
    }

    #[test]
    fn public_https_hosts_pass() {
        for ok in [
            "https://api.example.com/v1",
            "https://my-res.openai.azure.com",
            "https://8.8.8.8/v1",
            "https://[2606:4700::1111]/v1",
            "https://localhost.example.com:8443/v1",
        ] {
            assert_eq!(check(ok, ""), Ok(()), "{ok}");
        }
    }

    #[test]
    fn plain_http_needs_the_operator() {
        assert_eq!(
            check("http://api.example.com/v1", ""),
            Err(HostRefusal::NeedsHttps)
        );
        assert_eq!(check("http://8.8.8.8/v1", ""), Err(HostRefusal::NeedsHttps));
        assert_eq!(check("http://vllm.lan:8000/v1", "vllm.lan"), Ok(()));
        assert_eq!(check("http://127.0.0.1:9/v1", "127.0.0.1/32"), Ok(()));
        // A name under a range-only list is decided when connecting.
        assert_eq!(check("http://vllm.lan/v1", "10.0.0.0/8"), Ok(()));
        assert_eq!(
            check("http://other.lan/v1", "vllm.lan"),
            Err(HostRefusal::NeedsHttps)
        );
    }

    #[test]
    fn other_schemes_user_info_and_hostless_urls_are_refused() {
        for (url, why) in [
            ("ftp://api.example.com/", HostRefusal::Scheme),
            ("file:///etc/passwd", HostRefusal::Scheme),
            ("gopher://127.0.0.1:6379/", HostRefusal::Scheme),
            ("https://user@api.example.com/", HostRefusal::UserInfo),
            ("https://user:pw@api.example.com/", HostRefusal::UserInfo),
            ("https://:pw@api.example.com/", HostRefusal::UserInfo),
        ] {
            assert_eq!(check(url, ""), Err(why), "{url}");
        }
    }

    #[test]
    fn private_addresses_are_refused_in_every_spelling() {
        for bad in [
            "https://127.0.0.1/",
            "https://127.0.0.2:8443/v1",
            "https://10.0.0.1/",
            "https://172.16.5.4/",
            "https://192.168.1.1/",
            "https://100.64.0.1/",
            "https://169.254.169.254/latest/meta-data/",
            "https://0.0.0.0/",
            "https://224.0.0.1/",
            "https://255.255.255.255/",
            "https://[::1]/",
            "https://[fc00::1]/",
            "https://[fd00:ec2::254]/",
            "https://[fe80::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:7f00:1]/",
            "https://[::ffff:169.254.169.254]/",
            "https://[::127.0.0.1]/",
            "https://[64:ff9b::7f00:1]/",
            "https://[2002:7f00:1::]/",
            "https://2130706433/",
            "https://0x7f.1/",
            "https://0x7f000001/",
            "https://017700000001/",
            "https://0177.0.0.1/",
            "https://127.1/",
            "https://127.0.1/",
            "https://127.0.0.1./",
            "https://%31%32%37.0.0.1/",
            "https://\u{ff11}\u{ff12}\u{ff17}.0.0.1/",
            "https://2852039166/",
            "https://0xa9fea9fe/",
            "https://0251.0376.0251.0376/",
            "https://0/",
        ] {
            let url = Url::parse(bad).expect("the url crate accepts it");
            assert!(
                matches!(url.host(), Some(Host::Ipv4(_) | Host::Ipv6(_))),
                "{bad} reaches the guard as {:?}",
                url.host()
            );
            assert_eq!(check(bad, ""), Err(HostRefusal::NotPublic), "{bad}");
        }
    }

    #[test]
    fn only_the_allowed_private_address_passes() {
        assert_eq!(check("http://127.0.0.1:8080/v1", "127.0.0.1/32"), Ok(()));
        assert_eq!(
            check("https://127.0.0.2:8080/v1", "127.0.0.1/32"),
            Err(HostRefusal::NotPublic)
        );
        assert_eq!(
            check("http://127.0.0.2:8080/v1", "127.0.0.1/32"),
            Err(HostRefusal::NeedsHttps)
        );
        assert_eq!(
            check("https://[::ffff:127.0.0.1]/", "127.0.0.1/32"),
            Err(HostRefusal::NotPublic),
            "an allowed IPv4 address is not allowed in its IPv6-mapped spelling"
        );
        assert_eq!(check("https://2130706433/", "127.0.0.1"), Ok(()));
    }

    #[test]
    fn refusal_messages_name_the_field() {
        for why in [
            HostRefusal::Scheme,
            HostRefusal::NeedsHttps,
            HostRefusal::UserInfo,
            HostRefusal::NoHost,
            HostRefusal::NotPublic,
            HostRefusal::NotFound,
        ] {
            assert!(why.message(HostField::ApiHost).contains("API host"));
            assert!(why.message(HostField::Endpoint).contains("Endpoint"));
        }
    }
}
