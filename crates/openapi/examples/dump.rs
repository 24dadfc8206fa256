//! Writes every document into a directory and reports build time and sizes:
//! `cargo run --release -p k1s-openapi --example dump -- /tmp/openapi`.

use std::time::Instant;

use k1s_openapi::OpenApi;

fn main() -> std::io::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "openapi".into());
    std::fs::create_dir_all(&dir)?;
    let rss_before = rss_kib();
    let start = Instant::now();
    let api = OpenApi::build();
    let built = start.elapsed();
    api.warm();
    let v3 = start.elapsed();
    let rss_v3 = rss_kib();
    let v2 = api.v2_json().len();
    let all = start.elapsed();
    println!("build {built:?}, v3 documents {v3:?}, +v2 {all:?}");
    println!(
        "RSS {rss_before} KiB before, {rss_v3} KiB after v3, {} KiB after v2",
        rss_kib()
    );
    std::fs::write(format!("{dir}/openapi__v3"), api.index_v3())?;
    println!("/openapi/v3: {} bytes", api.index_v3().len());
    for key in api.v3_paths() {
        if let Some((body, _)) = api.v3(key) {
            let file = format!("{dir}/openapi__v3__{}", key.replace('/', "__"));
            std::fs::write(file, body)?;
            println!("/openapi/v3/{key}: {} bytes", body.len());
        }
    }
    std::fs::write(format!("{dir}/openapi__v2"), api.v2_json())?;
    println!("/openapi/v2: {v2} bytes");
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    for line in status.lines().filter(|l| l.starts_with("Rss")) {
        println!("{line}");
    }
    Ok(())
}

/// Resident set size from /proc (Linux), 0 elsewhere.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
