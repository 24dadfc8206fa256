//! The pull path against a real registry (Debian's `docker-registry`,
//! distribution 2.8) with Bearer token auth, all inside a network
//! namespace this test makes: a dedicated thread unshares its network
//! namespace (only `lo`), starts the registry there on 127.0.0.1:5000,
//! serves a token endpoint on 127.0.0.1:5001 that signs ES256 JWTs the
//! registry trusts, pushes images with our own client and pulls them back.
//! Nothing can leave the namespace; it vanishes with the thread and the
//! registry process. Needs root, docker-registry, busybox-static, iproute2.

use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use k1s_node::image::manifest::{Descriptor, Index, Platform, OCI_INDEX, OCI_MANIFEST};
use k1s_node::image::policy::pull_error_message;
use k1s_node::image::pull::RegistryClient;
use k1s_node::image::{Digest, ImageStore, Reference};
use k1s_node::testimages::{self, BuiltImage, ImageBuilder, LayerBuilder};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SERVICE: &str = "k1s-test-registry";
const ISSUER: &str = "k1s-test-issuer";
const REGISTRY: &str = "127.0.0.1:5000";
const TOKEN_ADDR: &str = "127.0.0.1:5001";

/// Kills the registry when the test ends, however it ends.
struct Registry(Child);

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Signer {
    key: EcdsaKeyPair,
    cert_der: Vec<u8>,
    rng: SystemRandom,
}

impl Signer {
    fn new(dir: &Path) -> (Signer, PathBuf) {
        let key_pair = rcgen::KeyPair::generate().expect("key");
        let params =
            rcgen::CertificateParams::new(vec!["k1s-token-signer".to_string()]).expect("params");
        let cert = params.self_signed(&key_pair).expect("cert");
        let bundle = dir.join("token.crt");
        fs::write(&bundle, cert.pem()).expect("bundle");
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &key_pair.serialize_der(),
            &rng,
        )
        .expect("ring key");
        (
            Signer {
                key,
                cert_der: cert.der().to_vec(),
                rng,
            },
            bundle,
        )
    }

    /// A registry token (docker token spec) granting what `scope` asks.
    fn token(&self, scope: &str) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let access: Vec<serde_json::Value> = scope
            .split(' ')
            .filter_map(|s| {
                let mut parts = s.splitn(3, ':');
                let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                Some(serde_json::json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
            })
            .collect();
        let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [STANDARD.encode(&self.cert_der)]});
        let claims = serde_json::json!({
            "iss": ISSUER, "sub": "", "aud": SERVICE,
            "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{}", scope.len()),
            "access": access,
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = self.key.sign(&self.rng, input.as_bytes()).expect("sign");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }
}

/// A one-request-per-connection HTTP/1.1 token endpoint.
async fn serve_tokens(
    listener: tokio::net::TcpListener,
    signer: Arc<Signer>,
    hits: Arc<AtomicUsize>,
) {
    while let Ok((mut sock, _)) = listener.accept().await {
        let mut req = Vec::new();
        let mut buf = [0u8; 1024];
        while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 16 * 1024 {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => req.extend_from_slice(&buf[..n]),
            }
        }
        let text = String::from_utf8_lossy(&req);
        let path = text.split(' ').nth(1).unwrap_or("/");
        let url = reqwest::Url::parse(&format!("http://token{path}")).expect("url");
        let service_ok = url
            .query_pairs()
            .any(|(k, v)| k == "service" && v == SERVICE);
        let scope: Vec<String> = url
            .query_pairs()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v.into_owned())
            .collect();
        let (status, body) = if url.path() == "/token" && service_ok {
            hits.fetch_add(1, Ordering::SeqCst);
            let t = signer.token(&scope.join(" "));
            (
                "200 OK",
                serde_json::json!({"token": t, "expires_in": 300}).to_string(),
            )
        } else {
            ("400 Bad Request", "{}".to_string())
        };
        let resp = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = sock.write_all(resp.as_bytes()).await;
        let _ = sock.shutdown().await;
    }
}

fn start_registry(dir: &Path, bundle: &Path) -> Registry {
    let config = format!(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {REGISTRY}\nauth:\n  token:\n    realm: http://{TOKEN_ADDR}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
        dir.join("storage").display(),
        bundle.display()
    );
    let cfg = dir.join("config.yml");
    fs::write(&cfg, config).expect("config");
    let log = fs::File::create(dir.join("registry.log")).expect("log");
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&cfg)
        .stdout(Stdio::from(log.try_clone().expect("log")))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("docker-registry (Debian package docker-registry) must be installed");
    let registry = Registry(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(REGISTRY).is_err() {
        assert!(
            Instant::now() < deadline,
            "registry did not start: {}",
            fs::read_to_string(dir.join("registry.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    registry
}

async fn push(client: &RegistryClient, r: &Reference, img: &BuiltImage) {
    for (d, bytes) in img.blobs() {
        if d != img.manifest_digest {
            assert_eq!(client.push_blob(r, bytes).await.expect("push blob"), d);
        }
    }
    client
        .push_manifest(r, OCI_MANIFEST, &img.manifest)
        .await
        .expect("push manifest");
}

fn small_image(marker: &str) -> BuiltImage {
    let mut l = LayerBuilder::new();
    l.file("marker", marker.as_bytes(), 0o644).expect("file");
    let mut b = ImageBuilder::new(Default::default()).layer(l.finish().expect("tar"));
    b.gzip = true;
    b.build().expect("build")
}

/// Runs `f` on a thread inside a fresh network namespace.
fn in_netns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
            .expect("unshare(CLONE_NEWNET) needs root");
        let up = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .expect("ip (iproute2)");
        assert!(up.success(), "ip link set lo up");
        f()
    })
    .join()
    .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

#[test]
fn push_then_pull_through_token_auth() {
    assert_eq!(nix::unistd::geteuid().as_raw(), 0, "needs root");
    in_netns(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let (signer, bundle) = Signer::new(dir.path());
        let _registry = start_registry(dir.path(), &bundle);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let hits = Arc::new(AtomicUsize::new(0));
            let listener = tokio::net::TcpListener::bind(TOKEN_ADDR).await.expect("token listener");
            tokio::spawn(serve_tokens(listener, Arc::new(signer), hits.clone()));

            // Without a token the registry refuses, with a Bearer challenge.
            let anon = reqwest::get(format!("http://{REGISTRY}/v2/")).await.expect("GET /v2/");
            assert_eq!(anon.status(), 401);
            let challenge = anon.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            assert!(challenge.starts_with("Bearer realm=\"http://127.0.0.1:5001/token\""), "{challenge}");

            let client = RegistryClient::new().expect("client");
            let mut busybox = testimages::busybox_image(testimages::busybox_layer().expect("busybox layer"));
            busybox.gzip = true;
            let busybox = busybox.build().expect("build");
            let tagged = Reference::parse(&format!("{REGISTRY}/test/busybox:1.0")).expect("ref");
            push(&client, &tagged, &busybox).await;
            assert!(hits.load(Ordering::SeqCst) > 0, "the client fetched a token");

            // A multi-arch index: an arm64 image and the busybox one.
            let arm = small_image("arm64");
            let multi = Reference::parse(&format!("{REGISTRY}/test/busybox:multi")).expect("ref");
            push(&client, &multi, &arm).await;
            let mut arm_desc = Descriptor::new(OCI_MANIFEST, arm.manifest_digest.clone(), arm.manifest.len() as u64);
            arm_desc.platform = Some(Platform { architecture: "arm64".into(), os: "linux".into(), variant: Some("v8".into()), os_version: None });
            let index = Index {
                schema_version: 2,
                media_type: Some(OCI_INDEX.into()),
                manifests: vec![arm_desc, busybox.manifest_descriptor()],
                annotations: None,
            };
            let index_bytes = serde_json::to_vec(&index).expect("index");
            client.push_manifest(&multi, OCI_INDEX, &index_bytes).await.expect("push index");

            // Pull with a fresh client (no cached tokens) into a fresh store.
            let data = tempfile::tempdir().expect("tempdir");
            let store = ImageStore::open(data.path()).expect("store");
            let fresh = RegistryClient::new().expect("client");
            let pulled = store.pull_with(&fresh, &tagged).await.expect("pull by tag");
            assert_eq!(pulled.record.name, "127.0.0.1:5000/test/busybox:1.0");
            assert_eq!(pulled.record.manifest, busybox.manifest_digest);
            assert_eq!(pulled.digest(), &busybox.manifest_digest);
            assert_eq!(pulled.record.config, busybox.config_digest);
            let lower = store.rootfs_layers(&pulled.record).expect("unpack");
            assert!(lower[0].join("bin/busybox").is_file());
            assert_eq!(fs::read_link(lower[0].join("bin/sh")).expect("sh"), Path::new("/bin/busybox"));

            let pulled = store.pull_with(&fresh, &multi).await.expect("pull index");
            assert_eq!(pulled.record.target, Digest::of(&index_bytes), "the name points at the index");
            assert_eq!(pulled.record.manifest, busybox.manifest_digest, "linux/amd64 chosen");
            assert!(!store.blobs().contains(&Digest::of(&arm.layers[0].0)), "other platforms are not downloaded");

            let by_digest = Reference::parse(&format!("{REGISTRY}/test/busybox@{}", arm.manifest_digest)).expect("ref");
            let pulled = store.pull_with(&fresh, &by_digest).await.expect("pull by digest");
            assert_eq!(pulled.record.name, format!("127.0.0.1:5000/test/busybox@{}", arm.manifest_digest));
            assert!(store.get(&by_digest.to_string()).expect("get").is_some());

            let names: Vec<String> = store.list().expect("list").into_iter().map(|i| i.name).collect();
            assert_eq!(names.len(), 3);

            let missing = Reference::parse(&format!("{REGISTRY}/test/busybox:nope")).expect("ref");
            let err = store.pull_with(&fresh, &missing).await.expect_err("missing tag");
            assert!(err.is_not_found(), "{err}");
            assert_eq!(
                pull_error_message(&missing, &err),
                "rpc error: code = NotFound desc = failed to pull and unpack image \"127.0.0.1:5000/test/busybox:nope\": failed to resolve reference \"127.0.0.1:5000/test/busybox:nope\": 127.0.0.1:5000/test/busybox:nope: not found"
            );
            let nothing_listens = Reference::parse("127.0.0.1:5999/x/y:1").expect("ref");
            let err = store.pull_with(&fresh, &nothing_listens).await.expect_err("refused").to_string();
            assert!(err.starts_with("failed to resolve reference \"127.0.0.1:5999/x/y:1\": failed to do request:"), "{err}");
        });
    });
}
