//! The walkthrough's manifests (manifests/), applied step by step with the
//! real kubectl: each is accepted and shows what the tutorial shows.

mod support;

use std::time::Duration;
use support::{eventually, manifest, manifests_dir, squeeze, Cluster, NODE_IP};

/// `kubectl get svc NAME` without headers, columns joined by one space.
fn svc_row(c: &Cluster, name: &str) -> Vec<String> {
    squeeze(&c.ok(&["get", "svc", name, "--no-headers"]))
        .split(' ')
        .map(String::from)
        .collect()
}

#[test]
fn walkthrough_manifests_apply_in_order() {
    let c = Cluster::start();
    assert_eq!(
        c.ok(&["apply", "-f", &manifest("01-web-deployment.yaml")])
            .trim(),
        "deployment.apps/web created"
    );
    assert_eq!(
        c.ok(&["apply", "-f", &manifest("02-web-svc-clusterip.yaml")])
            .trim(),
        "service/web created"
    );
    let row = svc_row(&c, "web");
    assert_eq!(
        (row[1].as_str(), row[3].as_str(), row[4].as_str()),
        ("ClusterIP", "<none>", "80/TCP")
    );
    let cluster_ip = row[2].clone();

    assert_eq!(
        c.ok(&["apply", "-f", &manifest("03-web-svc-nodeport.yaml")])
            .trim(),
        "service/web configured"
    );
    let row = svc_row(&c, "web");
    assert_eq!(
        (row[1].as_str(), row[2].as_str(), row[4].as_str()),
        ("NodePort", cluster_ip.as_str(), "80:30080/TCP")
    );

    c.ok(&["apply", "-f", &manifest("04-web-svc-loadbalancer.yaml")]);
    assert!(eventually(Duration::from_secs(10), || svc_row(&c, "web")
        [3]
        == NODE_IP));
    assert_eq!(svc_row(&c, "web")[1], "LoadBalancer");

    c.ok(&["apply", "-f", &manifest("05-externalname.yaml")]);
    assert_eq!(
        svc_row(&c, "external-service")[..5],
        [
            "external-service",
            "ExternalName",
            "<none>",
            "endpoint.database.site.com",
            "<none>"
        ]
    );
    c.ok(&["apply", "-f", &manifest("06-headless.yaml")]);
    assert_eq!(svc_row(&c, "web-headless")[2], "None");
    c.ok(&["apply", "-f", &manifest("07-multiport.yaml")]);
    assert_eq!(svc_row(&c, "multi-port-service")[4], "80/TCP,443/TCP");
    assert_eq!(
        c.ok(&["apply", "-f", &manifest("08-named-targetport.yaml")])
            .trim(),
        "pod/nginx created\nservice/first-service created"
    );
    assert!(c
        .ok(&["describe", "svc", "first-service"])
        .contains("TargetPort:               pod-port/TCP"));

    c.ok(&["apply", "-f", &manifest("09-selector-typo.yaml")]);
    assert_eq!(c.jsonpath(&["svc", "web"], "{.spec.selector.app}"), "webb");
    let eps = squeeze(&c.ok(&["get", "endpoints", "web", "--no-headers"]));
    assert_eq!(eps.split(' ').nth(1), Some("<none>"), "{eps}");

    c.ok(&[
        "apply",
        "-f",
        &manifest("10-nginx-deployment-and-service.yaml"),
    ]);
    assert_eq!(
        c.ok(&[
            "set",
            "image",
            "deployment",
            "nginx-deployment",
            "nginx=nginx:1.17"
        ])
        .trim(),
        "deployment.apps/nginx-deployment image updated"
    );

    c.ok(&["delete", "-f", &manifests_dir(), "--ignore-not-found"]);
    assert!(eventually(Duration::from_secs(10), || {
        c.jsonpath(&["svc"], "{.items[*].metadata.name}") == "kubernetes"
    }));
}
