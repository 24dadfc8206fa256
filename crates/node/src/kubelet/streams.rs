//! The node side of `kubectl logs|exec|attach|port-forward`: finds the
//! container from the pod's status and hands the API server its log
//! file, an exec/attach session or a connection into the pod's network
//! namespace. Errors carry the kubelet's texts.

use super::state::CONTAINER_ID_PREFIX;
use super::{containers::log_path, meta, Context};
use crate::logs::reader::{read_log, since_from, LogReadOptions};
use crate::runtime::attach_client::AttachSpec;
use crate::runtime::exec::ExecSpec;
use k1s_api::{ApiError, ApiResult};
use k1s_apiserver::podstreams::{
    AttachRequest, BoxFuture, BoxedIo, ByteStream, ExecRequest, LogOptions, PodStreams, Session,
    TermSize,
};
use serde_json::Value;
use std::sync::Arc;

pub struct NodeStreams {
    ctx: Arc<Context>,
}

impl NodeStreams {
    pub fn new(ctx: Arc<Context>) -> NodeStreams {
        NodeStreams { ctx }
    }
}

/// The container's entry in `status.containerStatuses` (or init's).
fn container_status<'a>(pod: &'a Value, container: &str) -> Option<&'a Value> {
    [
        "containerStatuses",
        "initContainerStatuses",
        "ephemeralContainerStatuses",
    ]
    .iter()
    .filter_map(|f| pod["status"][*f].as_array())
    .flatten()
    .find(|s| s["name"] == container)
}

fn id_of(state: &Value) -> Option<String> {
    state["containerID"]
        .as_str()
        .and_then(|id| id.strip_prefix(CONTAINER_ID_PREFIX))
        .map(String::from)
}

/// The id of the running instance, or the kubelet's "not found" error.
fn running_id(pod: &Value, container: &str) -> ApiResult<String> {
    container_status(pod, container)
        .filter(|s| !s["state"]["running"].is_null())
        .and_then(id_of)
        .ok_or_else(|| {
            ApiError::internal(format!(
                "unable to upgrade connection: container not found (\"{container}\")"
            ))
        })
}

fn waiting_error(pod: &Value, container: &str, reason: &str) -> ApiError {
    ApiError::bad_request(format!(
        "container \"{container}\" in pod \"{}\" is waiting to start: {reason}",
        meta(pod, "name")
    ))
}

/// Which log file `kubectl logs` (or `--previous`) reads.
fn log_attempt(pod: &Value, container: &str, previous: bool) -> ApiResult<u32> {
    let status = container_status(pod, container);
    let restarts = status.and_then(|s| s["restartCount"].as_u64()).unwrap_or(0) as u32;
    let has_last = status.is_some_and(|s| !s["lastState"]["terminated"].is_null());
    if previous {
        if restarts == 0 || !has_last {
            return Err(ApiError::bad_request(format!(
                "previous terminated container \"{container}\" in pod \"{}\" not found",
                meta(pod, "name")
            )));
        }
        return Ok(restarts - 1);
    }
    let state = status.map(|s| &s["state"]);
    match state {
        Some(s) if !s["running"].is_null() || !s["terminated"].is_null() => Ok(restarts),
        // Crash-looping: the last instance's log.
        Some(s) if has_last => {
            let _ = s;
            Ok(restarts)
        }
        Some(s) => Err(waiting_error(
            pod,
            container,
            s["waiting"]["reason"]
                .as_str()
                .unwrap_or("ContainerCreating"),
        )),
        None => Err(waiting_error(pod, container, "ContainerCreating")),
    }
}

impl PodStreams for NodeStreams {
    fn logs(
        &self,
        pod: Value,
        container: String,
        opts: LogOptions,
    ) -> BoxFuture<ApiResult<ByteStream>> {
        let ctx = self.ctx.clone();
        Box::pin(async move {
            let attempt = log_attempt(&pod, &container, opts.previous)?;
            let path = log_path(&ctx.config.data_dir, &pod, &container, attempt);
            let since_time = match &opts.since_time {
                Some(t) => Some(
                    chrono::DateTime::parse_from_rfc3339(t)
                        .map_err(|e| ApiError::bad_request(format!("sinceTime: {e}")))?
                        .with_timezone(&chrono::Utc),
                ),
                None => None,
            };
            let read = LogReadOptions {
                tail_lines: opts.tail_lines,
                since: since_from(opts.since_seconds, since_time, chrono::Utc::now()),
                timestamps: opts.timestamps,
                limit_bytes: opts.limit_bytes,
            };
            // Follow only a running instance: until it exits.
            let follow = match (opts.follow && !opts.previous, running_id(&pod, &container)) {
                (true, Ok(id)) => {
                    let runtime = ctx.runtime.clone();
                    Some(async move {
                        let _ = runtime.wait(&id).await;
                    })
                }
                _ => None,
            };
            if !path.exists() {
                return Err(ApiError::bad_request(format!(
                    "container \"{container}\" in pod \"{}\" has no log yet",
                    meta(&pod, "name")
                )));
            }
            Ok(Box::pin(read_log(path, read, follow)) as ByteStream)
        })
    }

    fn exec(
        &self,
        pod: Value,
        container: String,
        req: ExecRequest,
    ) -> BoxFuture<ApiResult<Session>> {
        let ctx = self.ctx.clone();
        Box::pin(async move {
            let id = running_id(&pod, &container)?;
            let spec = ExecSpec {
                argv: req.command.clone(),
                tty: req.tty,
                stdin: req.stdin,
            };
            let mut process = ctx
                .runtime
                .exec(&id, spec)
                .await
                .map_err(|e| ApiError::internal(format!("failed to exec in container: {e}")))?;
            let stdin = process.stdin.take();
            let stdout = Some(process.take_stdout());
            let stderr = process.stderr.take();
            let resize = process
                .resize
                .take()
                .map(|r| resizer(move |w, h| r.resize(w, h)));
            // The exec lives as long as the session: dropping it ends the command.
            let exit = Box::pin(async move { process.wait().await.map_err(|e| e.to_string()) });
            Ok(into_session(stdin, stdout, stderr, resize, exit))
        })
    }

    fn attach(
        &self,
        pod: Value,
        container: String,
        req: AttachRequest,
    ) -> BoxFuture<ApiResult<Session>> {
        let ctx = self.ctx.clone();
        Box::pin(async move {
            let id = running_id(&pod, &container)?;
            let stream = ctx
                .runtime
                .attach(
                    &id,
                    AttachSpec {
                        stdin: req.stdin,
                        tty: req.tty,
                    },
                )
                .await
                .map_err(|e| ApiError::internal(format!("failed to attach to container: {e}")))?;
            // An attach ends when the container does.
            let runtime = ctx.runtime.clone();
            let exit = Box::pin(async move {
                runtime
                    .wait(&id)
                    .await
                    .map(|info| info.exit_code)
                    .map_err(|e| e.to_string())
            });
            let resize = stream.resize.map(|r| resizer(move |w, h| r.resize(w, h)));
            Ok(into_session(
                stream.stdin,
                Some(stream.stdout),
                stream.stderr,
                resize,
                exit,
            ))
        })
    }

    fn port_forward(&self, pod: Value, port: u16) -> BoxFuture<ApiResult<BoxedIo>> {
        let ctx = self.ctx.clone();
        Box::pin(async move {
            let uid = meta(&pod, "uid");
            let netns = if pod["spec"]["hostNetwork"].as_bool() == Some(true) {
                ctx.config.host_netns.clone()
            } else {
                crate::net::plan::netns_path(&ctx.config.data_dir, uid)
            };
            let conn = crate::runtime::portconnect::port_connect(&netns, port)
                .await
                .map_err(|e| {
                    ApiError::internal(format!(
                        "failed to connect to localhost:{port} inside namespace of pod {}: {e}",
                        meta(&pod, "name")
                    ))
                })?;
            Ok(Box::new(conn) as BoxedIo)
        })
    }
}

type Reader = Option<Box<dyn tokio::io::AsyncRead + Send + Unpin>>;
/// Sets the terminal size (columns, rows).
type Resize = Box<dyn Fn(u16, u16) + Send>;

/// A terminal resizer whose failures (the process is gone) do not matter.
fn resizer(f: impl Fn(u16, u16) -> std::io::Result<()> + Send + 'static) -> Resize {
    Box::new(move |w, h| {
        let _ = f(w, h);
    })
}

fn into_session(
    stdin: Option<Box<dyn tokio::io::AsyncWrite + Send + Unpin>>,
    stdout: Reader,
    stderr: Reader,
    resize: Option<Resize>,
    exit: BoxFuture<Result<i32, String>>,
) -> Session {
    let resize = resize.map(|r| {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<TermSize>();
        tokio::spawn(async move {
            while let Some(size) = rx.recv().await {
                r(size.width, size.height);
            }
        });
        tx
    });
    Session {
        stdin,
        stdout,
        stderr,
        resize,
        exit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(state: Value, last: Value, restarts: u32) -> Value {
        json!({"metadata": {"name": "web"}, "status": {"containerStatuses": [
            {"name": "app", "state": state, "lastState": last, "restartCount": restarts,
             "containerID": "k1s://abc"}]}})
    }

    #[test]
    fn waiting_containers_have_no_logs_yet() {
        let p = pod(
            json!({"waiting": {"reason": "ContainerCreating"}}),
            json!({}),
            0,
        );
        let e = log_attempt(&p, "app", false).unwrap_err();
        assert_eq!(e.code, 400);
        assert_eq!(
            e.message,
            "container \"app\" in pod \"web\" is waiting to start: ContainerCreating"
        );
    }

    #[test]
    fn previous_needs_a_restart() {
        let running = json!({"running": {"startedAt": "t"}});
        let e = log_attempt(&pod(running.clone(), json!({}), 0), "app", true).unwrap_err();
        assert_eq!(
            e.message,
            "previous terminated container \"app\" in pod \"web\" not found"
        );
        let last = json!({"terminated": {"exitCode": 1}});
        assert_eq!(
            log_attempt(&pod(running.clone(), last.clone(), 2), "app", true).unwrap(),
            1
        );
        assert_eq!(
            log_attempt(&pod(running, last.clone(), 2), "app", false).unwrap(),
            2
        );
        let crash = json!({"waiting": {"reason": "CrashLoopBackOff"}});
        assert_eq!(log_attempt(&pod(crash, last, 2), "app", false).unwrap(), 2);
    }

    #[test]
    fn exec_needs_a_running_container() {
        let p = pod(
            json!({"waiting": {"reason": "ContainerCreating"}}),
            json!({}),
            0,
        );
        let e = running_id(&p, "app").unwrap_err();
        assert!(e.message.contains("container not found (\"app\")"));
        let p = pod(json!({"running": {}}), json!({}), 0);
        assert_eq!(running_id(&p, "app").unwrap(), "abc");
    }
}
