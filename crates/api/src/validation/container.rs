//! Container validation shared by Pods and pod templates
//! (`validateContainers`, `validateInitContainers` and their parts).

use super::json::{arr_at, get, has, int_at, str_at};
use super::meta::{validate_dns1123_label, IS_NEGATIVE};
use super::names::{is_iana_svc_name, is_relaxed_env_var_name, is_valid_port_num, PROTOCOLS};
use crate::defaults::qos::parse_quantity;
use crate::field::{FieldError, Path};
use serde_json::Value;

fn validate_volume_mounts(mounts: &[Value], volumes: &[String], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut points: Vec<&str> = Vec::new();
    for (i, m) in mounts.iter().enumerate() {
        let p = path.index(i);
        let name = str_at(m, "name");
        if name.is_empty() {
            errs.push(FieldError::required(p.child("name"), ""));
        }
        if !volumes.iter().any(|v| v == name) {
            errs.push(FieldError::not_found(p.child("name"), name));
        }
        let mp = str_at(m, "mountPath");
        if mp.is_empty() {
            errs.push(FieldError::required(p.child("mountPath"), ""));
        }
        if points.contains(&mp) {
            errs.push(FieldError::invalid(
                p.child("mountPath"),
                mp,
                "must be unique",
            ));
        }
        points.push(mp);
    }
    errs
}

fn validate_container_ports(ports: &[Value], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let p = path.index(i);
        let name = str_at(port, "name");
        if !name.is_empty() {
            let msgs = is_iana_svc_name(name);
            if !msgs.is_empty() {
                for msg in msgs {
                    errs.push(FieldError::invalid(p.child("name"), name, msg));
                }
            } else if names.contains(&name) {
                errs.push(FieldError::duplicate(p.child("name"), name));
            } else {
                names.push(name);
            }
        }
        match int_at(port, "containerPort").unwrap_or(0) {
            0 => errs.push(FieldError::required(p.child("containerPort"), "")),
            n => {
                for msg in is_valid_port_num(n) {
                    errs.push(FieldError::invalid(p.child("containerPort"), n, msg));
                }
            }
        }
        let hp = int_at(port, "hostPort").unwrap_or(0);
        if hp != 0 {
            for msg in is_valid_port_num(hp) {
                errs.push(FieldError::invalid(p.child("hostPort"), hp, msg));
            }
        }
        let proto = str_at(port, "protocol");
        if proto.is_empty() {
            errs.push(FieldError::required(p.child("protocol"), ""));
        } else if !PROTOCOLS.contains(&proto) {
            errs.push(FieldError::not_supported(
                p.child("protocol"),
                proto,
                PROTOCOLS,
            ));
        }
    }
    errs
}

fn validate_env(env: &[Value], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, e) in env.iter().enumerate() {
        let p = path.index(i).child("name");
        let name = str_at(e, "name");
        if name.is_empty() {
            errs.push(FieldError::required(p, ""));
        } else {
            for msg in is_relaxed_env_var_name(name) {
                errs.push(FieldError::invalid(&p, name, msg));
            }
        }
    }
    errs
}

/// `ValidatePortNumOrName` (probes' and handlers' ports).
fn validate_port_num_or_name(v: Option<&Value>, path: &Path) -> Vec<FieldError> {
    match v {
        Some(Value::String(s)) => is_iana_svc_name(s)
            .into_iter()
            .map(|m| FieldError::invalid(path, s.as_str(), m))
            .collect(),
        other => {
            let n = other.and_then(Value::as_i64).unwrap_or(0);
            is_valid_port_num(n)
                .into_iter()
                .map(|m| FieldError::invalid(path, n, m))
                .collect()
        }
    }
}

fn validate_handler(h: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut count = 0;
    for key in ["exec", "httpGet", "tcpSocket", "grpc", "sleep"] {
        let Some(x) = get(h, &[key]) else { continue };
        let p = path.child(key);
        if count > 0 {
            errs.push(FieldError::forbidden(
                &p,
                "may not specify more than 1 handler type",
            ));
            continue;
        }
        count += 1;
        match key {
            "exec" if arr_at(x, "command").is_empty() => {
                errs.push(FieldError::required(p.child("command"), ""));
            }
            "httpGet" => {
                if str_at(x, "path").is_empty() {
                    errs.push(FieldError::required(p.child("path"), ""));
                }
                errs.extend(validate_port_num_or_name(x.get("port"), &p.child("port")));
                let scheme = str_at(x, "scheme");
                if scheme != "HTTP" && scheme != "HTTPS" {
                    errs.push(FieldError::not_supported(
                        p.child("scheme"),
                        scheme,
                        &["HTTP", "HTTPS"],
                    ));
                }
            }
            "tcpSocket" | "grpc" => {
                errs.extend(validate_port_num_or_name(x.get("port"), &p.child("port")));
            }
            _ => {}
        }
    }
    if count == 0 {
        errs.push(FieldError::required(path, "must specify a handler type"));
    }
    errs
}

fn validate_probe(probe: &Value, path: &Path, kind: &str) -> Vec<FieldError> {
    let mut errs = validate_handler(probe, path);
    for key in [
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ] {
        if let Some(n) = int_at(probe, key).filter(|n| *n < 0) {
            errs.push(FieldError::invalid(path.child(key), n, IS_NEGATIVE));
        }
    }
    if let Some(t) = int_at(probe, "terminationGracePeriodSeconds") {
        if t <= 0 {
            errs.push(FieldError::invalid(
                path.child("terminationGracePeriodSeconds"),
                t,
                "must be greater than 0",
            ));
        }
    }
    match kind {
        "readinessProbe" if has(probe, "terminationGracePeriodSeconds") => {
            let t = int_at(probe, "terminationGracePeriodSeconds").unwrap_or(0);
            errs.push(FieldError::invalid(
                path.child("terminationGracePeriodSeconds"),
                t,
                "must not be set for readinessProbes",
            ));
        }
        "livenessProbe" | "startupProbe" => {
            let s = int_at(probe, "successThreshold").unwrap_or(0);
            if s != 1 {
                errs.push(FieldError::invalid(
                    path.child("successThreshold"),
                    s,
                    "must be 1",
                ));
            }
        }
        _ => {}
    }
    errs
}

fn validate_probes_and_lifecycle(c: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(lc) = get(c, &["lifecycle"]) {
        for key in ["postStart", "preStop"] {
            if let Some(h) = get(lc, &[key]) {
                errs.extend(validate_handler(h, &path.child("lifecycle").child(key)));
            }
        }
    }
    for key in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = get(c, &[key]) {
            errs.extend(validate_probe(p, &path.child(key), key));
        }
    }
    errs
}

fn validate_resources(c: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let (Some(req), Some(lim)) = (
        get(c, &["resources", "requests"]).and_then(Value::as_object),
        get(c, &["resources", "limits"]).and_then(Value::as_object),
    ) else {
        return errs;
    };
    for (name, r) in req {
        let (Some(rs), Some(ls)) = (r.as_str(), lim.get(name).and_then(Value::as_str)) else {
            continue;
        };
        if let (Some(rq), Some(lq)) = (parse_quantity(rs), parse_quantity(ls)) {
            if rq > lq {
                errs.push(FieldError::invalid(
                    path.child("resources").child("requests").key(name),
                    rs,
                    format!("must be less than or equal to {name} limit of {ls}"),
                ));
            }
        }
    }
    errs
}

/// `validateContainerCommon`.
fn validate_container_common(c: &Value, volumes: &[String], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = str_at(c, "name");
    if name.is_empty() {
        errs.push(FieldError::required(path.child("name"), ""));
    } else {
        errs.extend(validate_dns1123_label(name, &path.child("name")));
    }
    if str_at(c, "image").is_empty() {
        errs.push(FieldError::required(path.child("image"), ""));
    }
    match str_at(c, "terminationMessagePolicy") {
        "File" | "FallbackToLogsOnError" => {}
        "" => errs.push(FieldError::required(
            path.child("terminationMessagePolicy"),
            "",
        )),
        other => errs.push(FieldError::not_supported(
            path.child("terminationMessagePolicy"),
            other,
            &["File", "FallbackToLogsOnError"],
        )),
    }
    errs.extend(validate_container_ports(
        arr_at(c, "ports"),
        &path.child("ports"),
    ));
    errs.extend(validate_env(arr_at(c, "env"), &path.child("env")));
    errs.extend(validate_volume_mounts(
        arr_at(c, "volumeMounts"),
        volumes,
        &path.child("volumeMounts"),
    ));
    match str_at(c, "imagePullPolicy") {
        "Always" | "IfNotPresent" | "Never" => {}
        "" => errs.push(FieldError::required(path.child("imagePullPolicy"), "")),
        other => errs.push(FieldError::not_supported(
            path.child("imagePullPolicy"),
            other,
            &["Always", "IfNotPresent", "Never"],
        )),
    }
    errs.extend(validate_resources(c, path));
    errs
}

/// hostIP/protocol/hostPort triples must be unique (`AccumulateUniqueHostPorts`).
fn host_port_conflicts(
    containers: &[Value],
    path: &Path,
    seen: &mut Vec<String>,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (ci, c) in containers.iter().enumerate() {
        for (pi, p) in arr_at(c, "ports").iter().enumerate() {
            let hp = int_at(p, "hostPort").unwrap_or(0);
            if hp == 0 {
                continue;
            }
            let key = format!("{}/{}/{}", str_at(p, "hostIP"), str_at(p, "protocol"), hp);
            if seen.contains(&key) {
                let fp = path.index(ci).child("ports").index(pi).child("hostPort");
                errs.push(FieldError::duplicate(fp, key));
            } else {
                seen.push(key);
            }
        }
    }
    errs
}

pub(crate) fn validate_containers(
    containers: &[Value],
    volumes: &[String],
    path: &Path,
) -> Vec<FieldError> {
    if containers.is_empty() {
        return vec![FieldError::required(path, "")];
    }
    let mut errs = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    for (i, c) in containers.iter().enumerate() {
        let p = path.index(i);
        errs.extend(validate_container_common(c, volumes, &p));
        let name = str_at(c, "name");
        if names.contains(&name) {
            errs.push(FieldError::duplicate(p.child("name"), name));
        } else {
            names.push(name);
        }
        errs.extend(validate_probes_and_lifecycle(c, &p));
        if has(c, "restartPolicy") {
            errs.push(FieldError::forbidden(
                p.child("restartPolicy"),
                "may not be set for non-init containers",
            ));
        }
    }
    errs.extend(host_port_conflicts(containers, path, &mut Vec::new()));
    errs
}

pub(crate) fn validate_init_containers(
    inits: &[Value],
    regular: &[Value],
    volumes: &[String],
    path: &Path,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut names: Vec<&str> = regular.iter().map(|c| str_at(c, "name")).collect();
    for (i, c) in inits.iter().enumerate() {
        let p = path.index(i);
        errs.extend(validate_container_common(c, volumes, &p));
        let restart = c.get("restartPolicy").and_then(Value::as_str);
        if let Some(rp) = restart.filter(|rp| *rp != "Always") {
            errs.push(FieldError::not_supported(
                p.child("restartPolicy"),
                rp,
                &["Always"],
            ));
        }
        let name = str_at(c, "name");
        if names.contains(&name) {
            errs.push(FieldError::duplicate(p.child("name"), name));
        } else if !name.is_empty() {
            names.push(name);
        }
        errs.extend(host_port_conflicts(
            std::slice::from_ref(c),
            path,
            &mut Vec::new(),
        ));
        if restart == Some("Always") {
            errs.extend(validate_probes_and_lifecycle(c, &p));
        } else {
            for key in [
                "lifecycle",
                "livenessProbe",
                "readinessProbe",
                "startupProbe",
            ] {
                if has(c, key) {
                    errs.push(FieldError::forbidden(
                        p.child(key),
                        "may not be set for init containers without restartPolicy=Always",
                    ));
                }
            }
        }
    }
    errs
}
