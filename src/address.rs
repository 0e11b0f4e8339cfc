//! Address groups (00-conventions §10): every limit keyed by a client address keys an IPv6 client
//! by its prefix (`limits.ipv6_prefix`, /64 by default), since one subscriber usually holds a
//! whole /64 and could otherwise take a fresh allowance from each of its addresses. IPv4
//! addresses are keyed whole. Sessions and logs keep the full address.

use std::fmt;
use std::net::IpAddr;

use ipnet::Ipv6Net;

/// The key under which a client address is limited.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AddressGroup(String);

impl AddressGroup {
    /// The group of `ip`: itself for IPv4 (and IPv4-mapped IPv6), its `ipv6_prefix` network for
    /// IPv6, written as `2001:db8:1:2::/64`.
    pub fn of(ip: IpAddr, ipv6_prefix: u8) -> AddressGroup {
        match ip {
            IpAddr::V4(v4) => AddressGroup(v4.to_string()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddressGroup(v4.to_string()),
                None => {
                    let prefix = ipv6_prefix.min(128);
                    let network = Ipv6Net::new(v6, prefix)
                        .map(|n| n.trunc())
                        .unwrap_or_else(|_| v6.into());
                    AddressGroup(network.to_string())
                }
            },
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AddressGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(ip: &str, prefix: u8) -> String {
        AddressGroup::of(ip.parse().unwrap(), prefix).to_string()
    }

    #[test]
    fn ipv6_is_keyed_by_its_prefix_and_ipv4_whole() {
        assert_eq!(group("2001:db8:1:2:aaaa::1", 64), "2001:db8:1:2::/64");
        assert_eq!(group("2001:db8:1:2:ffff:ffff:ffff:ffff", 64), "2001:db8:1:2::/64");
        assert_ne!(group("2001:db8:1:3::1", 64), "2001:db8:1:2::/64");
        assert_eq!(group("2001:db8:1:2:aaaa::1", 48), "2001:db8:1::/48");
        assert_eq!(group("2001:db8::1", 128), "2001:db8::1/128");
        assert_eq!(group("203.0.113.7", 64), "203.0.113.7");
        assert_eq!(group("::ffff:203.0.113.7", 64), "203.0.113.7");
    }
}
