//! The egress filter (92-browser-rooms §3): a co-browsed page must never reach the server's own
//! network. `rules` decides; `proxy` is the per-machine HTTP proxy that asks it for every request.

pub mod proxy;
pub mod rules;

use std::io;
use std::net::IpAddr;

/// Every address of this host's network interfaces (§3.3 "this host"): a public address of the
/// host reaches services that a firewall hides only from outside.
pub fn host_addresses() -> io::Result<Vec<IpAddr>> {
    let mut first: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `first` with a list that freeifaddrs releases below; every node
    // and address is read before that.
    if unsafe { libc::getifaddrs(&mut first) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut addresses = Vec::new();
    let mut node = first;
    while !node.is_null() {
        // SAFETY: `node` is a valid element of the list until freeifaddrs.
        let entry = unsafe { &*node };
        if !entry.ifa_addr.is_null() {
            // SAFETY: ifa_addr points at a sockaddr whose family says which struct it is.
            let family = i32::from(unsafe { (*entry.ifa_addr).sa_family });
            if family == libc::AF_INET {
                // SAFETY: AF_INET addresses are sockaddr_in.
                let v4 = unsafe { &*(entry.ifa_addr as *const libc::sockaddr_in) };
                addresses.push(IpAddr::from(u32::from_be(v4.sin_addr.s_addr).to_be_bytes()));
            } else if family == libc::AF_INET6 {
                // SAFETY: AF_INET6 addresses are sockaddr_in6.
                let v6 = unsafe { &*(entry.ifa_addr as *const libc::sockaddr_in6) };
                addresses.push(IpAddr::from(v6.sin6_addr.s6_addr));
            }
        }
        node = entry.ifa_next;
    }
    // SAFETY: `first` came from getifaddrs and is released once.
    unsafe { libc::freeifaddrs(first) };
    Ok(addresses)
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_host_has_its_loopback_address() {
        let found = super::host_addresses().unwrap();
        assert!(found.contains(&"127.0.0.1".parse().unwrap()), "{found:?}");
    }
}
