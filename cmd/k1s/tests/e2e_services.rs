//! The Service API as the tutorials in ../shared/seeds/ (000-002) use it,
//! with the real kubectl: every command's output is compared to what a
//! kubeadm cluster prints, with volatile values (ClusterIPs, random
//! NodePorts, AGE) normalized.

mod support;

use support::{squeeze, Cluster};

/// Replaces dynamically allocated ClusterIPs and NodePorts and ages with
/// placeholders so the rest of the output can be compared exactly.
fn normalize(text: &str) -> String {
    let mut out = Vec::new();
    for line in squeeze(text).lines() {
        let words: Vec<String> = line
            .split(' ')
            .map(|w| {
                if is_dynamic_ip(w) {
                    "<IP>".to_string()
                } else if is_age(w) {
                    "<AGE>".to_string()
                } else {
                    normalize_ports(w)
                }
            })
            .collect();
        out.push(words.join(" "));
    }
    out.join("\n")
}

fn is_dynamic_ip(w: &str) -> bool {
    let Ok(ip) = w.parse::<std::net::Ipv4Addr>() else {
        return false;
    };
    let o = ip.octets();
    // 10.96.0.0/12, except the fixed addresses the tutorials show.
    o[0] == 10
        && (96..112).contains(&o[1])
        && !matches!(w, "10.96.0.1" | "10.96.0.10" | "10.96.100.100")
}

fn is_age(w: &str) -> bool {
    let digits = w.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
        && matches!(&w[digits.len()..], "s" | "m" | "h" | "d")
}

/// `80:31234/TCP` → `80:<NP>/TCP` unless the NodePort was chosen by the test.
fn normalize_ports(w: &str) -> String {
    w.split(',')
        .map(|p| match p.split_once(':') {
            Some((port, rest))
                if !rest.starts_with("30007")
                    && !rest.starts_with("30080")
                    && rest.contains('/') =>
            {
                let proto = rest.split_once('/').map(|x| x.1).unwrap_or("");
                format!("{port}:<NP>/{proto}")
            }
            _ => p.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

const TUTORIAL_SERVICES: &str = "apiVersion: v1
kind: Service
metadata:
  name: nodeport-service
spec:
  type: NodePort
  selector:
    app: web
  ports:
  - port: 8080
    targetPort: 80
    nodePort: 30007
---
apiVersion: v1
kind: Service
metadata:
  name: external-service
spec:
  type: ExternalName
  externalName: endpoint.database.site.com
---
apiVersion: v1
kind: Service
metadata:
  name: test-service
spec:
  type: LoadBalancer
  selector:
    app: web-app
  ports:
  - port: 80
    targetPort: 9350
---
apiVersion: v1
kind: Service
metadata:
  name: multi-port-service
spec:
  selector:
    app: nginx
  ports:
  - name: http-port
    protocol: TCP
    port: 80
    targetPort: 9376
  - name: https-port
    protocol: TCP
    port: 443
    targetPort: 9377
---
apiVersion: v1
kind: Service
metadata:
  name: first-service
spec:
  selector:
    app: nginx
  ports:
  - name: http
    port: 80
    targetPort: pod-port
---
apiVersion: v1
kind: Service
metadata:
  name: web-headless
spec:
  clusterIP: None
  selector:
    app: web
  ports:
  - port: 80
---
apiVersion: v1
kind: Service
metadata:
  name: custom-ip
spec:
  clusterIP: 10.96.100.100
  selector:
    app: web
  ports:
  - port: 80
";

#[test]
fn tutorial_services_print_like_a_kubeadm_cluster() {
    let c = Cluster::start();
    let f = c.file("services.yaml", TUTORIAL_SERVICES);
    let applied = c.ok(&["apply", "-f", &f]);
    assert_eq!(
        applied.trim(),
        "service/nodeport-service created\nservice/external-service created\nservice/test-service created\nservice/multi-port-service created\nservice/first-service created\nservice/web-headless created\nservice/custom-ip created"
    );
    // Like k3s's ServiceLB, k1s serves LoadBalancer Services on the node
    // address (where a cloud-less kubeadm cluster would stay <pending>).
    assert!(support::eventually(
        std::time::Duration::from_secs(10),
        || {
            c.jsonpath(
                &["svc", "test-service"],
                "{.status.loadBalancer.ingress[0].ip}",
            ) == support::NODE_IP
        }
    ));
    assert_eq!(
        normalize(&c.ok(&["get", "services"])),
        "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE
custom-ip ClusterIP 10.96.100.100 <none> 80/TCP <AGE>
external-service ExternalName <none> endpoint.database.site.com <none> <AGE>
first-service ClusterIP <IP> <none> 80/TCP <AGE>
kubernetes ClusterIP 10.96.0.1 <none> 443/TCP <AGE>
multi-port-service ClusterIP <IP> <none> 80/TCP,443/TCP <AGE>
nodeport-service NodePort <IP> <none> 8080:30007/TCP <AGE>
test-service LoadBalancer <IP> 192.168.56.10 80:<NP>/TCP <AGE>
web-headless ClusterIP None <none> 80/TCP <AGE>"
    );
    assert_eq!(
        normalize(&c.ok(&["get", "svc", "-A", "-o", "wide"]))
            .lines()
            .next()
            .unwrap_or(""),
        "NAMESPACE NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE SELECTOR"
    );
    assert!(normalize(&c.ok(&["get", "svc", "-A"]))
        .contains("kube-system kube-dns ClusterIP 10.96.0.10 <none> 53/UDP,53/TCP,9153/TCP <AGE>"));

    let described = c.ok(&["describe", "service", "test-service"]);
    let np = c.jsonpath(&["svc", "test-service"], "{.spec.ports[0].nodePort}");
    let ip = c.cluster_ip("test-service");
    assert_eq!(
        described.trim_end(),
        format!(
            "Name:                     test-service
Namespace:                default
Labels:                   <none>
Annotations:              <none>
Selector:                 app=web-app
Type:                     LoadBalancer
IP Family Policy:         SingleStack
IP Families:              IPv4
IP:                       {ip}
IPs:                      {ip}
LoadBalancer Ingress:     192.168.56.10 (VIP)
Port:                     <unset>  80/TCP
TargetPort:               9350/TCP
NodePort:                 <unset>  {np}/TCP
Endpoints:                {empty}
Session Affinity:         None
External Traffic Policy:  Cluster
Internal Traffic Policy:  Cluster
Events:                   <none>",
            // kubectl 1.32 prints endpoints from EndpointSlices; a selector
            // Service without pods has an empty placeholder slice, so the
            // value is blank (older kubectl printed <none> from Endpoints).
            empty = ""
        )
    );
    let yaml = c.ok(&["get", "svc", "first-service", "-o", "yaml"]);
    for line in [
        "  internalTrafficPolicy: Cluster",
        "  ipFamilies:\n  - IPv4",
        "  ipFamilyPolicy: SingleStack",
        "  - name: http\n    port: 80\n    protocol: TCP\n    targetPort: pod-port",
        "  sessionAffinity: None\n  type: ClusterIP",
        "status:\n  loadBalancer: {}",
    ] {
        assert!(yaml.contains(line), "missing {line:?} in\n{yaml}");
    }
    assert_eq!(
        c.ok(&["delete", "service", "test-service"]).trim(),
        "service \"test-service\" deleted"
    );
}

#[test]
fn imperative_service_commands() {
    let c = Cluster::start();
    assert_eq!(
        c.ok(&[
            "create",
            "service",
            "clusterip",
            "nginx-service",
            "--tcp=80:80"
        ])
        .trim(),
        "service/nginx-service created"
    );
    assert_eq!(
        c.ok(&[
            "run",
            "nginx",
            "--image=nginx",
            "--restart=Never",
            "--port=80",
            "--expose"
        ])
        .trim(),
        "service/nginx created\npod/nginx created"
    );
    c.ok(&["create", "deployment", "my-deploy", "--image=nginx"]);
    assert_eq!(
        c.ok(&[
            "expose",
            "deployment",
            "my-deploy",
            "--port=80",
            "--target-port=80"
        ])
        .trim(),
        "service/my-deploy exposed"
    );
    assert_eq!(
        c.ok(&[
            "create",
            "service",
            "nodeport",
            "web",
            "--tcp=80:80",
            "--node-port=30080"
        ])
        .trim(),
        "service/web created"
    );
    assert_eq!(
        c.ok(&[
            "create",
            "service",
            "externalname",
            "db",
            "--external-name=endpoint.database.site.com"
        ])
        .trim(),
        "service/db created"
    );
    assert_eq!(
        normalize(&c.ok(&["get", "svc", "-o", "wide"])),
        "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE SELECTOR
db ExternalName <none> endpoint.database.site.com <none> <AGE> app=db
kubernetes ClusterIP 10.96.0.1 <none> 443/TCP <AGE> <none>
my-deploy ClusterIP <IP> <none> 80/TCP <AGE> app=my-deploy
nginx ClusterIP <IP> <none> 80/TCP <AGE> run=nginx
nginx-service ClusterIP <IP> <none> 80/TCP <AGE> app=nginx-service
web NodePort <IP> <none> 80:30080/TCP <AGE> app=web"
    );
    // kubectl edit: ClusterIP → NodePort keeps the ClusterIP and allocates a NodePort.
    let ip = c.cluster_ip("nginx");
    assert_eq!(
        c.edit(
            &["service", "nginx"],
            "sed -i -e s/type:\\ ClusterIP/type:\\ NodePort/"
        )
        .trim(),
        "service/nginx edited"
    );
    assert_eq!(
        c.jsonpath(&["svc", "nginx"], "{.spec.type} {.spec.clusterIP}"),
        format!("NodePort {ip}")
    );
    let node_port = || c.jsonpath(&["svc", "nginx"], "{.spec.ports[0].nodePort}");
    let np: u16 = node_port().parse().unwrap();
    assert!((30000..=32767).contains(&np));
    // Back to ClusterIP with a patch: the NodePort is released.
    c.ok(&[
        "patch",
        "svc",
        "nginx",
        "-p",
        r#"{"spec":{"type":"ClusterIP","ports":[{"port":80,"nodePort":null}]}}"#,
    ]);
    assert_eq!(node_port(), "", "the NodePort is released");
    c.ok(&[
        "create",
        "service",
        "nodeport",
        "reuse",
        "--tcp=80:80",
        &format!("--node-port={np}"),
    ]);

    let out = c.ok(&["cluster-info"]);
    assert!(
        out.contains("Kubernetes control plane is running at https://192.168.56.10:6443"),
        "{out}"
    );
    assert!(out.contains("CoreDNS is running at https://192.168.56.10:6443/api/v1/namespaces/kube-system/services/kube-dns:dns/proxy"), "{out}");
    let dump = c.ok(&["cluster-info", "dump"]);
    let line = dump
        .lines()
        .find(|l| l.contains("service-cluster-ip-range"))
        .unwrap_or("");
    assert_eq!(
        line.trim(),
        r#""k1s.io/service-cluster-ip-range": "10.96.0.0/12","#
    );
}

#[test]
fn invalid_services_are_refused_with_kube_apiservers_messages() {
    let c = Cluster::start();
    let cases = [
        (
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: bad-ip\nspec:\n  clusterIP: 10.0.0.5\n  ports:\n  - port: 80\n",
            "Service \"bad-ip\" is invalid: spec.clusterIPs: Invalid value: []string{\"10.0.0.5\"}: failed to allocate IP 10.0.0.5: the provided IP (10.0.0.5) is not in the valid range. The range of valid IPs is 10.96.0.0/12",
        ),
        (
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: taken\nspec:\n  clusterIP: 10.96.0.10\n  ports:\n  - port: 80\n",
            "Service \"taken\" is invalid: spec.clusterIPs: Invalid value: []string{\"10.96.0.10\"}: failed to allocate IP 10.96.0.10: provided IP is already allocated",
        ),
        (
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: multi\nspec:\n  ports:\n  - port: 80\n  - port: 443\n",
            "Service \"multi\" is invalid: \n* spec.ports[0].name: Required value\n* spec.ports[1].name: Required value",
        ),
        (
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: np\nspec:\n  type: NodePort\n  ports:\n  - port: 80\n    nodePort: 80\n",
            "Service \"np\" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767",
        ),
        (
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: Web\nspec:\n  ports:\n  - port: 80\n",
            "Service \"Web\" is invalid: metadata.name: Invalid value: \"Web\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
        ),
    ];
    // kubectl prints a single object's Invalid Status as "The <kind> <name> is
    // invalid: …", one cause per line when there are several.
    for (i, (manifest, message)) in cases.iter().enumerate() {
        let f = c.file(&format!("bad-{i}.yaml"), manifest);
        let err = c.fails(&["apply", "-f", &f]);
        assert_eq!(err.trim_end(), format!("The {message}"));
    }
}
