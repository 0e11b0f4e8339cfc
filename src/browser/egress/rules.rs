//! Which destinations a browser machine may reach (92-browser-rooms §3.3): the deny and allow
//! lists, the port rule, and the addresses that are never, or not globally, reachable. Pure
//! decisions over a host, a port and the addresses the host resolved to; the proxy resolves and
//! connects.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipnet::IpNet;

/// Why a request was refused, as `nav:refused` and the metric name it (§3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// A top-level navigation to a scheme other than `http:` and `https:` (§3.2).
    Scheme,
    /// The host is on `browser.egress.deny_hosts`.
    Host,
    /// A port below 1024 other than 80 and 443.
    Port,
    /// Every address the host resolved to is forbidden.
    Address,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Scheme => "scheme",
            Reason::Host => "host",
            Reason::Port => "port",
            Reason::Address => "address",
        }
    }
}

/// What an entry of `allow_hosts` or `deny_hosts` names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// One host name, lower-case ASCII (IDNA-converted).
    Name(String),
    /// Every name below this one (`*.example.org`), not the name itself.
    Below(String),
    /// An address or a block of addresses.
    Block(IpNet),
}

/// One entry of a host list, optionally limited to a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    target: Target,
    port: Option<u16>,
}

impl HostEntry {
    /// Parses `wiki.example.org`, `*.example.org`, `203.0.113.7`, `2001:db8::/48`, each optionally
    /// with `:port` (an IPv6 address or block with a port is written in brackets).
    pub fn parse(entry: &str) -> Result<HostEntry, String> {
        let invalid = || format!("{entry:?} is not a host name, address or block, with an optional port");
        let text = entry.trim();
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (inside, after) = rest.split_once(']').ok_or_else(invalid)?;
            let port = match after {
                "" => None,
                _ => Some(after.strip_prefix(':').ok_or_else(invalid)?),
            };
            (inside, port)
        } else if text.matches(':').count() == 1 {
            let (host, port) = text.split_once(':').ok_or_else(invalid)?;
            (host, Some(port))
        } else {
            (text, None)
        };
        let port = match port {
            Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(invalid)?),
            None => None,
        };
        let target = if let Ok(block) = host.parse::<IpNet>() {
            Target::Block(block)
        } else if let Ok(address) = host.parse::<IpAddr>() {
            Target::Block(IpNet::from(address))
        } else if let Some(parent) = host.strip_prefix("*.") {
            Target::Below(host_name(parent).ok_or_else(invalid)?)
        } else {
            Target::Name(host_name(host).ok_or_else(invalid)?)
        };
        Ok(HostEntry { target, port })
    }

    fn port_matches(&self, port: u16) -> bool {
        self.port.is_none_or(|p| p == port)
    }

    /// Whether the entry names this host by its name (or by its literal address).
    fn names(&self, host: &Host, port: u16) -> bool {
        if !self.port_matches(port) {
            return false;
        }
        match (&self.target, host) {
            (Target::Name(name), Host::Name(host)) => name == host,
            (Target::Below(parent), Host::Name(host)) => host
                .strip_suffix(parent.as_str())
                .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.')),
            (Target::Block(block), Host::Address(address)) => contains(block, *address),
            _ => false,
        }
    }

    /// Whether the entry covers this resolved address.
    fn covers(&self, address: IpAddr, port: u16) -> bool {
        match &self.target {
            Target::Block(block) => self.port_matches(port) && contains(block, address),
            _ => false,
        }
    }
}

fn contains(block: &IpNet, address: IpAddr) -> bool {
    block.contains(&address) || canonical(address).is_some_and(|v4| block.contains(&IpAddr::V4(v4)))
}

/// A host name as compared: IDNA-converted to ASCII, lower case, without a trailing dot; `None`
/// when it is not a host name.
pub fn host_name(name: &str) -> Option<String> {
    let ascii = idna::domain_to_ascii(name.trim_end_matches('.')).ok()?;
    let valid = !ascii.is_empty()
        && ascii.len() <= 253
        && ascii.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    valid.then_some(ascii)
}

/// The host of a request: a name to resolve, or an address literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Name(String),
    Address(IpAddr),
}

impl Host {
    /// Reads the host part of a request target (`example.org`, `203.0.113.7`, `[2001:db8::1]`).
    pub fn parse(text: &str) -> Option<Host> {
        let bare = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).unwrap_or(text);
        if let Ok(address) = bare.parse::<IpAddr>() {
            return Some(Host::Address(address));
        }
        if text.starts_with('[') {
            return None;
        }
        host_name(text).map(Host::Name)
    }

    pub fn to_url_host(&self) -> String {
        match self {
            Host::Name(name) => name.clone(),
            Host::Address(IpAddr::V6(address)) => format!("[{address}]"),
            Host::Address(address) => address.to_string(),
        }
    }
}

/// The IPv4 address an IPv6 address carries (IPv4-mapped, IPv4-compatible, NAT64, 6to4), which it
/// is judged by.
fn canonical(address: IpAddr) -> Option<Ipv4Addr> {
    let IpAddr::V6(v6) = address else { return None };
    let s = v6.segments();
    let o = v6.octets();
    let tail = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    if s[..5] == [0; 5] && s[5] == 0xffff {
        return Some(tail); // ::ffff:0:0/96, IPv4-mapped
    }
    if s[..6] == [0; 6] && !(s[6] == 0 && s[7] <= 1) {
        return Some(tail); // ::/96, IPv4-compatible (not :: or ::1)
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail); // 64:ff9b::/96, NAT64
    }
    if s[..3] == [0x64, 0xff9b, 1] {
        // 64:ff9b:1::/48, local-use NAT64: the address sits around the reserved octet 8 (RFC 6052).
        return Some(Ipv4Addr::new(o[6], o[7], o[9], o[10]));
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5])); // 2002::/16, 6to4
    }
    None
}

/// Whether the address may be reached from the public internet (the table of §3.3).
pub fn is_globally_reachable(address: IpAddr) -> bool {
    if let Some(v4) = canonical(address) {
        return v4_is_global(v4);
    }
    match address {
        IpAddr::V4(v4) => v4_is_global(v4),
        IpAddr::V6(v6) => v6_is_global(v6),
    }
}

fn v4_is_global(a: Ipv4Addr) -> bool {
    // 255.255.255.255 (broadcast) lies in 240.0.0.0/4.
    const BLOCKS: [([u8; 4], u8); 14] = [
        ([0, 0, 0, 0], 8),
        ([127, 0, 0, 0], 8),
        ([10, 0, 0, 0], 8),
        ([172, 16, 0, 0], 12),
        ([192, 168, 0, 0], 16),
        ([100, 64, 0, 0], 10),
        ([169, 254, 0, 0], 16),
        ([224, 0, 0, 0], 4),
        ([240, 0, 0, 0], 4),
        ([192, 0, 0, 0], 24),
        ([192, 0, 2, 0], 24),
        ([198, 18, 0, 0], 15),
        ([198, 51, 100, 0], 24),
        ([203, 0, 113, 0], 24),
    ];
    let bits = u32::from(a);
    !BLOCKS.iter().any(|(base, len)| {
        let mask = u32::MAX.checked_shl(32 - u32::from(*len)).unwrap_or(0);
        bits & mask == u32::from(Ipv4Addr::from(*base)) & mask
    })
}

fn v6_is_global(a: Ipv6Addr) -> bool {
    // NAT64, 6to4 and the IPv4 forms are judged by their IPv4 address before this table.
    const BLOCKS: [(u128, u8); 9] = [
        (0, 128),                // ::/128
        (1, 128),                // ::1/128
        (0xfe80 << 112, 10),     // link-local
        (0xfc00 << 112, 7),      // unique-local
        (0xfec0 << 112, 10),     // site-local
        (0xff00 << 112, 8),      // multicast
        (0x2001_0db8 << 96, 32), // documentation
        (0x0100 << 112, 64),     // discard
        (0x2001 << 112, 32),     // Teredo
    ];
    let bits = u128::from(a);
    !BLOCKS.iter().any(|(base, len)| {
        let mask = u128::MAX.checked_shl(128 - u32::from(*len)).unwrap_or(0);
        bits & mask == base & mask
    })
}

/// The sockets of this server that no machine may ever reach (§3.3 "never reachable"), and the
/// addresses of this host they listen on.
#[derive(Debug, Clone, Default)]
pub struct OwnSockets {
    /// Ports this server listens on: the API, metrics and proxy listeners, DevTools endpoints.
    pub ports: HashSet<u16>,
    /// Every address of this host's interfaces.
    pub host_addresses: HashSet<IpAddr>,
}

impl OwnSockets {
    fn is_own(&self, address: SocketAddr) -> bool {
        let ip = canonical(address.ip()).map_or(address.ip(), IpAddr::V4);
        self.ports.contains(&address.port())
            && (ip.is_loopback()
                || ip.is_unspecified()
                || self.host_addresses.contains(&address.ip())
                || self.host_addresses.contains(&ip))
    }

    fn is_this_host(&self, address: IpAddr) -> bool {
        self.host_addresses.contains(&address)
            || canonical(address).is_some_and(|v4| self.host_addresses.contains(&IpAddr::V4(v4)))
    }
}

/// `browser.egress.*`, parsed.
#[derive(Debug, Clone, Default)]
pub struct EgressRules {
    pub allow_private: bool,
    pub allow: Vec<HostEntry>,
    pub deny: Vec<HostEntry>,
}

impl EgressRules {
    pub fn new(allow_private: bool, allow_hosts: &[String], deny_hosts: &[String]) -> Result<EgressRules, String> {
        let parse = |entries: &[String], key: &str| -> Result<Vec<HostEntry>, String> {
            entries
                .iter()
                .map(|e| HostEntry::parse(e).map_err(|why| format!("browser.egress.{key}: {why}")))
                .collect()
        };
        Ok(EgressRules {
            allow_private,
            allow: parse(allow_hosts, "allow_hosts")?,
            deny: parse(deny_hosts, "deny_hosts")?,
        })
    }

    /// Whether the deny list names the host itself, before anything is resolved (§3.3 rule 1).
    pub fn denies_name(&self, host: &Host, port: u16) -> bool {
        self.deny.iter().any(|e| e.names(host, port))
    }

    /// Rules 1–4 of §3.3 for `host:port` resolved to `resolved` (in the resolver's order): the
    /// addresses to connect to, only those, or the reason of the refusal.
    pub fn judge(
        &self,
        host: &Host,
        port: u16,
        resolved: &[IpAddr],
        own: &OwnSockets,
    ) -> Result<Vec<SocketAddr>, Reason> {
        if self.denies_name(host, port) || resolved.iter().any(|a| self.deny.iter().any(|e| e.covers(*a, port))) {
            return Err(Reason::Host);
        }
        let never = |a: &IpAddr| own.is_own(SocketAddr::new(*a, port));
        let allowed = self.allow.iter().any(|e| e.names(host, port))
            || resolved.iter().any(|a| self.allow.iter().any(|e| e.covers(*a, port)));
        let kept: Vec<SocketAddr> = if allowed {
            resolved
                .iter()
                .filter(|a| !never(a))
                .map(|a| SocketAddr::new(*a, port))
                .collect()
        } else {
            if port < 1024 && port != 80 && port != 443 {
                return Err(Reason::Port);
            }
            resolved
                .iter()
                .filter(|a| !never(a))
                .filter(|a| self.allow_private || (is_globally_reachable(**a) && !own.is_this_host(**a)))
                .map(|a| SocketAddr::new(*a, port))
                .collect()
        };
        if kept.is_empty() {
            Err(Reason::Address)
        } else {
            Ok(kept)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn every_row_of_the_table_is_not_globally_reachable() {
        for address in [
            "0.1.2.3",
            "::",
            "127.0.0.1",
            "127.255.0.9",
            "::1",
            "10.0.0.5",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "169.254.169.254",
            "fe80::1",
            "fc00::1",
            "fd12::1",
            "fec0::1",
            "224.0.0.1",
            "ff02::1",
            "240.0.0.1",
            "255.255.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.7",
            "2001:db8::7",
            "100::1",
            "2001::1",
            // IPv6 forms carrying a forbidden IPv4 address.
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.5",
            "::10.0.0.5",
            "64:ff9b::169.254.169.254",
            "64:ff9b:1::a00:5",
            "2002:a00:5::1",
            "2002:7f00:1::",
        ] {
            assert!(!is_globally_reachable(ip(address)), "{address}");
        }
        for address in [
            "93.184.216.34",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "198.20.0.1",
        ] {
            assert!(is_globally_reachable(ip(address)), "{address}");
        }
    }

    #[test]
    fn host_list_entries_parse_and_match() {
        let entry = |text: &str| HostEntry::parse(text).unwrap();
        let name = |text: &str| Host::parse(text).unwrap();
        assert!(entry("Wiki.Example.org").names(&name("wiki.example.ORG."), 443));
        assert!(entry("bücher.example").names(&name("xn--bcher-kva.example"), 80));
        assert!(entry("*.example.org").names(&name("a.b.example.org"), 80));
        assert!(!entry("*.example.org").names(&name("example.org"), 80));
        assert!(!entry("*.example.org").names(&name("badexample.org"), 80));
        assert!(entry("wiki.example.org:8443").names(&name("wiki.example.org"), 8443));
        assert!(!entry("wiki.example.org:8443").names(&name("wiki.example.org"), 443));
        assert!(entry("203.0.113.7").covers(ip("203.0.113.7"), 80));
        assert!(entry("203.0.113.0/24").covers(ip("::ffff:203.0.113.9"), 80));
        assert!(entry("[2001:db8::/48]:443").covers(ip("2001:db8::5"), 443));
        assert!(!entry("[2001:db8::/48]:443").covers(ip("2001:db8::5"), 80));
        assert!(entry("[2001:db8::7]:8443").names(&name("[2001:db8::7]"), 8443));
        assert!(entry("10.0.0.5:8080").names(&name("10.0.0.5"), 8080));
        for bad in [
            "",
            "exa mple.org",
            "example.org:0",
            "example.org:99999",
            "[2001:db8::1",
            "*.",
            "1.2.3.4/33",
        ] {
            assert!(HostEntry::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_rules_apply_in_order() {
        let own = OwnSockets {
            ports: [8080].into(),
            host_addresses: [ip("198.51.100.10"), ip("93.184.216.99")].into(),
        };
        let rules = EgressRules::new(
            false,
            &["intranet.test".into(), "10.0.0.0/8:8080".into(), "127.0.0.1".into()],
            &["evil.test".into(), "93.184.216.0/24:443".into()],
        )
        .unwrap();
        let judge = |host: &str, port: u16, resolved: &[&str]| {
            let resolved: Vec<IpAddr> = resolved.iter().map(|a| ip(a)).collect();
            rules.judge(&Host::parse(host).unwrap(), port, &resolved, &own)
        };
        // 1. Denied by name, or by an address the name resolves to, whatever else applies.
        assert_eq!(judge("evil.test", 443, &["8.8.8.8"]), Err(Reason::Host));
        assert_eq!(
            judge("news.test", 443, &["8.8.8.8", "93.184.216.34"]),
            Err(Reason::Host)
        );
        // 2. Allowed: private addresses and low ports are open, this server's sockets never.
        assert_eq!(
            judge("intranet.test", 22, &["10.1.2.3"]),
            Ok(vec!["10.1.2.3:22".parse().unwrap()])
        );
        assert_eq!(
            judge("10.9.9.9", 8080, &["10.9.9.9"]),
            Ok(vec!["10.9.9.9:8080".parse().unwrap()])
        );
        assert_eq!(judge("127.0.0.1", 8080, &["127.0.0.1"]), Err(Reason::Address));
        assert_eq!(
            judge("127.0.0.1", 9000, &["127.0.0.1"]),
            Ok(vec!["127.0.0.1:9000".parse().unwrap()])
        );
        // 3. Ports below 1024 other than the web's.
        assert_eq!(judge("mail.test", 25, &["8.8.8.8"]), Err(Reason::Port));
        assert_eq!(
            judge("web.test", 8443, &["8.8.8.8"]),
            Ok(vec!["8.8.8.8:8443".parse().unwrap()])
        );
        // 4. Only public addresses that are not this host's are kept, in the resolver's order.
        assert_eq!(
            judge("mixed.test", 443, &["10.0.0.1", "1.1.1.1", "198.51.100.10", "8.8.8.8"]),
            Ok(vec!["1.1.1.1:443".parse().unwrap(), "8.8.8.8:443".parse().unwrap()])
        );
        assert_eq!(judge("rebound.test", 80, &["10.0.0.7", "::1"]), Err(Reason::Address));
        // A name that resolves to an allowed address is allowed as a whole (rule 2 matches by resolved
        // address), still never to this server's own sockets.
        assert_eq!(judge("loop.test", 8080, &["127.0.0.1"]), Err(Reason::Address));
        assert_eq!(judge("93.184.216.99", 80, &["93.184.216.99"]), Err(Reason::Address));
        assert_eq!(judge("metadata.test", 80, &["169.254.169.254"]), Err(Reason::Address));

        // allow_private opens the private network and this host, never this server's own sockets.
        let open = EgressRules::new(true, &[], &[]).unwrap();
        let judge =
            |host: &str, port: u16, address: &str| open.judge(&Host::parse(host).unwrap(), port, &[ip(address)], &own);
        assert!(judge("db.test", 5432, "10.0.0.5").is_ok());
        assert!(judge("198.51.100.10", 80, "198.51.100.10").is_ok());
        assert_eq!(judge("198.51.100.10", 8080, "198.51.100.10"), Err(Reason::Address));
        assert_eq!(judge("0.0.0.0", 8080, "0.0.0.0"), Err(Reason::Address));
        assert_eq!(judge("localhost", 8080, "::ffff:127.0.0.1"), Err(Reason::Address));
    }
}
