//! `nft -f` text for the model: the whole table as one block (what the
//! golden files hold, laid out like `nft list table`), and the pieces that
//! transaction commands reuse.

use std::fmt::Write;

use ipnet::Ipv4Net;

use crate::nft::{
    Addr, BaseChain, Chain, Cmp, ElemKey, Element, Hook, Map, MapType, Match, Rule, Ruleset, Set,
    SetKind, Stmt, Verdict, VmapKey, PRIORITY_DSTNAT, PRIORITY_SRCNAT,
};

/// Comments are printed in double quotes; keep them from closing early.
pub fn quote(s: &str) -> String {
    let clean: String = s
        .chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
        .collect();
    format!("\"{clean}\"")
}

fn mark_hex(m: u32) -> String {
    format!("0x{m:08x}")
}

fn net(n: &Ipv4Net) -> String {
    if n.prefix_len() == 32 {
        n.addr().to_string()
    } else {
        n.to_string()
    }
}

fn addr(a: &Addr) -> String {
    match a {
        Addr::Ip(ip) => ip.to_string(),
        Addr::Net(n) => net(n),
        Addr::Set(s) => format!("@{s}"),
        Addr::Nets(ns) => format!(
            "{{ {} }}",
            ns.iter().map(net).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn cmp(c: Cmp) -> &'static str {
    match c {
        Cmp::Eq => "",
        Cmp::Ne => "!= ",
    }
}

fn match_text(m: &Match) -> String {
    match m {
        Match::CtStateNew => "ct state new".into(),
        Match::Daddr(c, a) => format!("ip daddr {}{}", cmp(*c), addr(a)),
        Match::Saddr(c, a) => format!("ip saddr {}{}", cmp(*c), addr(a)),
        Match::L4proto(p) => format!("meta l4proto {p}"),
        Match::Dport(p, port) => format!("{p} dport {port}"),
        Match::FibSaddrLocal => "fib saddr type local".into(),
        Match::MarkClear(m) => format!("meta mark & {} == {}", mark_hex(*m), mark_hex(0)),
    }
}

/// A verdict as written in rules and map values.
pub fn verdict(v: &Verdict) -> String {
    match v {
        Verdict::Accept => "accept".into(),
        Verdict::Drop => "drop".into(),
        Verdict::Return => "return".into(),
        Verdict::Jump(c) => format!("jump {c}"),
        Verdict::Goto(c) => format!("goto {c}"),
    }
}

fn vmap_key(k: VmapKey) -> &'static str {
    match k {
        VmapKey::DaddrProtoPort => "ip daddr . meta l4proto . th dport",
        VmapKey::ProtoPort => "meta l4proto . th dport",
    }
}

fn stmt_text(s: &Stmt) -> String {
    match s {
        Stmt::Verdict(v) => verdict(v),
        Stmt::Reject => "reject".into(),
        Stmt::RejectTcpReset => "reject with tcp reset".into(),
        Stmt::Vmap { key, map } => format!("{} vmap @{map}", vmap_key(*key)),
        Stmt::NumgenVmap(targets) => {
            let elems: Vec<String> = targets
                .iter()
                .enumerate()
                .map(|(i, t)| format!("{i} : goto {t}"))
                .collect();
            format!(
                "numgen random mod {} vmap {{ {} }}",
                targets.len(),
                elems.join(", ")
            )
        }
        Stmt::MarkOr(m) => format!("meta mark set meta mark | {}", mark_hex(*m)),
        Stmt::MarkXor(m) => format!("meta mark set meta mark ^ {}", mark_hex(*m)),
        Stmt::Masquerade => "masquerade fully-random".into(),
        Stmt::Dnat(a) => format!("dnat to {a}"),
        Stmt::UpdateSaddr(set) => format!("update @{set} {{ ip saddr }}"),
    }
}

/// One rule as nft reads it.
pub fn rule(r: &Rule) -> String {
    let mut parts: Vec<String> = r.matches.iter().map(match_text).collect();
    parts.push(stmt_text(&r.stmt));
    if let Some(c) = &r.comment {
        parts.push(format!("comment {}", quote(c)));
    }
    parts.join(" ")
}

/// A map element key.
pub fn elem_key(k: &ElemKey) -> String {
    match k {
        ElemKey::AddrProtoPort(ip, p, port) => format!("{ip} . {p} . {port}"),
        ElemKey::ProtoPort(p, port) => format!("{p} . {port}"),
    }
}

/// A map element with its comment and value.
pub fn map_elem(k: &ElemKey, e: &Element) -> String {
    let mut s = elem_key(k);
    if let Some(c) = &e.comment {
        write!(s, " comment {}", quote(c)).ok();
    }
    write!(s, " : {}", verdict(&e.verdict)).ok();
    s
}

fn priority(b: &BaseChain) -> String {
    // nft only accepts the symbolic names on some hooks; use them where it
    // prints them itself.
    let (name, std) = match b.hook {
        Hook::Prerouting => ("dstnat", PRIORITY_DSTNAT),
        Hook::Postrouting => ("srcnat", PRIORITY_SRCNAT),
        _ => return b.priority.to_string(),
    };
    match b.priority - std {
        0 => name.to_string(),
        d if d < 0 => format!("{name} - {}", -d),
        d => format!("{name} + {d}"),
    }
}

/// `type filter hook input priority -110; policy accept;`
pub fn base_spec(b: &BaseChain) -> String {
    format!(
        "type {} hook {} priority {}; policy accept;",
        b.kind.as_str(),
        b.hook.as_str(),
        priority(b)
    )
}

/// Body of a set declaration, one property per line (without elements).
pub fn set_props(s: &Set) -> Vec<String> {
    let mut out = vec!["type ipv4_addr".to_string()];
    if let SetKind::Dynamic { timeout } = s.kind {
        out.push("flags dynamic,timeout".into());
        out.push(format!("timeout {timeout}s"));
    }
    if let Some(c) = &s.comment {
        out.push(format!("comment {}", quote(c)));
    }
    out
}

/// Body of a map declaration (without elements).
pub fn map_props(m: &Map) -> Vec<String> {
    let t = match m.kind {
        MapType::AddrProtoPort => "ipv4_addr . inet_proto . inet_service : verdict",
        MapType::ProtoPort => "inet_proto . inet_service : verdict",
    };
    let mut out = vec![format!("type {t}")];
    if let Some(c) = &m.comment {
        out.push(format!("comment {}", quote(c)));
    }
    out
}

fn elements_block(out: &mut String, items: Vec<String>) {
    if items.is_empty() {
        return;
    }
    out.push_str("\t\telements = {\n");
    for i in items {
        writeln!(out, "\t\t\t{i},").ok();
    }
    out.push_str("\t\t}\n");
}

fn chain_block(out: &mut String, c: &Chain) {
    writeln!(out, "\tchain {} {{", c.name).ok();
    if let Some(b) = &c.base {
        writeln!(out, "\t\t{}", base_spec(b)).ok();
    }
    if let Some(cm) = &c.comment {
        writeln!(out, "\t\tcomment {}", quote(cm)).ok();
    }
    for r in &c.rules {
        writeln!(out, "\t\t{}", rule(r)).ok();
    }
    out.push_str("\t}\n");
}

/// The whole table as one `table ip NAME { ... }` block.
pub fn table(rs: &Ruleset) -> String {
    let mut out = String::new();
    writeln!(out, "table ip {} {{", rs.table).ok();
    writeln!(out, "\tcomment {}", quote(&rs.comment)).ok();
    // Like `nft list`: a blank line between objects, none after the comment.
    let mut first = true;
    let mut gap = |out: &mut String| {
        if !std::mem::take(&mut first) {
            out.push('\n');
        }
    };
    for s in &rs.sets {
        gap(&mut out);
        writeln!(out, "\tset {} {{", s.name).ok();
        for p in set_props(s) {
            writeln!(out, "\t\t{p}").ok();
        }
        if let Some(e) = s.elements() {
            elements_block(&mut out, e.iter().map(|ip| ip.to_string()).collect());
        }
        out.push_str("\t}\n");
    }
    for m in &rs.maps {
        gap(&mut out);
        writeln!(out, "\tmap {} {{", m.name).ok();
        for p in map_props(m) {
            writeln!(out, "\t\t{p}").ok();
        }
        elements_block(
            &mut out,
            m.elements.iter().map(|(k, e)| map_elem(k, e)).collect(),
        );
        out.push_str("\t}\n");
    }
    for c in &rs.chains {
        gap(&mut out);
        chain_block(&mut out, c);
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Protocol;
    use std::net::{Ipv4Addr, SocketAddrV4};

    #[test]
    fn rule_texts() {
        let n = |s: &str| s.parse::<Ipv4Net>().expect("net");
        let ip = Ipv4Addr::new(10, 96, 0, 1);
        let cases: Vec<(Rule, &str)> = vec![
            (Rule::new(vec![Match::CtStateNew], Stmt::Verdict(Verdict::Jump("x".into()))), "ct state new jump x"),
            (
                Rule::new(
                    vec![Match::Daddr(Cmp::Eq, Addr::Ip(ip)), Match::Dport(Protocol::Sctp, 80), Match::Saddr(Cmp::Ne, Addr::Net(n("10.244.0.0/16")))],
                    Stmt::Verdict(Verdict::Jump("mark-for-masquerade".into())),
                ),
                "ip daddr 10.96.0.1 sctp dport 80 ip saddr != 10.244.0.0/16 jump mark-for-masquerade",
            ),
            (
                Rule::new(vec![Match::Saddr(Cmp::Ne, Addr::Nets(vec![n("192.168.0.0/16"), n("192.168.56.10/32")]))], Stmt::Verdict(Verdict::Drop)).commented("a \"b\""),
                "ip saddr != { 192.168.0.0/16, 192.168.56.10 } drop comment \"a b\"",
            ),
            (Rule::new(vec![Match::MarkClear(0x4000)], Stmt::Verdict(Verdict::Return)), "meta mark & 0x00004000 == 0x00000000 return"),
            (Rule::new(vec![], Stmt::MarkXor(0x4000)), "meta mark set meta mark ^ 0x00004000"),
            (Rule::new(vec![], Stmt::NumgenVmap(vec!["a".into(), "b".into()])), "numgen random mod 2 vmap { 0 : goto a, 1 : goto b }"),
            (Rule::new(vec![Match::L4proto(Protocol::Udp)], Stmt::Dnat(SocketAddrV4::new(ip, 53))), "meta l4proto udp dnat to 10.96.0.1:53"),
            (Rule::new(vec![], Stmt::UpdateSaddr("affinity-x".into())), "update @affinity-x { ip saddr }"),
            (Rule::new(vec![Match::FibSaddrLocal], Stmt::Reject), "fib saddr type local reject"),
            (
                Rule::new(vec![Match::Daddr(Cmp::Eq, Addr::Set("nodeport-ips".into()))], Stmt::Vmap { key: VmapKey::ProtoPort, map: "m".into() }),
                "ip daddr @nodeport-ips meta l4proto . th dport vmap @m",
            ),
        ];
        for (r, want) in cases {
            assert_eq!(rule(&r), want);
        }
    }

    #[test]
    fn priorities_print_like_nft() {
        use crate::nft::ChainType;
        let b = |hook, priority| BaseChain {
            kind: ChainType::Filter,
            hook,
            priority,
        };
        assert_eq!(priority(&b(Hook::Prerouting, -110)), "dstnat - 10");
        assert_eq!(priority(&b(Hook::Prerouting, -100)), "dstnat");
        assert_eq!(priority(&b(Hook::Postrouting, 100)), "srcnat");
        assert_eq!(priority(&b(Hook::Output, -90)), "-90");
        assert_eq!(priority(&b(Hook::Input, -110)), "-110");
    }
}
