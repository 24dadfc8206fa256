use super::*;
use serde_json::json;

/// The Deployment of the reference cluster's table-pods.json, as the v1.32
/// API server stored it (defaulted).
fn reference_template(image: &str) -> Value {
    json!({
        "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
        "spec": {
            "containers": [{
                "image": image, "imagePullPolicy": "IfNotPresent", "name": "nginx",
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "resources": {}, "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File"
            }],
            "dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
            "schedulerName": "default-scheduler", "securityContext": {},
            "terminationGracePeriodSeconds": 30
        }
    })
}

#[test]
fn every_type_in_the_table_resolves() {
    let t = type_table();
    assert!(t.structs.len() > 100, "{}", t.structs.len());
    let known = |ty: &str| {
        let mut base = ty;
        loop {
            if let Some(r) = base.strip_prefix('*').or_else(|| base.strip_prefix("[]")) {
                base = r;
            } else if let Some(v) = map_value_type(base) {
                base = v;
            } else {
                break;
            }
        }
        let scalar = [
            "string",
            "bool",
            "int32",
            "int64",
            "uint8",
            "uint64",
            "v1.Time",
            "resource.Quantity",
            "intstr.IntOrString",
        ];
        scalar.contains(&base) || t.structs.contains_key(base) || t.named.contains_key(base)
    };
    for (name, fields) in &t.structs {
        for f in fields {
            assert!(known(f.go_type), "{name}.{}: {}", f.go_name, f.go_type);
        }
    }
    for (name, under) in &t.named {
        assert!(known(under), "{name}: {under}");
    }
}

#[test]
fn renders_the_reference_template_like_spew() {
    let text = render_pod_template(&reference_template("nginx:1.25"));
    assert!(
        text.starts_with(
            "(v1.PodTemplateSpec){ObjectMeta:(v1.ObjectMeta){Name:(string) GenerateName:(string) \
         Namespace:(string) SelfLink:(string) UID:(types.UID) ResourceVersion:(string) \
         Generation:(int64)0 CreationTimestamp:(v1.Time){Time:(time.Time){wall:(uint64)0 \
         ext:(int64)0 loc:(*time.Location)<nil>}} DeletionTimestamp:(*v1.Time)<nil> \
         DeletionGracePeriodSeconds:(*int64)<nil> Labels:(map[string]string)map[app:web] \
         Annotations:(map[string]string)<nil> "
        ),
        "{text}"
    );
    for part in [
        "Containers:([]v1.Container)[{Name:(string)nginx Image:(string)nginx:1.25 Command:([]string)<nil> ",
        "Ports:([]v1.ContainerPort)[{Name:(string) HostPort:(int32)0 ContainerPort:(int32)80 Protocol:(v1.Protocol)TCP HostIP:(string)}] ",
        "Resources:(v1.ResourceRequirements){Limits:(v1.ResourceList)<nil> Requests:(v1.ResourceList)<nil> Claims:([]v1.ResourceClaim)<nil>} ",
        "TerminationGracePeriodSeconds:(*int64)30 ",
        "SecurityContext:(*v1.PodSecurityContext){SELinuxOptions:(*v1.SELinuxOptions)<nil> ",
        "Resources:(*v1.ResourceRequirements)<nil>}}",
    ] {
        assert!(text.contains(part), "missing {part:?} in {text}");
    }
}

#[test]
fn empty_lists_and_maps_decode_to_nil() {
    let mut noisy = reference_template("nginx:1.25");
    noisy["metadata"]["annotations"] = json!({});
    noisy["spec"]["volumes"] = json!([]);
    noisy["spec"]["containers"][0]["env"] = Value::Null;
    noisy["spec"]["containers"][0]["unknownField"] = json!("dropped");
    assert_eq!(
        render_pod_template(&noisy),
        render_pod_template(&reference_template("nginx:1.25"))
    );
}

#[test]
fn special_types_print_their_go_internals() {
    let t = json!({"spec": {"containers": [{
        "name": "c",
        "resources": {"limits": {"memory": "128Mi", "cpu": "100m"}},
        "livenessProbe": {"httpGet": {"port": "http"}, "periodSeconds": 10}
    }]}});
    let text = render_pod_template(&t);
    for part in [
        "Limits:(v1.ResourceList)map[cpu:{i:(resource.int64Amount){value:(int64)100 scale:(resource.Scale)-3} ",
        "memory:{i:(resource.int64Amount){value:(int64)134217728 scale:(resource.Scale)0} ",
        "LivenessProbe:(*v1.Probe){ProbeHandler:(v1.ProbeHandler){Exec:(*v1.ExecAction)<nil> HTTPGet:(*v1.HTTPGetAction){Path:(string) \
         Port:(intstr.IntOrString){Type:(intstr.Type)1 IntVal:(int32)0 StrVal:(string)http} ",
        "PeriodSeconds:(int32)10 ",
    ] {
        assert!(text.contains(part), "missing {part:?} in {text}");
    }
}
