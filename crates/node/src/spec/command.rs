//! The process a container runs, from the image config and the container
//! spec, the way the kubelet and containerd's CRI plugin compute it:
//!
//! - env: the kubelet resolves envFrom, then env in order, expanding
//!   `$(VAR)` in values against what is defined so far and the Service
//!   variables; then containerd starts from `PATH=<default>`, sets
//!   `HOSTNAME`, and applies the image's Env followed by the kubelet's
//!   (replace in place or append; runc keeps the last value of a name);
//! - argv: `$(VAR)` expansion in command and args against the kubelet env,
//!   then `command` replaces ENTRYPOINT and drops CMD, `args` replace CMD;
//! - cwd: workingDir, else the image's WorkingDir, else `/`.

use std::collections::HashMap;

use crate::image::ImageConfig;

use super::expand::expand;

/// containerd's default PATH for Linux containers.
pub const DEFAULT_PATH_ENV: &str =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A container `env` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    /// `value:` — subject to `$(VAR)` expansion.
    Literal(String),
    /// `valueFrom:` already resolved by the caller — taken as is.
    Resolved(String),
}

/// The kubelet's makeEnvironmentVariables, with a deterministic order:
/// envFrom and env names in first-declared order (later values win), then
/// Service variables the container does not define itself.
pub fn container_env(
    env_from: &[(String, String)],
    env: &[(String, EnvValue)],
    service_env: &[(String, String)],
) -> Vec<(String, String)> {
    let mut order: Vec<String> = Vec::new();
    let mut values: HashMap<String, String> = HashMap::new();
    let services: HashMap<&str, &str> = service_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let set =
        |order: &mut Vec<String>, values: &mut HashMap<String, String>, k: &str, v: String| {
            if values.insert(k.to_string(), v).is_none() {
                order.push(k.to_string());
            }
        };
    for (k, v) in env_from {
        set(&mut order, &mut values, k, v.clone());
    }
    for (k, v) in env {
        let value = match v {
            // An empty value is not expanded (nothing to expand anyway).
            EnvValue::Literal(s) if s.is_empty() => String::new(),
            EnvValue::Literal(s) => {
                let lookup = |name: &str| {
                    values
                        .get(name)
                        .cloned()
                        .or_else(|| services.get(name).map(|s| s.to_string()))
                };
                expand(s, &lookup)
            }
            EnvValue::Resolved(s) => s.clone(),
        };
        set(&mut order, &mut values, k, value);
    }
    let mut out: Vec<(String, String)> = order
        .into_iter()
        .map(|k| (k.clone(), values.get(&k).cloned().unwrap_or_default()))
        .collect();
    for (k, v) in service_env {
        if !values.contains_key(k) && !out.iter().any(|(o, _)| o == k) {
            out.push((k.clone(), v.clone()));
        }
    }
    out
}

/// `$(VAR)` expansion of command and args against the container env.
pub fn expand_command_and_args(
    command: &[String],
    args: &[String],
    env: &[(String, String)],
) -> (Vec<String>, Vec<String>) {
    let map: HashMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let lookup = |name: &str| map.get(name).map(|v| v.to_string());
    let exp = |list: &[String]| list.iter().map(|s| expand(s, &lookup)).collect::<Vec<_>>();
    (exp(command), exp(args))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// containerd's text; the kubelet reports it as CreateContainerError.
    #[error("no command specified")]
    NoCommand,
}

/// containerd's WithProcessArgs: argv from (expanded) command/args and the
/// image's ENTRYPOINT/CMD. An ENTRYPOINT of `[""]` means none.
pub fn process_args(
    command: &[String],
    args: &[String],
    image: &ImageConfig,
) -> Result<Vec<String>, SpecError> {
    let mut cmd: Vec<String> = command.to_vec();
    let mut args: Vec<String> = args.to_vec();
    if cmd.is_empty() {
        if args.is_empty() {
            args = image.cmd.clone().unwrap_or_default();
        }
        let ep = image.entrypoint.clone().unwrap_or_default();
        if !(ep.len() == 1 && ep[0].is_empty()) {
            cmd = ep;
        }
    }
    if cmd.is_empty() && args.is_empty() {
        return Err(SpecError::NoCommand);
    }
    cmd.extend(args);
    Ok(cmd)
}

/// containerd's replaceOrAppendEnvValues: a `K=V` override replaces K
/// where the *defaults* have it or is appended; a bare `K` unsets it.
pub fn replace_or_append_env(defaults: &[String], overrides: &[String]) -> Vec<String> {
    let mut out: Vec<Option<String>> = defaults.iter().cloned().map(Some).collect();
    let index: HashMap<String, usize> = defaults
        .iter()
        .enumerate()
        .map(|(i, e)| (env_key(e).to_string(), i))
        .collect();
    for value in overrides {
        match value.split_once('=') {
            None => {
                if let Some(&i) = index.get(value.as_str()) {
                    out[i] = None;
                }
            }
            Some((k, _)) => match index.get(k) {
                Some(&i) => out[i] = Some(value.clone()),
                None => out.push(Some(value.clone())),
            },
        }
    }
    out.into_iter().flatten().collect()
}

/// runc's prepareEnv: one entry per name, the last value winning, kept at
/// the position where the name first appears.
pub fn dedup_env(env: &[String]) -> Vec<String> {
    let mut last: HashMap<&str, &String> = HashMap::new();
    for e in env {
        last.insert(env_key(e), e);
    }
    let mut seen = std::collections::HashSet::new();
    env.iter()
        .filter(|e| seen.insert(env_key(e)))
        .map(|e| last[env_key(e)].clone())
        .collect()
}

fn env_key(e: &str) -> &str {
    e.split_once('=').map(|(k, _)| k).unwrap_or(e)
}

/// The final process environment (`K=V` strings).
pub fn process_env(
    hostname: &str,
    image_env: &[String],
    container_env: &[(String, String)],
) -> Vec<String> {
    let base = replace_or_append_env(&[], &[DEFAULT_PATH_ENV.to_string()]);
    let base = replace_or_append_env(&base, &[format!("HOSTNAME={hostname}")]);
    let mut overrides: Vec<String> = image_env.to_vec();
    overrides.extend(container_env.iter().map(|(k, v)| format!("{k}={v}")));
    dedup_env(&replace_or_append_env(&base, &overrides))
}

/// workingDir, else the image's WorkingDir, else runc's default `/`.
pub fn working_dir(container: Option<&str>, image: &ImageConfig) -> String {
    match container.filter(|w| !w.is_empty()) {
        Some(w) => w.to_string(),
        None if !image.working_dir.is_empty() => image.working_dir.clone(),
        None => "/".to_string(),
    }
}

/// What a container spec says about its process (valueFrom already
/// resolved by the caller, Service variables computed by the caller).
#[derive(Debug, Clone, Default)]
pub struct ContainerProcessInput {
    pub command: Vec<String>,
    pub args: Vec<String>,
    pub working_dir: Option<String>,
    pub env_from: Vec<(String, String)>,
    pub env: Vec<(String, EnvValue)>,
    pub service_env: Vec<(String, String)>,
    /// The pod's hostname (containerd sets HOSTNAME).
    pub hostname: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
}

/// Everything above, in the kubelet → containerd order.
pub fn effective_process(
    image: &ImageConfig,
    c: &ContainerProcessInput,
) -> Result<Process, SpecError> {
    let env = container_env(&c.env_from, &c.env, &c.service_env);
    let (command, args) = expand_command_and_args(&c.command, &c.args, &env);
    Ok(Process {
        args: process_args(&command, &args, image)?,
        env: process_env(&c.hostname, image.env.as_deref().unwrap_or_default(), &env),
        cwd: working_dir(c.working_dir.as_deref(), image),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn image(ep: Option<&[&str]>, cmd: Option<&[&str]>) -> ImageConfig {
        ImageConfig {
            entrypoint: ep.map(s),
            cmd: cmd.map(s),
            ..Default::default()
        }
    }

    /// The table in "Define a Command and Arguments for a Container" plus
    /// the edge cases containerd handles.
    #[test]
    fn command_and_args_table() {
        let ep: &[&str] = &["/ep-1"];
        let cmd: &[&str] = &["foo", "bar"];
        type Case<'a> = (
            ImageConfig,
            &'a [&'a str],
            &'a [&'a str],
            Result<Vec<String>, SpecError>,
        );
        let cases: Vec<Case> = vec![
            (
                image(Some(ep), Some(cmd)),
                &[],
                &[],
                Ok(s(&["/ep-1", "foo", "bar"])),
            ),
            (
                image(Some(ep), Some(cmd)),
                &["/ep-2"],
                &[],
                Ok(s(&["/ep-2"])),
            ),
            (
                image(Some(ep), Some(cmd)),
                &[],
                &["zoo", "boo"],
                Ok(s(&["/ep-1", "zoo", "boo"])),
            ),
            (
                image(Some(ep), Some(cmd)),
                &["/ep-2"],
                &["zoo", "boo"],
                Ok(s(&["/ep-2", "zoo", "boo"])),
            ),
            (image(None, Some(&["sh"])), &[], &[], Ok(s(&["sh"]))),
            (
                image(None, Some(&["sh"])),
                &[],
                &["echo", "hi"],
                Ok(s(&["echo", "hi"])),
            ),
            (image(Some(&[""]), Some(&["sh"])), &[], &[], Ok(s(&["sh"]))),
            (image(Some(&["/ep"]), None), &[], &[], Ok(s(&["/ep"]))),
            (image(None, None), &[], &[], Err(SpecError::NoCommand)),
            (
                image(Some(&[""]), None),
                &[],
                &[],
                Err(SpecError::NoCommand),
            ),
        ];
        for (img, command, args, want) in cases {
            assert_eq!(
                process_args(&s(command), &s(args), &img),
                want,
                "{img:?} {command:?} {args:?}"
            );
        }
        assert_eq!(SpecError::NoCommand.to_string(), "no command specified");
    }

    #[test]
    fn env_values_expand_against_earlier_entries_and_services() {
        let env = vec![
            ("A".to_string(), EnvValue::Literal("a".into())),
            (
                "B".to_string(),
                EnvValue::Literal("$(A)-$(C)-$(SVC_HOST)-$$(A)".into()),
            ),
            ("C".to_string(), EnvValue::Literal("c".into())),
            ("D".to_string(), EnvValue::Resolved("$(A)".into())),
            ("A".to_string(), EnvValue::Literal("a2-$(A)".into())),
            ("E".to_string(), EnvValue::Literal(String::new())),
            ("F".to_string(), EnvValue::Literal("$(FROM)".into())),
        ];
        let env_from = vec![
            ("FROM".to_string(), "cm".to_string()),
            ("C".to_string(), "from-cm".to_string()),
        ];
        let services = vec![
            ("SVC_HOST".to_string(), "10.96.0.5".to_string()),
            ("C".to_string(), "svc".to_string()),
        ];
        let got = container_env(&env_from, &env, &services);
        let want: Vec<(String, String)> = [
            ("FROM", "cm"),
            ("C", "c"),
            ("A", "a2-a"),
            ("B", "a-from-cm-10.96.0.5-$(A)"),
            ("D", "$(A)"),
            ("E", ""),
            ("F", "cm"),
            ("SVC_HOST", "10.96.0.5"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn command_expansion_uses_container_env_only() {
        let env = vec![
            ("GREETING".to_string(), "hello".to_string()),
            ("NAME".to_string(), "k1s".to_string()),
        ];
        let (c, a) = expand_command_and_args(
            &s(&["/bin/echo", "$(GREETING)"]),
            &s(&["$(NAME)", "$$(NAME)", "$(IMAGE_ONLY)", "$(GREETING"]),
            &env,
        );
        assert_eq!(c, s(&["/bin/echo", "hello"]));
        assert_eq!(a, s(&["k1s", "$(NAME)", "$(IMAGE_ONLY)", "$(GREETING"]));
    }

    #[test]
    fn env_merge_like_containerd_and_runc() {
        let img_env = s(&["PATH=/img/bin", "FOO=image", "LANG=C.UTF-8"]);
        let c_env = vec![
            ("FOO".to_string(), "pod".to_string()),
            ("BAR".to_string(), "x".to_string()),
        ];
        assert_eq!(
            process_env("web-0", &img_env, &c_env),
            s(&[
                "PATH=/img/bin",
                "HOSTNAME=web-0",
                "FOO=pod",
                "LANG=C.UTF-8",
                "BAR=x"
            ])
        );
        // No image PATH: containerd's default stays first; pod can override HOSTNAME.
        let c_env = vec![("HOSTNAME".to_string(), "mine".to_string())];
        assert_eq!(
            process_env("web-0", &[], &c_env),
            s(&[DEFAULT_PATH_ENV, "HOSTNAME=mine"])
        );
        // A bare name unsets a default.
        assert_eq!(
            replace_or_append_env(&s(&["A=1", "B=2"]), &s(&["A", "C=3", "C=4"])),
            s(&["B=2", "C=3", "C=4"])
        );
        assert_eq!(
            dedup_env(&s(&["B=2", "C=3", "C=4", "D", "B=5"])),
            s(&["B=5", "C=4", "D"])
        );
    }

    #[test]
    fn working_dirs() {
        let img = ImageConfig {
            working_dir: "/app".into(),
            ..Default::default()
        };
        assert_eq!(working_dir(Some("/data"), &img), "/data");
        assert_eq!(working_dir(Some(""), &img), "/app");
        assert_eq!(working_dir(None, &img), "/app");
        assert_eq!(working_dir(None, &ImageConfig::default()), "/");
    }

    #[test]
    fn whole_process() {
        let img = ImageConfig {
            entrypoint: Some(s(&["/docker-entrypoint.sh"])),
            cmd: Some(s(&["nginx", "-g", "daemon off;"])),
            env: Some(s(&["PATH=/usr/sbin:/usr/bin", "NGINX_VERSION=1.22"])),
            ..Default::default()
        };
        let input = ContainerProcessInput {
            args: s(&["echo", "$(MSG)"]),
            env: vec![("MSG".into(), EnvValue::Literal("v=$(NGINX_VERSION)".into()))],
            hostname: "web".into(),
            ..Default::default()
        };
        let p = effective_process(&img, &input).expect("process");
        // Image Env is not visible to $(VAR) expansion.
        assert_eq!(
            p.args,
            s(&["/docker-entrypoint.sh", "echo", "v=$(NGINX_VERSION)"])
        );
        assert_eq!(
            p.env,
            s(&[
                "PATH=/usr/sbin:/usr/bin",
                "HOSTNAME=web",
                "NGINX_VERSION=1.22",
                "MSG=v=$(NGINX_VERSION)"
            ])
        );
        assert_eq!(p.cwd, "/");
    }
}
