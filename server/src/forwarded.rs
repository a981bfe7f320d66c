//! Which address a request comes from, behind trusted reverse proxies.
//!
//! Only when the socket peer is a configured proxy is `X-Forwarded-For`
//! read, and then from the right: entries the trusted proxies appended are
//! skipped, and the first address that is not a trusted proxy is the
//! client. Entries further left were written by the client itself and are
//! never used, so a client cannot choose the key it is limited under.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// One trusted proxy: an address, or a network in CIDR notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyNet {
    addr: IpAddr,
    prefix: u8,
}

impl ProxyNet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not an IP address or a network like 10.0.0.0/8")]
pub struct BadProxy(String);

impl FromStr for ProxyNet {
    type Err = BadProxy;

    fn from_str(s: &str) -> Result<Self, BadProxy> {
        let bad = || BadProxy(s.to_owned());
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix.parse::<u8>().map_err(|_| bad())?)),
            None => (s.trim(), None),
        };
        let addr = canonical(addr.parse::<IpAddr>().map_err(|_| bad())?);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        Ok(Self { addr, prefix })
    }
}

impl fmt::Display for ProxyNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// An IPv4 address mapped into IPv6 counts as the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`[v6]:p`, `v4:p`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry.parse::<IpAddr>().ok().or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip())).map(canonical)
}

/// The client a request is counted against. `forwarded_for` are the
/// request's `X-Forwarded-For` header values in order (several headers
/// read as one list).
pub fn client_addr<'a>(
    peer: IpAddr,
    forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
    trusted: &[ProxyNet],
) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = canonical(peer);
    if !is_trusted(client) {
        return client;
    }
    for value in forwarded_for.rev() {
        for entry in value.rsplit(',') {
            // Something a trusted proxy would not write: keep the nearest
            // address known, rather than a string the client may have made.
            let Some(ip) = parse_entry(entry) else {
                return client;
            };
            client = ip;
            if !is_trusted(ip) {
                return client;
            }
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_parse_and_match() {
        let net: ProxyNet = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains(ip("10.1.200.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(net.contains(ip("::ffff:10.1.0.9")));
        let one: ProxyNet = "127.0.0.1".parse().unwrap();
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        let v6: ProxyNet = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        let all: ProxyNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        for bad in ["", "nonsense", "10.0.0.0/33", "::/129", "10.0.0.0/x"] {
            assert!(bad.parse::<ProxyNet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_peer_and_from_the_right() {
        let trusted: Vec<ProxyNet> = vec!["10.0.0.1".parse().unwrap(), "10.0.1.0/24".parse().unwrap()];
        let peer = ip("10.0.0.1");
        // Untrusted peer: the header is ignored.
        assert_eq!(client_addr(ip("203.0.113.9"), ["1.2.3.4"].into_iter(), &trusted), ip("203.0.113.9"));
        // Trusted peer, no header: the proxy itself.
        assert_eq!(client_addr(peer, std::iter::empty(), &trusted), peer);
        // The right-most untrusted entry wins; what the client wrote before it does not.
        assert_eq!(client_addr(peer, ["6.6.6.6, 1.2.3.4"].into_iter(), &trusted), ip("1.2.3.4"));
        assert_eq!(client_addr(peer, ["6.6.6.6, 1.2.3.4, 10.0.1.7"].into_iter(), &trusted), ip("1.2.3.4"));
        // Several headers read as one list.
        assert_eq!(client_addr(peer, ["6.6.6.6", "1.2.3.4:5678", "10.0.1.7"].into_iter(), &trusted), ip("1.2.3.4"));
        assert_eq!(client_addr(peer, ["[2001:db8::1]:443"].into_iter(), &trusted), ip("2001:db8::1"));
        // Garbage stops the walk at the nearest known address.
        assert_eq!(client_addr(peer, ["1.2.3.4, junk, 10.0.1.7"].into_iter(), &trusted), ip("10.0.1.7"));
        assert_eq!(client_addr(peer, ["junk"].into_iter(), &trusted), peer);
        // Every entry trusted: the left-most.
        assert_eq!(client_addr(peer, ["10.0.1.5, 10.0.1.7"].into_iter(), &trusted), ip("10.0.1.5"));
    }
}
