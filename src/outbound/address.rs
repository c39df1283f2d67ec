//! Which IP addresses a user-supplied host may lead to: public unicast only. Everything
//! else (loopback, private, link-local and metadata, CGNAT, multicast, reserved,
//! documentation, and IPv6 forms that carry such an IPv4 address) is refused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether `ip` is a public unicast address that Keyhold may call for a user.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

/// IPv4 ranges that are not public (RFC 6890 and its successors).
const NOT_PUBLIC_V4: &[(u32, u8)] = &[
    (0x0000_0000, 8),  // 0.0.0.0/8 "this network"
    (0x0a00_0000, 8),  // 10.0.0.0/8 private
    (0x6440_0000, 10), // 100.64.0.0/10 carrier-grade NAT
    (0x7f00_0000, 8),  // 127.0.0.0/8 loopback
    (0xa9fe_0000, 16), // 169.254.0.0/16 link-local, cloud metadata (169.254.169.254)
    (0xac10_0000, 12), // 172.16.0.0/12 private
    (0xc000_0000, 24), // 192.0.0.0/24 protocol assignments (incl. NAT64 discovery)
    (0xc000_0200, 24), // 192.0.2.0/24 documentation
    (0xc058_6300, 24), // 192.88.99.0/24 6to4 relay anycast
    (0xc0a8_0000, 16), // 192.168.0.0/16 private
    (0xc612_0000, 15), // 198.18.0.0/15 benchmarking
    (0xc633_6400, 24), // 198.51.100.0/24 documentation
    (0xcb00_7100, 24), // 203.0.113.0/24 documentation
    (0xe000_0000, 4),  // 224.0.0.0/4 multicast
    (0xf000_0000, 4),  // 240.0.0.0/4 reserved, and 255.255.255.255 broadcast
];

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let n = u32::from(ip);
    !NOT_PUBLIC_V4
        .iter()
        .any(|&(net, len)| n >> (32 - len) == net >> (32 - len))
}

fn in_v6(ip: Ipv6Addr, net: u128, len: u32) -> bool {
    u128::from(ip) >> (128 - len) == net >> (128 - len)
}

/// IPv6 ranges inside the global unicast block 2000::/3 that are still not public.
const NOT_PUBLIC_V6: &[(u128, u32)] = &[
    (0x2001_0000_0000_0000_0000_0000_0000_0000, 32), // Teredo (hides an IPv4 address)
    (0x2001_0002_0000_0000_0000_0000_0000_0000, 48), // benchmarking
    (0x2001_0010_0000_0000_0000_0000_0000_0000, 28), // ORCHID
    (0x2001_0020_0000_0000_0000_0000_0000_0000, 28), // ORCHIDv2
    (0x2001_0db8_0000_0000_0000_0000_0000_0000, 32), // documentation
    (0x3fff_0000_0000_0000_0000_0000_0000_0000, 20), // documentation
];

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let n = u128::from(ip);
    // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d) forms are refused
    // whatever they carry: they are how a loopback address hides in IPv6 spelling.
    if n >> 32 == 0xffff || n >> 32 == 0 {
        return false;
    }
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) reach the IPv4 address they embed.
    if in_v6(ip, 0x0064_ff9b_0000_0000_0000_0000_0000_0000, 96) {
        return is_public_v4(Ipv4Addr::from((n & 0xffff_ffff) as u32));
    }
    if in_v6(ip, 0x2002_0000_0000_0000_0000_0000_0000_0000, 16) {
        return is_public_v4(Ipv4Addr::from(((n >> 80) & 0xffff_ffff) as u32));
    }
    // Only global unicast is public: this leaves out ::1, ::, fc00::/7 (unique local),
    // fe80::/10 (link-local), fec0::/10, ff00::/8 (multicast), 64:ff9b:1::/48 and 100::/64.
    in_v6(ip, 0x2000_0000_0000_0000_0000_0000_0000_0000, 3)
        && !NOT_PUBLIC_V6.iter().any(|&(net, len)| in_v6(ip, net, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(s: &str) -> bool {
        is_public(s.parse().expect("ip"))
    }

    #[test]
    fn public_unicast_addresses_are_public() {
        for ok in [
            "8.8.8.8",
            "1.1.1.1",
            "20.42.6.1",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "169.253.255.255",
            "192.167.255.255",
            "223.255.255.255",
            "2606:4700::1111",
            "2a00:1450:4001::200e",
            "2002:0808:0808::1",
            "64:ff9b::808:808",
        ] {
            assert!(public(ok), "{ok} should be public");
        }
    }

    #[test]
    fn loopback_private_and_metadata_v4_are_refused() {
        for bad in [
            "127.0.0.1",
            "127.0.0.2",
            "127.255.255.254",
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.0.1",
            "192.168.255.255",
            "100.64.0.1",
            "100.127.255.255",
            "169.254.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.0.170",
            "192.0.2.1",
            "198.18.0.1",
            "198.51.100.1",
            "203.0.113.1",
        ] {
            assert!(!public(bad), "{bad} must be refused");
        }
    }

    #[test]
    fn loopback_local_and_multicast_v6_are_refused() {
        for bad in [
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
            "100::1",
            "2001:db8::1",
            "2001::1",
            "3fff::1",
            "64:ff9b:1::1",
        ] {
            assert!(!public(bad), "{bad} must be refused");
        }
    }

    #[test]
    fn ipv6_forms_that_carry_ipv4_are_refused_or_judged_by_what_they_carry() {
        for bad in [
            "::ffff:127.0.0.1",
            "::ffff:7f00:1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:8.8.8.8",
            "::127.0.0.1",
            "::8.8.8.8",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::10.0.0.1",
            "2002:7f00:0001::1",
            "2002:0a00:0001::1",
            "2002:a9fe:a9fe::1",
            "2002:c0a8:0101::",
        ] {
            assert!(!public(bad), "{bad} must be refused");
        }
    }
}
