//! In-memory model of one nftables table: chains with structured rules,
//! address sets and verdict maps. The builder produces it, the renderers
//! print it as `nft -f` text or JSON, the diff compares two of them and the
//! tracer interprets it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddrV4};

use ipnet::Ipv4Net;

use crate::model::Protocol;

/// Netfilter hooks used by the proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Hook {
    Prerouting,
    Input,
    Forward,
    Output,
    Postrouting,
}

impl Hook {
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::Prerouting => "prerouting",
            Hook::Input => "input",
            Hook::Forward => "forward",
            Hook::Output => "output",
            Hook::Postrouting => "postrouting",
        }
    }
}

/// Base chain types used by the proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChainType {
    Filter,
    Nat,
}

impl ChainType {
    pub fn as_str(self) -> &'static str {
        match self {
            ChainType::Filter => "filter",
            ChainType::Nat => "nat",
        }
    }
}

/// Hook attachment of a base chain (policy is always accept).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BaseChain {
    pub kind: ChainType,
    pub hook: Hook,
    pub priority: i32,
}

/// Standard priority of DNAT (`dstnat`).
pub const PRIORITY_DSTNAT: i32 = -100;
/// Standard priority of SNAT (`srcnat`).
pub const PRIORITY_SRCNAT: i32 = 100;

/// A chain: a base chain (hooked) or a regular one (jumped to).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    pub name: String,
    pub base: Option<BaseChain>,
    pub comment: Option<String>,
    pub rules: Vec<Rule>,
}

impl Chain {
    pub fn regular(name: impl Into<String>) -> Chain {
        Chain {
            name: name.into(),
            base: None,
            comment: None,
            rules: Vec::new(),
        }
    }

    /// Same declaration (name, hook, comment), rules aside.
    pub fn same_declaration(&self, other: &Chain) -> bool {
        self.name == other.name && self.base == other.base && self.comment == other.comment
    }
}

/// One rule: all matches must hold, then the statement runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub matches: Vec<Match>,
    pub stmt: Stmt,
    pub comment: Option<String>,
}

impl Rule {
    pub fn new(matches: Vec<Match>, stmt: Stmt) -> Rule {
        Rule {
            matches,
            stmt,
            comment: None,
        }
    }

    pub fn commented(mut self, comment: impl Into<String>) -> Rule {
        self.comment = Some(comment.into());
        self
    }

    /// Chains this rule can jump or go to.
    pub fn targets(&self) -> Vec<&str> {
        match &self.stmt {
            Stmt::Verdict(v) => v.target().into_iter().collect(),
            Stmt::NumgenVmap(t) => t.iter().map(String::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// Named sets and maps this rule refers to.
    pub fn set_refs(&self) -> Vec<&str> {
        let mut out = Vec::new();
        for m in &self.matches {
            if let Match::Daddr(_, Addr::Set(s)) | Match::Saddr(_, Addr::Set(s)) = m {
                out.push(s.as_str());
            }
        }
        match &self.stmt {
            Stmt::Vmap { map, .. } => out.push(map.as_str()),
            Stmt::UpdateSaddr(set) => out.push(set.as_str()),
            _ => {}
        }
        out
    }
}

/// Comparison operator of an address match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
}

/// Right-hand side of an address match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Addr {
    Ip(Ipv4Addr),
    Net(Ipv4Net),
    /// A named set: `@name`.
    Set(String),
    /// An anonymous set of prefixes: `{ a/b, c/d }`.
    Nets(Vec<Ipv4Net>),
}

impl Addr {
    /// Whether `ip` is in this address; named sets are resolved by `lookup`.
    pub fn contains(&self, ip: Ipv4Addr, lookup: impl Fn(&str, Ipv4Addr) -> bool) -> bool {
        match self {
            Addr::Ip(a) => *a == ip,
            Addr::Net(n) => n.contains(&ip),
            Addr::Set(s) => lookup(s, ip),
            Addr::Nets(ns) => ns.iter().any(|n| n.contains(&ip)),
        }
    }
}

/// A condition on a packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Match {
    /// `ct state new`
    CtStateNew,
    /// `ip daddr [!=] addr`
    Daddr(Cmp, Addr),
    /// `ip saddr [!=] addr`
    Saddr(Cmp, Addr),
    /// `meta l4proto tcp`
    L4proto(Protocol),
    /// `tcp dport 80`
    Dport(Protocol, u16),
    /// `fib saddr type local`: the source is an address of this host.
    FibSaddrLocal,
    /// `meta mark & MASK == 0`
    MarkClear(u32),
}

/// Verdicts, used by rules and as values of verdict maps.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    Accept,
    Drop,
    Return,
    Jump(String),
    Goto(String),
}

impl Verdict {
    pub fn target(&self) -> Option<&str> {
        match self {
            Verdict::Jump(c) | Verdict::Goto(c) => Some(c),
            _ => None,
        }
    }
}

/// Key expression of a lookup in a named verdict map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmapKey {
    /// `ip daddr . meta l4proto . th dport`
    DaddrProtoPort,
    /// `meta l4proto . th dport`
    ProtoPort,
}

/// What a rule does once its matches hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stmt {
    Verdict(Verdict),
    /// `reject`: ICMP port unreachable.
    Reject,
    /// `reject with tcp reset`
    RejectTcpReset,
    /// `KEY vmap @map`
    Vmap {
        key: VmapKey,
        map: String,
    },
    /// `numgen random mod N vmap { 0 : goto a, 1 : goto b, ... }`
    NumgenVmap(Vec<String>),
    /// `meta mark set meta mark | MASK`
    MarkOr(u32),
    /// `meta mark set meta mark ^ MASK`
    MarkXor(u32),
    /// `masquerade fully-random`
    Masquerade,
    /// `dnat to ip:port`
    Dnat(SocketAddrV4),
    /// `update @set { ip saddr }`
    UpdateSaddr(String),
}

/// A named set of IPv4 addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Set {
    pub name: String,
    pub comment: Option<String>,
    pub kind: SetKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetKind {
    /// Elements owned by the proxy.
    Static(BTreeSet<Ipv4Addr>),
    /// Filled by the packet path (`update`), entries expire after `timeout` s.
    Dynamic { timeout: u32 },
}

impl Set {
    pub fn same_declaration(&self, other: &Set) -> bool {
        self.name == other.name
            && self.comment == other.comment
            && match (&self.kind, &other.kind) {
                (SetKind::Static(_), SetKind::Static(_)) => true,
                (SetKind::Dynamic { timeout: a }, SetKind::Dynamic { timeout: b }) => a == b,
                _ => false,
            }
    }

    pub fn elements(&self) -> Option<&BTreeSet<Ipv4Addr>> {
        match &self.kind {
            SetKind::Static(e) => Some(e),
            SetKind::Dynamic { .. } => None,
        }
    }
}

/// Key type of a verdict map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapType {
    /// `ipv4_addr . inet_proto . inet_service : verdict`
    AddrProtoPort,
    /// `inet_proto . inet_service : verdict`
    ProtoPort,
}

/// A key of a verdict map element.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ElemKey {
    AddrProtoPort(Ipv4Addr, Protocol, u16),
    ProtoPort(Protocol, u16),
}

/// Value of a verdict map element, with the comment that explains it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    pub verdict: Verdict,
    pub comment: Option<String>,
}

/// A named verdict map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Map {
    pub name: String,
    pub comment: Option<String>,
    pub kind: MapType,
    pub elements: BTreeMap<ElemKey, Element>,
}

impl Map {
    pub fn same_declaration(&self, other: &Map) -> bool {
        self.name == other.name && self.comment == other.comment && self.kind == other.kind
    }
}

/// What the proxy programmed for one Service port, kept next to the
/// table so that conntrack clean-up can compare two generations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSummary {
    pub protocol: Protocol,
    pub port: u16,
    pub node_port: Option<u16>,
    /// ClusterIP, external IPs and load-balancer IPs.
    pub ips: Vec<Ipv4Addr>,
    /// Endpoints that some rule can DNAT to.
    pub endpoints: BTreeSet<SocketAddrV4>,
    /// internalTrafficPolicy Local drops ClusterIP traffic: endpoints
    /// exist, none on this node.
    pub no_local_internal: bool,
    /// externalTrafficPolicy Local drops traffic from outside: endpoints
    /// exist, none on this node.
    pub no_local_external: bool,
}

/// The whole `table ip <name>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ruleset {
    pub table: String,
    pub comment: String,
    /// In listing order.
    pub sets: Vec<Set>,
    pub maps: Vec<Map>,
    pub chains: Vec<Chain>,
    /// Keyed by `ServicePortName` text plus `/proto` (not rendered).
    pub services: BTreeMap<String, ServiceSummary>,
}

impl Ruleset {
    pub fn chain(&self, name: &str) -> Option<&Chain> {
        self.chains.iter().find(|c| c.name == name)
    }

    pub fn set(&self, name: &str) -> Option<&Set> {
        self.sets.iter().find(|s| s.name == name)
    }

    pub fn map(&self, name: &str) -> Option<&Map> {
        self.maps.iter().find(|m| m.name == name)
    }
}
