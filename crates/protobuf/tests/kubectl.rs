//! End to end with the real kubectl: `kubectl create …` POSTs protobuf to a
//! tiny plain-HTTP listener on 127.0.0.1 that answers with the decoded JSON.
//! The oracle is kubectl itself: `--dry-run=client -o json` prints Go's JSON
//! encoding of the very object it would have sent.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

struct Captured {
    path: String,
    content_type: String,
    body: Vec<u8>,
}

type Log = Arc<Mutex<Vec<Captured>>>;

/// Serves one connection: GETs (kubectl's /version probe) get a 404 Status,
/// POSTs are recorded and answered with 201 and the decoded object.
fn serve(stream: TcpStream, log: Log) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
        let (mut length, mut content_type) = (0usize, String::new());
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    "content-type" => content_type = value.trim().to_string(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let (status, reply) = if method == "POST" {
            let reply = match k1s_protobuf::decode(&body) {
                Ok(mut v) => {
                    // kubectl create token insists on a token in the answer.
                    if v["kind"] == "TokenRequest" {
                        v["status"]["token"] = json!("test-token");
                    }
                    ("201 Created", v)
                }
                Err(e) => (
                    "400 Bad Request",
                    json!({"kind": "Status", "apiVersion": "v1",
                    "status": "Failure", "message": e.to_string(), "code": 400}),
                ),
            };
            log.lock().unwrap().push(Captured {
                path,
                content_type,
                body,
            });
            reply
        } else {
            (
                "404 Not Found",
                json!({"kind": "Status", "apiVersion": "v1",
                "status": "Failure", "reason": "NotFound", "code": 404}),
            )
        };
        let reply = serde_json::to_vec(&reply).unwrap();
        write!(
            writer,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            reply.len()
        )?;
        writer.write_all(&reply)?;
        writer.flush()?;
    }
}

fn kubectl(args: &[&str], server: &str, scratch: &std::path::Path) -> std::process::Output {
    let mut cmd = Command::new(std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into()));
    // No kubeconfig of the user's may leak in; --server points at the listener.
    cmd.env("KUBECONFIG", scratch.join("no-kubeconfig"))
        .env("HOME", scratch)
        .arg("--server")
        .arg(server)
        .args(args);
    cmd.output()
        .expect("kubectl (v1.32) must be on PATH, as .ci/run requires")
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap()
}

#[test]
fn real_kubectl_create_bodies_decode_like_go_prints_them() {
    let scratch = std::env::temp_dir().join(format!("k1s-protobuf-kubectl-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let binary = scratch.join("blob.bin");
    std::fs::write(&binary, [0u8, 1, 2, 0xfe, 0xff]).unwrap();
    let binary_arg = format!("--from-file=blob={}", binary.display());

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = format!("http://{}", listener.local_addr().unwrap());
    let log: Log = Arc::default();
    {
        let log = log.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = log.clone();
                thread::spawn(move || serve(stream, log));
            }
        });
    }

    let commands: Vec<Vec<&str>> = vec![
        vec![
            "create",
            "configmap",
            "x",
            "--from-literal=a=b",
            "--from-literal=c=",
        ],
        vec!["create", "configmap", "bin", &binary_arg],
        vec![
            "create",
            "deployment",
            "web",
            "--image=nginx",
            "--replicas=3",
        ],
        vec![
            "create",
            "deployment",
            "zero",
            "--image=nginx",
            "--replicas=0",
            "--port=80",
        ],
        vec![
            "create",
            "service",
            "nodeport",
            "web",
            "--tcp=80:80",
            "--node-port=30080",
        ],
        vec![
            "create",
            "service",
            "clusterip",
            "db",
            "--tcp=5432:5432,9187:metrics",
        ],
        vec![
            "create",
            "service",
            "clusterip",
            "headless",
            "--clusterip=None",
        ],
        vec!["create", "service", "loadbalancer", "lb", "--tcp=80:8080"],
        vec![
            "create",
            "service",
            "externalname",
            "ext",
            "--external-name=example.com",
        ],
        vec![
            "create",
            "secret",
            "generic",
            "creds",
            "--from-literal=token=s3cr3t",
            "--type=Opaque",
        ],
        vec![
            "create",
            "secret",
            "docker-registry",
            "reg",
            "--docker-server=r.example",
            "--docker-username=u",
            "--docker-password=p",
        ],
        vec!["create", "namespace", "demo"],
        vec!["create", "serviceaccount", "builder"],
    ];
    for args in &commands {
        let posted = log.lock().unwrap().len();
        let out = kubectl(args, &server, &scratch);
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let decoded = {
            let log = log.lock().unwrap();
            assert_eq!(log.len(), posted + 1, "kubectl {args:?} must POST once");
            let sent = &log[posted];
            assert_eq!(
                sent.content_type, "application/vnd.kubernetes.protobuf",
                "{}",
                sent.path
            );
            k1s_protobuf::decode(&sent.body).unwrap()
        };

        let mut dry = args.clone();
        dry.extend(["--dry-run=client", "-o", "json"]);
        let out = kubectl(&dry, &server, &scratch);
        assert!(
            out.status.success(),
            "kubectl {dry:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(pretty(&decoded), pretty(&printed), "kubectl {args:?}");
    }

    // `kubectl create token` has no dry run; its TokenRequest is small enough to spell out.
    let out = kubectl(
        &["create", "token", "builder", "--duration=10m"],
        &server,
        &scratch,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = log.lock().unwrap();
    let last = log.last().unwrap();
    assert_eq!(
        last.path,
        "/api/v1/namespaces/default/serviceaccounts/builder/token"
    );
    assert_eq!(
        pretty(&k1s_protobuf::decode(&last.body).unwrap()),
        pretty(&json!({
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": null},
            "spec": {"audiences": null, "expirationSeconds": 600, "boundObjectRef": null},
            "status": {"token": "", "expirationTimestamp": null}
        }))
    );
    let _ = std::fs::remove_dir_all(&scratch);
}
