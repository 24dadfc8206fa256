//! Objects built as k8s-pb structs, encoded with prost, wrapped in the
//! envelope, and decoded: the JSON must be what kube-apiserver prints.

mod common;

use common::{assert_json, envelope, labels, s};
use k1s_protobuf::decode;
use k8s_pb::api::apps::v1 as apps;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::json;

fn int(v: i32) -> Option<IntOrString> {
    Some(IntOrString {
        r#type: Some(0),
        int_val: Some(v),
        str_val: None,
    })
}

fn named(v: &str) -> Option<IntOrString> {
    Some(IntOrString {
        r#type: Some(1),
        int_val: None,
        str_val: s(v),
    })
}

fn qty(v: &str) -> Quantity {
    Quantity { string: s(v) }
}

fn time(seconds: i64) -> Option<meta::Time> {
    Some(meta::Time {
        seconds: Some(seconds),
        nanos: Some(0),
    })
}

fn web_deployment(replicas: i32) -> apps::Deployment {
    let app = labels(&[("app", "web")]);
    apps::Deployment {
        metadata: Some(meta::ObjectMeta {
            name: s("web"),
            labels: app.clone(),
            ..Default::default()
        }),
        spec: Some(apps::DeploymentSpec {
            replicas: Some(replicas),
            selector: Some(meta::LabelSelector {
                match_labels: app.clone(),
                ..Default::default()
            }),
            template: Some(core::PodTemplateSpec {
                metadata: Some(meta::ObjectMeta {
                    labels: app,
                    ..Default::default()
                }),
                spec: Some(core::PodSpec {
                    containers: vec![core::Container {
                        name: s("nginx"),
                        image: s("nginx"),
                        resources: Some(Default::default()),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            }),
            strategy: Some(Default::default()),
            ..Default::default()
        }),
        status: Some(Default::default()),
    }
}

/// `kubectl create deployment web --image=nginx --replicas=3 --dry-run=client -o json`.
#[test]
fn deployment_like_kubectl_create() {
    let body = envelope("apps/v1", "Deployment", &web_deployment(3));
    assert_json(
        &decode(&body).unwrap(),
        &json!({
            "kind": "Deployment",
            "apiVersion": "apps/v1",
            "metadata": {"name": "web", "creationTimestamp": null, "labels": {"app": "web"}},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx", "resources": {}}]}
                },
                "strategy": {}
            },
            "status": {}
        }),
    );
}

/// `replicas` is `*int32`: an explicit 0 must survive.
#[test]
fn explicit_zero_replicas_survive() {
    let body = envelope("apps/v1", "Deployment", &web_deployment(0));
    let v = decode(&body).unwrap();
    assert_eq!(v["spec"]["replicas"], json!(0));
}

/// Go's gogo-protobuf writes every non-pointer field, zero or not; printing
/// must not depend on whether a zero value was on the wire.
#[test]
fn zero_values_of_plain_fields_print_like_absent_ones() {
    let absent = decode(&envelope("apps/v1", "Deployment", &web_deployment(3))).unwrap();
    let mut d = web_deployment(3);
    let zero_meta = |m: &mut meta::ObjectMeta| {
        m.name.get_or_insert_with(String::new);
        m.generate_name = s("");
        m.namespace = s("");
        m.self_link = s("");
        m.uid = s("");
        m.resource_version = s("");
        m.generation = Some(0);
        m.creation_timestamp = Some(meta::Time::default());
    };
    zero_meta(d.metadata.as_mut().unwrap());
    let spec = d.spec.as_mut().unwrap();
    spec.min_ready_seconds = Some(0);
    spec.paused = Some(false);
    spec.strategy = Some(apps::DeploymentStrategy {
        r#type: s(""),
        rolling_update: None,
    });
    let template = spec.template.as_mut().unwrap();
    zero_meta(template.metadata.as_mut().unwrap());
    let pod = template.spec.as_mut().unwrap();
    pod.restart_policy = s("");
    pod.dns_policy = s("");
    pod.node_name = s("");
    pod.host_network = Some(false);
    pod.scheduler_name = s("");
    let c = &mut pod.containers[0];
    c.working_dir = s("");
    c.stdin = Some(false);
    c.tty = Some(false);
    c.termination_message_path = s("");
    d.status = Some(apps::DeploymentStatus {
        observed_generation: Some(0),
        replicas: Some(0),
        ..Default::default()
    });
    let present = decode(&envelope("apps/v1", "Deployment", &d)).unwrap();
    assert_json(&present, &absent);
}

/// `kubectl create service nodeport web --tcp=80:80 --node-port=30080`.
#[test]
fn nodeport_service_like_kubectl_create() {
    let svc = core::Service {
        metadata: Some(meta::ObjectMeta {
            name: s("web"),
            labels: labels(&[("app", "web")]),
            ..Default::default()
        }),
        spec: Some(core::ServiceSpec {
            ports: vec![core::ServicePort {
                name: s("80-80"),
                protocol: s("TCP"),
                port: Some(80),
                target_port: int(80),
                node_port: Some(30080),
                ..Default::default()
            }],
            selector: labels(&[("app", "web")]),
            r#type: s("NodePort"),
            ..Default::default()
        }),
        status: Some(core::ServiceStatus {
            load_balancer: Some(Default::default()),
            conditions: vec![],
        }),
    };
    assert_json(
        &decode(&envelope("v1", "Service", &svc)).unwrap(),
        &json!({
            "kind": "Service",
            "apiVersion": "v1",
            "metadata": {"name": "web", "creationTimestamp": null, "labels": {"app": "web"}},
            "spec": {
                "ports": [{"name": "80-80", "protocol": "TCP", "port": 80, "targetPort": 80, "nodePort": 30080}],
                "selector": {"app": "web"},
                "type": "NodePort"
            },
            "status": {"loadBalancer": {}}
        }),
    );
}

fn kubernetes_service_json() -> serde_json::Value {
    json!({
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "uid": "5d4fa5c1-4ea7-4c85-bc9e-b5ebc2fb7002",
            "resourceVersion": "197",
            "creationTimestamp": "2026-11-23T07:58:18Z",
            "labels": {"component": "apiserver", "provider": "kubernetes"},
            "managedFields": [{
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
            }]
        },
        "spec": {
            "ports": [{"name": "https", "protocol": "TCP", "port": 443, "targetPort": 6443}],
            "clusterIP": "10.96.0.1",
            "clusterIPs": ["10.96.0.1"],
            "type": "ClusterIP",
            "sessionAffinity": "None",
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster"
        },
        "status": {"loadBalancer": {}}
    })
}

/// The `kubernetes` Service as a v1.32 cluster stores it (times, managedFields
/// with FieldsV1), in the key order kube-apiserver prints.
#[test]
fn stored_kubernetes_service_matches_real_cluster_output() {
    let expected = kubernetes_service_json();
    // Guard the hand copy against the capture when the shared reference is there.
    let reference = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/reference/api/list-services.json"
    );
    if let Ok(text) = std::fs::read_to_string(reference) {
        let list: serde_json::Value = serde_json::from_str(&text).unwrap();
        let item = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["metadata"]["name"] == "kubernetes")
            .unwrap();
        assert_json(item, &expected);
    }

    let fields_v1 =
        serde_json::to_vec(&expected["metadata"]["managedFields"][0]["fieldsV1"]).unwrap();
    let svc = core::Service {
        metadata: Some(meta::ObjectMeta {
            name: s("kubernetes"),
            namespace: s("default"),
            uid: s("5d4fa5c1-4ea7-4c85-bc9e-b5ebc2fb7002"),
            resource_version: s("197"),
            creation_timestamp: time(1_795_420_698),
            labels: labels(&[("provider", "kubernetes"), ("component", "apiserver")]),
            managed_fields: vec![meta::ManagedFieldsEntry {
                manager: s("kube-apiserver"),
                operation: s("Update"),
                api_version: s("v1"),
                time: time(1_795_420_698),
                fields_type: s("FieldsV1"),
                fields_v1: Some(meta::FieldsV1 {
                    raw: Some(fields_v1),
                }),
                subresource: s(""),
            }],
            ..Default::default()
        }),
        spec: Some(core::ServiceSpec {
            ports: vec![core::ServicePort {
                name: s("https"),
                protocol: s("TCP"),
                port: Some(443),
                target_port: int(6443),
                node_port: Some(0),
                ..Default::default()
            }],
            cluster_ip: s("10.96.0.1"),
            cluster_ips: vec!["10.96.0.1".to_string()],
            r#type: s("ClusterIP"),
            session_affinity: s("None"),
            ip_families: vec!["IPv4".to_string()],
            ip_family_policy: s("SingleStack"),
            internal_traffic_policy: s("Cluster"),
            health_check_node_port: Some(0),
            publish_not_ready_addresses: Some(false),
            ..Default::default()
        }),
        status: Some(Default::default()),
    };
    let mut want = json!({"kind": "Service", "apiVersion": "v1"});
    want.as_object_mut()
        .unwrap()
        .extend(expected.as_object().unwrap().clone());
    assert_json(&decode(&envelope("v1", "Service", &svc)).unwrap(), &want);
}

/// `kubectl create configmap web --from-literal=…` plus binaryData.
#[test]
fn configmap_with_data_and_binary_data() {
    let cm = core::ConfigMap {
        metadata: Some(meta::ObjectMeta {
            name: s("web-config"),
            namespace: s("default"),
            ..Default::default()
        }),
        data: labels(&[("b", "2"), ("a", "1"), ("empty", "")]),
        binary_data: [("blob".to_string(), vec![0u8, 1, 2, 254, 255])].into(),
        immutable: None,
    };
    assert_json(
        &decode(&envelope("v1", "ConfigMap", &cm)).unwrap(),
        &json!({
            "kind": "ConfigMap",
            "apiVersion": "v1",
            "metadata": {"name": "web-config", "namespace": "default", "creationTimestamp": null},
            "data": {"a": "1", "b": "2", "empty": ""},
            "binaryData": {"blob": "AAEC/v8="}
        }),
    );
}

/// `kubectl create secret generic creds --from-literal=token=s3cr3t`.
#[test]
fn secret_data_is_base64() {
    let secret = core::Secret {
        metadata: Some(meta::ObjectMeta {
            name: s("creds"),
            ..Default::default()
        }),
        immutable: Some(false),
        data: [
            ("token".to_string(), b"s3cr3t".to_vec()),
            ("empty".to_string(), vec![]),
        ]
        .into(),
        string_data: labels(&[("plain", "text")]),
        r#type: s("Opaque"),
    };
    assert_json(
        &decode(&envelope("v1", "Secret", &secret)).unwrap(),
        &json!({
            "kind": "Secret",
            "apiVersion": "v1",
            "metadata": {"name": "creds", "creationTimestamp": null},
            "immutable": false,
            "data": {"empty": "", "token": "czNjcjN0"},
            "stringData": {"plain": "text"},
            "type": "Opaque"
        }),
    );
}

/// `kubectl create namespace demo`.
#[test]
fn namespace() {
    let ns = core::Namespace {
        metadata: Some(meta::ObjectMeta {
            name: s("demo"),
            ..Default::default()
        }),
        spec: Some(Default::default()),
        status: Some(Default::default()),
    };
    assert_json(
        &decode(&envelope("v1", "Namespace", &ns)).unwrap(),
        &json!({
            "kind": "Namespace",
            "apiVersion": "v1",
            "metadata": {"name": "demo", "creationTimestamp": null},
            "spec": {},
            "status": {}
        }),
    );
}

/// `kubectl create serviceaccount` with automount turned off: a *bool false stays.
#[test]
fn service_account_keeps_false_pointer() {
    let sa = core::ServiceAccount {
        metadata: Some(meta::ObjectMeta {
            name: s("builder"),
            namespace: s("ci"),
            ..Default::default()
        }),
        automount_service_account_token: Some(false),
        image_pull_secrets: vec![core::LocalObjectReference { name: s("regcred") }],
        ..Default::default()
    };
    assert_json(
        &decode(&envelope("v1", "ServiceAccount", &sa)).unwrap(),
        &json!({
            "kind": "ServiceAccount",
            "apiVersion": "v1",
            "metadata": {"name": "builder", "namespace": "ci", "creationTimestamp": null},
            "imagePullSecrets": [{"name": "regcred"}],
            "automountServiceAccountToken": false
        }),
    );
}

fn web_pod() -> core::Pod {
    let http_probe = core::Probe {
        handler: Some(core::ProbeHandler {
            http_get: Some(core::HttpGetAction {
                path: s("/healthz"),
                port: int(80),
                scheme: s("HTTP"),
                ..Default::default()
            }),
            ..Default::default()
        }),
        initial_delay_seconds: Some(3),
        period_seconds: Some(10),
        timeout_seconds: Some(0),
        ..Default::default()
    };
    let tcp_probe = core::Probe {
        handler: Some(core::ProbeHandler {
            tcp_socket: Some(core::TcpSocketAction {
                port: named("http"),
                host: None,
            }),
            ..Default::default()
        }),
        failure_threshold: Some(3),
        termination_grace_period_seconds: Some(0),
        ..Default::default()
    };
    let container = core::Container {
        name: s("web"),
        image: s("nginx:1.27"),
        command: vec!["nginx".into()],
        args: vec!["-g".into(), "daemon off;".into()],
        ports: vec![core::ContainerPort {
            name: s("http"),
            container_port: Some(80),
            protocol: s("TCP"),
            host_port: Some(0),
            ..Default::default()
        }],
        env: vec![
            core::EnvVar {
                name: s("POD_IP"),
                value: None,
                value_from: Some(core::EnvVarSource {
                    field_ref: Some(core::ObjectFieldSelector {
                        api_version: s("v1"),
                        field_path: s("status.podIP"),
                    }),
                    ..Default::default()
                }),
            },
            core::EnvVar {
                name: s("TOKEN"),
                value: s(""),
                value_from: Some(core::EnvVarSource {
                    secret_key_ref: Some(core::SecretKeySelector {
                        local_object_reference: Some(core::LocalObjectReference {
                            name: s("creds"),
                        }),
                        key: s("token"),
                        optional: Some(false),
                    }),
                    ..Default::default()
                }),
            },
            core::EnvVar {
                name: s("MODE"),
                value: s("prod"),
                value_from: None,
            },
        ],
        resources: Some(core::ResourceRequirements {
            limits: [
                ("memory".to_string(), qty("128Mi")),
                ("cpu".to_string(), qty("500m")),
            ]
            .into(),
            requests: [("cpu".to_string(), qty("250m"))].into(),
            claims: vec![],
        }),
        volume_mounts: vec![core::VolumeMount {
            name: s("config"),
            mount_path: s("/etc/nginx/conf.d"),
            read_only: Some(true),
            ..Default::default()
        }],
        liveness_probe: Some(http_probe),
        readiness_probe: Some(tcp_probe),
        image_pull_policy: s("IfNotPresent"),
        security_context: Some(core::SecurityContext {
            capabilities: Some(core::Capabilities {
                add: vec![],
                drop: vec!["ALL".into()],
            }),
            run_as_non_root: Some(true),
            allow_privilege_escalation: Some(false),
            ..Default::default()
        }),
        stdin: Some(false),
        ..Default::default()
    };
    core::Pod {
        metadata: Some(meta::ObjectMeta {
            name: s("web-0"),
            namespace: s("default"),
            labels: labels(&[("app", "web")]),
            owner_references: vec![meta::OwnerReference {
                api_version: s("apps/v1"),
                kind: s("ReplicaSet"),
                name: s("web-5d4f"),
                uid: s("0b7e"),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }],
            ..Default::default()
        }),
        spec: Some(core::PodSpec {
            volumes: vec![
                core::Volume {
                    name: s("config"),
                    volume_source: Some(core::VolumeSource {
                        config_map: Some(core::ConfigMapVolumeSource {
                            local_object_reference: Some(core::LocalObjectReference {
                                name: s("web-config"),
                            }),
                            default_mode: Some(420),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                },
                core::Volume {
                    name: s("cache"),
                    volume_source: Some(core::VolumeSource {
                        empty_dir: Some(core::EmptyDirVolumeSource {
                            medium: s(""),
                            size_limit: Some(qty("1Gi")),
                        }),
                        ..Default::default()
                    }),
                },
                core::Volume {
                    name: s("creds"),
                    volume_source: Some(core::VolumeSource {
                        secret: Some(core::SecretVolumeSource {
                            secret_name: s("creds"),
                            items: vec![core::KeyToPath {
                                key: s("token"),
                                path: s("token"),
                                mode: Some(256),
                            }],
                            optional: Some(false),
                            default_mode: None,
                        }),
                        ..Default::default()
                    }),
                },
            ],
            containers: vec![container],
            restart_policy: s("Always"),
            termination_grace_period_seconds: Some(30),
            dns_policy: s("ClusterFirst"),
            automount_service_account_token: Some(false),
            security_context: Some(core::PodSecurityContext {
                supplemental_groups: vec![1, 2],
                fs_group: Some(2000),
                ..Default::default()
            }),
            affinity: Some(core::Affinity {
                node_affinity: Some(core::NodeAffinity {
                    required_during_scheduling_ignored_during_execution: Some(core::NodeSelector {
                        node_selector_terms: vec![core::NodeSelectorTerm {
                            match_expressions: vec![core::NodeSelectorRequirement {
                                key: s("kubernetes.io/os"),
                                operator: s("In"),
                                values: vec!["linux".into()],
                            }],
                            match_fields: vec![],
                        }],
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            tolerations: vec![core::Toleration {
                key: s("node.kubernetes.io/not-ready"),
                operator: s("Exists"),
                effect: s("NoExecute"),
                toleration_seconds: Some(300),
                ..Default::default()
            }],
            enable_service_links: Some(false),
            ..Default::default()
        }),
        status: None,
    }
}

/// A Pod with probes, env valueFrom, volumes, resources, security contexts,
/// affinity and tolerations.
#[test]
fn pod_with_probes_env_and_volumes() {
    assert_json(
        &decode(&envelope("v1", "Pod", &web_pod())).unwrap(),
        &json!({
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {
                "name": "web-0",
                "namespace": "default",
                "creationTimestamp": null,
                "labels": {"app": "web"},
                "ownerReferences": [{
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "web-5d4f",
                    "uid": "0b7e",
                    "controller": true,
                    "blockOwnerDeletion": true
                }]
            },
            "spec": {
                "volumes": [
                    {"name": "config", "configMap": {"name": "web-config", "defaultMode": 420}},
                    {"name": "cache", "emptyDir": {"sizeLimit": "1Gi"}},
                    {"name": "creds", "secret": {
                        "secretName": "creds",
                        "items": [{"key": "token", "path": "token", "mode": 256}],
                        "optional": false
                    }}
                ],
                "containers": [{
                    "name": "web",
                    "image": "nginx:1.27",
                    "command": ["nginx"],
                    "args": ["-g", "daemon off;"],
                    "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
                    "env": [
                        {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}},
                        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token", "optional": false}}},
                        {"name": "MODE", "value": "prod"}
                    ],
                    "resources": {
                        "limits": {"cpu": "500m", "memory": "128Mi"},
                        "requests": {"cpu": "250m"}
                    },
                    "volumeMounts": [{"name": "config", "readOnly": true, "mountPath": "/etc/nginx/conf.d"}],
                    "livenessProbe": {
                        "httpGet": {"path": "/healthz", "port": 80, "scheme": "HTTP"},
                        "initialDelaySeconds": 3,
                        "periodSeconds": 10
                    },
                    "readinessProbe": {
                        "tcpSocket": {"port": "http"},
                        "failureThreshold": 3,
                        "terminationGracePeriodSeconds": 0
                    },
                    "imagePullPolicy": "IfNotPresent",
                    "securityContext": {
                        "capabilities": {"drop": ["ALL"]},
                        "runAsNonRoot": true,
                        "allowPrivilegeEscalation": false
                    }
                }],
                "restartPolicy": "Always",
                "terminationGracePeriodSeconds": 30,
                "dnsPolicy": "ClusterFirst",
                "automountServiceAccountToken": false,
                "securityContext": {"supplementalGroups": [1, 2], "fsGroup": 2000},
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [
                        {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}
                    ]}]
                }}},
                "tolerations": [{
                    "key": "node.kubernetes.io/not-ready",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300
                }],
                "enableServiceLinks": false
            },
            "status": {}
        }),
    );
}

/// Repeated int64 fields are accepted packed as well as unpacked.
#[test]
fn packed_repeated_scalars() {
    // PodSecurityContext.supplementalGroups (#4) packed: [1, 300].
    let psc = [0x22, 0x03, 0x01, 0xac, 0x02];
    // PodSpec.securityContext (#14) wrapping it; Pod.spec (#2) wrapping that.
    let mut spec = vec![0x72, psc.len() as u8];
    spec.extend(psc);
    let mut pod = vec![0x12, spec.len() as u8];
    pod.extend(spec);
    let v = k1s_protobuf::decode_object("v1", "Pod", &pod).unwrap();
    assert_eq!(
        v["spec"]["securityContext"]["supplementalGroups"],
        json!([1, 300])
    );
}

#[test]
fn lease_micro_times() {
    let lease = k8s_pb::api::coordination::v1::Lease {
        metadata: Some(meta::ObjectMeta {
            name: s("k1s-node"),
            namespace: s("kube-node-lease"),
            ..Default::default()
        }),
        spec: Some(k8s_pb::api::coordination::v1::LeaseSpec {
            holder_identity: s("k1s-node"),
            lease_duration_seconds: Some(40),
            renew_time: Some(meta::MicroTime {
                seconds: Some(1_795_420_698),
                nanos: Some(123_456_789),
            }),
            lease_transitions: Some(0),
            ..Default::default()
        }),
    };
    assert_json(
        &decode(&envelope("coordination.k8s.io/v1", "Lease", &lease)).unwrap(),
        &json!({
            "kind": "Lease",
            "apiVersion": "coordination.k8s.io/v1",
            "metadata": {"name": "k1s-node", "namespace": "kube-node-lease", "creationTimestamp": null},
            "spec": {
                "holderIdentity": "k1s-node",
                "leaseDurationSeconds": 40,
                "renewTime": "2026-11-23T07:58:18.123456Z",
                "leaseTransitions": 0
            }
        }),
    );
}

/// An EndpointSlice's `endpoints` has no omitempty: nil prints as null.
#[test]
fn endpoint_slice() {
    use k8s_pb::api::discovery::v1 as discovery;
    let slice = discovery::EndpointSlice {
        metadata: Some(meta::ObjectMeta {
            name: s("web-abc"),
            labels: labels(&[("kubernetes.io/service-name", "web")]),
            ..Default::default()
        }),
        address_type: s("IPv4"),
        endpoints: vec![discovery::Endpoint {
            addresses: vec!["10.244.0.5".into()],
            conditions: Some(discovery::EndpointConditions {
                ready: Some(true),
                serving: Some(true),
                terminating: Some(false),
            }),
            node_name: s("k1s"),
            ..Default::default()
        }],
        ports: vec![discovery::EndpointPort {
            name: s(""),
            protocol: s("TCP"),
            port: Some(80),
            app_protocol: None,
        }],
    };
    assert_json(
        &decode(&envelope("discovery.k8s.io/v1", "EndpointSlice", &slice)).unwrap(),
        &json!({
            "kind": "EndpointSlice",
            "apiVersion": "discovery.k8s.io/v1",
            "metadata": {"name": "web-abc", "creationTimestamp": null, "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "endpoints": [{
                "addresses": ["10.244.0.5"],
                "conditions": {"ready": true, "serving": true, "terminating": false},
                "nodeName": "k1s"
            }],
            "ports": [{"name": "", "protocol": "TCP", "port": 80}]
        }),
    );
    let empty = discovery::EndpointSlice {
        address_type: s("IPv4"),
        ..Default::default()
    };
    assert_json(
        &decode(&envelope("discovery.k8s.io/v1", "EndpointSlice", &empty)).unwrap(),
        &json!({
            "kind": "EndpointSlice",
            "apiVersion": "discovery.k8s.io/v1",
            "metadata": {"creationTimestamp": null},
            "addressType": "IPv4",
            "endpoints": null,
            "ports": null
        }),
    );
}

#[test]
fn core_event_prints_required_empty_strings() {
    let ev = core::Event {
        metadata: Some(meta::ObjectMeta {
            name: s("web.1"),
            namespace: s("default"),
            ..Default::default()
        }),
        involved_object: Some(core::ObjectReference {
            kind: s("Pod"),
            name: s("web"),
            ..Default::default()
        }),
        reason: s("Started"),
        first_timestamp: time(1_795_420_698),
        count: Some(1),
        r#type: s("Normal"),
        ..Default::default()
    };
    assert_json(
        &decode(&envelope("v1", "Event", &ev)).unwrap(),
        &json!({
            "kind": "Event",
            "apiVersion": "v1",
            "metadata": {"name": "web.1", "namespace": "default", "creationTimestamp": null},
            "involvedObject": {"kind": "Pod", "name": "web"},
            "reason": "Started",
            "source": {},
            "firstTimestamp": "2026-11-23T07:58:18Z",
            "lastTimestamp": null,
            "count": 1,
            "type": "Normal",
            "eventTime": null,
            "reportingComponent": "",
            "reportingInstance": ""
        }),
    );
}

#[test]
fn events_v1_event() {
    use k8s_pb::api::events::v1 as events;
    let ev = events::Event {
        metadata: Some(meta::ObjectMeta {
            name: s("web.2"),
            ..Default::default()
        }),
        event_time: Some(meta::MicroTime {
            seconds: Some(1_795_420_698),
            nanos: Some(5_000),
        }),
        reporting_controller: s("k1s"),
        action: s("Binding"),
        reason: s("Scheduled"),
        regarding: Some(core::ObjectReference {
            kind: s("Pod"),
            name: s("web"),
            ..Default::default()
        }),
        note: s("assigned"),
        r#type: s("Normal"),
        ..Default::default()
    };
    assert_json(
        &decode(&envelope("events.k8s.io/v1", "Event", &ev)).unwrap(),
        &json!({
            "kind": "Event",
            "apiVersion": "events.k8s.io/v1",
            "metadata": {"name": "web.2", "creationTimestamp": null},
            "eventTime": "2026-11-23T07:58:18.000005Z",
            "reportingController": "k1s",
            "action": "Binding",
            "reason": "Scheduled",
            "regarding": {"kind": "Pod", "name": "web"},
            "note": "assigned",
            "type": "Normal",
            "deprecatedSource": {},
            "deprecatedFirstTimestamp": null,
            "deprecatedLastTimestamp": null
        }),
    );
}

#[test]
fn delete_options_in_any_group_version() {
    let opts = meta::DeleteOptions {
        grace_period_seconds: Some(0),
        propagation_policy: s("Foreground"),
        dry_run: vec!["All".into()],
        preconditions: Some(meta::Preconditions {
            uid: s("abc"),
            resource_version: None,
        }),
        ..Default::default()
    };
    for gv in ["meta.k8s.io/v1", "v1", "apps/v1"] {
        assert_json(
            &decode(&envelope(gv, "DeleteOptions", &opts)).unwrap(),
            &json!({
                "kind": "DeleteOptions",
                "apiVersion": gv,
                "gracePeriodSeconds": 0,
                "preconditions": {"uid": "abc"},
                "propagationPolicy": "Foreground",
                "dryRun": ["All"]
            }),
        );
    }
}

#[test]
fn eviction_scale_binding_token_request() {
    let eviction = k8s_pb::api::policy::v1::Eviction {
        metadata: Some(meta::ObjectMeta {
            name: s("web-0"),
            namespace: s("default"),
            ..Default::default()
        }),
        delete_options: Some(meta::DeleteOptions {
            grace_period_seconds: Some(5),
            ..Default::default()
        }),
    };
    assert_json(
        &decode(&envelope("policy/v1", "Eviction", &eviction)).unwrap(),
        &json!({
            "kind": "Eviction",
            "apiVersion": "policy/v1",
            "metadata": {"name": "web-0", "namespace": "default", "creationTimestamp": null},
            "deleteOptions": {"gracePeriodSeconds": 5}
        }),
    );

    let scale = k8s_pb::api::autoscaling::v1::Scale {
        metadata: Some(meta::ObjectMeta {
            name: s("web"),
            ..Default::default()
        }),
        spec: Some(k8s_pb::api::autoscaling::v1::ScaleSpec { replicas: Some(0) }),
        status: None,
    };
    assert_json(
        &decode(&envelope("autoscaling/v1", "Scale", &scale)).unwrap(),
        &json!({
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {"name": "web", "creationTimestamp": null},
            "spec": {},
            "status": {"replicas": 0}
        }),
    );

    let binding = core::Binding {
        metadata: Some(meta::ObjectMeta {
            name: s("web-0"),
            ..Default::default()
        }),
        target: Some(core::ObjectReference {
            kind: s("Node"),
            name: s("k1s"),
            ..Default::default()
        }),
    };
    assert_json(
        &decode(&envelope("v1", "Binding", &binding)).unwrap(),
        &json!({
            "kind": "Binding",
            "apiVersion": "v1",
            "metadata": {"name": "web-0", "creationTimestamp": null},
            "target": {"kind": "Node", "name": "k1s"}
        }),
    );

    use k8s_pb::api::authentication::v1 as authn;
    let tr = authn::TokenRequest {
        metadata: None,
        spec: Some(authn::TokenRequestSpec {
            audiences: vec!["https://kubernetes.default.svc".into()],
            expiration_seconds: Some(3600),
            bound_object_ref: None,
        }),
        status: None,
    };
    assert_json(
        &decode(&envelope("authentication.k8s.io/v1", "TokenRequest", &tr)).unwrap(),
        &json!({
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": null},
            "spec": {
                "audiences": ["https://kubernetes.default.svc"],
                "expirationSeconds": 3600,
                "boundObjectRef": null
            },
            "status": {"token": "", "expirationTimestamp": null}
        }),
    );
}

/// A ReplicaSet and a Node decode too (every kind k1s serves is covered).
#[test]
fn replica_set_and_node() {
    let rs = apps::ReplicaSet {
        metadata: Some(meta::ObjectMeta {
            name: s("web-5d4f"),
            ..Default::default()
        }),
        spec: Some(apps::ReplicaSetSpec {
            replicas: Some(2),
            ..Default::default()
        }),
        status: Some(apps::ReplicaSetStatus {
            replicas: Some(2),
            ready_replicas: Some(1),
            ..Default::default()
        }),
    };
    let v = decode(&envelope("apps/v1", "ReplicaSet", &rs)).unwrap();
    assert_json(
        &v,
        &json!({
            "kind": "ReplicaSet",
            "apiVersion": "apps/v1",
            "metadata": {"name": "web-5d4f", "creationTimestamp": null},
            "spec": {
                "replicas": 2,
                "selector": null,
                "template": {"metadata": {"creationTimestamp": null}, "spec": {"containers": null}}
            },
            "status": {"replicas": 2, "readyReplicas": 1}
        }),
    );

    let node = core::Node {
        metadata: Some(meta::ObjectMeta {
            name: s("k1s"),
            ..Default::default()
        }),
        spec: Some(core::NodeSpec {
            pod_cidr: s("10.244.0.0/24"),
            pod_cid_rs: vec!["10.244.0.0/24".into()],
            ..Default::default()
        }),
        status: Some(core::NodeStatus {
            capacity: [
                ("cpu".to_string(), qty("2")),
                ("pods".to_string(), qty("110")),
            ]
            .into(),
            addresses: vec![core::NodeAddress {
                r#type: s("InternalIP"),
                address: s("192.0.2.10"),
            }],
            daemon_endpoints: Some(core::NodeDaemonEndpoints {
                kubelet_endpoint: Some(core::DaemonEndpoint { port: Some(10250) }),
            }),
            ..Default::default()
        }),
    };
    let v = decode(&envelope("v1", "Node", &node)).unwrap();
    assert_json(
        &v,
        &json!({
            "kind": "Node",
            "apiVersion": "v1",
            "metadata": {"name": "k1s", "creationTimestamp": null},
            "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]},
            "status": {
                "capacity": {"cpu": "2", "pods": "110"},
                "addresses": [{"type": "InternalIP", "address": "192.0.2.10"}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {
                    "machineID": "", "systemUUID": "", "bootID": "", "kernelVersion": "",
                    "osImage": "", "containerRuntimeVersion": "", "kubeletVersion": "",
                    "kubeProxyVersion": "", "operatingSystem": "", "architecture": ""
                }
            }
        }),
    );
}

/// Decoding a Deployment is a matter of microseconds.
#[test]
fn deployment_decodes_fast() {
    let body = envelope("apps/v1", "Deployment", &web_deployment(3));
    let start = std::time::Instant::now();
    let n = 2_000;
    for _ in 0..n {
        decode(&body).unwrap();
    }
    let each = start.elapsed() / n;
    eprintln!("{} bytes decoded in {each:?}", body.len());
    // Generous for unoptimised builds on a busy 2-core machine.
    assert!(
        each < std::time::Duration::from_millis(1),
        "{each:?} per decode"
    );
}
