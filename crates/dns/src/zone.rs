//! The cluster zone: an immutable index of precomputed record sets, and the
//! pure `Zone::answer` that turns a question into rcode + sections following
//! the Kubernetes DNS specification 1.1.0 and CoreDNS's kubernetes plugin.
//!
//! Lookups walk the labels of the question (no parsing into strings, no
//! allocation except for synthesized pod records and CNAME chains).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::rdata::{A, AAAA};
use hickory_server::proto::rr::{Name, RData, Record, RecordType};

use crate::names::{parse_dashed_ip, parse_reverse, reverse_family};

/// The schema version served at dns-version.<zone>.
pub const SCHEMA_VERSION: &str = "1.1.0";
/// CoreDNS serves the dns-version TXT record with this TTL.
pub const VERSION_TTL: u32 = 28800;
/// ExternalName CNAMEs inside the zone are followed at most this many.
const MAX_CHAIN: usize = 8;

/// How `a-b-c-d.<ns>.pod.<zone>` names are answered (CoreDNS `pods`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodMode {
    /// No pod records: NXDOMAIN.
    Disabled,
    /// Any well-formed IP label in an existing namespace (kubeadm's default).
    Insecure,
    /// Only IPs of running pods in that namespace.
    Verified,
}

/// What the zone says about one question.
#[derive(Debug)]
pub struct Answer<'z> {
    pub rcode: ResponseCode,
    pub authoritative: bool,
    pub answers: Cow<'z, [Record]>,
    /// The zone SOA for NXDOMAIN and NODATA, empty otherwise.
    pub authority: &'z [Record],
    pub additionals: &'z [Record],
    /// An ExternalName target outside the zone: the server appends the
    /// upstream answer for (target, qtype) when the client may recurse.
    pub chase: Option<&'z Name>,
}

/// Either an answer from the zone, or "not ours": forward it.
#[derive(Debug)]
pub enum Outcome<'z> {
    Local(Answer<'z>),
    Forward,
}

/// Records under `_<port>._<proto>.<svc>.<ns>.svc.<zone>`.
#[derive(Debug, Default)]
pub(crate) struct PortNode {
    /// Port name and protocol, lower case, without the underscore.
    pub port: Box<[u8]>,
    pub proto: Box<[u8]>,
    pub srv: Vec<Record>,
    pub extra: Vec<Record>,
}

/// Records under `<hostname>.<svc>.<ns>.svc.<zone>`.
#[derive(Debug, Default)]
pub(crate) struct EndpointNode {
    pub a: Vec<Record>,
    pub aaaa: Vec<Record>,
    pub srv: Vec<Record>,
    pub srv_extra: Vec<Record>,
}

/// Everything one Service puts in the zone.
#[derive(Debug, Default)]
pub(crate) struct ServiceNode {
    pub a: Vec<Record>,
    pub aaaa: Vec<Record>,
    pub cname: Vec<Record>,
    pub cname_target: Option<Name>,
    pub srv: Vec<Record>,
    pub srv_extra: Vec<Record>,
    pub ports: Vec<PortNode>,
    pub endpoints: HashMap<Box<[u8]>, EndpointNode>,
    /// Reverse records: (ip, PTR record, is a ClusterIP).
    pub ptrs: Vec<(IpAddr, Record, bool)>,
}

/// The immutable cluster zone; built by `ZoneBuilder`.
#[derive(Debug)]
pub struct Zone {
    pub(crate) origin_labels: Vec<Box<[u8]>>,
    pub(crate) pod_mode: PodMode,
    pub(crate) soa: Vec<Record>,
    pub(crate) soa_v4: Vec<Record>,
    pub(crate) soa_v6: Vec<Record>,
    pub(crate) apex_ns: Vec<Record>,
    pub(crate) apex_ns_extra: Vec<Record>,
    pub(crate) ns_dns_a: Vec<Record>,
    pub(crate) ns_dns_aaaa: Vec<Record>,
    pub(crate) version: Vec<Record>,
    pub(crate) ttl: u32,
    // The big indexes are shared between zone versions; an update copies
    // only the map it changes (pointer-sized entries), never the records.
    pub(crate) namespaces: Arc<HashSet<Arc<[u8]>>>,
    pub(crate) services: Arc<HashMap<Arc<[u8]>, Arc<ServiceNode>>>,
    pub(crate) pods: Arc<HashMap<IpAddr, Vec<Arc<[u8]>>>>,
    pub(crate) reverse: Arc<HashMap<IpAddr, Arc<[Record]>>>,
}

/// Where a question landed in the zone.
enum Node<'z> {
    Apex,
    Empty,
    Version,
    NsDns,
    Service(&'z ServiceNode),
    Port(&'z PortNode),
    Endpoint(&'z EndpointNode),
    Pod(IpAddr),
}

/// Lower-cases `svc` and `ns` into `buf` as "svc/ns"; None when a label
/// is too long to be a Kubernetes name.
pub(crate) fn service_key<'b>(buf: &'b mut [u8; 128], svc: &[u8], ns: &[u8]) -> Option<&'b [u8]> {
    if svc.len() > 63 || ns.len() > 63 {
        return None;
    }
    let len = svc.len() + 1 + ns.len();
    buf[..svc.len()].copy_from_slice(svc);
    buf[svc.len()] = b'/';
    buf[svc.len() + 1..len].copy_from_slice(ns);
    buf[..len].make_ascii_lowercase();
    Some(&buf[..len])
}

fn lower<'b>(buf: &'b mut [u8; 64], label: &[u8]) -> Option<&'b [u8]> {
    if label.len() > 63 {
        return None;
    }
    buf[..label.len()].copy_from_slice(label);
    buf[..label.len()].make_ascii_lowercase();
    Some(&buf[..label.len()])
}

impl Zone {
    /// The answer to (qname, qtype); class IN is assumed (the server checks).
    pub fn answer(&self, qname: &Name, qtype: RecordType) -> Outcome<'_> {
        self.answer_at(qname, qtype)
    }

    /// The zone SOA record (the authority of negative answers).
    pub fn soa(&self) -> &Record {
        &self.soa[0]
    }

    /// Number of published Services (for logs and tests).
    pub fn service_count(&self) -> usize {
        self.services.len()
    }

    fn in_zone(&self, qname: &Name) -> Option<usize> {
        let n = qname.iter().len();
        let o = self.origin_labels.len();
        if n < o {
            return None;
        }
        let tail = qname.iter().skip(n - o);
        for (l, want) in tail.zip(self.origin_labels.iter()) {
            if !l.eq_ignore_ascii_case(want) {
                return None;
            }
        }
        Some(n - o)
    }

    fn answer_at(&self, qname: &Name, qtype: RecordType) -> Outcome<'_> {
        let Some(rel) = self.in_zone(qname) else {
            return self.answer_reverse(qname, qtype);
        };
        if matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
            return Outcome::Local(self.refused());
        }
        let Some(node) = self.find(qname, rel) else {
            return Outcome::Local(self.negative(ResponseCode::NXDomain, &self.soa));
        };
        let (answers, additionals): (&[Record], &[Record]) = match (node, qtype) {
            (Node::Apex, RecordType::SOA) => (&self.soa, &[]),
            (Node::Apex, RecordType::NS) => (&self.apex_ns, &self.apex_ns_extra),
            (Node::Version, RecordType::TXT) => (&self.version, &[]),
            (Node::NsDns, RecordType::A) => (&self.ns_dns_a, &[]),
            (Node::NsDns, RecordType::AAAA) => (&self.ns_dns_aaaa, &[]),
            (Node::Service(s), _) if !s.cname.is_empty() => {
                return self.alias(s, qtype);
            }
            (Node::Service(s), RecordType::A) => (&s.a, &[]),
            (Node::Service(s), RecordType::AAAA) => (&s.aaaa, &[]),
            (Node::Service(s), RecordType::SRV) => (&s.srv, &s.srv_extra),
            (Node::Port(p), RecordType::SRV) => (&p.srv, &p.extra),
            (Node::Endpoint(e), RecordType::A) => (&e.a, &[]),
            (Node::Endpoint(e), RecordType::AAAA) => (&e.aaaa, &[]),
            (Node::Endpoint(e), RecordType::SRV) => (&e.srv, &e.srv_extra),
            (Node::Pod(ip), t) => {
                let rdata = match (ip, t) {
                    (IpAddr::V4(v4), RecordType::A) => RData::A(A(v4)),
                    (IpAddr::V6(v6), RecordType::AAAA) => RData::AAAA(AAAA(v6)),
                    _ => return Outcome::Local(self.negative(ResponseCode::NoError, &self.soa)),
                };
                let rec = Record::from_rdata(qname.clone(), self.ttl, rdata);
                return Outcome::Local(Answer {
                    rcode: ResponseCode::NoError,
                    authoritative: true,
                    answers: Cow::Owned(vec![rec]),
                    authority: &[],
                    additionals: &[],
                    chase: None,
                });
            }
            _ => (&[], &[]),
        };
        if answers.is_empty() {
            return Outcome::Local(self.negative(ResponseCode::NoError, &self.soa));
        }
        Outcome::Local(Answer {
            rcode: ResponseCode::NoError,
            authoritative: true,
            answers: Cow::Borrowed(answers),
            authority: &[],
            additionals,
            chase: None,
        })
    }

    /// An ExternalName: the CNAME chain, then what the last target resolves
    /// to inside the zone, or a request to chase it upstream.
    fn alias<'z>(&'z self, first: &'z ServiceNode, qtype: RecordType) -> Outcome<'z> {
        let only_cname = |answers: Cow<'z, [Record]>, chase: Option<&'z Name>| {
            Outcome::Local(Answer {
                rcode: ResponseCode::NoError,
                authoritative: true,
                answers,
                authority: &[],
                additionals: &[],
                chase,
            })
        };
        let Some(mut target) = first.cname_target.as_ref() else {
            return only_cname(Cow::Borrowed(&first.cname), None);
        };
        if qtype == RecordType::CNAME {
            return only_cname(Cow::Borrowed(&first.cname), None);
        }
        let mut chain: Vec<Record> = first.cname.clone();
        for _ in 0..MAX_CHAIN {
            if let Some(next) = self.alias_at(target) {
                // A loop: stop with the chain so far.
                if chain.iter().any(|r| next.cname.contains(r)) {
                    break;
                }
                chain.extend_from_slice(&next.cname);
                match next.cname_target.as_ref() {
                    Some(t) => target = t,
                    None => break,
                }
                continue;
            }
            return match self.answer_at(target, qtype) {
                Outcome::Forward => only_cname(Cow::Owned(chain), Some(target)),
                Outcome::Local(next) => {
                    chain.extend_from_slice(&next.answers);
                    Outcome::Local(Answer {
                        rcode: next.rcode,
                        authoritative: true,
                        answers: Cow::Owned(chain),
                        authority: next.authority,
                        additionals: next.additionals,
                        chase: next.chase,
                    })
                }
            };
        }
        only_cname(Cow::Owned(chain), None)
    }

    /// The ExternalName Service a name inside the zone names, if any.
    fn alias_at(&self, qname: &Name) -> Option<&ServiceNode> {
        let rel = self.in_zone(qname)?;
        match self.find(qname, rel)? {
            Node::Service(s) if !s.cname.is_empty() => Some(s),
            _ => None,
        }
    }

    fn answer_reverse(&self, qname: &Name, qtype: RecordType) -> Outcome<'_> {
        let Some(family) = reverse_family(qname) else {
            return Outcome::Forward;
        };
        let Some(records) = parse_reverse(qname).and_then(|ip| self.reverse.get(&ip)) else {
            // Unknown reverse names fall through to the upstream, as
            // kubeadm's Corefile says (fallthrough in-addr.arpa ip6.arpa).
            return Outcome::Forward;
        };
        let soa = if family == 4 {
            &self.soa_v4
        } else {
            &self.soa_v6
        };
        match qtype {
            RecordType::PTR => Outcome::Local(Answer {
                rcode: ResponseCode::NoError,
                authoritative: true,
                answers: Cow::Borrowed(&records[..]),
                authority: &[],
                additionals: &[],
                chase: None,
            }),
            RecordType::AXFR | RecordType::IXFR => Outcome::Local(self.refused()),
            _ => Outcome::Local(self.negative(ResponseCode::NoError, soa)),
        }
    }

    fn negative<'z>(&'z self, rcode: ResponseCode, soa: &'z [Record]) -> Answer<'z> {
        Answer {
            rcode,
            authoritative: true,
            answers: Cow::Borrowed(&[]),
            authority: soa,
            additionals: &[],
            chase: None,
        }
    }

    fn refused(&self) -> Answer<'_> {
        Answer {
            rcode: ResponseCode::Refused,
            authoritative: false,
            answers: Cow::Borrowed(&[]),
            authority: &[],
            additionals: &[],
            chase: None,
        }
    }

    /// The node a name inside the zone names; None means NXDOMAIN.
    /// `rel` is the number of labels left of the zone origin.
    fn find(&self, qname: &Name, rel: usize) -> Option<Node<'_>> {
        if rel == 0 {
            return Some(Node::Apex);
        }
        // The deepest names are _port._proto.svc.ns.svc: five labels.
        if rel > 5 {
            return None;
        }
        let mut labels: [&[u8]; 5] = [&[]; 5];
        for (slot, l) in labels.iter_mut().zip(qname.iter()) {
            *slot = l;
        }
        let labels = &labels[..rel];
        let kind = labels[rel - 1];
        if kind.eq_ignore_ascii_case(b"svc") {
            self.find_service(labels)
        } else if kind.eq_ignore_ascii_case(b"pod") {
            self.find_pod(labels)
        } else if kind.eq_ignore_ascii_case(b"dns-version") {
            (rel == 1).then_some(Node::Version)
        } else if kind.eq_ignore_ascii_case(b"dns") {
            match labels {
                [_] => Some(Node::Empty),
                [ns, _] if ns.eq_ignore_ascii_case(b"ns") => Some(Node::NsDns),
                _ => None,
            }
        } else {
            None
        }
    }

    fn namespace_exists(&self, ns: &[u8]) -> bool {
        let mut buf = [0u8; 64];
        lower(&mut buf, ns).is_some_and(|k| self.namespaces.contains(k))
    }

    fn find_service(&self, labels: &[&[u8]]) -> Option<Node<'_>> {
        let rel = labels.len();
        if rel == 1 {
            return Some(Node::Empty);
        }
        if rel == 2 {
            return self.namespace_exists(labels[0]).then_some(Node::Empty);
        }
        let mut buf = [0u8; 128];
        let key = service_key(&mut buf, labels[rel - 3], labels[rel - 2])?;
        let svc = self.services.get(key)?;
        match rel {
            3 => Some(Node::Service(svc)),
            4 => {
                let first = labels[0];
                if let Some(proto) = first.strip_prefix(b"_") {
                    // "_tcp.<svc>..." is an empty non-terminal above its SRV names.
                    svc.ports
                        .iter()
                        .any(|p| p.proto.eq_ignore_ascii_case(proto))
                        .then_some(Node::Empty)
                } else {
                    let mut lb = [0u8; 64];
                    let host = lower(&mut lb, first)?;
                    svc.endpoints.get(host).map(Node::Endpoint)
                }
            }
            _ => {
                let port = labels[0].strip_prefix(b"_")?;
                let proto = labels[1].strip_prefix(b"_")?;
                svc.ports
                    .iter()
                    .find(|p| {
                        p.port.eq_ignore_ascii_case(port) && p.proto.eq_ignore_ascii_case(proto)
                    })
                    .map(Node::Port)
            }
        }
    }

    fn find_pod(&self, labels: &[&[u8]]) -> Option<Node<'_>> {
        match labels {
            [_] => Some(Node::Empty),
            _ if self.pod_mode == PodMode::Disabled => None,
            [ns, _] => self.namespace_exists(ns).then_some(Node::Empty),
            [ip, ns, _] => {
                if !self.namespace_exists(ns) {
                    return None;
                }
                let ip = parse_dashed_ip(ip)?;
                if self.pod_mode == PodMode::Verified {
                    let mut buf = [0u8; 64];
                    let ns = lower(&mut buf, ns)?;
                    let owners = self.pods.get(&ip)?;
                    if !owners.iter().any(|o| &o[..] == ns) {
                        return None;
                    }
                }
                Some(Node::Pod(ip))
            }
            _ => None,
        }
    }
}
