//! Network primitives shared by every design: protocols, endpoints, flows, prefixes written the
//! acc-provision way, LPM tables and the hash functions of the data plane.

pub mod buckets;
pub mod hash;
pub mod lpm;

use ipnet::Ipv4Net;
use std::fmt;
use std::net::Ipv4Addr;

/// IP protocol of a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    Tcp,
    Udp,
    Icmp,
}

impl Proto {
    /// The IANA protocol number (6, 17, 1), which is what the fabric hashes.
    pub fn number(self) -> u8 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
            Proto::Icmp => 1,
        }
    }
    pub fn has_ports(self) -> bool {
        !matches!(self, Proto::Icmp)
    }
    pub fn parse(s: &str) -> Option<Proto> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            "icmp" => Some(Proto::Icmp),
            _ => None,
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Icmp => "icmp",
        })
    }
}

/// An IPv4 address with a port (0 for ICMP, where there is none).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Endpoint {
    pub ip: Ipv4Addr,
    pub port: u16,
}

impl Endpoint {
    pub fn new(ip: Ipv4Addr, port: u16) -> Self {
        Endpoint { ip, port }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.ip, self.port)
    }
}

/// A packet's 5-tuple.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Flow {
    pub proto: Proto,
    pub src: Endpoint,
    pub dst: Endpoint,
}

impl Flow {
    /// The same connection seen from the other side.
    pub fn reversed(self) -> Flow {
        Flow {
            proto: self.proto,
            src: self.dst,
            dst: self.src,
        }
    }
}

/// A subnet as acc-provision writes it: `10.32.0.1/16` is the network 10.32.0.0/16 whose gateway
/// is 10.32.0.1. Written as a network (`10.32.0.0/16`), the gateway is taken to be the first host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subnet {
    pub net: Ipv4Net,
    pub gateway: Ipv4Addr,
}

/// Why a subnet could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    #[error("`{0}` is IPv6; fabsim models IPv4 only")]
    Ipv6(String),
    #[error("`{0}` is not an IPv4 prefix like 10.32.0.1/16")]
    NotAPrefix(String),
}

impl Subnet {
    pub fn parse(text: &str) -> Result<Subnet, PrefixError> {
        let t = text.trim();
        if t.contains(':') {
            return Err(PrefixError::Ipv6(t.into()));
        }
        let with_len: Ipv4Net = t.parse().map_err(|_| PrefixError::NotAPrefix(t.into()))?;
        let net = with_len.trunc();
        let gateway = if with_len.addr() == net.network() && net.prefix_len() < 31 {
            Ipv4Addr::from(u32::from(net.network()) + 1)
        } else {
            with_len.addr()
        };
        Ok(Subnet { net, gateway })
    }

    /// The `n`-th address of the network (0 = network address), if inside it.
    pub fn nth(&self, n: u64) -> Option<Ipv4Addr> {
        let base = u32::from(self.net.network()) as u64;
        let last = u32::from(self.net.broadcast()) as u64;
        let a = base.checked_add(n)?;
        (a <= last).then(|| Ipv4Addr::from(a as u32))
    }

    /// Number of addresses in the network.
    pub fn size(&self) -> u64 {
        1u64 << (32 - self.net.prefix_len())
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.net)
    }
}

/// True when two prefixes share at least one address.
pub fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// A /32 for one address.
pub fn host(ip: Ipv4Addr) -> Ipv4Net {
    Ipv4Net::new(ip, 32).expect("/32 is a valid length")
}

/// The `n`-th usable host of a list of subnets, skipping each one's network, gateway and broadcast.
pub fn nth_host(subnets: &[Subnet], mut n: u64) -> Option<Ipv4Addr> {
    for s in subnets {
        let size = s.size();
        if size < 4 {
            continue;
        }
        let gw = u64::from(u32::from(s.gateway)) - u64::from(u32::from(s.net.network()));
        let gw_inside = (1..size - 1).contains(&gw);
        let usable = size - 2 - u64::from(gw_inside);
        if n < usable {
            let mut k = 1 + n;
            if gw_inside && k >= gw {
                k += 1;
            }
            return s.nth(k);
        }
        n -= usable;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acc_provision_subnets_are_gateway_plus_length() {
        let s = Subnet::parse("10.32.0.1/16").unwrap();
        assert_eq!(s.net.to_string(), "10.32.0.0/16");
        assert_eq!(s.gateway, Ipv4Addr::new(10, 32, 0, 1));
        let s = Subnet::parse("10.34.0.0/24").unwrap();
        assert_eq!(s.gateway, Ipv4Addr::new(10, 34, 0, 1));
        assert_eq!(s.nth(2), Some(Ipv4Addr::new(10, 34, 0, 2)));
        assert_eq!(s.nth(256), None);
        assert!(Subnet::parse("10.0.0.0/33").is_err());
        assert!(Subnet::parse("fd00::1/64").is_err());
    }

    #[test]
    fn hosts_skip_network_and_gateway() {
        let s = Subnet::parse("10.32.0.1/16").unwrap();
        assert_eq!(nth_host(&[s], 0), Some(Ipv4Addr::new(10, 32, 0, 2)));
        assert_eq!(nth_host(&[s], 253), Some(Ipv4Addr::new(10, 32, 0, 255)));
        let small = Subnet::parse("10.0.0.1/30").unwrap(); // .0 net, .1 gw, .2 host, .3 broadcast
        assert_eq!(nth_host(&[small], 0), Some(Ipv4Addr::new(10, 0, 0, 2)));
        assert_eq!(nth_host(&[small], 1), None);
        let two = [small, Subnet::parse("10.0.1.1/30").unwrap()];
        assert_eq!(nth_host(&two, 1), Some(Ipv4Addr::new(10, 0, 1, 2)));
    }

    #[test]
    fn overlap_is_symmetric_and_exact() {
        let a: Ipv4Net = "10.0.0.0/8".parse().unwrap();
        let b: Ipv4Net = "10.1.0.0/16".parse().unwrap();
        let c: Ipv4Net = "11.0.0.0/8".parse().unwrap();
        assert!(overlaps(&a, &b) && overlaps(&b, &a));
        assert!(!overlaps(&a, &c));
    }
}
