//! Start-up: wait for the CA and token k1s writes, then poll `/readyz`
//! until it answers 200.

use crate::client::Client;
use crate::server::{K1s, PORT};
use anyhow::bail;
use reqwest::StatusCode;
use std::time::{Duration, Instant};

/// k1s must be ready well within this, or something is broken.
const START_LIMIT: Duration = Duration::from_secs(30);
const FILE_POLL: Duration = Duration::from_micros(500);
const READY_POLL: Duration = Duration::from_millis(1);

pub struct Started {
    pub client: Client,
    /// From spawning `ip netns exec … k1s server` to the first `/readyz` 200.
    pub ready_after: Duration,
    /// From spawn until the CA and token were on disk.
    pub files_after: Duration,
    pub polls: usize,
}

fn load_client(k1s: &K1s, http2: bool) -> Option<Client> {
    let token = std::fs::read_to_string(k1s.data_dir.join("token")).ok()?;
    let ca = std::fs::read(k1s.data_dir.join("pki").join("ca.crt")).ok()?;
    let token = token.trim();
    if token.is_empty() {
        return None;
    }
    // A CA file still being written fails to parse; the next poll retries.
    Client::new(&ca, token, PORT, http2).ok()
}

fn check_alive(k1s: &mut K1s) -> anyhow::Result<()> {
    if let Some(status) = k1s.exited() {
        bail!("k1s exited during start-up ({status})");
    }
    Ok(())
}

pub async fn start(k1s: &mut K1s, http2: bool) -> anyhow::Result<Started> {
    let deadline = k1s.spawned_at + START_LIMIT;
    let client = loop {
        check_alive(k1s)?;
        if let Some(c) = load_client(k1s, http2) {
            break c;
        }
        if Instant::now() > deadline {
            bail!("k1s wrote no CA/token in {START_LIMIT:?}");
        }
        tokio::time::sleep(FILE_POLL).await;
    };
    let files_after = k1s.spawned_at.elapsed();
    let mut polls = 0;
    loop {
        polls += 1;
        if let Ok((StatusCode::OK, _)) = client.get("/readyz").await {
            return Ok(Started {
                client,
                ready_after: k1s.spawned_at.elapsed(),
                files_after,
                polls,
            });
        }
        check_alive(k1s)?;
        if Instant::now() > deadline {
            bail!("/readyz not ok after {START_LIMIT:?}");
        }
        tokio::time::sleep(READY_POLL).await;
    }
}
