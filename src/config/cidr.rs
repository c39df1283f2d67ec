//! CIDR ranges as `KEYHOLD_TRUSTED_PROXIES` lists them (the `ipnet` crate's, plus a bare
//! address as the range of just itself).

use std::net::IpAddr;

use ipnet::IpNet;

/// An entry of `KEYHOLD_TRUSTED_PROXIES`: `10.0.0.0/8`, `::1/128`, or one address (`10.0.0.1`,
/// `::1`) as the range of just itself.
pub(super) fn parse_net(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}
