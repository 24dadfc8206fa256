//! Pure IP address management over the node's pod CIDR, in the manner of
//! the CNI host-local plugin: the network address, the gateway (first host)
//! and the broadcast address are never handed out, and the search for a free
//! address starts after the last one allocated, so a just-freed address is
//! not reused at once (late packets for a deleted pod do not reach a new one).
//! Persistence lives in `crate::state`; this module only decides.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// Why a CIDR cannot serve as a pod address pool.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "pod CIDR {0} is too small: it needs room for a gateway and at least one pod (/30 or larger)"
)]
pub struct PoolTooSmall(pub Ipv4Net);

/// The assignable addresses of one pod CIDR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool {
    net: Ipv4Net,
}

impl Pool {
    pub fn new(net: Ipv4Net) -> Result<Pool, PoolTooSmall> {
        let net = net.trunc();
        if net.prefix_len() > 30 {
            return Err(PoolTooSmall(net));
        }
        Ok(Pool { net })
    }

    pub fn net(&self) -> Ipv4Net {
        self.net
    }

    /// The bridge's address: the first host of the CIDR.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.net.network()) + 1)
    }

    fn first(&self) -> u32 {
        u32::from(self.net.network()) + 2
    }

    fn last(&self) -> u32 {
        u32::from(self.net.broadcast()) - 1
    }

    /// How many pods the pool can hold.
    pub fn capacity(&self) -> u32 {
        self.last() - self.first() + 1
    }

    /// Whether `ip` may be given to a pod.
    pub fn is_assignable(&self, ip: Ipv4Addr) -> bool {
        let n = u32::from(ip);
        (self.first()..=self.last()).contains(&n)
    }

    /// The first address not `taken`, searching upward from just after
    /// `last_allocated` and wrapping around once; `None` when all are taken.
    pub fn next_free(
        &self,
        last_allocated: Option<Ipv4Addr>,
        taken: impl Fn(Ipv4Addr) -> bool,
    ) -> Option<Ipv4Addr> {
        let start = match last_allocated {
            Some(ip) if self.is_assignable(ip) && u32::from(ip) < self.last() => u32::from(ip) + 1,
            _ => self.first(),
        };
        let span = self.capacity();
        (0..span)
            .map(|offset| {
                let n = start - self.first() + offset;
                Ipv4Addr::from(self.first() + n % span)
            })
            .find(|ip| !taken(*ip))
    }

    /// The range as host-local prints it in errors: first host to last host.
    pub fn range_set(&self) -> String {
        format!("{}-{}", self.gateway(), Ipv4Addr::from(self.last()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn pool(cidr: &str) -> Pool {
        Pool::new(cidr.parse().unwrap()).unwrap()
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn gateway_network_and_broadcast_are_never_assignable() {
        let p = pool("10.244.0.0/24");
        assert_eq!(p.gateway(), ip("10.244.0.1"));
        assert!(!p.is_assignable(ip("10.244.0.0")));
        assert!(!p.is_assignable(ip("10.244.0.1")));
        assert!(!p.is_assignable(ip("10.244.0.255")));
        assert!(p.is_assignable(ip("10.244.0.2")));
        assert!(p.is_assignable(ip("10.244.0.254")));
        assert!(!p.is_assignable(ip("10.244.1.2")));
        assert_eq!(p.capacity(), 253);
        assert_eq!(p.range_set(), "10.244.0.1-10.244.0.254");
    }

    #[test]
    fn host_bits_in_the_cidr_are_ignored() {
        assert_eq!(pool("10.244.0.7/24").net().to_string(), "10.244.0.0/24");
    }

    #[test]
    fn too_small_pools_are_rejected() {
        assert!(Pool::new("10.0.0.0/31".parse().unwrap()).is_err());
        assert!(Pool::new("10.0.0.0/32".parse().unwrap()).is_err());
        assert_eq!(pool("10.0.0.0/30").capacity(), 1);
    }

    /// Simulates the allocator over a /29 (usable .2-.6): order, skip of
    /// taken addresses, exhaustion, and wraparound after a release.
    #[test]
    fn allocation_order_exhaustion_and_wraparound() {
        let p = pool("192.168.7.0/29");
        let mut taken = BTreeSet::new();
        let mut last = None;
        let mut order = Vec::new();
        for _ in 0..5 {
            let got = p.next_free(last, |a| taken.contains(&a)).unwrap();
            taken.insert(got);
            last = Some(got);
            order.push(got.to_string());
        }
        assert_eq!(
            order,
            [
                "192.168.7.2",
                "192.168.7.3",
                "192.168.7.4",
                "192.168.7.5",
                "192.168.7.6"
            ]
        );
        assert_eq!(p.next_free(last, |a| taken.contains(&a)), None);

        // Free .3: the search starts after .6, wraps and finds .3.
        taken.remove(&ip("192.168.7.3"));
        assert_eq!(
            p.next_free(last, |a| taken.contains(&a)),
            Some(ip("192.168.7.3"))
        );
    }

    #[test]
    fn a_freed_address_is_not_reused_immediately() {
        let p = pool("10.244.0.0/24");
        // .2 and .3 were given out, .2 was then freed: next is .4, not .2.
        let taken = [ip("10.244.0.3")];
        assert_eq!(
            p.next_free(Some(ip("10.244.0.3")), |a| taken.contains(&a)),
            Some(ip("10.244.0.4"))
        );
    }

    #[test]
    fn a_last_allocated_outside_the_pool_restarts_at_the_first() {
        let p = pool("10.244.0.0/24");
        assert_eq!(
            p.next_free(Some(ip("10.99.0.9")), |_| false),
            Some(ip("10.244.0.2"))
        );
        assert_eq!(
            p.next_free(Some(ip("10.244.0.254")), |_| false),
            Some(ip("10.244.0.2"))
        );
    }
}
