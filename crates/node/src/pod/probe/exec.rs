//! The exec probe (`pkg/probe/exec` over the runtime's ExecSync): exit 0
//! is success, any other exit a failure whose message is the command's
//! combined output (at most 10 KiB); a timeout is a failure reading
//! `command "<argv>" timed out`; a command that cannot run is an error.
//! The command is `$(VAR)`-expanded against the container's literal env
//! values only (`ExpandContainerCommandOnlyStatic`).

use std::collections::HashMap;
use std::io;
use std::time::Duration;

use serde_json::Value;

use super::{ExecProbe, ProbeOutcome, MAX_PROBE_OUTPUT};
use crate::pod::downward::go_quote;
use crate::pod::{items, text};
use crate::spec::expand;

/// How long past the probe timeout we wait for the runtime to give up.
const EXEC_GRACE: Duration = Duration::from_secs(2);

/// The probe's argv, with `$(VAR)` from the container's `env[].value`s
/// (a valueFrom variable reads as "").
pub fn exec_command(exec_action: &Value, container: &Value) -> Vec<String> {
    let env: HashMap<&str, &str> = items(container, "env")
        .iter()
        .map(|e| (text(e, "name"), text(e, "value")))
        .collect();
    let lookup = |name: &str| env.get(name).map(|v| v.to_string());
    items(exec_action, "command")
        .iter()
        .filter_map(Value::as_str)
        .map(|arg| expand(arg, &lookup))
        .collect()
}

/// Runs `argv` through the runtime and judges the result.
pub async fn exec_probe(
    exec: &dyn ExecProbe,
    argv: Vec<String>,
    timeout: Duration,
) -> ProbeOutcome {
    exec_probe_with_grace(exec, argv, timeout, EXEC_GRACE).await
}

async fn exec_probe_with_grace(
    exec: &dyn ExecProbe,
    argv: Vec<String>,
    timeout: Duration,
    grace: Duration,
) -> ProbeOutcome {
    let timed_out =
        || ProbeOutcome::Failure(format!("command {} timed out", go_quote(&argv.join(" "))));
    match tokio::time::timeout(timeout + grace, exec.exec(argv.clone(), timeout)).await {
        Err(_) => timed_out(),
        Ok(Err(e)) if e.kind() == io::ErrorKind::TimedOut => timed_out(),
        Ok(Err(e)) => ProbeOutcome::Error(e.to_string()),
        Ok(Ok((code, mut output))) => {
            output.truncate(MAX_PROBE_OUTPUT);
            let output = String::from_utf8_lossy(&output).into_owned();
            if code == 0 {
                ProbeOutcome::Success(output)
            } else {
                ProbeOutcome::Failure(output)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::probe::BoxFuture;
    use serde_json::json;
    use std::sync::Mutex;

    type Answer = fn(&[String]) -> io::Result<(i32, Vec<u8>)>;

    /// Answers from a script and records what it was asked to run.
    struct Scripted {
        answer: Answer,
        seen: Mutex<Vec<Vec<String>>>,
    }

    impl ExecProbe for Scripted {
        fn exec<'a>(
            &'a self,
            argv: Vec<String>,
            _timeout: Duration,
        ) -> BoxFuture<'a, io::Result<(i32, Vec<u8>)>> {
            self.seen.lock().unwrap().push(argv.clone());
            let answer = (self.answer)(&argv);
            Box::pin(async move { answer })
        }
    }

    fn scripted(answer: Answer) -> Scripted {
        Scripted {
            answer,
            seen: Mutex::new(vec![]),
        }
    }

    #[test]
    fn command_expansion_uses_literal_env_only() {
        let c = json!({"env": [
            {"name": "FILE", "value": "/tmp/healthy"},
            {"name": "FROM", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]});
        let argv = exec_command(
            &json!({"command": ["cat", "$(FILE)", "$(FROM)", "$(UNSET)", "$$(FILE)"]}),
            &c,
        );
        assert_eq!(argv, ["cat", "/tmp/healthy", "", "$(UNSET)", "$(FILE)"]);
    }

    #[tokio::test]
    async fn exit_codes_output_and_timeouts() {
        let t = Duration::from_secs(1);
        let ok = scripted(|_| Ok((0, b"fine\n".to_vec())));
        assert_eq!(
            exec_probe(&ok, vec!["cat".into(), "/tmp/healthy".into()], t).await,
            ProbeOutcome::Success("fine\n".into())
        );
        assert_eq!(ok.seen.lock().unwrap()[0], ["cat", "/tmp/healthy"]);
        // "Define a liveness command": cat fails once the file is gone.
        let gone = scripted(|_| {
            Ok((
                1,
                b"cat: can't open '/tmp/healthy': No such file or directory\n".to_vec(),
            ))
        });
        assert_eq!(
            exec_probe(&gone, vec!["cat".into(), "/tmp/healthy".into()], t).await,
            ProbeOutcome::Failure(
                "cat: can't open '/tmp/healthy': No such file or directory\n".into()
            )
        );
        let big = scripted(|_| Ok((2, vec![b'x'; 20_000])));
        match exec_probe(&big, vec!["x".into()], t).await {
            ProbeOutcome::Failure(out) => assert_eq!(out.len(), MAX_PROBE_OUTPUT),
            other => panic!("{other:?}"),
        }
        let slow = scripted(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "deadline")));
        assert_eq!(
            exec_probe(&slow, vec!["sh".into(), "-c".into(), "sleep 10".into()], t).await,
            ProbeOutcome::Failure("command \"sh -c sleep 10\" timed out".into())
        );
        let broken = scripted(|_| Err(io::Error::other("container is stopping")));
        assert_eq!(
            exec_probe(&broken, vec!["true".into()], t).await,
            ProbeOutcome::Error("container is stopping".into())
        );

        /// A runtime that ignores the timeout is cut off after the grace period.
        struct Hung;
        impl ExecProbe for Hung {
            fn exec<'a>(
                &'a self,
                _: Vec<String>,
                _: Duration,
            ) -> BoxFuture<'a, io::Result<(i32, Vec<u8>)>> {
                Box::pin(std::future::pending())
            }
        }
        let short = Duration::from_millis(20);
        assert_eq!(
            exec_probe_with_grace(&Hung, vec!["sleep".into(), "1000".into()], short, short).await,
            ProbeOutcome::Failure("command \"sleep 1000\" timed out".into())
        );
    }
}
