//! The Status a client reads on the error channel when an exec or attach
//! ends, worded as kube-apiserver's v5 stream translator or the kubelet
//! (v4 JSON, older protocols plain text) word it. Pure functions.

use super::websocket::ChannelProtocol;
use k1s_api::ApiError;
use serde_json::{json, Map, Value};

/// exec or attach, which words the outcome differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Exec { command: Vec<String> },
    Attach,
}

/// Who, in a real cluster, writes the status the client reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// kube-apiserver's v5 translator: it re-wraps the kubelet's result.
    Translator,
    /// The kubelet, v4: a JSON Status.
    KubeletJson,
    /// The kubelet, before v4: the message as text, nothing on success.
    KubeletText,
}

impl Dialect {
    pub fn for_websocket(p: ChannelProtocol) -> Dialect {
        match p.version {
            5.. => Dialect::Translator,
            4 => Dialect::KubeletJson,
            _ => Dialect::KubeletText,
        }
    }
}

/// `metav1.Status` as Go's encoding/json writes it from a bare StatusError
/// (no kind/apiVersion; fields in struct order).
fn go_status(
    message: Option<&str>,
    reason: Option<&str>,
    details: Option<Value>,
    code: Option<u16>,
) -> Value {
    let mut s = Map::new();
    s.insert("metadata".into(), json!({}));
    let failure = message.is_some() || reason.is_some();
    s.insert(
        "status".into(),
        Value::from(if failure { "Failure" } else { "Success" }),
    );
    if let Some(m) = message {
        s.insert("message".into(), m.into());
    }
    if let Some(r) = reason {
        s.insert("reason".into(), r.into());
    }
    if let Some(d) = details {
        s.insert("details".into(), d);
    }
    if let Some(c) = code {
        s.insert("code".into(), c.into());
    }
    Value::Object(s)
}

fn from_api_error(e: &ApiError) -> Value {
    go_status(
        Some(&e.message),
        Some(e.reason),
        e.details.clone(),
        Some(e.code),
    )
}

fn exit_code_status(message: String, code: i32) -> Value {
    go_status(
        Some(&message),
        Some("NonZeroExitCode"),
        Some(json!({"causes": [{"reason": "ExitCode", "message": code.to_string()}]})),
        None,
    )
}

/// The kubelet's Status for how a session ended.
fn kubelet_status(kind: &Kind, result: &Result<i32, String>) -> Value {
    match (kind, result) {
        (Kind::Exec { command }, Ok(code)) if *code != 0 => exit_code_status(
            format!(
                "command terminated with non-zero exit code: error executing command [{}], exit code {code}",
                command.join(" ")
            ),
            *code,
        ),
        (_, Ok(_)) => go_status(None, None, None, None),
        (Kind::Exec { .. }, Err(e)) => from_api_error(&ApiError::internal(format!(
            "error executing command in container: {e}"
        ))),
        (Kind::Attach, Err(e)) => from_api_error(&ApiError::internal(format!(
            "error attaching to container: {e}"
        ))),
    }
}

/// The bytes for the error channel when a session ends; `None` when the
/// dialect sends nothing (text dialect on success).
pub fn outcome_status(
    dialect: Dialect,
    kind: &Kind,
    result: &Result<i32, String>,
) -> Option<Vec<u8>> {
    let status = match dialect {
        Dialect::Translator => match (kind, result) {
            // client-go decodes the kubelet's exit status into
            // "command terminated with exit code N" and the translator
            // wraps that once more.
            (Kind::Exec { .. }, Ok(code)) if *code != 0 => exit_code_status(
                format!(
                    "command terminated with non-zero exit code: command terminated with exit code {code}"
                ),
                *code,
            ),
            (_, Ok(_)) => go_status(None, None, None, None),
            (_, Err(_)) => {
                let inner = kubelet_status(kind, result);
                let text = inner["message"].as_str().unwrap_or_default().to_string();
                from_api_error(&ApiError::internal(text))
            }
        },
        Dialect::KubeletJson => kubelet_status(kind, result),
        Dialect::KubeletText => {
            let status = kubelet_status(kind, result);
            return status["message"].as_str().map(|m| m.as_bytes().to_vec());
        }
    };
    serde_json::to_vec(&status).ok()
}

/// The bytes for the error channel when the session could not start.
pub fn start_error_status(dialect: Dialect, e: &ApiError) -> Vec<u8> {
    match dialect {
        Dialect::KubeletText => e.message.as_bytes().to_vec(),
        _ => serde_json::to_vec(&from_api_error(e)).unwrap_or_default(),
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn exec(cmd: &[&str]) -> Kind {
        Kind::Exec {
            command: cmd.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn text(b: Option<Vec<u8>>) -> String {
        String::from_utf8(b.unwrap()).unwrap()
    }

    #[test]
    fn success_is_a_bare_status() {
        for d in [Dialect::Translator, Dialect::KubeletJson] {
            assert_eq!(
                text(outcome_status(d, &exec(&["true"]), &Ok(0))),
                r#"{"metadata":{},"status":"Success"}"#
            );
            assert_eq!(
                text(outcome_status(d, &Kind::Attach, &Ok(1))),
                r#"{"metadata":{},"status":"Success"}"#
            );
        }
        assert_eq!(
            outcome_status(Dialect::KubeletText, &exec(&["true"]), &Ok(0)),
            None
        );
    }

    #[test]
    fn non_zero_exit_carries_the_code_as_a_cause() {
        assert_eq!(
            text(outcome_status(
                Dialect::Translator,
                &exec(&["sh", "-c", "exit 3"]),
                &Ok(3)
            )),
            r#"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: command terminated with exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#
        );
        assert_eq!(
            text(outcome_status(
                Dialect::KubeletJson,
                &exec(&["sh", "-c", "exit 3"]),
                &Ok(3)
            )),
            r#"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#
        );
        assert_eq!(
            text(outcome_status(Dialect::KubeletText, &exec(&["false"]), &Ok(1))),
            "command terminated with non-zero exit code: error executing command [false], exit code 1"
        );
    }

    #[test]
    fn runtime_failures_are_internal_errors() {
        let why = Err(
            "failed to exec in container: exec: \"nope\": executable file not found in $PATH"
                .to_string(),
        );
        let v: Value = serde_json::from_slice(
            &outcome_status(Dialect::Translator, &exec(&["nope"]), &why).unwrap(),
        )
        .unwrap();
        assert_eq!(v["reason"], "InternalError");
        assert_eq!(v["code"], 500);
        assert_eq!(
            v["message"],
            "Internal error occurred: Internal error occurred: error executing command in container: failed to exec in container: exec: \"nope\": executable file not found in $PATH"
        );
        let v: Value = serde_json::from_slice(
            &outcome_status(Dialect::KubeletJson, &Kind::Attach, &why).unwrap(),
        )
        .unwrap();
        assert_eq!(
            v["message"],
            "Internal error occurred: error attaching to container: failed to exec in container: exec: \"nope\": executable file not found in $PATH"
        );
        assert!(v.get("kind").is_none());
    }

    #[test]
    fn start_errors_keep_the_nodes_status() {
        let e = ApiError::internal("unable to upgrade connection: container not found (\"app\")");
        let v: Value =
            serde_json::from_slice(&start_error_status(Dialect::Translator, &e)).unwrap();
        assert_eq!(
            v["message"],
            "Internal error occurred: unable to upgrade connection: container not found (\"app\")"
        );
        assert_eq!(v["status"], "Failure");
        assert_eq!(
            start_error_status(Dialect::KubeletText, &e),
            e.message.as_bytes()
        );
    }
}
