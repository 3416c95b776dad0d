//! `CONVERRA_TRUSTED_PROXIES`: the reverse proxies whose `X-Forwarded-For` names the client.
//!
//! Behind a TLS proxy or a load balancer every TCP peer is the proxy, so the sign-in bucket
//! (attempts per client address) would be one bucket for everyone: ten wrong keys from anyone
//! would lock every person out. From a listed proxy the client is the right-most address in
//! `X-Forwarded-For` that is not itself a listed proxy (each proxy appends the peer it saw, and
//! only the right end is written by proxies we trust). From any other peer the header is
//! ignored, so a client cannot pick its own bucket by sending one.

use std::net::IpAddr;

use ipnet::IpNet;

/// The networks whose requests may name their client in `X-Forwarded-For`; empty by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses a comma-separated list of addresses (`10.0.0.5`, `::1`) and networks
    /// (`10.0.0.0/8`, `fd00::/8`); the error says which entry is not one (the configuration
    /// names the variable).
    pub fn parse(text: &str) -> Result<Self, String> {
        let nets = text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|entry| {
                let net = entry.parse::<IpNet>().or_else(|_| entry.parse::<IpAddr>().map(IpNet::from));
                net.map(canonical).map_err(|_| format!("`{entry}` is not an address or a network like 10.0.0.0/8"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self(nets))
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request from `peer` carrying `forwarded_for` (every `X-Forwarded-For`
    /// value, in order). An entry that is not an address ends the walk: what lies left of it
    /// cannot be trusted, so the last proxy's peer stands.
    pub fn client<'a>(&self, peer: IpAddr, forwarded_for: impl DoubleEndedIterator<Item = &'a str>) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        let hops = forwarded_for.rev().flat_map(|value| value.rsplit(',')).map(str::trim);
        for hop in hops {
            let Some(ip) = hop_address(hop) else { break };
            client = ip.to_canonical();
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

/// Addresses are compared as IPv4 where they are IPv4 (`::ffff:10.0.0.5` is `10.0.0.5`), so a
/// network written IPv4-mapped is turned into its IPv4 form too.
fn canonical(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).map_or(net, IpNet::V4),
            None => net,
        },
        net => net,
    }
}

/// One `X-Forwarded-For` entry: an address, or one with a port as some proxies write it
/// (`203.0.113.7:51234`, `[2001:db8::1]:443`, `[2001:db8::1]`).
fn hop_address(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| hop.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn only_a_trusted_peer_may_name_the_client_and_only_from_the_right() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, ::1").unwrap();
        let client = |peer, xff: &[&str]| proxies.client(ip(peer), xff.iter().copied());
        // Not from a proxy: the header is the client's own claim.
        assert_eq!(client("203.0.113.9", &["198.51.100.1"]), ip("203.0.113.9"));
        // From a proxy: the right-most address that is not a proxy.
        assert_eq!(client("10.0.0.2", &["198.51.100.1"]), ip("198.51.100.1"));
        assert_eq!(client("::1", &["192.0.2.66, 198.51.100.1, 10.1.2.3"]), ip("198.51.100.1"));
        assert_eq!(client("10.0.0.2", &["192.0.2.66", "198.51.100.1"]), ip("198.51.100.1"));
        // A forged left part changes nothing; garbage stops the walk at the last good hop.
        assert_eq!(client("10.0.0.2", &["spoofed, 198.51.100.1"]), ip("198.51.100.1"));
        assert_eq!(client("10.0.0.2", &["198.51.100.1, unknown"]), ip("10.0.0.2"));
        // No header, or only proxies in it: the left-most proxy seen.
        assert_eq!(client("10.0.0.2", &[]), ip("10.0.0.2"));
        assert_eq!(client("10.0.0.2", &["10.9.9.9"]), ip("10.9.9.9"));
        // IPv4 seen through an IPv6 socket is the same address.
        assert_eq!(client("::ffff:10.0.0.2", &["198.51.100.1"]), ip("198.51.100.1"));
        // Entries with ports, as some proxies write them.
        assert_eq!(client("10.0.0.2", &["198.51.100.1:51234"]), ip("198.51.100.1"));
        assert_eq!(client("10.0.0.2", &["[2001:db8::7]:443"]), ip("2001:db8::7"));
        assert_eq!(client("10.0.0.2", &["[2001:db8::7]"]), ip("2001:db8::7"));
    }

    #[test]
    fn a_proxy_listed_ipv4_mapped_is_its_ipv4_address() {
        let proxies = TrustedProxies::parse("::ffff:10.0.0.5, ::ffff:192.168.0.0/112").unwrap();
        assert_eq!(proxies.client(ip("10.0.0.5"), ["198.51.100.1"].into_iter()), ip("198.51.100.1"));
        assert_eq!(proxies.client(ip("192.168.3.4"), ["198.51.100.1"].into_iter()), ip("198.51.100.1"));
    }

    #[test]
    fn nothing_is_trusted_by_default_and_bad_entries_are_named() {
        let none = TrustedProxies::default();
        assert_eq!(none.client(ip("127.0.0.1"), ["198.51.100.1"].into_iter()), ip("127.0.0.1"));
        let Err(e) = TrustedProxies::parse("10.0.0.0/8, proxy.internal") else { panic!("a host name was accepted") };
        assert_eq!(e, "`proxy.internal` is not an address or a network like 10.0.0.0/8");
    }
}
