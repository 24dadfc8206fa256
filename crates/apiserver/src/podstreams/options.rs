//! Query parameters of the streaming subresources, decoded and validated as
//! kube-apiserver does (`PodLogOptions`, `PodExecOptions`,
//! `PodAttachOptions`), and the choice of container. Pure functions.

use super::{AttachRequest, ExecRequest, LogOptions};
use k1s_api::{ApiError, ApiResult, FieldError};
use serde_json::Value;

/// Query parameters in order, keeping repeated keys (`command=sh&command=-c`).
#[derive(Debug, Default, Clone)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(raw: Option<&str>) -> Params {
        Params(
            form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The first value, as apimachinery's parameter codec reads single fields.
    pub fn first(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// apimachinery's bool conversion: present means true unless `0` or `false`.
    pub fn flag(&self, key: &str) -> bool {
        match self.first(key) {
            None => false,
            Some(v) => !(v == "0" || v.eq_ignore_ascii_case("false")),
        }
    }

    /// An optional int64 field; a bad number is a 400 with Go's strconv text.
    pub fn int64(&self, key: &str) -> ApiResult<Option<i64>> {
        match self.first(key) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!(
                    "strconv.ParseInt: parsing {}: invalid syntax",
                    k1s_api::field::go_quote(v)
                ))
            }),
        }
    }

    /// The `container` parameter, `None` when absent or empty.
    pub fn container(&self) -> Option<String> {
        self.first("container")
            .filter(|c| !c.is_empty())
            .map(String::from)
    }
}

/// Decodes and validates `PodLogOptions` like `LogREST.Get`: a 422 Invalid
/// naming the pod when a value is out of range.
pub fn log_options(params: &Params, pod_name: &str) -> ApiResult<LogOptions> {
    let since_time = match params.first("sinceTime") {
        None => None,
        Some(t) => Some(parse_rfc3339(t)?),
    };
    let opts = LogOptions {
        follow: params.flag("follow"),
        previous: params.flag("previous"),
        tail_lines: params.int64("tailLines")?,
        since_seconds: params.int64("sinceSeconds")?,
        since_time,
        timestamps: params.flag("timestamps"),
        limit_bytes: params.int64("limitBytes")?,
    };
    let errors = validate_log_options(&opts);
    if !errors.is_empty() {
        return Err(ApiError::invalid("PodLogOptions", "", pod_name, &errors));
    }
    Ok(opts)
}

fn validate_log_options(opts: &LogOptions) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(n) = opts.tail_lines.filter(|n| *n < 0) {
        errors.push(FieldError::invalid(
            "tailLines",
            n,
            "must be greater than or equal to 0",
        ));
    }
    if let Some(n) = opts.limit_bytes.filter(|n| *n < 1) {
        errors.push(FieldError::invalid(
            "limitBytes",
            n,
            "must be greater than 0",
        ));
    }
    match (opts.since_seconds, &opts.since_time) {
        (Some(_), Some(_)) => errors.push(FieldError::forbidden(
            "",
            "at most one of `sinceTime` or `sinceSeconds` may be specified",
        )),
        (Some(n), None) if n < 1 => errors.push(FieldError::invalid(
            "sinceSeconds",
            n,
            "must be greater than 0",
        )),
        _ => {}
    }
    errors
}

/// `metav1.Time` accepts RFC 3339; it is passed on normalized to UTC seconds
/// like kube-apiserver forwards it to the kubelet.
fn parse_rfc3339(t: &str) -> ApiResult<String> {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| {
            d.with_timezone(&chrono::Utc)
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        })
        .map_err(|_| {
            ApiError::bad_request(format!(
                "parsing time {} as \"2006-01-02T15:04:05Z07:00\": cannot parse {} as \"2006\"",
                k1s_api::field::go_quote(t),
                k1s_api::field::go_quote(t)
            ))
        })
}

/// The standard streams a request asks for; the kubelet drops stderr with a
/// TTY and refuses a request without any stream.
fn streams(params: &Params) -> ApiResult<(bool, bool, bool, bool)> {
    let tty = params.flag("tty");
    let stdin = params.flag("stdin");
    let stdout = params.flag("stdout");
    let stderr = params.flag("stderr") && !tty;
    if !stdin && !stdout && !stderr {
        return Err(ApiError::bad_request(
            "you must specify at least 1 of stdin, stdout, stderr",
        ));
    }
    Ok((stdin, stdout, stderr, tty))
}

pub fn exec_request(params: &Params) -> ApiResult<ExecRequest> {
    let (stdin, stdout, stderr, tty) = streams(params)?;
    let command = params.all("command");
    if command.is_empty() {
        return Err(ApiError::bad_request("cmd must not be empty"));
    }
    Ok(ExecRequest {
        command,
        stdin,
        stdout,
        stderr,
        tty,
    })
}

pub fn attach_request(params: &Params) -> ApiResult<AttachRequest> {
    let (stdin, stdout, stderr, tty) = streams(params)?;
    Ok(AttachRequest {
        stdin,
        stdout,
        stderr,
        tty,
    })
}

fn names(pod: &Value, list: &str) -> Vec<String> {
    pod["spec"][list]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(String::from))
        .collect()
}

/// kube-apiserver's `validateContainer`: the named container must exist
/// (regular, init or ephemeral); without a name a single-container pod
/// uses its container, any other pod is a 400 listing every container.
pub fn select_container(pod: &Value, requested: Option<&str>) -> ApiResult<String> {
    let pod_name = pod["metadata"]["name"].as_str().unwrap_or("");
    let containers = names(pod, "containers");
    let mut all = names(pod, "initContainers");
    all.extend(containers.iter().cloned());
    all.extend(names(pod, "ephemeralContainers"));
    match requested {
        Some(name) if all.iter().any(|c| c == name) => Ok(name.to_string()),
        Some(name) => Err(ApiError::bad_request(format!(
            "container {name} is not valid for pod {pod_name}"
        ))),
        None => match containers.as_slice() {
            [only] => Ok(only.clone()),
            [] => Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {pod_name}"
            ))),
            _ => Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                all.join(" ")
            ))),
        },
    }
}

/// The node the pod runs on, `None` before it is scheduled.
pub fn node_name(pod: &Value) -> Option<&str> {
    pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(containers: &[&str], init: &[&str]) -> Value {
        let list = |names: &[&str]| -> Vec<Value> {
            names
                .iter()
                .map(|n| json!({"name": n, "image": "x"}))
                .collect()
        };
        json!({"metadata": {"name": "web-1"}, "spec": {"containers": list(containers), "initContainers": list(init)}})
    }

    #[test]
    fn single_container_is_the_default() {
        assert_eq!(select_container(&pod(&["app"], &[]), None).unwrap(), "app");
        assert_eq!(
            select_container(&pod(&["app"], &["init"]), Some("init")).unwrap(),
            "init"
        );
    }

    #[test]
    fn several_containers_need_a_name() {
        let e = select_container(&pod(&["a", "b"], &[]), None).unwrap_err();
        assert_eq!(e.code, 400);
        assert_eq!(e.reason, "BadRequest");
        assert_eq!(
            e.message,
            "a container name must be specified for pod web-1, choose one of: [a b]"
        );
        // Init containers come first, as podutil.VisitContainers walks them.
        let e = select_container(&pod(&["a", "b"], &["setup"]), None).unwrap_err();
        assert_eq!(
            e.message,
            "a container name must be specified for pod web-1, choose one of: [setup a b]"
        );
        let e = select_container(&pod(&[], &[]), None).unwrap_err();
        assert_eq!(
            e.message,
            "a container name must be specified for pod web-1"
        );
    }

    #[test]
    fn unknown_container_is_rejected() {
        let e = select_container(&pod(&["a"], &[]), Some("x")).unwrap_err();
        assert_eq!(e.code, 400);
        assert_eq!(e.message, "container x is not valid for pod web-1");
    }

    #[test]
    fn log_options_decode_like_the_parameter_codec() {
        let p = Params::parse(Some(
            "follow=true&tailLines=10&timestamps=1&previous=false&limitBytes=5&container=app",
        ));
        let o = log_options(&p, "web").unwrap();
        assert_eq!(
            o,
            LogOptions {
                follow: true,
                previous: false,
                tail_lines: Some(10),
                timestamps: true,
                limit_bytes: Some(5),
                ..Default::default()
            }
        );
        assert_eq!(p.container().as_deref(), Some("app"));
        let o = log_options(
            &Params::parse(Some("sinceTime=2024-01-02T03:04:05%2B02:00")),
            "web",
        )
        .unwrap();
        assert_eq!(o.since_time.as_deref(), Some("2024-01-02T01:04:05Z"));
    }

    #[test]
    fn log_options_are_validated_with_field_errors() {
        let e = log_options(&Params::parse(Some("tailLines=-1")), "web").unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(e.reason, "Invalid");
        assert_eq!(
            e.message,
            "PodLogOptions \"web\" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0"
        );
        assert_eq!(e.details.as_ref().unwrap()["kind"], "PodLogOptions");
        assert_eq!(
            e.details.as_ref().unwrap()["causes"][0]["field"],
            "tailLines"
        );
        let e = log_options(
            &Params::parse(Some("sinceSeconds=10&sinceTime=2024-01-02T03:04:05Z")),
            "web",
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "PodLogOptions \"web\" is invalid: : Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified"
        );
        let e =
            log_options(&Params::parse(Some("sinceSeconds=0&limitBytes=0")), "web").unwrap_err();
        assert_eq!(
            e.message,
            "PodLogOptions \"web\" is invalid: [limitBytes: Invalid value: 0: must be greater than 0, sinceSeconds: Invalid value: 0: must be greater than 0]"
        );
        let e = log_options(&Params::parse(Some("tailLines=ten")), "web").unwrap_err();
        assert_eq!(e.code, 400);
        assert_eq!(
            e.message,
            "strconv.ParseInt: parsing \"ten\": invalid syntax"
        );
        assert_eq!(
            log_options(&Params::parse(Some("sinceTime=yesterday")), "web")
                .unwrap_err()
                .code,
            400
        );
    }

    #[test]
    fn exec_reads_repeated_commands_and_go_bools() {
        let p = Params::parse(Some(
            "command=sh&command=-c&command=echo+hi&stdin=true&stdout=true&stderr=true&tty=false",
        ));
        assert_eq!(
            exec_request(&p).unwrap(),
            ExecRequest {
                command: vec!["sh".into(), "-c".into(), "echo hi".into()],
                stdin: true,
                stdout: true,
                stderr: true,
                tty: false,
            }
        );
        // The kubelet drops stderr when a TTY merges it into stdout.
        let p = Params::parse(Some("command=sh&stdout=1&stderr=1&tty=1&stdin="));
        let r = exec_request(&p).unwrap();
        assert!(r.tty && r.stdout && r.stdin && !r.stderr);
    }

    #[test]
    fn exec_and_attach_need_a_stream() {
        let e = exec_request(&Params::parse(Some("command=ls&stdout=false"))).unwrap_err();
        assert_eq!(
            e.message,
            "you must specify at least 1 of stdin, stdout, stderr"
        );
        assert!(attach_request(&Params::parse(Some("tty=true"))).is_err());
        assert_eq!(
            exec_request(&Params::parse(Some("stdout=true")))
                .unwrap_err()
                .code,
            400
        );
        let a = attach_request(&Params::parse(Some("stdin=true&stdout=true&tty=true"))).unwrap();
        assert!(a.stdin && a.stdout && a.tty && !a.stderr);
    }

    #[test]
    fn unscheduled_pods_have_no_node() {
        assert_eq!(node_name(&json!({"spec": {}})), None);
        assert_eq!(node_name(&json!({"spec": {"nodeName": ""}})), None);
        assert_eq!(node_name(&json!({"spec": {"nodeName": "n1"}})), Some("n1"));
    }
}
