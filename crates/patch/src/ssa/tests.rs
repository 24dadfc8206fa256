use serde_json::{json, Value};

use super::{apply, record_update, FieldManager};
use crate::error::{ApplyError, Conflict};
use crate::schema::BuiltinSchema;

const T0: &str = "2026-11-23T07:58:18Z";
const T1: &str = "2026-11-23T08:00:00Z";
const T2: &str = "2026-11-23T08:05:00Z";

fn schema(api_version: &str, kind: &str) -> BuiltinSchema {
    match BuiltinSchema::for_kind(api_version, kind) {
        Some(s) => s,
        None => panic!("no schema for {api_version} {kind}"),
    }
}

fn manager<'a>(name: &'a str, api_version: &'a str, time: &'a str) -> FieldManager<'a> {
    FieldManager {
        manager: name,
        api_version,
        subresource: None,
        time,
    }
}

/// Compares JSON including key order, which the fieldsV1 encoding fixes.
fn assert_json(got: &Value, want: &Value) {
    assert_eq!(
        serde_json::to_string_pretty(got).unwrap_or_default(),
        serde_json::to_string_pretty(want).unwrap_or_default()
    );
}

fn managed_fields(obj: &Value) -> Value {
    obj.pointer("/metadata/managedFields")
        .cloned()
        .unwrap_or(Value::Null)
}

fn create(obj: &Value, fm: &FieldManager, schema: &BuiltinSchema) -> Value {
    let mut new = obj.clone();
    record_update(None, &mut new, fm, schema);
    if let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) {
        // What the registry adds after the field manager ran.
        meta.insert("uid".into(), json!("00000000-0000-0000-0000-000000000001"));
        meta.insert("resourceVersion".into(), json!("1"));
        meta.insert("creationTimestamp".into(), json!(T0));
    }
    new
}

fn update(old: &Value, new: &Value, fm: &FieldManager, schema: &BuiltinSchema) -> Value {
    let mut new = new.clone();
    record_update(Some(old), &mut new, fm, schema);
    new
}

#[test]
fn kube_apiserver_creates_kubernetes_service() {
    // The request object of /api/v1/namespaces/default/services/kubernetes as
    // created (before the ClusterIP allocator fills clusterIPs/ipFamilies).
    let svc = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {
            "ports": [{"name": "https", "protocol": "TCP", "port": 443, "targetPort": 6443}],
            "clusterIP": "10.96.0.1",
            "type": "ClusterIP",
            "sessionAffinity": "None",
            "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster"
        },
        "status": {"loadBalancer": {}}
    });
    let got = create(
        &svc,
        &manager("kube-apiserver", "v1", T0),
        &schema("v1", "Service"),
    );
    // metadata.managedFields of reference/api/get-service-kubernetes.json.
    let want = json!([{
        "manager": "kube-apiserver",
        "operation": "Update",
        "apiVersion": "v1",
        "time": "2026-11-23T07:58:18Z",
        "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:metadata": {"f:labels": {".": {}, "f:component": {}, "f:provider": {}}},
            "f:spec": {
                "f:clusterIP": {},
                "f:internalTrafficPolicy": {},
                "f:ipFamilyPolicy": {},
                "f:ports": {
                    ".": {},
                    "k:{\"port\":443,\"protocol\":\"TCP\"}": {
                        ".": {}, "f:name": {}, "f:port": {}, "f:protocol": {}, "f:targetPort": {}
                    }
                },
                "f:sessionAffinity": {},
                "f:type": {}
            }
        }
    }]);
    assert_json(&managed_fields(&got), &want);
}

#[test]
fn client_side_apply_creates_services() {
    let annotation = "{\"apiVersion\":\"v1\",\"kind\":\"Service\"}\n";
    let cases = [
        // first-service: named port, selector.
        (
            json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "first-service", "namespace": "default",
                             "annotations": {"kubectl.kubernetes.io/last-applied-configuration": annotation}},
                "spec": {
                    "ports": [{"name": "name-of-service-port", "protocol": "TCP", "port": 80, "targetPort": 9376}],
                    "selector": {"app": "nginx"},
                    "type": "ClusterIP", "sessionAffinity": "None", "internalTrafficPolicy": "Cluster"
                }
            }),
            json!({
                "f:metadata": {"f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}}},
                "f:spec": {
                    "f:internalTrafficPolicy": {},
                    "f:ports": {".": {}, "k:{\"port\":80,\"protocol\":\"TCP\"}": {
                        ".": {}, "f:name": {}, "f:port": {}, "f:protocol": {}, "f:targetPort": {}
                    }},
                    "f:selector": {},
                    "f:sessionAffinity": {},
                    "f:type": {}
                }
            }),
        ),
        // my-service: two ports, sorted numerically in the encoding.
        (
            json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "my-service", "namespace": "default",
                             "annotations": {"kubectl.kubernetes.io/last-applied-configuration": annotation}},
                "spec": {
                    "ports": [
                        {"name": "https", "protocol": "TCP", "port": 443, "targetPort": 9377},
                        {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 9376}
                    ],
                    "selector": {"app": "MyApp"},
                    "type": "ClusterIP", "sessionAffinity": "None", "internalTrafficPolicy": "Cluster"
                }
            }),
            json!({
                "f:metadata": {"f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}}},
                "f:spec": {
                    "f:internalTrafficPolicy": {},
                    "f:ports": {
                        ".": {},
                        "k:{\"port\":80,\"protocol\":\"TCP\"}": {
                            ".": {}, "f:name": {}, "f:port": {}, "f:protocol": {}, "f:targetPort": {}
                        },
                        "k:{\"port\":443,\"protocol\":\"TCP\"}": {
                            ".": {}, "f:name": {}, "f:port": {}, "f:protocol": {}, "f:targetPort": {}
                        }
                    },
                    "f:selector": {},
                    "f:sessionAffinity": {},
                    "f:type": {}
                }
            }),
        ),
        // db: ExternalName.
        (
            json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "db", "namespace": "default",
                             "annotations": {"kubectl.kubernetes.io/last-applied-configuration": annotation}},
                "spec": {"type": "ExternalName", "externalName": "db.example.com", "sessionAffinity": "None"}
            }),
            json!({
                "f:metadata": {"f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}}},
                "f:spec": {"f:externalName": {}, "f:sessionAffinity": {}, "f:type": {}}
            }),
        ),
    ];
    for (svc, want) in cases {
        let got = create(
            &svc,
            &manager("kubectl-client-side-apply", "v1", T0),
            &schema("v1", "Service"),
        );
        let entry = managed_fields(&got);
        assert_eq!(entry[0]["manager"], "kubectl-client-side-apply");
        assert_json(&entry[0]["fieldsV1"], &want);
    }
}

#[test]
fn kubectl_run_service_without_port_name() {
    let svc = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "nginx2", "namespace": "default"},
        "spec": {"ports": [{"protocol": "TCP", "port": 80, "targetPort": 80}], "selector": {"run": "nginx2"},
                 "type": "ClusterIP", "sessionAffinity": "None", "internalTrafficPolicy": "Cluster"}
    });
    let got = create(
        &svc,
        &manager("kubectl-run", "v1", T0),
        &schema("v1", "Service"),
    );
    assert_json(
        &managed_fields(&got)[0]["fieldsV1"],
        &json!({"f:spec": {
            "f:internalTrafficPolicy": {},
            "f:ports": {".": {}, "k:{\"port\":80,\"protocol\":\"TCP\"}": {
                ".": {}, "f:port": {}, "f:protocol": {}, "f:targetPort": {}
            }},
            "f:selector": {},
            "f:sessionAffinity": {},
            "f:type": {}
        }}),
    );
}

#[test]
fn endpointslice_and_endpoints_of_the_controller() {
    let slice = json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {
            "generateName": "first-service-", "namespace": "default",
            "labels": {"endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                       "kubernetes.io/service-name": "first-service"},
            "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": T0},
            "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": "first-service",
                                 "uid": "d2fd8045-36dc-4962-b719-b503b8be4c6f", "controller": true,
                                 "blockOwnerDeletion": true}]
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.244.0.20"], "conditions": {"ready": true, "serving": true, "terminating": false},
                       "nodeName": "node1"}],
        "ports": [{"name": "name-of-service-port", "protocol": "TCP", "port": 80}]
    });
    let got = create(
        &slice,
        &manager("kube-controller-manager", "discovery.k8s.io/v1", T0),
        &schema("discovery.k8s.io/v1", "EndpointSlice"),
    );
    assert_json(
        &managed_fields(&got)[0]["fieldsV1"],
        &json!({
            "f:addressType": {},
            "f:endpoints": {},
            "f:metadata": {
                "f:annotations": {".": {}, "f:endpoints.kubernetes.io/last-change-trigger-time": {}},
                "f:generateName": {},
                "f:labels": {".": {}, "f:endpointslice.kubernetes.io/managed-by": {}, "f:kubernetes.io/service-name": {}},
                "f:ownerReferences": {".": {}, "k:{\"uid\":\"d2fd8045-36dc-4962-b719-b503b8be4c6f\"}": {}}
            },
            "f:ports": {}
        }),
    );
    // A slice without endpoints: Go's nil list and an empty one are the same.
    let mut empty = slice.clone();
    empty["endpoints"] = json!([]);
    if let Some(m) = empty.as_object_mut() {
        m.shift_remove("ports");
    }
    let got = create(
        &empty,
        &manager("kube-controller-manager", "discovery.k8s.io/v1", T0),
        &schema("discovery.k8s.io/v1", "EndpointSlice"),
    );
    let fields = &managed_fields(&got)[0]["fieldsV1"];
    assert!(fields.get("f:endpoints").is_none(), "{fields}");
    assert!(fields.get("f:ports").is_none(), "{fields}");

    let endpoints = json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "web2", "namespace": "default", "labels": {"app": "web2"},
                     "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": T0}},
        "subsets": [{"addresses": [{"ip": "10.244.0.7"}], "ports": [{"port": 3000, "protocol": "TCP"}]}]
    });
    let got = create(
        &endpoints,
        &manager("kube-controller-manager", "v1", T0),
        &schema("v1", "Endpoints"),
    );
    assert_json(
        &managed_fields(&got)[0]["fieldsV1"],
        &json!({
            "f:metadata": {
                "f:annotations": {".": {}, "f:endpoints.kubernetes.io/last-change-trigger-time": {}},
                "f:labels": {".": {}, "f:app": {}}
            },
            "f:subsets": {}
        }),
    );
}

#[test]
fn node_managed_by_three_writers() {
    let node_schema = schema("v1", "Node");
    let t = "2026-11-23T07:58:40Z";
    let node = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "node1", "labels": {
            "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": "node1",
            "kubernetes.io/os": "linux", "node-role.kubernetes.io/control-plane": ""
        }},
        "spec": {}
    });
    let created = create(&node, &manager("kubectl-create", "v1", t), &node_schema);
    let mut annotated = created.clone();
    annotated["metadata"]["annotations"] = json!({"node.alpha.kubernetes.io/ttl": "0"});
    let annotated = update(
        &created,
        &annotated,
        &manager("kube-controller-manager", "v1", t),
        &node_schema,
    );
    let condition = |ty: &str, status: &str, reason: &str, message: &str| {
        json!({"type": ty, "status": status, "lastHeartbeatTime": t, "lastTransitionTime": t,
               "reason": reason, "message": message})
    };
    let mut with_status = annotated.clone();
    with_status["status"] = json!({
        "capacity": {"cpu": "2", "ephemeral-storage": "50Gi", "memory": "8148000Ki", "pods": "110"},
        "allocatable": {"cpu": "2", "ephemeral-storage": "50Gi", "memory": "8045600Ki", "pods": "110"},
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            condition("Ready", "True", "KubeletReady", "kubelet is posting ready status")
        ],
        "addresses": [{"type": "InternalIP", "address": "192.168.56.10"}, {"type": "Hostname", "address": "node1"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
        "nodeInfo": {"machineID": "", "systemUUID": "", "bootID": "", "kernelVersion": "6.1.0",
                     "osImage": "Debian GNU/Linux 12 (bookworm)", "containerRuntimeVersion": "containerd://1.7.24",
                     "kubeletVersion": "v1.32.13", "kubeProxyVersion": "", "operatingSystem": "linux",
                     "architecture": "amd64"}
    });
    let status_writer = FieldManager {
        subresource: Some("status"),
        ..manager("kubectl-patch", "v1", t)
    };
    let got = update(&annotated, &with_status, &status_writer, &node_schema);
    let cond = json!({".": {}, "f:lastHeartbeatTime": {}, "f:lastTransitionTime": {}, "f:message": {},
                      "f:reason": {}, "f:status": {}, "f:type": {}});
    let quantities =
        json!({".": {}, "f:cpu": {}, "f:ephemeral-storage": {}, "f:memory": {}, "f:pods": {}});
    // metadata.managedFields of reference/api/list-nodes.json.
    let want = json!([
        {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1", "time": t,
         "fieldsType": "FieldsV1",
         "fieldsV1": {"f:metadata": {"f:annotations": {".": {}, "f:node.alpha.kubernetes.io/ttl": {}}}}},
        {"manager": "kubectl-create", "operation": "Update", "apiVersion": "v1", "time": t,
         "fieldsType": "FieldsV1",
         "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:kubernetes.io/arch": {}, "f:kubernetes.io/hostname": {},
                                                  "f:kubernetes.io/os": {}, "f:node-role.kubernetes.io/control-plane": {}}}}},
        {"manager": "kubectl-patch", "operation": "Update", "apiVersion": "v1", "time": t,
         "fieldsType": "FieldsV1",
         "fieldsV1": {"f:status": {
             "f:addresses": {".": {},
                 "k:{\"type\":\"Hostname\"}": {".": {}, "f:address": {}, "f:type": {}},
                 "k:{\"type\":\"InternalIP\"}": {".": {}, "f:address": {}, "f:type": {}}},
             "f:allocatable": quantities.clone(),
             "f:capacity": quantities,
             "f:conditions": {".": {},
                 "k:{\"type\":\"DiskPressure\"}": cond.clone(),
                 "k:{\"type\":\"MemoryPressure\"}": cond.clone(),
                 "k:{\"type\":\"PIDPressure\"}": cond.clone(),
                 "k:{\"type\":\"Ready\"}": cond},
             "f:nodeInfo": {"f:architecture": {}, "f:containerRuntimeVersion": {}, "f:kernelVersion": {},
                            "f:kubeletVersion": {}, "f:operatingSystem": {}, "f:osImage": {}}
         }},
         "subresource": "status"}
    ]);
    assert_json(&managed_fields(&got), &want);
}

#[test]
fn kubectl_create_deployment() {
    let deploy = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [{"name": "nginx", "image": "nginx", "terminationMessagePath": "/dev/termination-log",
                                    "terminationMessagePolicy": "File", "imagePullPolicy": "Always"}],
                    "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                    "securityContext": {}, "schedulerName": "default-scheduler"
                }
            },
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600
        }
    });
    let got = create(
        &deploy,
        &manager("kubectl-create", "apps/v1", T0),
        &schema("apps/v1", "Deployment"),
    );
    assert_json(
        &managed_fields(&got)[0]["fieldsV1"],
        &json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {
                "f:progressDeadlineSeconds": {},
                "f:replicas": {},
                "f:revisionHistoryLimit": {},
                "f:selector": {},
                "f:strategy": {"f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}}, "f:type": {}},
                "f:template": {
                    "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                    "f:spec": {
                        "f:containers": {"k:{\"name\":\"nginx\"}": {
                            ".": {}, "f:image": {}, "f:imagePullPolicy": {}, "f:name": {}, "f:resources": {},
                            "f:terminationMessagePath": {}, "f:terminationMessagePolicy": {}
                        }},
                        "f:dnsPolicy": {},
                        "f:restartPolicy": {},
                        "f:schedulerName": {},
                        "f:securityContext": {},
                        "f:terminationGracePeriodSeconds": {}
                    }
                }
            }
        }),
    );
}

fn labeled_service() -> (Value, BuiltinSchema) {
    let s = schema("v1", "Service");
    let svc = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web", "tier": "fe"}},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}],
                 "type": "ClusterIP"}
    });
    (create(&svc, &manager("kubectl-create", "v1", T0), &s), s)
}

#[test]
fn updates_move_ownership() {
    let (svc, s) = labeled_service();
    // kubectl label tier- env=prod: the label writer owns env; nobody owns tier.
    let mut relabeled = svc.clone();
    relabeled["metadata"]["labels"] = json!({"app": "web", "env": "prod"});
    let got = update(&svc, &relabeled, &manager("kubectl-label", "v1", T1), &s);
    let mf = managed_fields(&got);
    assert_json(
        &mf[0]["fieldsV1"]["f:metadata"],
        &json!({"f:labels": {".": {}, "f:app": {}}}),
    );
    assert_eq!(mf[1]["manager"], "kubectl-label");
    assert_eq!(mf[1]["time"], T1);
    assert_json(
        &mf[1]["fieldsV1"],
        &json!({"f:metadata": {"f:labels": {"f:env": {}}}}),
    );

    // kubectl edit of targetPort takes it from kubectl-create.
    let mut edited = got.clone();
    edited["spec"]["ports"][0]["targetPort"] = json!(9090);
    let got = update(&got, &edited, &manager("kubectl-edit", "v1", T2), &s);
    let mf = managed_fields(&got);
    let managers: Vec<&str> = mf
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["manager"].as_str())
        .collect();
    assert_eq!(
        managers,
        ["kubectl-create", "kubectl-label", "kubectl-edit"]
    );
    let port = &mf[0]["fieldsV1"]["f:spec"]["f:ports"]["k:{\"port\":80,\"protocol\":\"TCP\"}"];
    assert_json(port, &json!({".": {}, "f:port": {}, "f:protocol": {}}));
    assert_json(
        &mf[2]["fieldsV1"],
        &json!({"f:spec": {"f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {"f:targetPort": {}}}}}),
    );

    // A no-op write changes nothing, not even times.
    let again = update(
        &got,
        &got,
        &manager("kubectl-edit", "v1", "2030-01-01T00:00:00Z"),
        &s,
    );
    assert_json(&managed_fields(&again), &mf);

    // Removing the only label kubectl-label owns drops its entry.
    let mut unlabeled = got.clone();
    if let Some(labels) = unlabeled["metadata"]["labels"].as_object_mut() {
        labels.shift_remove("env");
    }
    let got = update(&got, &unlabeled, &manager("kubectl-label", "v1", T2), &s);
    let managers: Vec<String> = managed_fields(&got)
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["manager"].as_str().map(str::to_string))
        .collect();
    assert_eq!(managers, ["kubectl-create", "kubectl-edit"]);
}

#[test]
fn status_writes_are_tracked_per_subresource() {
    let (svc, s) = labeled_service();
    let mut with_status = svc.clone();
    with_status["status"] = json!({"loadBalancer": {"ingress": [{"ip": "192.168.56.10"}]}});
    // Through the main resource status is reset: nothing to record.
    let got = update(&svc, &with_status, &manager("k1s", "v1", T1), &s);
    assert_eq!(managed_fields(&got).as_array().map(Vec::len), Some(1));
    // Through /status it is recorded with the subresource; spec changes are not.
    with_status["spec"]["type"] = json!("LoadBalancer");
    let fm = FieldManager {
        subresource: Some("status"),
        ..manager("k1s", "v1", T1)
    };
    let got = update(&svc, &with_status, &fm, &s);
    let mf = managed_fields(&got);
    assert_eq!(mf[1]["subresource"], "status");
    assert_json(
        &mf[1]["fieldsV1"],
        &json!({"f:status": {"f:loadBalancer": {"f:ingress": {}}}}),
    );
}

#[test]
fn managed_fields_in_the_request() {
    let (svc, s) = labeled_service();
    // An update that sends managedFields: [] (or [{}]) strips them for good.
    for reset in [json!([]), json!([{}])] {
        let mut cleared = svc.clone();
        cleared["metadata"]["managedFields"] = reset;
        cleared["spec"]["type"] = json!("NodePort");
        let got = update(&svc, &cleared, &manager("kubectl-edit", "v1", T1), &s);
        assert_eq!(managed_fields(&got), Value::Null);
    }
    // Valid managedFields in the request replace the live ones.
    let mut replaced = svc.clone();
    replaced["metadata"]["managedFields"] = json!([{
        "manager": "someone", "operation": "Update", "apiVersion": "v1", "time": T0,
        "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:type": {}}}
    }]);
    let got = update(&svc, &replaced, &manager("kubectl-edit", "v1", T1), &s);
    assert_json(
        &managed_fields(&got),
        &replaced["metadata"]["managedFields"],
    );

    // A request that omits managedFields keeps the live ones.
    let mut omitted = svc.clone();
    if let Some(meta) = omitted["metadata"].as_object_mut() {
        meta.shift_remove("managedFields");
    }
    omitted["spec"]["sessionAffinity"] = json!("None");
    let got = update(&svc, &omitted, &manager("kubectl-edit", "v1", T1), &s);
    assert_eq!(managed_fields(&got).as_array().map(Vec::len), Some(2));

    // Objects whose managed fields were removed are not tracked until an apply.
    let mut untracked = svc.clone();
    if let Some(meta) = untracked["metadata"].as_object_mut() {
        meta.shift_remove("managedFields");
    }
    let mut changed = untracked.clone();
    changed["spec"]["type"] = json!("NodePort");
    let got = update(&untracked, &changed, &manager("kubectl-edit", "v1", T1), &s);
    assert_eq!(managed_fields(&got), Value::Null);
}

fn service_config(target_port: u16) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": target_port}]}
    })
}

#[test]
fn apply_creates_and_updates() {
    let s = schema("v1", "Service");
    let fm = manager("kubectl", "v1", T0);
    let created = apply(None, &service_config(8080), &fm, false, &s);
    let created = created.unwrap_or_else(|e| panic!("{e}"));
    let want_fields = json!({
        "f:metadata": {"f:labels": {"f:app": {}}},
        "f:spec": {
            "f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}, "f:targetPort": {}}},
            "f:selector": {}
        }
    });
    assert_json(
        &managed_fields(&created),
        &json!([{"manager": "kubectl", "operation": "Apply", "apiVersion": "v1", "time": T0,
                 "fieldsType": "FieldsV1", "fieldsV1": want_fields}]),
    );
    assert_eq!(created["spec"], service_config(8080)["spec"]);

    // Re-applying the same configuration changes nothing.
    let same = apply(
        Some(&created),
        &service_config(8080),
        &manager("kubectl", "v1", T1),
        false,
        &s,
    );
    assert_eq!(same.as_ref().ok(), Some(&created));

    // A new value replaces the old one and bumps the time.
    let updated = apply(
        Some(&created),
        &service_config(9090),
        &manager("kubectl", "v1", T1),
        false,
        &s,
    );
    let updated = updated.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(updated["spec"]["ports"][0]["targetPort"], 9090);
    assert_eq!(managed_fields(&updated)[0]["time"], T1);
}

#[test]
fn apply_removes_what_it_no_longer_applies() {
    let s = schema("v1", "Service");
    let mut config = service_config(8080);
    config["metadata"]["labels"]["tier"] = json!("fe");
    config["spec"]["ports"] =
        json!([{"port": 80, "targetPort": 8080}, {"port": 443, "targetPort": 8443}]);
    let live = apply(None, &config, &manager("kubectl", "v1", T0), false, &s)
        .unwrap_or_else(|e| panic!("{e}"));
    // Another writer adds a label of its own.
    let mut shared = live.clone();
    shared["metadata"]["labels"]["owner"] = json!("ops");
    let live = update(&live, &shared, &manager("kubectl-label", "v1", T1), &s);

    // The next configuration drops the selector, the 443 port and the labels.
    let mut next = service_config(8080);
    if let Some(spec) = next["spec"].as_object_mut() {
        spec.shift_remove("selector");
    }
    if let Some(meta) = next["metadata"].as_object_mut() {
        meta.shift_remove("labels");
    }
    let got = apply(Some(&live), &next, &manager("kubectl", "v1", T2), false, &s)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got["spec"].get("selector"), None);
    assert_eq!(
        got["spec"]["ports"],
        json!([{"port": 80, "targetPort": 8080}])
    );
    // Labels kubectl applied are gone, the one kubectl-label owns stays.
    assert_eq!(got["metadata"]["labels"], json!({"owner": "ops"}));
    assert_json(
        &managed_fields(&got)[0]["fieldsV1"],
        &json!({"f:spec": {"f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}, "f:targetPort": {}}}}}),
    );
}

#[test]
fn apply_conflicts_with_other_managers() {
    let s = schema("v1", "Service");
    let annotation = "{}\n";
    let csa = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default",
                     "annotations": {"kubectl.kubernetes.io/last-applied-configuration": annotation}},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "protocol": "TCP", "targetPort": 9376}],
                 "sessionAffinity": "None", "type": "ClusterIP"}
    });
    let live = create(&csa, &manager("kubectl-client-side-apply", "v1", T0), &s);

    let mut config = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"ports": [{"port": 80, "targetPort": 8080}]}
    });
    let got = apply(
        Some(&live),
        &config,
        &manager("kubectl", "v1", T1),
        false,
        &s,
    );
    let want = ApplyError::Conflict {
        message: "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using v1: .spec.ports[port=80,protocol=\"TCP\"].targetPort".into(),
        conflicts: vec![Conflict {
            manager: "\"kubectl-client-side-apply\" using v1".into(),
            field: ".spec.ports[port=80,protocol=\"TCP\"].targetPort".into(),
        }],
    };
    assert_eq!(got, Err(want.clone()));
    assert_eq!(want.code(), 409);
    assert_eq!(want.reason(), "Conflict");
    assert_eq!(
        want.causes(),
        vec![(
            "FieldManagerConflict",
            "conflict with \"kubectl-client-side-apply\" using v1".to_string(),
            ".spec.ports[port=80,protocol=\"TCP\"].targetPort".to_string()
        )]
    );

    config["spec"]["sessionAffinity"] = json!("ClientIP");
    let got = apply(
        Some(&live),
        &config,
        &manager("kubectl", "v1", T1),
        false,
        &s,
    );
    let Err(ApplyError::Conflict { message, conflicts }) = got else {
        panic!("expected conflicts")
    };
    assert_eq!(
        message,
        "Apply failed with 2 conflicts: conflicts with \"kubectl-client-side-apply\" using v1:\n- .spec.sessionAffinity\n- .spec.ports[port=80,protocol=\"TCP\"].targetPort"
    );
    assert_eq!(conflicts.len(), 2);

    // Forcing takes ownership.
    let forced = apply(
        Some(&live),
        &config,
        &manager("kubectl", "v1", T1),
        true,
        &s,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(forced["spec"]["ports"][0]["targetPort"], 8080);
    let mf = managed_fields(&forced);
    assert_eq!(mf[0]["operation"], "Apply");
    assert_json(
        &mf[0]["fieldsV1"],
        &json!({"f:spec": {
            "f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}, "f:targetPort": {}}},
            "f:sessionAffinity": {}
        }}),
    );
    let csa_port = &mf[1]["fieldsV1"]["f:spec"]["f:ports"]["k:{\"port\":80,\"protocol\":\"TCP\"}"];
    assert_json(csa_port, &json!({".": {}, "f:port": {}, "f:protocol": {}}));
    assert!(mf[1]["fieldsV1"]["f:spec"]
        .get("f:sessionAffinity")
        .is_none());

    // Applying the value another manager already has shares ownership.
    let shared_config = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"ports": [{"port": 80, "targetPort": 9376}]}
    });
    let shared = apply(
        Some(&live),
        &shared_config,
        &manager("kubectl", "v1", T1),
        false,
        &s,
    );
    let shared = shared.unwrap_or_else(|e| panic!("{e}"));
    let mf = managed_fields(&shared);
    assert!(
        mf[1]["fieldsV1"]["f:spec"]["f:ports"]["k:{\"port\":80,\"protocol\":\"TCP\"}"]
            .get("f:targetPort")
            .is_some()
    );
    // A no-op apply by a new manager records no time.
    assert_eq!(mf[0].get("time"), None);
}

#[test]
fn apply_to_objects_without_managed_fields() {
    let s = schema("v1", "ConfigMap");
    let live = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cfg", "namespace": "default", "uid": "u"},
        "data": {"a": "1", "b": "2"}
    });
    let config = json!({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": "cfg", "namespace": "default"}, "data": {"a": "9"}});
    let got = apply(
        Some(&live),
        &config,
        &manager("kubectl", "v1", T1),
        false,
        &s,
    );
    let Err(ApplyError::Conflict { message, .. }) = got else {
        panic!("expected a conflict")
    };
    assert_eq!(
        message,
        "Apply failed with 1 conflict: conflict with \"before-first-apply\" using v1: .data.a"
    );
    let got = apply(
        Some(&live),
        &config,
        &manager("kubectl", "v1", T1),
        true,
        &s,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got["data"], json!({"a": "9", "b": "2"}));
    let mf = managed_fields(&got);
    assert_eq!(mf[1]["manager"], "before-first-apply");
    assert_json(&mf[1]["fieldsV1"], &json!({"f:data": {".": {}, "f:b": {}}}));
}

#[test]
fn apply_rejects_bad_configurations() {
    let s = schema("apps/v1", "Deployment");
    let fm = manager("kubectl", "apps/v1", T0);
    let deployment = |containers: Value| {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"template": {"spec": {"containers": containers}}}
        })
    };
    let cases = [
        (
            deployment(json!([{"name": "nginx"}, {"name": "nginx", "image": "x"}])),
            ApplyError::Internal(
                "failed to create typed patch object (default/web; apps/v1, Kind=Deployment): .spec.template.spec.containers: duplicate entries for key [name=\"nginx\"]".into(),
            ),
        ),
        (
            deployment(json!([{"image": "nginx"}])),
            ApplyError::Internal(
                "failed to create typed patch object (default/web; apps/v1, Kind=Deployment): .spec.template.spec.containers: element 0: associative list with keys has an element that omits all key fields [\"name\"] (and doesn't have default values for any key fields)".into(),
            ),
        ),
        (
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "web", "managedFields": []}}),
            ApplyError::BadRequest("metadata.managedFields must be nil".into()),
        ),
        (
            json!({"apiVersion": "v1", "kind": "Deployment", "metadata": {"name": "web"}}),
            ApplyError::BadRequest("invalid object type: /v1, Kind=Deployment".into()),
        ),
        (
            json!({"metadata": {"name": "web"}}),
            ApplyError::BadRequest("invalid object type: /, Kind=".into()),
        ),
    ];
    for (config, want) in cases {
        assert_eq!(apply(None, &config, &fm, false, &s), Err(want), "{config}");
    }
    let broken = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                        "metadata": {"name": "web", "managedFields": [{"operation": "Patch"}]}});
    let config =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}});
    assert_eq!(
        apply(Some(&broken), &config, &fm, false, &s),
        Err(ApplyError::Internal(
            "failed to decode managed fields: operation must be `Apply` or `Update`".into()
        ))
    );
}

#[test]
fn apply_merges_lists_and_sets() {
    let s = schema("apps/v1", "Deployment");
    let live = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "uid": "u", "finalizers": ["a"]},
        "spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}
        ]}}}
    });
    let live = create(&live, &manager("kubectl-create", "apps/v1", T0), &s);
    let config = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "finalizers": ["z"]},
        "spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "c:1"}, {"name": "b", "image": "b:1"}
        ]}}}
    });
    let got = apply(
        Some(&live),
        &config,
        &manager("ci", "apps/v1", T1),
        false,
        &s,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = got["spec"]["template"]["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["a", "c", "b"]);
    assert_eq!(got["metadata"]["finalizers"], json!(["a", "z"]));
    assert_json(
        &managed_fields(&got)[0]["fieldsV1"],
        &json!({
            "f:metadata": {"f:finalizers": {"v:\"z\"": {}}},
            "f:spec": {"f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"b\"}": {".": {}, "f:image": {}, "f:name": {}},
                "k:{\"name\":\"c\"}": {".": {}, "f:image": {}, "f:name": {}}
            }}}}
        }),
    );
}

#[test]
fn kubectl_apply_keeps_last_applied_in_step() {
    let s = schema("v1", "ConfigMap");
    let live = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cfg", "namespace": "default",
                     "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"old\":true}\n"}},
        "data": {"a": "1"}
    });
    let live = create(&live, &manager("kubectl-client-side-apply", "v1", T0), &s);
    let config = json!({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": "cfg", "namespace": "default"}, "data": {"a": "1", "b": "<2>"}});
    let got = apply(
        Some(&live),
        &config,
        &manager("kubectl", "v1", T1),
        false,
        &s,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        got["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
        "{\"apiVersion\":\"v1\",\"data\":{\"a\":\"1\",\"b\":\"\\u003c2\\u003e\"},\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cfg\",\"namespace\":\"default\"}}\n"
    );
    // Other managers leave it alone.
    let got = apply(Some(&live), &config, &manager("helm", "v1", T1), false, &s)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        got["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
        "{\"old\":true}\n"
    );
}

#[test]
fn apply_owner_references_and_status_subresource() {
    let s = schema("v1", "Pod");
    let config = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default",
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u-1"}]},
        "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}]}]},
        "status": {"phase": "Running"}
    });
    let got = apply(None, &config, &manager("kubectl", "v1", T0), false, &s)
        .unwrap_or_else(|e| panic!("{e}"));
    // status is reset for the main resource, owner references are atomic items.
    assert_json(
        &managed_fields(&got)[0]["fieldsV1"],
        &json!({
            "f:metadata": {"f:ownerReferences": {"k:{\"uid\":\"u-1\"}": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {
                ".": {}, "f:image": {}, "f:name": {},
                "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}
            }}}
        }),
    );
    let status = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
                        "status": {"phase": "Succeeded"}});
    let fm = FieldManager {
        subresource: Some("status"),
        ..manager("runner", "v1", T1)
    };
    let got = apply(Some(&got), &status, &fm, false, &s).unwrap_or_else(|e| panic!("{e}"));
    let mf = managed_fields(&got);
    assert_eq!(mf[1]["manager"], "runner");
    assert_eq!(mf[1]["subresource"], "status");
    assert_json(&mf[1]["fieldsV1"], &json!({"f:status": {"f:phase": {}}}));
}

#[test]
fn kubectl_takes_over_its_client_side_apply_fields() {
    let s = schema("v1", "Service");
    let last_applied = "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"annotations\":{},\"name\":\"web\",\"namespace\":\"default\"},\"spec\":{\"ports\":[{\"port\":80,\"targetPort\":9376}],\"selector\":{\"app\":\"web\"}}}\n";
    let csa = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default",
                     "annotations": {"kubectl.kubernetes.io/last-applied-configuration": last_applied}},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "protocol": "TCP", "targetPort": 9376}]}
    });
    let live = create(&csa, &manager("kubectl-client-side-apply", "v1", T0), &s);
    let config = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}
    });
    // Another field manager still conflicts.
    let other = apply(Some(&live), &config, &manager("ci", "v1", T1), false, &s);
    assert!(matches!(other, Err(ApplyError::Conflict { .. })));
    // kubectl takes over what its client-side apply set, and rewrites the annotation.
    let got = apply(
        Some(&live),
        &config,
        &manager("kubectl", "v1", T1),
        false,
        &s,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got["spec"]["ports"][0]["targetPort"], 8080);
    let annotation =
        &got["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"];
    assert_eq!(
        annotation,
        "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"},\"spec\":{\"ports\":[{\"port\":80,\"targetPort\":8080}],\"selector\":{\"app\":\"web\"}}}\n"
    );
    // Unless someone changed the field after that client-side apply.
    let mut edited = live.clone();
    edited["spec"]["ports"][0]["targetPort"] = json!(7000);
    let edited = update(&live, &edited, &manager("kubectl-edit", "v1", T1), &s);
    let got = apply(
        Some(&edited),
        &config,
        &manager("kubectl", "v1", T2),
        false,
        &s,
    );
    let Err(ApplyError::Conflict { message, .. }) = got else {
        panic!("expected a conflict")
    };
    assert_eq!(
        message,
        "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using v1: .spec.ports[port=80,protocol=\"TCP\"].targetPort"
    );
}
