//! The offline test images work: build busybox, nginx and curl from the
//! host's Debian packages, `import` them, unpack, mount each as overlayfs
//! in a private mount/net/uts namespace (`unshare`), and run them chrooted:
//! nginx answers with its hostname and curl fetches it over loopback.
//! Needs root, busybox-static, nginx, curl and iproute2.

use std::path::{Path, PathBuf};
use std::process::Command;

use k1s_node::image::unpack::lowerdir_option;
use k1s_node::image::ImageStore;
use k1s_node::testimages::{build_test_images, BUSYBOX, CURL, NGINX};

fn overlay_mount(store: &ImageStore, image: &str, scratch: &Path, name: &str) -> (String, PathBuf) {
    let rec = store
        .get(image)
        .expect("get")
        .unwrap_or_else(|| panic!("{image} imported"));
    let lower = store.rootfs_layers(&rec).expect("unpack");
    let (up, work, merged) = (
        scratch.join(format!("{name}-up")),
        scratch.join(format!("{name}-work")),
        scratch.join(name),
    );
    for d in [&up, &work, &merged] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    let cmd = format!(
        "mount -t overlay overlay -o lowerdir={},upperdir={},workdir={} {m} && mount --bind /dev {m}/dev && mount -t proc proc {m}/proc",
        lowerdir_option(&lower),
        up.display(),
        work.display(),
        m = merged.display()
    );
    (cmd, merged)
}

#[test]
fn busybox_nginx_and_curl_images_run() {
    assert_eq!(nix::unistd::geteuid().as_raw(), 0, "needs root");
    let out = tempfile::tempdir().expect("tempdir");
    let images = build_test_images(&out.path().join("layouts")).expect("build test images");
    assert_eq!(images.len(), 3);

    let data = tempfile::tempdir().expect("tempdir");
    let store = ImageStore::open(data.path()).expect("store");
    for img in &images {
        let refs = store.import(&img.layout).expect("import");
        assert_eq!(
            refs.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
            img.names
        );
    }
    // The busybox base layer is shared: three images, three layers.
    let scratch = tempfile::tempdir().expect("tempdir");
    let (m_busybox, bb) = overlay_mount(&store, BUSYBOX, scratch.path(), "busybox");
    let (m_nginx, ngx) = overlay_mount(&store, NGINX, scratch.path(), "nginx");
    let (m_curl, crl) = overlay_mount(&store, CURL, scratch.path(), "curl");
    assert_eq!(store.layers().all().expect("layers").len(), 3);

    let script = format!(
        r#"set -e
{m_busybox}
{m_nginx}
{m_curl}
hostname web-1
ip link set lo up
chroot {bb} /bin/sh -c 'echo busybox-ok; ls /bin/ls >/dev/null'
chroot {ngx} /usr/sbin/nginx -t 2>&1 | tail -1
chroot {ngx} /usr/sbin/nginx -g 'daemon off;' &
pid=$!
ok=
for i in $(seq 100); do
  if body=$(chroot {crl} /entrypoint.sh -sf http://127.0.0.1/); then ok=1; break; fi
  sleep 0.1
done
kill $pid
test -n "$ok"
echo "served: $body"
chroot {crl} /entrypoint.sh sh -c 'echo entrypoint-runs-commands'
"#,
        bb = bb.display(),
        ngx = ngx.display(),
        crl = crl.display(),
    );
    let out = Command::new("timeout")
        .args([
            "120",
            "unshare",
            "-m",
            "-n",
            "-u",
            "--propagation",
            "private",
            "sh",
            "-c",
            &script,
        ])
        .output()
        .expect("unshare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(
        stdout
            .lines()
            .filter(|l| !l.starts_with("127.0.0.1 - "))
            .collect::<Vec<_>>(),
        vec![
            "busybox-ok",
            "nginx: configuration file /etc/nginx/nginx.conf test is successful",
            "served: web-1",
            "entrypoint-runs-commands",
        ],
        "stderr:\n{stderr}"
    );
}
