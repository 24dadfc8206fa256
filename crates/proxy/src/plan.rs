//! Per Service port decisions, before anything is emitted: which endpoints
//! serve which traffic policy, which chains exist, and what happens to
//! traffic that has no endpoint to go to (kube-proxy's syncProxyRules
//! logic, written out as data).

use crate::endpoints::{categorize, gather, Categorized};
use crate::model::{EndpointSliceInfo, ServiceInfo, ServicePortInfo, ServicePortName};
use crate::names;
use crate::nft::Verdict;
use crate::skeleton::REJECT_CHAIN;

pub struct PortPlan<'s> {
    pub svc: &'s ServiceInfo,
    pub port: &'s ServicePortInfo,
    pub spn: ServicePortName,
    /// `namespace/name[:port]`, used in comments.
    pub label: String,
    pub endpoints: Categorized,
    pub external_local: bool,
    pub internal_local: bool,
    pub externally_accessible: bool,

    pub cluster_chain: String,
    pub local_chain: String,
    pub external_chain: String,
    pub firewall_chain: String,
    pub uses_cluster_chain: bool,
    pub uses_local_chain: bool,
    pub uses_external_chain: bool,
    pub uses_firewall_chain: bool,

    /// ClusterIP traffic has somewhere to go.
    pub has_internal: bool,
    /// NodePort/LB/external IP traffic from outside has somewhere to go.
    pub has_external: bool,
    /// Verdict for traffic with nowhere to go (in the filter maps).
    pub no_endpoint_verdict: Verdict,
    /// Why, for the element comments.
    pub no_endpoint_reason: &'static str,
}

impl PortPlan<'_> {
    /// The chain ClusterIP traffic goes to.
    pub fn internal_chain(&self) -> &str {
        if self.internal_local {
            &self.local_chain
        } else {
            &self.cluster_chain
        }
    }

    /// The chain external traffic ends up in after the external chain.
    pub fn external_policy_chain(&self) -> &str {
        if self.external_local {
            &self.local_chain
        } else {
            &self.cluster_chain
        }
    }
}

pub fn plan<'s>(
    svc: &'s ServiceInfo,
    port: &'s ServicePortInfo,
    slices: &[&EndpointSliceInfo],
) -> PortPlan<'s> {
    let spn = ServicePortName {
        namespace: svc.namespace.clone(),
        name: svc.name.clone(),
        port: port.name.clone(),
        protocol: port.protocol,
    };
    let externally_accessible = port.node_port.is_some()
        || !svc.external_ips.is_empty()
        || !svc.load_balancer_ips.is_empty();
    let external_local = externally_accessible && svc.external_policy_local;
    let internal_local = svc.internal_policy_local;
    // External traffic always needs the Cluster set: with policy Local it
    // still serves traffic from pods and from the node itself.
    let uses_cluster = !internal_local || externally_accessible;
    let uses_local = internal_local || external_local;
    let endpoints = categorize(
        &gather(slices, &port.name, port.protocol),
        uses_cluster,
        uses_local,
    );

    let has_any = endpoints.has_any;
    let no_local = endpoints.local.is_empty();
    // With no endpoints at all, reject at once; with endpoints only on other
    // nodes (policy Local), drop what the policy excludes.
    let (no_endpoint_verdict, no_endpoint_reason) = if has_any {
        (Verdict::Drop, "no local endpoints")
    } else {
        (Verdict::Goto(REJECT_CHAIN.into()), "no endpoints")
    };
    PortPlan {
        label: spn.to_string(),
        cluster_chain: names::service_chain(&spn),
        local_chain: names::local_chain(&spn),
        external_chain: names::external_chain(&spn),
        firewall_chain: names::firewall_chain(&spn),
        uses_cluster_chain: uses_cluster && !endpoints.cluster.is_empty(),
        uses_local_chain: uses_local && !no_local,
        uses_external_chain: has_any && externally_accessible,
        uses_firewall_chain: !svc.load_balancer_ips.is_empty()
            && !svc.load_balancer_source_ranges.is_empty(),
        has_internal: has_any && !(internal_local && no_local),
        has_external: has_any && !(external_local && no_local),
        no_endpoint_verdict,
        no_endpoint_reason,
        svc,
        port,
        spn,
        endpoints,
        external_local,
        internal_local,
        externally_accessible,
    }
}
