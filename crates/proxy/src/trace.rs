//! A packet tracer over the model (not over nft text): what the table does
//! with the first packet of a new connection — accepted (maybe DNATed and
//! masqueraded), dropped or rejected — with the probability of each path
//! when `numgen random` picks an endpoint. Like kube-proxy's nftables
//! tracer tests, it lets unit tests ask "what happens to this packet?".
//!
//! Model of the host: a packet that does not come from the node enters at
//! prerouting and is then delivered locally (destination is a node
//! address from `nodeport-ips` or loopback) or forwarded (then
//! postrouting). A packet from the node goes output → postrouting, and if
//! its (DNATed) destination is local it comes back in through prerouting's
//! filter chains (NAT is not consulted twice) and input.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

use crate::build::NODEPORT_IPS;
use crate::model::Protocol;
use crate::nft::{
    Addr, Chain, ChainType, Cmp, ElemKey, Hook, Match, Rule, Ruleset, SetKind, Stmt, Verdict,
    VmapKey,
};

/// The first packet of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub proto: Protocol,
    pub dport: u16,
    /// Sent by a process on the node (output path) rather than arriving
    /// from a pod or from outside (prerouting path).
    pub from_local: bool,
}

/// Exact probability as a reduced fraction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Probability {
    pub num: u64,
    pub den: u64,
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a.max(1)
    } else {
        gcd(b, a % b)
    }
}

impl Probability {
    pub const ONE: Probability = Probability { num: 1, den: 1 };

    fn new(num: u64, den: u64) -> Probability {
        let g = gcd(num, den);
        Probability {
            num: num / g,
            den: den / g,
        }
    }

    fn times(self, num: u64, den: u64) -> Probability {
        Probability::new(self.num * num, self.den * den)
    }

    fn plus(self, o: Probability) -> Probability {
        Probability::new(self.num * o.den + o.num * self.den, self.den * o.den)
    }
}

impl fmt::Display for Probability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.num, self.den)
    }
}

/// How a path ends.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fate {
    Accepted,
    Dropped,
    /// TCP reset or ICMP port unreachable.
    Rejected,
    /// The model itself is inconsistent (missing chain, loop).
    Broken(String),
}

/// One possible path of the packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub probability: Probability,
    pub fate: Fate,
    pub dnat: Option<SocketAddrV4>,
    pub masquerade: bool,
    /// Affinity sets that recorded the client.
    pub affinity: Vec<String>,
    /// Regular chains entered, in order.
    pub chains: Vec<String>,
}

/// All paths of a packet; probabilities add up to 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    pub outcomes: Vec<Outcome>,
}

impl Trace {
    /// Probability of reaching each DNAT destination.
    pub fn endpoints(&self) -> BTreeMap<SocketAddrV4, Probability> {
        let mut out: BTreeMap<SocketAddrV4, Probability> = BTreeMap::new();
        for o in self.outcomes.iter().filter(|o| o.fate == Fate::Accepted) {
            if let Some(d) = o.dnat {
                let p = out.get(&d).map_or(o.probability, |p| p.plus(o.probability));
                out.insert(d, p);
            }
        }
        out
    }

    /// One line per distinct ending, e.g.
    /// `1/2 dnat 10.244.0.11:80 masquerade, 1/2 dnat 10.244.0.12:80`,
    /// `reject`, `drop`, `accept` (probabilities shown when below 1).
    pub fn summary(&self) -> String {
        let mut groups: BTreeMap<String, Probability> = BTreeMap::new();
        for o in &self.outcomes {
            let mut s = match &o.fate {
                Fate::Accepted => match o.dnat {
                    Some(d) => format!("dnat {d}"),
                    None => "accept".into(),
                },
                Fate::Dropped => "drop".into(),
                Fate::Rejected => "reject".into(),
                Fate::Broken(why) => format!("broken: {why}"),
            };
            if o.masquerade {
                s.push_str(" masquerade");
            }
            let p = groups
                .get(&s)
                .map_or(o.probability, |p| p.plus(o.probability));
            groups.insert(s, p);
        }
        groups
            .into_iter()
            .map(|(s, p)| {
                if p == Probability::ONE {
                    s
                } else {
                    format!("{p} {s}")
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Client IPs already stuck to an endpoint: (affinity set, client).
pub type AffinityState = BTreeSet<(String, Ipv4Addr)>;

/// Traces `pkt` through `rs` with empty affinity sets.
pub fn trace(rs: &Ruleset, pkt: Packet) -> Trace {
    trace_with(rs, pkt, &AffinityState::new())
}

/// Traces `pkt` through `rs` with the given affinity entries present.
pub fn trace_with(rs: &Ruleset, pkt: Packet, affinity: &AffinityState) -> Trace {
    let t = Tracer { rs, pkt, affinity };
    let start = State {
        dst: pkt.dst,
        dport: pkt.dport,
        mark: 0,
        dnat: None,
        masquerade: false,
        affinity: Vec::new(),
        chains: Vec::new(),
        probability: Probability::ONE,
    };
    let outcomes = t
        .walk(start)
        .into_iter()
        .map(|(st, fate)| Outcome {
            probability: st.probability,
            fate,
            dnat: st.dnat,
            masquerade: st.masquerade,
            affinity: st.affinity,
            chains: st.chains,
        })
        .collect();
    Trace { outcomes }
}

#[derive(Clone, Debug)]
struct State {
    dst: Ipv4Addr,
    dport: u16,
    mark: u32,
    dnat: Option<SocketAddrV4>,
    masquerade: bool,
    affinity: Vec<String>,
    chains: Vec<String>,
    probability: Probability,
}

/// How one chain traversal (a base chain and what it calls) ends.
enum End {
    Accept,
    Drop,
    Reject,
    Broken(String),
}

const MAX_STEPS: usize = 10_000;

struct Tracer<'a> {
    rs: &'a Ruleset,
    pkt: Packet,
    affinity: &'a AffinityState,
}

impl<'a> Tracer<'a> {
    fn is_local(&self, ip: Ipv4Addr) -> bool {
        ip.is_loopback() || self.in_set(NODEPORT_IPS, ip)
    }

    fn in_set(&self, name: &str, ip: Ipv4Addr) -> bool {
        match self.rs.set(name).map(|s| &s.kind) {
            Some(SetKind::Static(e)) => e.contains(&ip),
            Some(SetKind::Dynamic { .. }) => self.affinity.contains(&(name.to_string(), ip)),
            None => false,
        }
    }

    /// Whole host path, hook by hook.
    fn walk(&self, st: State) -> Vec<(State, Fate)> {
        let mut done = Vec::new();
        let first: &[(Hook, bool)] = if self.pkt.from_local {
            &[(Hook::Output, true), (Hook::Postrouting, true)]
        } else {
            &[(Hook::Prerouting, true)]
        };
        let mut live = vec![st];
        for (hook, with_nat) in first {
            live = self.phase(live, *hook, *with_nat, &mut done);
        }
        // Routing after DNAT decides between local delivery and forwarding.
        for st in live {
            let rest: &[(Hook, bool)] = match (self.pkt.from_local, self.is_local(st.dst)) {
                // Looped back: NAT was settled on the way out.
                (true, true) => &[(Hook::Prerouting, false), (Hook::Input, false)],
                (true, false) => &[],
                (false, true) => &[(Hook::Input, true)],
                (false, false) => &[(Hook::Forward, true), (Hook::Postrouting, true)],
            };
            let mut states = vec![st];
            for (hook, with_nat) in rest {
                states = self.phase(states, *hook, *with_nat, &mut done);
            }
            done.extend(states.into_iter().map(|st| (st, Fate::Accepted)));
        }
        done
    }

    /// Runs the base chains of one hook in priority order.
    fn phase(
        &self,
        states: Vec<State>,
        hook: Hook,
        with_nat: bool,
        done: &mut Vec<(State, Fate)>,
    ) -> Vec<State> {
        let mut bases: Vec<&'a Chain> = self
            .rs
            .chains
            .iter()
            .filter(|c| {
                c.base
                    .is_some_and(|b| b.hook == hook && (with_nat || b.kind != ChainType::Nat))
            })
            .collect();
        bases.sort_by_key(|c| c.base.map(|b| b.priority));
        let mut live = states;
        for chain in bases {
            let mut next = Vec::new();
            for st in live {
                for (st, end) in self.run(vec![(chain.name.as_str(), 0)], st, 0) {
                    match end {
                        End::Accept => next.push(st),
                        End::Drop => done.push((st, Fate::Dropped)),
                        End::Reject => done.push((st, Fate::Rejected)),
                        End::Broken(why) => done.push((st, Fate::Broken(why))),
                    }
                }
            }
            live = next;
        }
        live
    }

    fn matches(&self, m: &Match, st: &State) -> bool {
        let addr_match = |c: &Cmp, a: &Addr, ip: Ipv4Addr| {
            let hit = a.contains(ip, |set, ip| self.in_set(set, ip));
            hit == (*c == Cmp::Eq)
        };
        match m {
            // The tracer follows the first packet of a connection.
            Match::CtStateNew => true,
            Match::Daddr(c, a) => addr_match(c, a, st.dst),
            Match::Saddr(c, a) => addr_match(c, a, self.pkt.src),
            Match::L4proto(p) => *p == self.pkt.proto,
            Match::Dport(p, port) => *p == self.pkt.proto && *port == st.dport,
            Match::FibSaddrLocal => self.is_local(self.pkt.src),
            Match::MarkClear(m) => st.mark & m == 0,
        }
    }

    fn lookup(&self, key: VmapKey, map: &str, st: &State) -> Option<&'a Verdict> {
        let k = match key {
            VmapKey::DaddrProtoPort => ElemKey::AddrProtoPort(st.dst, self.pkt.proto, st.dport),
            VmapKey::ProtoPort => ElemKey::ProtoPort(self.pkt.proto, st.dport),
        };
        Some(&self.rs.map(map)?.elements.get(&k)?.verdict)
    }

    /// Interprets from the top frame of `stack` until the traversal ends;
    /// `numgen` forks the state once per target.
    fn run(
        &self,
        mut stack: Vec<(&'a str, usize)>,
        mut st: State,
        mut steps: usize,
    ) -> Vec<(State, End)> {
        loop {
            steps += 1;
            if steps > MAX_STEPS {
                return vec![(st, End::Broken("too many steps".into()))];
            }
            let Some((name, idx)) = stack.last().copied() else {
                return vec![(st, End::Accept)]; // base chain policy
            };
            let Some(chain) = self.rs.chain(name) else {
                return vec![(st, End::Broken(format!("no chain {name}")))];
            };
            let Some(rule) = chain.rules.get(idx) else {
                stack.pop();
                continue;
            };
            if let Some(top) = stack.last_mut() {
                top.1 += 1;
            }
            if !rule.matches.iter().all(|m| self.matches(m, &st)) {
                continue;
            }
            match self.exec(rule, &mut stack, &mut st) {
                Step::Next => {}
                Step::End(e) => return vec![(st, e)],
                Step::Fork(targets) => {
                    let n = targets.len() as u64;
                    let mut out = Vec::new();
                    for t in targets {
                        let mut s = st.clone();
                        s.probability = s.probability.times(1, n);
                        let mut stk = stack.clone();
                        goto(&mut stk, &mut s, t);
                        out.extend(self.run(stk, s, steps));
                    }
                    if out.is_empty() {
                        continue;
                    }
                    return out;
                }
            }
        }
    }

    fn exec(&self, rule: &'a Rule, stack: &mut Vec<(&'a str, usize)>, st: &mut State) -> Step<'a> {
        match &rule.stmt {
            Stmt::Verdict(v) => verdict(v, stack, st),
            Stmt::Vmap { key, map } => match self.lookup(*key, map, st) {
                Some(v) => verdict(v, stack, st),
                None => Step::Next,
            },
            Stmt::NumgenVmap(t) => Step::Fork(t.iter().map(String::as_str).collect()),
            Stmt::Reject | Stmt::RejectTcpReset => Step::End(End::Reject),
            Stmt::MarkOr(m) => {
                st.mark |= m;
                Step::Next
            }
            Stmt::MarkXor(m) => {
                st.mark ^= m;
                Step::Next
            }
            Stmt::Masquerade => {
                st.masquerade = true;
                Step::End(End::Accept)
            }
            Stmt::Dnat(a) => {
                st.dnat = Some(*a);
                st.dst = *a.ip();
                st.dport = a.port();
                Step::End(End::Accept)
            }
            Stmt::UpdateSaddr(set) => {
                st.affinity.push(set.clone());
                Step::Next
            }
        }
    }
}

enum Step<'a> {
    Next,
    End(End),
    Fork(Vec<&'a str>),
}

fn goto<'a>(stack: &mut Vec<(&'a str, usize)>, st: &mut State, target: &'a str) {
    st.chains.push(target.to_string());
    stack.pop();
    stack.push((target, 0));
}

fn verdict<'a>(v: &'a Verdict, stack: &mut Vec<(&'a str, usize)>, st: &mut State) -> Step<'a> {
    match v {
        Verdict::Accept => Step::End(End::Accept),
        Verdict::Drop => Step::End(End::Drop),
        Verdict::Return => {
            stack.pop();
            Step::Next
        }
        Verdict::Jump(c) => {
            st.chains.push(c.clone());
            stack.push((c.as_str(), 0));
            Step::Next
        }
        Verdict::Goto(c) => {
            goto(stack, st, c.as_str());
            Step::Next
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nft::{BaseChain, Chain, ChainType, Rule, Set, SetKind};
    use std::collections::BTreeMap;

    fn table(chains: Vec<Chain>) -> Ruleset {
        Ruleset {
            table: "t".into(),
            comment: String::new(),
            sets: vec![Set {
                name: NODEPORT_IPS.into(),
                comment: None,
                kind: SetKind::Static([Ipv4Addr::new(192, 168, 56, 10)].into()),
            }],
            maps: vec![],
            chains,
            services: BTreeMap::new(),
        }
    }

    fn base(name: &str, hook: Hook, rules: Vec<Rule>) -> Chain {
        Chain {
            name: name.into(),
            base: Some(BaseChain {
                kind: ChainType::Nat,
                hook,
                priority: -100,
            }),
            comment: None,
            rules,
        }
    }

    fn regular(name: &str, rules: Vec<Rule>) -> Chain {
        Chain {
            rules,
            ..Chain::regular(name)
        }
    }

    fn pkt() -> Packet {
        Packet {
            src: Ipv4Addr::new(10, 244, 0, 9),
            dst: Ipv4Addr::new(10, 96, 0, 1),
            proto: Protocol::Tcp,
            dport: 80,
            from_local: false,
        }
    }

    fn dnat(last: u8) -> Stmt {
        Stmt::Dnat(SocketAddrV4::new(Ipv4Addr::new(10, 244, 0, last), 80))
    }

    #[test]
    fn probabilities_multiply_and_add() {
        let third = Probability::ONE.times(1, 3);
        assert_eq!(third.to_string(), "1/3");
        assert_eq!(third.plus(third).plus(third), Probability::ONE);
        assert_eq!(Probability::ONE.times(2, 4).times(1, 2).to_string(), "1/4");
    }

    #[test]
    fn nested_random_choices_split_probability() {
        let rs = table(vec![
            base(
                "pre",
                Hook::Prerouting,
                vec![Rule::new(
                    vec![],
                    Stmt::NumgenVmap(vec!["a".into(), "b".into()]),
                )],
            ),
            regular("a", vec![Rule::new(vec![], dnat(1))]),
            regular(
                "b",
                vec![Rule::new(
                    vec![],
                    Stmt::NumgenVmap(vec!["c".into(), "d".into()]),
                )],
            ),
            regular("c", vec![Rule::new(vec![], dnat(2))]),
            regular("d", vec![Rule::new(vec![], dnat(3))]),
        ]);
        assert_eq!(
            trace(&rs, pkt()).summary(),
            "1/2 dnat 10.244.0.1:80, 1/4 dnat 10.244.0.2:80, 1/4 dnat 10.244.0.3:80"
        );
    }

    #[test]
    fn jump_returns_goto_does_not() {
        let drop = Rule::new(vec![], Stmt::Verdict(Verdict::Drop));
        let ret = Rule::new(vec![], Stmt::Verdict(Verdict::Return));
        // jump to a chain that returns: the caller continues (to drop).
        let rs = table(vec![
            base(
                "pre",
                Hook::Prerouting,
                vec![
                    Rule::new(vec![], Stmt::Verdict(Verdict::Jump("r".into()))),
                    drop.clone(),
                ],
            ),
            regular("r", vec![ret.clone()]),
        ]);
        assert_eq!(trace(&rs, pkt()).summary(), "drop");
        // goto a chain that ends: back to the base chain's caller (policy accept).
        let rs = table(vec![
            base(
                "pre",
                Hook::Prerouting,
                vec![
                    Rule::new(vec![], Stmt::Verdict(Verdict::Goto("r".into()))),
                    drop,
                ],
            ),
            regular("r", vec![]),
        ]);
        assert_eq!(trace(&rs, pkt()).summary(), "accept");
    }

    #[test]
    fn broken_models_are_reported() {
        let rs = table(vec![base(
            "pre",
            Hook::Prerouting,
            vec![Rule::new(
                vec![],
                Stmt::Verdict(Verdict::Jump("nope".into())),
            )],
        )]);
        assert_eq!(trace(&rs, pkt()).summary(), "broken: no chain nope");
        let rs = table(vec![
            base(
                "pre",
                Hook::Prerouting,
                vec![Rule::new(
                    vec![],
                    Stmt::Verdict(Verdict::Jump("loop".into())),
                )],
            ),
            regular(
                "loop",
                vec![Rule::new(
                    vec![],
                    Stmt::Verdict(Verdict::Goto("loop".into())),
                )],
            ),
        ]);
        assert_eq!(trace(&rs, pkt()).summary(), "broken: too many steps");
    }

    #[test]
    fn masquerade_needs_postrouting() {
        let rs = table(vec![
            base(
                "pre",
                Hook::Prerouting,
                vec![Rule::new(vec![], Stmt::MarkOr(0x4000))],
            ),
            base(
                "post",
                Hook::Postrouting,
                vec![
                    Rule::new(
                        vec![Match::MarkClear(0x4000)],
                        Stmt::Verdict(Verdict::Return),
                    ),
                    Rule::new(vec![], Stmt::Masquerade),
                ],
            ),
        ]);
        // Forwarded: postrouting runs, masquerade applies.
        assert_eq!(trace(&rs, pkt()).summary(), "accept masquerade");
        // Delivered to the node: no postrouting, no masquerade.
        let local = Packet {
            dst: Ipv4Addr::new(192, 168, 56, 10),
            ..pkt()
        };
        assert_eq!(trace(&rs, local).summary(), "accept");
    }
}
