//! The port-forward protocol on a SPDY connection, as the kubelet serves
//! it: per forwarded connection the client opens an `error` and a `data`
//! stream carrying the same `requestID` and `port`; the server connects to
//! the port in the pod and pipes the data stream to it, writing failures
//! to the error stream.

use super::spdy::{Connection, HeaderBlock, IncomingStream, StreamWriter};
use super::PodStreams;
use bytes::BytesMut;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The SPDY subprotocol of port-forward.
pub const PROTOCOL: &str = "portforward.k8s.io";

/// How long a pair may wait for its second stream (kubelet's default).
const STREAM_CREATION_TIMEOUT: Duration = Duration::from_secs(30);

/// Once one direction of a forwarded connection ends, how long the other
/// gets to finish (containerd's port forwarder waits one second).
const OTHER_DIRECTION_GRACE: Duration = Duration::from_secs(1);

/// The kubelet's check of a new stream's headers.
pub fn check_stream(headers: &HeaderBlock) -> Result<(), String> {
    let port = headers
        .get("port")
        .filter(|p| !p.is_empty())
        .ok_or_else(|| "\"port\" header is required".to_string())?;
    parse_port(port)?;
    match headers.get("streamtype") {
        None | Some("") => Err("\"streamType\" header is required".into()),
        Some("error" | "data") => Ok(()),
        Some(other) => Err(format!("invalid stream type {other:?}")),
    }
}

pub fn parse_port(port: &str) -> Result<u16, String> {
    let n: u16 = port.parse().map_err(|_| {
        format!("unable to parse {port:?} as a port: strconv.ParseUint: parsing {port:?}: invalid syntax")
    })?;
    if n < 1 {
        return Err(format!("port {port:?} must be > 0"));
    }
    Ok(n)
}

/// The pairing key: the `requestID` header, or for clients too old to send
/// one, the kubelet's guess from consecutive stream ids.
pub fn request_id(stream_id: u32, headers: &HeaderBlock) -> String {
    if let Some(id) = headers.get("requestid").filter(|id| !id.is_empty()) {
        return id.to_string();
    }
    match headers.get("streamtype") {
        Some("data") => (i64::from(stream_id) - 2).to_string(),
        _ => stream_id.to_string(),
    }
}

/// The text the kubelet writes on the error stream when forwarding fails
/// (CRI runtimes name the pod by its sandbox and leave the uid empty).
pub fn forward_error(port: u16, pod_uid: &str, why: &str) -> String {
    format!("error forwarding port {port} to pod {pod_uid}, uid : {why}")
}

#[derive(Default)]
struct Pair {
    error: Option<IncomingStream>,
    data: Option<IncomingStream>,
    created: Option<Instant>,
}

/// Serves port-forward on `conn` until the client goes away.
pub async fn serve(mut conn: Connection, streams: Arc<dyn PodStreams>, pod: Value) {
    let writer = conn.writer.clone();
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_id = 0;
    loop {
        tokio::select! {
            s = conn.streams.recv() => {
                let Some(s) = s else { break };
                last_id = last_id.max(s.id);
                let id = request_id(s.id, &s.headers);
                let pair = pairs.entry(id.clone()).or_default();
                pair.created.get_or_insert_with(Instant::now);
                let slot = match s.headers.get("streamtype") {
                    Some("error") => &mut pair.error,
                    _ => &mut pair.data,
                };
                if slot.is_some() {
                    let kind = s.headers.get("streamtype").unwrap_or("");
                    let msg = format!("error processing stream for request {id}: {kind} stream already assigned");
                    tracing::debug!("port-forward: {msg}");
                    if let Some(e) = &pair.error {
                        let _ = writer.data(e.id, msg.into()).await;
                    }
                    let _ = writer.reset(s.id).await;
                    continue;
                }
                *slot = Some(s);
                if pair.error.is_some() && pair.data.is_some() {
                    if let Some(Pair { error: Some(error), data: Some(data), .. }) = pairs.remove(&id) {
                        tokio::spawn(forward(writer.clone(), streams.clone(), pod.clone(), error, data));
                    }
                }
            }
            _ = tick.tick() => {
                let expired: Vec<String> = pairs
                    .iter()
                    .filter(|(_, p)| p.created.is_some_and(|t| t.elapsed() > STREAM_CREATION_TIMEOUT))
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in expired {
                    let Some(pair) = pairs.remove(&id) else { continue };
                    if let Some(e) = pair.error {
                        let msg = format!("(conn=spdy, request={id}) timed out waiting for streams");
                        let _ = writer.data(e.id, msg.into()).await;
                        let _ = writer.fin(e.id).await;
                    }
                    if let Some(d) = pair.data {
                        let _ = writer.reset(d.id).await;
                    }
                }
            }
        }
    }
    writer.close(last_id).await;
}

/// One forwarded connection: pod port ⇄ data stream.
async fn forward(
    writer: StreamWriter,
    streams: Arc<dyn PodStreams>,
    pod: Value,
    error: IncomingStream,
    mut data: IncomingStream,
) {
    let port = data
        .headers
        .get("port")
        .and_then(|p| parse_port(p).ok())
        .unwrap_or_default();
    let uid = pod["metadata"]["uid"].as_str().unwrap_or("").to_string();
    let io = match streams.port_forward(pod, port).await {
        Ok(io) => io,
        Err(e) => {
            let msg = forward_error(port, &uid, &e.message);
            tracing::debug!("port-forward: {msg}");
            let _ = writer.data(error.id, msg.into()).await;
            // Resetting tells the client the streams are done for.
            let _ = writer.reset(data.id).await;
            let _ = writer.reset(error.id).await;
            return;
        }
    };
    let (mut from_pod, mut to_pod) = tokio::io::split(io);
    let data_id = data.id;
    let inbound = async {
        while let Some(b) = data.data.recv().await {
            if to_pod.write_all(&b).await.is_err() {
                break;
            }
        }
        let _ = to_pod.shutdown().await;
    };
    let outbound = async {
        let mut buf = BytesMut::with_capacity(32 * 1024);
        loop {
            buf.reserve(32 * 1024);
            match from_pod.read_buf(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if writer.data(data_id, buf.split().freeze()).await.is_err() {
                        break;
                    }
                }
            }
        }
    };
    tokio::pin!(inbound);
    tokio::pin!(outbound);
    tokio::select! {
        () = &mut inbound => { let _ = tokio::time::timeout(OTHER_DIRECTION_GRACE, &mut outbound).await; }
        () = &mut outbound => { let _ = tokio::time::timeout(OTHER_DIRECTION_GRACE, &mut inbound).await; }
    }
    let _ = writer.fin(data_id).await;
    let _ = writer.fin(error.id).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderBlock {
        HeaderBlock(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn streams_need_a_port_and_a_known_type() {
        assert!(check_stream(&headers(&[("streamtype", "data"), ("port", "80")])).is_ok());
        assert_eq!(
            check_stream(&headers(&[("streamtype", "data")])),
            Err("\"port\" header is required".into())
        );
        assert_eq!(
            check_stream(&headers(&[("streamtype", "data"), ("port", "http")])),
            Err("unable to parse \"http\" as a port: strconv.ParseUint: parsing \"http\": invalid syntax".into())
        );
        assert_eq!(
            check_stream(&headers(&[("streamtype", "data"), ("port", "0")])),
            Err("port \"0\" must be > 0".into())
        );
        assert_eq!(
            check_stream(&headers(&[("port", "80")])),
            Err("\"streamType\" header is required".into())
        );
        assert_eq!(
            check_stream(&headers(&[("streamtype", "stdin"), ("port", "80")])),
            Err("invalid stream type \"stdin\"".into())
        );
    }

    #[test]
    fn pairs_key_on_request_id_or_stream_ids() {
        assert_eq!(request_id(7, &headers(&[("requestid", "3")])), "3");
        assert_eq!(request_id(1, &headers(&[("streamtype", "error")])), "1");
        assert_eq!(request_id(3, &headers(&[("streamtype", "data")])), "1");
    }

    #[test]
    fn forwarding_errors_read_like_the_kubelets() {
        assert_eq!(
            forward_error(80, "0c5f", "connection refused"),
            "error forwarding port 80 to pod 0c5f, uid : connection refused"
        );
    }
}
