//! Deployment and ReplicaSet validation after defaulting.

use super::apps::*;
use crate::defaults::apps::{default_deployment, default_replica_set};
use serde_json::{json, Value};

fn deployment(spec: Value) -> Value {
    let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                       "metadata": {"name": "web", "namespace": "default", "uid": "u", "resourceVersion": "1"},
                       "spec": spec});
    default_deployment(&mut d);
    d
}

fn template(labels: Value) -> Value {
    json!({"metadata": {"labels": labels}, "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}})
}

fn texts(e: Vec<crate::FieldError>) -> Vec<String> {
    e.iter().map(ToString::to_string).collect()
}

#[test]
fn deployment_rejections() {
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        (
            "valid",
            json!({"selector": {"matchLabels": {"app": "web"}}, "template": template(json!({"app": "web"}))}),
            vec![],
        ),
        (
            "selector required",
            json!({"template": template(json!({"app": "web"}))}),
            vec![
                "spec.selector: Required value",
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`",
            ],
        ),
        (
            "selector mismatch",
            json!({"selector": {"matchLabels": {"app": "web"}}, "template": template(json!({"app": "api", "tier": "x"}))}),
            vec!["spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"api\", \"tier\":\"x\"}: `selector` does not match template `labels`"],
        ),
        (
            "empty selector",
            json!({"selector": {}, "template": template(json!({"app": "web"}))}),
            vec!["spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment"],
        ),
        (
            "negative replicas",
            json!({"replicas": -1, "selector": {"matchLabels": {"app": "web"}}, "template": template(json!({"app": "web"}))}),
            vec!["spec.replicas: Invalid value: -1: must be greater than or equal to 0"],
        ),
        (
            "restart policy",
            json!({"selector": {"matchLabels": {"app": "web"}},
                   "template": {"metadata": {"labels": {"app": "web"}},
                                "spec": {"restartPolicy": "Never", "containers": [{"name": "nginx", "image": "nginx"}]}}}),
            vec!["spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\""],
        ),
        (
            "no containers",
            json!({"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}}}),
            vec!["spec.template.spec.containers: Required value"],
        ),
        (
            "bad maxSurge",
            json!({"selector": {"matchLabels": {"app": "web"}}, "template": template(json!({"app": "web"})),
                   "strategy": {"rollingUpdate": {"maxSurge": "x%"}}}),
            vec!["spec.strategy.rollingUpdate.maxSurge: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"x%\"}: a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"],
        ),
        (
            "both zero",
            json!({"selector": {"matchLabels": {"app": "web"}}, "template": template(json!({"app": "web"})),
                   "strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}}),
            vec!["spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}: may not be 0 when `maxSurge` is 0"],
        ),
        (
            "recreate with rollingUpdate",
            json!({"selector": {"matchLabels": {"app": "web"}}, "template": template(json!({"app": "web"})),
                   "strategy": {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}}),
            vec!["spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"],
        ),
        (
            "progress deadline",
            json!({"selector": {"matchLabels": {"app": "web"}}, "template": template(json!({"app": "web"})),
                   "minReadySeconds": 600}),
            vec!["spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds"],
        ),
    ];
    for (what, spec, want) in cases {
        assert_eq!(
            texts(validate_deployment_create(&deployment(spec))),
            want,
            "{what}"
        );
    }
}

#[test]
fn deployment_selector_is_immutable() {
    let old = deployment(
        json!({"selector": {"matchLabels": {"app": "web"}}, "template": template(json!({"app": "web"}))}),
    );
    let new = deployment(
        json!({"selector": {"matchLabels": {"app": "web2"}}, "template": template(json!({"app": "web2"}))}),
    );
    assert_eq!(
        texts(validate_deployment_update(&new, &old)),
        vec!["spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"web2\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"]
    );
    let mut scaled = old.clone();
    scaled["spec"]["replicas"] = json!(3);
    assert!(validate_deployment_update(&scaled, &old).is_empty());
}

#[test]
fn replica_sets() {
    let mut rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                        "metadata": {"name": "web-1", "namespace": "default", "resourceVersion": "1"},
                        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template(json!({"app": "web"}))}});
    default_replica_set(&mut rs);
    assert!(validate_replica_set_create(&rs).is_empty());
    let mut bad = rs.clone();
    bad["spec"]["template"]["spec"]["activeDeadlineSeconds"] = json!(5);
    assert_eq!(
        texts(validate_replica_set_create(&bad)),
        vec!["spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in ReplicaSet is not Supported"]
    );
    let mut moved = rs.clone();
    moved["spec"]["selector"] = json!({"matchLabels": {"app": "x"}});
    moved["spec"]["template"]["metadata"]["labels"] = json!({"app": "x"});
    assert_eq!(
        texts(validate_replica_set_update(&moved, &rs)),
        vec!["spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"x\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"]
    );
}
