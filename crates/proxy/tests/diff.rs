//! Diff tests: an endpoint change touches only its Service's chains, and
//! every diff, applied to the old table by the kernel model in `sim`,
//! yields exactly the new table without tripping nft's reference checks.

mod common;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use common::{config, inputs, objects, scenario, SCENARIOS};
use k1s_proxy::sim::{Kernel, Table};
use k1s_proxy::tx::Op;
use k1s_proxy::{diff, ruleset, EndpointInfo, Ruleset, Transaction};

const WEB_SVC: &str = "service-PFISGYVC-default/web/tcp/";
const WEB_11: &str = "endpoint-MY64OWVI-default/web/tcp/__10.244.0.11/80";
const WEB_12: &str = "endpoint-2R3QGLPY-default/web/tcp/__10.244.0.12/80";
const WEB_13: &str = "endpoint-74FPAGTC-default/web/tcp/__10.244.0.13/80";

/// The clusterip scenario with web's endpoints changed by `f`.
fn clusterip_with(f: impl FnOnce(&mut Vec<EndpointInfo>)) -> Ruleset {
    let (services, mut slices) = inputs(&objects("clusterip"));
    let web = slices
        .iter_mut()
        .find(|s| s.service_name == "web")
        .expect("web slice");
    f(&mut web.endpoints);
    ruleset(&config(), &services, &slices)
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Applies `tx` to a kernel holding `old` and checks it now holds `new`.
fn assert_applies(old: &Ruleset, new: &Ruleset, tx: &Transaction) {
    let mut k = Kernel::with(old);
    if let Err(e) = k.apply(tx) {
        panic!("{e}\n{}", tx.to_nft());
    }
    assert!(
        k.table == Some(Table::of(new)),
        "result differs from the new table\n{}",
        tx.to_nft()
    );
}

#[test]
fn unchanged_table_needs_no_commands() {
    for name in SCENARIOS {
        let rs = scenario(name);
        assert!(diff(&rs, &rs).is_empty(), "{name}");
    }
}

#[test]
fn new_endpoint_touches_only_its_service_chain() {
    let old = scenario("clusterip");
    let new = clusterip_with(|eps| eps.push(EndpointInfo::ready(Ipv4Addr::new(10, 244, 0, 14))));
    let tx = diff(&old, &new);
    let web_14 = "endpoint-CKQ6ZS4Z-default/web/tcp/__10.244.0.14/80";
    assert_eq!(tx.touched_chains(), set(&[WEB_SVC, web_14]));
    assert!(tx.touched_element_containers().is_empty());
    assert_eq!(
        tx.to_nft(),
        format!(
            "add chain ip k1s {web_14}\n\
             flush chain ip k1s {WEB_SVC}\n\
             add rule ip k1s {WEB_SVC} ip daddr 10.96.0.20 tcp dport 80 ip saddr != 10.244.0.0/16 jump mark-for-masquerade\n\
             add rule ip k1s {WEB_SVC} numgen random mod 4 vmap {{ 0 : goto {WEB_11}, 1 : goto {WEB_12}, 2 : goto {WEB_13}, 3 : goto {web_14} }}\n\
             add rule ip k1s {web_14} ip saddr 10.244.0.14 jump mark-for-masquerade\n\
             add rule ip k1s {web_14} meta l4proto tcp dnat to 10.244.0.14:80\n"
        )
    );
    assert_applies(&old, &new, &tx);
}

#[test]
fn removed_endpoint_is_unhooked_then_deleted() {
    let old = scenario("clusterip");
    let new = clusterip_with(|eps| eps.retain(|e| e.ip != Ipv4Addr::new(10, 244, 0, 13)));
    let mut tx = diff(&old, &new);
    assert_eq!(tx.touched_chains(), set(&[WEB_SVC, WEB_13]));
    assert!(tx.touched_element_containers().is_empty());
    let text = tx.to_nft();
    let pos = |s: &str| {
        text.find(s)
            .unwrap_or_else(|| panic!("{s} missing in\n{text}"))
    };
    assert!(
        pos(&format!("flush chain ip k1s {WEB_SVC}"))
            < pos(&format!("delete chain ip k1s {WEB_13}"))
    );
    assert!(
        pos(&format!("flush chain ip k1s {WEB_13}"))
            < pos(&format!("delete chain ip k1s {WEB_13}"))
    );
    assert_applies(&old, &new, &tx);

    // Deferred deletion leaves an empty chain behind, nothing else.
    assert_eq!(tx.defer_chain_deletes(), [WEB_13]);
    let mut k = Kernel::with(&old);
    k.apply(&tx).expect("applies");
    let mut want = Table::of(&new);
    want.chains
        .insert(WEB_13.into(), k1s_proxy::nft::Chain::regular(WEB_13));
    assert!(k.table == Some(want));
}

#[test]
fn endpoint_readiness_flip_only_touches_that_service() {
    let old = scenario("clusterip");
    let new = clusterip_with(|eps| {
        eps.iter_mut()
            .for_each(|e| e.ready = e.ip != Ipv4Addr::new(10, 244, 0, 12))
    });
    let tx = diff(&old, &new);
    assert_eq!(tx.touched_chains(), set(&[WEB_SVC, WEB_12]));
    assert_applies(&old, &new, &tx);
}

#[test]
fn last_endpoint_gone_swaps_map_elements_before_deleting_chains() {
    let old = scenario("clusterip");
    let new = clusterip_with(Vec::clear);
    let tx = diff(&old, &new);
    assert_eq!(tx.touched_chains(), set(&[WEB_SVC, WEB_11, WEB_12, WEB_13]));
    assert_eq!(
        tx.touched_element_containers(),
        set(&["no-endpoint-services", "service-ips"])
    );
    let text = tx.to_nft();
    let del_elem = text
        .find("delete element ip k1s service-ips { 10.96.0.20 . tcp . 80 }")
        .expect("element delete");
    let del_chain = text
        .find(&format!("delete chain ip k1s {WEB_SVC}"))
        .expect("chain delete");
    assert!(del_elem < del_chain, "{text}");
    assert!(text.contains(
        "add element ip k1s no-endpoint-services { 10.96.0.20 . tcp . 80 comment \"default/web ClusterIP, no endpoints\" : goto reject-chain }"
    ));
    assert_applies(&old, &new, &tx);
}

#[test]
fn affinity_timeout_change_recreates_sets_after_unhooking_them() {
    let (mut services, slices) = inputs(&objects("affinity"));
    let old = ruleset(&config(), &services, &slices);
    services[0].affinity_timeout = Some(120);
    let new = ruleset(&config(), &services, &slices);
    let tx = diff(&old, &new);
    let text = tx.to_nft();
    let set = "affinity-BKNRSBY7-shop/sticky/tcp/__10.244.0.31/8080";
    let flush = text
        .find("flush chain ip k1s service-QJXM4N5A-shop/sticky/tcp/")
        .expect("flush");
    let delete = text
        .find(&format!("delete set ip k1s {set}"))
        .expect("delete");
    assert!(flush < delete, "{text}");
    assert!(text.contains(&format!(
        "add set ip k1s {set} {{ type ipv4_addr; flags dynamic,timeout; timeout 120s;"
    )));
    assert_applies(&old, &new, &tx);
}

#[test]
fn node_ip_change_only_touches_the_nodeport_set() {
    let (services, slices) = inputs(&objects("nodeport"));
    let old = ruleset(&config(), &services, &slices);
    let mut cfg = config();
    cfg.node_ips = vec![Ipv4Addr::new(192, 168, 56, 11)];
    let new = ruleset(&cfg, &services, &slices);
    let tx = diff(&old, &new);
    assert!(tx.touched_chains().is_empty());
    assert_eq!(
        tx.to_nft(),
        "delete element ip k1s nodeport-ips { 192.168.56.10 }\nadd element ip k1s nodeport-ips { 192.168.56.11 }\n"
    );
    assert_applies(&old, &new, &tx);
}

#[test]
fn changed_skeleton_falls_back_to_a_full_reload() {
    let old = scenario("clusterip");
    let mut new = old.clone();
    if let Some(b) = new.chains[0].base.as_mut() {
        b.priority -= 5;
    }
    let tx = diff(&old, &new);
    assert_eq!(
        tx.ops[..2],
        [Op::AddTable { comment: None }, Op::DeleteTable]
    );
    assert_eq!(tx, Transaction::full(&new));
    assert_applies(&old, &new, &tx);
}

#[test]
fn every_scenario_pair_diffs_cleanly() {
    let all: Vec<Ruleset> = SCENARIOS.iter().map(|n| scenario(n)).collect();
    for (i, old) in all.iter().enumerate() {
        for (j, new) in all.iter().enumerate() {
            let tx = diff(old, new);
            let mut k = Kernel::with(old);
            if let Err(e) = k.apply(&tx) {
                panic!("{} -> {}: {e}", SCENARIOS[i], SCENARIOS[j]);
            }
            assert!(
                k.table == Some(Table::of(new)),
                "{} -> {}",
                SCENARIOS[i],
                SCENARIOS[j]
            );
        }
    }
}

#[test]
fn full_load_builds_the_table_from_nothing() {
    for name in SCENARIOS {
        let rs = scenario(name);
        let mut k = Kernel::default();
        k.apply(&Transaction::full(&rs))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(k.table == Some(Table::of(&rs)), "{name}");
        // ... and over an existing, different table.
        let mut k = Kernel::with(&scenario("etp-local"));
        k.apply(&Transaction::full(&rs))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(k.table == Some(Table::of(&rs)), "{name}");
    }
}
