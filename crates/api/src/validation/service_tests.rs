//! Service defaulting and validation, end to end: default → prepare →
//! validate, with kube-apiserver's exact messages.

use super::service::*;
use crate::defaults::service::*;
use serde_json::{json, Value};

fn cfg() -> ServiceConfig {
    ServiceConfig::default()
}

/// Runs a create the way the API server does and returns the object and
/// the error texts.
fn create(input: Value) -> (Value, Vec<String>) {
    let mut obj = input;
    default_service(&mut obj);
    let errs = prepare_service_create(&mut obj, &cfg());
    let errs = if errs.is_empty() {
        validate_service(&obj, None, &cfg())
    } else {
        errs
    };
    (obj, errs.iter().map(ToString::to_string).collect())
}

fn update(new: Value, old: &Value) -> (Value, Vec<String>) {
    let mut obj = new;
    default_service(&mut obj);
    let errs = prepare_service_update(&mut obj, old, &cfg());
    let errs = if errs.is_empty() {
        validate_service(&obj, Some(old), &cfg())
    } else {
        errs
    };
    (obj, errs.iter().map(ToString::to_string).collect())
}

fn svc(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "web", "namespace": "default"}, "spec": spec})
}

const DNS1035: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

#[test]
fn create_rejections() {
    let p80 = json!({"port": 80});
    let cases: Vec<(&str, Value, Vec<String>)> = vec![
        (
            "service names are DNS-1035 labels",
            json!({"metadata": {"name": "1web", "namespace": "default"}, "spec": {"ports": [p80]}}),
            vec![format!("metadata.name: Invalid value: \"1web\": {DNS1035}")],
        ),
        (
            "port range",
            svc(json!({"ports": [{"port": 0}]})),
            vec![
                "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive".into(),
                "spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive".into(),
            ],
        ),
        (
            "port too large",
            svc(json!({"ports": [{"port": 70000, "targetPort": 80}]})),
            vec!["spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive".into()],
        ),
        (
            "duplicate ports",
            svc(json!({"ports": [{"name": "a", "port": 80}, {"name": "b", "port": 80, "targetPort": 8080}]})),
            vec!["spec.ports[1]: Duplicate value: core.ServicePort{Name:\"\", Protocol:\"TCP\", AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}, NodePort:0}".into()],
        ),
        (
            "several ports need names",
            svc(json!({"ports": [{"port": 80}, {"port": 443}]})),
            vec![
                "spec.ports[0].name: Required value".into(),
                "spec.ports[1].name: Required value".into(),
            ],
        ),
        (
            "duplicate port names",
            svc(json!({"ports": [{"name": "http", "port": 80}, {"name": "http", "port": 8080}]})),
            vec!["spec.ports[1].name: Duplicate value: \"http\"".into()],
        ),
        (
            "bad protocol",
            svc(json!({"ports": [{"port": 80, "protocol": "HTTP"}]})),
            vec!["spec.ports[0].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"".into()],
        ),
        (
            "targetPort number",
            svc(json!({"ports": [{"port": 80, "targetPort": 65536}]})),
            vec!["spec.ports[0].targetPort: Invalid value: 65536: must be between 1 and 65535, inclusive".into()],
        ),
        (
            "targetPort name without letters",
            svc(json!({"ports": [{"port": 80, "targetPort": "8080"}]})),
            vec!["spec.ports[0].targetPort: Invalid value: \"8080\": must contain at least one letter (a-z)".into()],
        ),
        (
            "targetPort name with bad characters",
            svc(json!({"ports": [{"port": 80, "targetPort": "Web_Port"}]})),
            vec!["spec.ports[0].targetPort: Invalid value: \"Web_Port\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".into()],
        ),
        (
            "no ports",
            svc(json!({"selector": {"app": "web"}})),
            vec!["spec.ports: Required value".into()],
        ),
        (
            "clusterIP outside the service CIDR",
            svc(json!({"clusterIP": "10.0.0.1", "ports": [p80]})),
            vec!["spec.clusterIPs: Invalid value: []string{\"10.0.0.1\"}: failed to allocate IP 10.0.0.1: the provided IP (10.0.0.1) is not in the valid range. The range of valid IPs is 10.96.0.0/12".into()],
        ),
        (
            "the CIDR's broadcast address",
            svc(json!({"clusterIP": "10.111.255.255", "ports": [p80]})),
            vec!["spec.clusterIPs: Invalid value: []string{\"10.111.255.255\"}: failed to allocate IP 10.111.255.255: the provided IP (10.111.255.255) is not in the valid range. The range of valid IPs is 10.96.0.0/12".into()],
        ),
        (
            "invalid clusterIP",
            svc(json!({"clusterIP": "10.96.0.300", "ports": [p80]})),
            vec!["spec.clusterIPs[0]: Invalid value: \"10.96.0.300\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)".into()],
        ),
        (
            "headless NodePort",
            svc(json!({"type": "NodePort", "clusterIP": "None", "selector": {"a": "b"}, "ports": [p80]})),
            vec!["spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services".into()],
        ),
        (
            "headless LoadBalancer",
            svc(json!({"type": "LoadBalancer", "clusterIP": "None", "selector": {"a": "b"}, "ports": [p80]})),
            vec!["spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for LoadBalancer services".into()],
        ),
        (
            "ExternalName without a name",
            svc(json!({"type": "ExternalName"})),
            vec!["spec.externalName: Required value".into()],
        ),
        (
            "ExternalName with a bad name",
            svc(json!({"type": "ExternalName", "externalName": "my_db.example.com."})),
            vec![format!("spec.externalName: Invalid value: \"my_db.example.com\": {SUBDOMAIN}")],
        ),
        (
            "ExternalName with a clusterIP",
            svc(json!({"type": "ExternalName", "externalName": "db.example.com", "clusterIP": "10.96.0.5"})),
            vec!["spec.clusterIPs: Forbidden: may not be set for ExternalName services".into()],
        ),
        (
            "nodePort out of range",
            svc(json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 8080}]})),
            vec!["spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid range. The range of valid ports is 30000-32767".into()],
        ),
        (
            "nodePort on ClusterIP",
            svc(json!({"ports": [{"port": 80, "nodePort": 30080}]})),
            vec!["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'".into()],
        ),
        (
            "duplicate nodePorts",
            svc(json!({"type": "NodePort", "ports": [{"name": "a", "port": 80, "nodePort": 30080}, {"name": "b", "port": 81, "nodePort": 30080}]})),
            vec!["spec.ports[1].nodePort: Duplicate value: 30080".into()],
        ),
        (
            "externalTrafficPolicy on ClusterIP",
            svc(json!({"externalTrafficPolicy": "Local", "ports": [p80]})),
            vec!["spec.externalTrafficPolicy: Invalid value: \"Local\": may only be set for externally-accessible services".into()],
        ),
        (
            "bad externalTrafficPolicy",
            svc(json!({"type": "NodePort", "externalTrafficPolicy": "Nearby", "ports": [p80]})),
            vec!["spec.externalTrafficPolicy: Unsupported value: \"Nearby\": supported values: \"Cluster\", \"Local\"".into()],
        ),
        (
            "bad sessionAffinity",
            svc(json!({"sessionAffinity": "Sticky", "ports": [p80]})),
            vec!["spec.sessionAffinity: Unsupported value: \"Sticky\": supported values: \"ClientIP\", \"None\"".into()],
        ),
        (
            "affinity timeout zero",
            svc(json!({"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 0}}, "ports": [p80]})),
            vec!["spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 0: must be greater than 0 and less than 86400".into()],
        ),
        (
            "affinity timeout too long",
            svc(json!({"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 86401}}, "ports": [p80]})),
            vec!["spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 86401: must be greater than 0 and less than 86400".into()],
        ),
        (
            "single-stack IPv6 on an IPv4 cluster",
            svc(json!({"ipFamilies": ["IPv6"], "ports": [p80]})),
            vec!["spec.ipFamilies[0]: Invalid value: \"IPv6\": not configured on this cluster".into()],
        ),
        (
            "an IPv6 clusterIP on an IPv4 cluster",
            svc(json!({"clusterIP": "fd00::10", "ports": [p80]})),
            vec!["spec.clusterIPs[0]: Invalid value: []string{\"fd00::10\"}: IPv6 is not configured on this cluster".into()],
        ),
        (
            "dual-stack required on an IPv4 cluster",
            svc(json!({"ipFamilyPolicy": "RequireDualStack", "ports": [p80]})),
            vec!["spec.ipFamilyPolicy: Invalid value: \"RequireDualStack\": this cluster is not configured for dual-stack services".into()],
        ),
        (
            "family does not match the IP",
            svc(json!({"clusterIP": "10.96.0.20", "ipFamilies": ["IPv6"], "ports": [p80]})),
            vec!["spec.clusterIPs[0]: Invalid value: \"10.96.0.20\": expected an IPv6 value as indicated by `ipFamilies[0]`".into()],
        ),
        (
            "bad selector label",
            svc(json!({"selector": {"app": "we b"}, "ports": [p80]})),
            vec!["spec.selector: Invalid value: \"we b\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')".into()],
        ),
        (
            "unknown type",
            svc(json!({"type": "Magic", "ports": [p80]})),
            vec!["spec.type: Unsupported value: \"Magic\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"".into()],
        ),
        (
            "loopback externalIP",
            svc(json!({"externalIPs": ["127.0.0.1"], "ports": [p80]})),
            vec!["spec.externalIPs[0]: Invalid value: \"127.0.0.1\": may not be in the loopback range (127.0.0.0/8, ::1/128)".into()],
        ),
        (
            "kubelet port on a LoadBalancer",
            svc(json!({"type": "LoadBalancer", "ports": [{"port": 10250}]})),
            vec!["spec.ports[0]: Invalid value: 10250: may not expose port 10250 externally since it is used by kubelet".into()],
        ),
    ];
    for (what, input, want) in cases {
        let (_, got) = create(input);
        assert_eq!(got, want, "{what}");
    }
}

#[test]
fn create_defaults_cluster_ip_service() {
    let (obj, errs) = create(svc(
        json!({"selector": {"app": "web"}, "ports": [{"port": 80}]}),
    ));
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(
        obj,
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "web", "namespace": "default"},
               "spec": {"selector": {"app": "web"},
                        "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
                        "type": "ClusterIP", "sessionAffinity": "None",
                        "internalTrafficPolicy": "Cluster",
                        "ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"]},
               "status": {"loadBalancer": {}}})
    );
}

#[test]
fn create_defaults_by_type() {
    let (obj, errs) = create(svc(json!({"type": "NodePort", "clusterIP": "10.96.0.50",
        "ports": [{"name": "http", "port": 80, "targetPort": "http", "nodePort": 30080}]})));
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(
        obj["spec"],
        json!({"type": "NodePort", "clusterIP": "10.96.0.50", "clusterIPs": ["10.96.0.50"],
               "ports": [{"name": "http", "port": 80, "targetPort": "http", "nodePort": 30080, "protocol": "TCP"}],
               "sessionAffinity": "None", "externalTrafficPolicy": "Cluster",
               "internalTrafficPolicy": "Cluster",
               "ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"]})
    );

    let (obj, errs) = create(svc(
        json!({"type": "LoadBalancer", "ports": [{"port": 80}]}),
    ));
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(obj["spec"]["allocateLoadBalancerNodePorts"], json!(true));
    assert_eq!(obj["spec"]["externalTrafficPolicy"], json!("Cluster"));

    let (obj, errs) = create(svc(
        json!({"sessionAffinity": "ClientIP", "ports": [{"port": 80}]}),
    ));
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(
        obj["spec"]["sessionAffinityConfig"],
        json!({"clientIP": {"timeoutSeconds": 10800}})
    );

    let (obj, errs) = create(svc(
        json!({"type": "ExternalName", "externalName": "endpoint.database.site.com"}),
    ));
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(
        obj["spec"],
        json!({"type": "ExternalName", "sessionAffinity": "None", "externalName": "endpoint.database.site.com"})
    );
}

#[test]
fn create_defaults_headless_services() {
    let (obj, errs) = create(svc(
        json!({"clusterIP": "None", "selector": {"app": "web"}, "ports": [{"port": 80}]}),
    ));
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(obj["spec"]["clusterIPs"], json!(["None"]));
    assert_eq!(obj["spec"]["ipFamilyPolicy"], json!("SingleStack"));
    assert_eq!(obj["spec"]["ipFamilies"], json!(["IPv4"]));

    // Headless without selector defaults to dual-stack, even on one family.
    let (obj, errs) = create(svc(json!({"clusterIP": "None", "ports": [{"port": 80}]})));
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(obj["spec"]["ipFamilyPolicy"], json!("RequireDualStack"));
    assert_eq!(obj["spec"]["ipFamilies"], json!(["IPv4", "IPv6"]));

    // PreferDualStack on a single-stack cluster gets one family.
    let (obj, errs) = create(svc(
        json!({"ipFamilyPolicy": "PreferDualStack", "ports": [{"port": 80}]}),
    ));
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(obj["spec"]["ipFamilies"], json!(["IPv4"]));
}

fn stored(spec: Value) -> Value {
    let mut o = svc(spec);
    o["metadata"]["resourceVersion"] = json!("7");
    o["metadata"]["uid"] = json!("u-1");
    default_service(&mut o);
    let errs = prepare_service_create(&mut o, &cfg());
    assert!(errs.is_empty(), "{errs:?}");
    o["status"] = json!({"loadBalancer": {}});
    o
}

/// What the API server fills in before validating an update.
fn with_rv(mut v: Value) -> Value {
    v["metadata"]["resourceVersion"] = json!("7");
    v["metadata"]["uid"] = json!("u-1");
    v
}

#[test]
fn update_keeps_allocated_values_and_rejects_changes() {
    let old = stored(
        json!({"clusterIP": "10.96.0.20", "selector": {"app": "web"}, "ports": [{"port": 80}]}),
    );

    // Re-applying a manifest without clusterIP keeps the allocated one.
    let (obj, errs) = update(
        with_rv(svc(
            json!({"selector": {"app": "web"}, "ports": [{"port": 80}]}),
        )),
        &old,
    );
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(obj["spec"]["clusterIP"], json!("10.96.0.20"));
    assert_eq!(obj["spec"]["clusterIPs"], json!(["10.96.0.20"]));

    let (_, errs) = update(
        with_rv(svc(
            json!({"clusterIP": "10.96.0.21", "selector": {"app": "web"}, "ports": [{"port": 80}]}),
        )),
        &old,
    );
    assert_eq!(
        errs,
        vec![
            "spec.clusterIPs[0]: Invalid value: []string{\"10.96.0.21\"}: may not change once set"
        ]
    );
}

#[test]
fn update_status_is_kept() {
    let mut old = stored(
        json!({"type": "LoadBalancer", "clusterIP": "10.96.0.20", "ports": [{"port": 80, "nodePort": 30080}]}),
    );
    old["status"] =
        json!({"loadBalancer": {"ingress": [{"ip": "192.168.56.10", "ipMode": "VIP"}]}});
    let mut new = old.clone();
    new["status"] = json!({"loadBalancer": {}});
    let (obj, errs) = update(new, &old);
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(obj["status"], old["status"]);
}

#[test]
fn type_change_to_external_name_drops_cluster_ips() {
    let old = stored(
        json!({"clusterIP": "10.96.0.20", "selector": {"app": "web"}, "ports": [{"port": 80}]}),
    );
    let mut new = old.clone();
    new["spec"]["type"] = json!("ExternalName");
    new["spec"]["externalName"] = json!("db.example.com");
    let (obj, errs) = update(new, &old);
    assert!(errs.is_empty(), "{errs:?}");
    let spec = &obj["spec"];
    for gone in [
        "clusterIP",
        "clusterIPs",
        "ipFamilies",
        "ipFamilyPolicy",
        "internalTrafficPolicy",
    ] {
        assert!(spec.get(gone).is_none(), "{gone} kept: {spec}");
    }
}

#[test]
fn type_change_to_external_name_with_new_ip_fails() {
    let old = stored(
        json!({"clusterIP": "10.96.0.20", "selector": {"app": "web"}, "ports": [{"port": 80}]}),
    );
    let mut new = old.clone();
    new["spec"]["type"] = json!("ExternalName");
    new["spec"]["externalName"] = json!("db.example.com");
    new["spec"]["clusterIP"] = json!("10.96.0.21");
    new["spec"]["clusterIPs"] = json!(["10.96.0.21"]);
    let (_, errs) = update(new, &old);
    assert_eq!(
        errs,
        vec!["spec.clusterIPs: Forbidden: may not be set for ExternalName services"]
    );
}

#[test]
fn type_change_from_node_port_to_cluster_ip_drops_node_ports() {
    let old = stored(
        json!({"type": "NodePort", "clusterIP": "10.96.0.20", "selector": {"app": "web"},
                            "ports": [{"port": 80, "nodePort": 30080}]}),
    );
    let mut new = old.clone();
    new["spec"]["type"] = json!("ClusterIP");
    let (obj, errs) = update(new, &old);
    assert!(errs.is_empty(), "{errs:?}");
    assert!(obj["spec"]["ports"][0].get("nodePort").is_none());
    assert!(obj["spec"].get("externalTrafficPolicy").is_none());

    // Changing the nodePort while switching keeps it, and validation objects.
    let mut new = old.clone();
    new["spec"]["type"] = json!("ClusterIP");
    new["spec"]["ports"][0]["nodePort"] = json!(30081);
    let (_, errs) = update(new, &old);
    assert_eq!(
        errs,
        vec!["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]
    );
}

#[test]
fn type_change_from_load_balancer_drops_lb_fields() {
    let old = stored(
        json!({"type": "LoadBalancer", "clusterIP": "10.96.0.20", "selector": {"app": "web"},
                            "ports": [{"port": 80, "nodePort": 30080}]}),
    );
    let mut new = old.clone();
    new["spec"]["type"] = json!("NodePort");
    let (obj, errs) = update(new, &old);
    assert!(errs.is_empty(), "{errs:?}");
    assert!(obj["spec"].get("allocateLoadBalancerNodePorts").is_none());
    assert_eq!(obj["spec"]["ports"][0]["nodePort"], json!(30080));
    assert_eq!(obj["status"], json!({"loadBalancer": {}}));
}

#[test]
fn type_change_from_external_name_checks_the_new_ip() {
    let old = stored(json!({"type": "ExternalName", "externalName": "db.example.com"}));
    let mut new = old.clone();
    new["spec"] = json!({"type": "ClusterIP", "clusterIP": "10.0.0.9", "ports": [{"port": 80}]});
    let (_, errs) = update(new, &old);
    assert_eq!(
        errs,
        vec!["spec.clusterIPs: Invalid value: []string{\"10.0.0.9\"}: failed to allocate IP 10.0.0.9: the provided IP (10.0.0.9) is not in the valid range. The range of valid IPs is 10.96.0.0/12"]
    );
}

#[test]
fn node_ports_are_kept_on_reapply() {
    let old = stored(json!({"type": "NodePort", "clusterIP": "10.96.0.20",
                            "ports": [{"name": "http", "port": 80, "nodePort": 31000}]}));
    let new = with_rv(svc(
        json!({"type": "NodePort", "ports": [{"name": "http", "port": 80}]}),
    ));
    let (obj, errs) = update(new, &old);
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(obj["spec"]["ports"][0]["nodePort"], json!(31000));
    assert_eq!(obj["spec"]["clusterIP"], json!("10.96.0.20"));
}

#[test]
fn allocator_errors_render_exactly() {
    let ips = ["10.96.0.10"];
    assert_eq!(
        cluster_ip_already_allocated(&ips, "10.96.0.10").to_string(),
        "spec.clusterIPs: Invalid value: []string{\"10.96.0.10\"}: failed to allocate IP 10.96.0.10: provided IP is already allocated"
    );
    assert_eq!(
        node_port_already_allocated(1, 30080).to_string(),
        "spec.ports[1].nodePort: Invalid value: 30080: provided port is already allocated"
    );
    assert_eq!(
        node_port_not_in_range(0, 29999, &(30000..=32767)).to_string(),
        "spec.ports[0].nodePort: Invalid value: 29999: provided port is not in the valid range. The range of valid ports is 30000-32767"
    );
    let e = crate::ApiError::invalid(
        "Service",
        "",
        "x",
        &[cluster_ip_not_in_range(
            &["10.0.0.1"],
            "10.0.0.1",
            &cfg().service_cidr,
        )],
    );
    assert_eq!(
        e.message,
        "Service \"x\" is invalid: spec.clusterIPs: Invalid value: []string{\"10.0.0.1\"}: failed to allocate IP 10.0.0.1: the provided IP (10.0.0.1) is not in the valid range. The range of valid IPs is 10.96.0.0/12"
    );
    assert_eq!(cfg().node_port_range_string(), "30000-32767");
    assert!(!cfg().ip_in_range(
        "10.96.0.0"
            .parse()
            .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED)
    ));
    assert!(cfg().ip_in_range(std::net::Ipv4Addr::new(10, 96, 0, 1)));
}

#[test]
fn status_updates() {
    let old = stored(
        json!({"type": "LoadBalancer", "clusterIP": "10.96.0.20", "ports": [{"port": 80, "nodePort": 30080}]}),
    );
    let mut new = old.clone();
    new["status"] = json!({"loadBalancer": {"ingress": [{"ip": "192.168.56.10"}]}});
    assert_eq!(
        validate_service_status_update(&new, &old)
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        vec!["status.loadBalancer.ingress[0].ipMode: Required value: must be specified when `ip` is set"]
    );
    default_service(&mut new);
    assert_eq!(
        new["status"]["loadBalancer"]["ingress"][0]["ipMode"],
        json!("VIP")
    );
    assert!(validate_service_status_update(&new, &old).is_empty());
}
