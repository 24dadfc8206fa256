//! apps/v1 defaulting (`SetDefaults_Deployment`, `SetDefaults_ReplicaSet`)
//! plus the pod-spec defaults of their templates.

use super::pod::default_pod_spec;
use crate::validation::json::{child_mut, default_str, default_value, str_at};
use serde_json::{json, Value};

fn default_template(spec: &mut Value) {
    if let Some(pod_spec) = child_mut(spec, "template").and_then(|t| child_mut(t, "spec")) {
        default_pod_spec(pod_spec);
    }
}

/// replicas 1, RollingUpdate 25%/25%, revisionHistoryLimit 10,
/// progressDeadlineSeconds 600, template pod-spec defaults.
pub fn default_deployment(obj: &mut Value) {
    let Some(spec) = child_mut(obj, "spec") else {
        return;
    };
    default_value(spec, "replicas", json!(1));
    if let Some(strategy) = child_mut(spec, "strategy") {
        default_str(strategy, "type", "RollingUpdate");
        if str_at(strategy, "type") == "RollingUpdate" {
            if let Some(ru) = child_mut(strategy, "rollingUpdate") {
                default_value(ru, "maxUnavailable", json!("25%"));
                default_value(ru, "maxSurge", json!("25%"));
            }
        }
    }
    default_value(spec, "revisionHistoryLimit", json!(10));
    default_value(spec, "progressDeadlineSeconds", json!(600));
    default_template(spec);
}

/// replicas 1 and template pod-spec defaults.
pub fn default_replica_set(obj: &mut Value) {
    let Some(spec) = child_mut(obj, "spec") else {
        return;
    };
    default_value(spec, "replicas", json!(1));
    default_template(spec);
}

/// A new Deployment starts with an empty status.
pub fn prepare_deployment_create(obj: &mut Value) {
    crate::validation::json::set(obj, "status", json!({}));
}

/// A new ReplicaSet starts with `status.replicas: 0`.
pub fn prepare_replica_set_create(obj: &mut Value) {
    crate::validation::json::set(obj, "status", json!({"replicas": 0}));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_golden() {
        let mut d = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}
                }
            }
        });
        default_deployment(&mut d);
        prepare_deployment_create(&mut d);
        assert_eq!(
            d,
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {
                            "containers": [{
                                "name": "nginx", "image": "nginx",
                                "imagePullPolicy": "Always",
                                "terminationMessagePath": "/dev/termination-log",
                                "terminationMessagePolicy": "File"
                            }],
                            "restartPolicy": "Always",
                            "terminationGracePeriodSeconds": 30,
                            "dnsPolicy": "ClusterFirst",
                            "securityContext": {},
                            "schedulerName": "default-scheduler"
                        }
                    },
                    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                    "revisionHistoryLimit": 10,
                    "progressDeadlineSeconds": 600
                },
                "status": {}
            })
        );
    }

    #[test]
    fn recreate_strategy_gets_no_rolling_update() {
        let mut d = json!({"spec": {"strategy": {"type": "Recreate"}}});
        default_deployment(&mut d);
        assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn replica_set_defaults() {
        let mut rs = json!({"spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "a", "image": "busybox:1.36"}]}}}});
        default_replica_set(&mut rs);
        prepare_replica_set_create(&mut rs);
        assert_eq!(rs["spec"]["replicas"], json!(3));
        assert_eq!(
            rs["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
            json!("IfNotPresent")
        );
        assert_eq!(rs["status"], json!({"replicas": 0}));
    }
}
