//! Image references, parsed and normalized the way Docker and the kubelet
//! do (`nginx` → `docker.io/library/nginx:latest`), with the same error
//! texts, since they end up in pod events.

use std::fmt;

use super::digest::{Digest, DigestError};

pub const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
pub const DEFAULT_TAG: &str = "latest";
const NAME_TOTAL_LENGTH_MAX: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    #[error("invalid reference format")]
    InvalidFormat,
    #[error("repository name must have at least one component")]
    NameEmpty,
    #[error("repository name must be lowercase")]
    NameContainsUppercase,
    #[error("repository name must not be more than 255 characters")]
    NameTooLong,
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexName(String),
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    RemoteNotLowercase(String),
    #[error("{0}")]
    Digest(#[from] DigestError),
}

/// A normalized reference: `domain/path[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses a user-facing image string and applies the default tag
    /// when neither a tag nor a digest is given (the kubelet's view).
    pub fn parse(s: &str) -> Result<Reference, RefError> {
        let mut r = Reference::parse_normalized(s)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(DEFAULT_TAG.to_string());
        }
        Ok(r)
    }

    /// distribution/reference's ParseNormalizedNamed: fills in the domain
    /// and `library/`, but not the tag.
    pub fn parse_normalized(s: &str) -> Result<Reference, RefError> {
        if s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(RefError::HexName(s.to_string()));
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote = remainder.split(':').next().unwrap_or_default();
        if remote.to_lowercase() != remote {
            return Err(RefError::RemoteNotLowercase(remote.to_string()));
        }
        parse_full(&format!("{domain}/{remainder}"))
    }

    /// A reference to `name` (already normalized) with a digest.
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: Some(digest),
        }
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path inside the registry (`library/nginx`).
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `docker.io/library/nginx`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// What the registry is asked for: the digest when there is one,
    /// else the tag.
    pub fn manifest_ref(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => DEFAULT_TAG.to_string(),
        }
    }

    /// The key an image is stored under (ParseDockerRef): `name@digest`
    /// when digested (the tag is dropped), else `name:tag`.
    pub fn key(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => format!("{}@{d}", self.name()),
            (None, Some(t)) => format!("{}:{t}", self.name()),
            (None, None) => format!("{}:{DEFAULT_TAG}", self.name()),
        }
    }

    /// The short form Docker prints (`nginx:latest`, `curlimages/curl:8.5.0`).
    pub fn familiar(&self) -> String {
        let mut out = if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
                Some(rest) if !rest.contains('/') => rest.to_string(),
                _ => self.path.clone(),
            }
        } else {
            self.name()
        };
        if let Some(t) = &self.tag {
            out.push(':');
            out.push_str(t);
        }
        if let Some(d) = &self.digest {
            out.push('@');
            out.push_str(&d.to_string());
        }
        out
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Reference {
    type Err = RefError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

/// Splits off the registry host the way Docker guesses it: the first
/// component is a host when it is `localhost`, contains `.` or `:`, or has
/// uppercase letters; otherwise the image lives on Docker Hub.
fn split_docker_domain(name: &str) -> (String, String) {
    let (domain, mut remote) = match name.split_once('/') {
        None => {
            return (
                DEFAULT_DOMAIN.to_string(),
                format!("{OFFICIAL_REPO_PREFIX}{name}"),
            )
        }
        Some((first, rest)) => {
            if first == "localhost" || first.contains(['.', ':']) || first.to_lowercase() != first {
                let domain = if first == LEGACY_DEFAULT_DOMAIN {
                    DEFAULT_DOMAIN
                } else {
                    first
                };
                (domain.to_string(), rest.to_string())
            } else {
                (DEFAULT_DOMAIN.to_string(), name.to_string())
            }
        }
    };
    if domain == DEFAULT_DOMAIN && !remote.contains('/') {
        remote = format!("{OFFICIAL_REPO_PREFIX}{remote}");
    }
    (domain, remote)
}

/// distribution/reference's Parse on a string that already has a domain.
fn parse_full(s: &str) -> Result<Reference, RefError> {
    let Some((name, tag, digest)) = grammar(s) else {
        if s.is_empty() {
            return Err(RefError::NameEmpty);
        }
        if grammar(&s.to_lowercase()).is_some() {
            return Err(RefError::NameContainsUppercase);
        }
        return Err(RefError::InvalidFormat);
    };
    if name.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(RefError::NameTooLong);
    }
    let digest = digest.map(Digest::parse).transpose()?;
    // The first component is the domain: parse_full is only called with
    // a domain prefixed.
    let (domain, path) = name.split_once('/').ok_or(RefError::InvalidFormat)?;
    Ok(Reference {
        domain: domain.to_string(),
        path: path.to_string(),
        tag: tag.map(str::to_string),
        digest,
    })
}

type Parts<'a> = (&'a str, Option<&'a str>, Option<&'a str>);

/// The reference grammar: `name[:tag][@digest]`; None when it does not match.
fn grammar(s: &str) -> Option<Parts<'_>> {
    let (rest, digest) = match s.split_once('@') {
        Some((rest, d)) => (rest, Some(d)),
        None => (s, None),
    };
    if let Some(d) = digest {
        if !digest_pattern(d) {
            return None;
        }
    }
    // A tag never contains '/', while a port is always followed by one.
    let (name, tag) = match rest.rfind(':') {
        Some(i) if !rest[i + 1..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
        _ => (rest, None),
    };
    if let Some(t) = tag {
        if !tag_pattern(t) {
            return None;
        }
    }
    if !name_pattern(name) {
        return None;
    }
    Some((name, tag, digest))
}

fn name_pattern(name: &str) -> bool {
    let comps: Vec<&str> = name.split('/').collect();
    if comps.len() >= 2 && domain_and_port(comps[0]) && comps[1..].iter().all(|c| path_component(c))
    {
        return true;
    }
    comps.iter().all(|c| path_component(c))
}

/// `[a-z0-9]+` runs joined by `.`, `_`, `__` or one or more `-`.
fn path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn domain_and_port(d: &str) -> bool {
    // host is None for a bracketed IPv6 literal; port is "" or ":digits".
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return false;
        };
        let inner = &rest[..end];
        if inner.is_empty() || !inner.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        (None, &rest[end + 1..])
    } else {
        match d.find(':') {
            Some(i) => (Some(&d[..i]), &d[i..]),
            None => (Some(d), ""),
        }
    };
    if !port.is_empty() {
        let Some(p) = port.strip_prefix(':') else {
            return false;
        };
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    match host {
        None => true,
        Some(h) => !h.is_empty() && h.split('.').all(domain_component),
    }
}

fn domain_component(c: &str) -> bool {
    let b = c.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
}

fn tag_pattern(t: &str) -> bool {
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b[1..].iter().all(|x| word(*x) || *x == b'.' || *x == b'-')
}

/// `algorithm:hex{32,}` at the grammar level; go-digest checks the rest.
fn digest_pattern(d: &str) -> bool {
    let Some((alg, hex)) = d.split_once(':') else {
        return false;
    };
    let alg_ok = alg.split(['-', '_', '+', '.']).all(|part| {
        let b = part.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(|x| x.is_ascii_alphanumeric())
    });
    alg_ok && hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa";

    #[test]
    fn normalizes_like_docker() {
        let d = format!("sha256:{HEX}");
        let cases: Vec<(String, String, String)> = vec![
            // input, full string, store key
            (
                "nginx".into(),
                "docker.io/library/nginx:latest".into(),
                "docker.io/library/nginx:latest".into(),
            ),
            (
                "nginx:1.25".into(),
                "docker.io/library/nginx:1.25".into(),
                "docker.io/library/nginx:1.25".into(),
            ),
            (
                "docker.io/nginx".into(),
                "docker.io/library/nginx:latest".into(),
                "docker.io/library/nginx:latest".into(),
            ),
            (
                "index.docker.io/library/nginx".into(),
                "docker.io/library/nginx:latest".into(),
                "docker.io/library/nginx:latest".into(),
            ),
            (
                "curlimages/curl:8.5.0".into(),
                "docker.io/curlimages/curl:8.5.0".into(),
                "docker.io/curlimages/curl:8.5.0".into(),
            ),
            (
                "curlimages/curl".into(),
                "docker.io/curlimages/curl:latest".into(),
                "docker.io/curlimages/curl:latest".into(),
            ),
            (
                "registry.k8s.io/pause:3.10".into(),
                "registry.k8s.io/pause:3.10".into(),
                "registry.k8s.io/pause:3.10".into(),
            ),
            (
                "localhost/foo".into(),
                "localhost/foo:latest".into(),
                "localhost/foo:latest".into(),
            ),
            (
                "localhost:5000/a/b/c:v1".into(),
                "localhost:5000/a/b/c:v1".into(),
                "localhost:5000/a/b/c:v1".into(),
            ),
            (
                "127.0.0.1:5000/test/img".into(),
                "127.0.0.1:5000/test/img:latest".into(),
                "127.0.0.1:5000/test/img:latest".into(),
            ),
            (
                "[::1]:5000/img:1".into(),
                "[::1]:5000/img:1".into(),
                "[::1]:5000/img:1".into(),
            ),
            (
                "Registry/img".into(),
                "Registry/img:latest".into(),
                "Registry/img:latest".into(),
            ),
            (
                format!("nginx@{d}"),
                format!("docker.io/library/nginx@{d}"),
                format!("docker.io/library/nginx@{d}"),
            ),
            (
                format!("nginx:1.25@{d}"),
                format!("docker.io/library/nginx:1.25@{d}"),
                format!("docker.io/library/nginx@{d}"),
            ),
            (
                "a__b-c---d_e/x.y:T_a.g-1".into(),
                "docker.io/a__b-c---d_e/x.y:T_a.g-1".into(),
                "docker.io/a__b-c---d_e/x.y:T_a.g-1".into(),
            ),
        ];
        for (input, full, key) in cases {
            let r = Reference::parse(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.to_string(), full, "{input}");
            assert_eq!(r.key(), key, "{input}");
        }
    }

    #[test]
    fn parts_and_familiar_form() {
        let r = Reference::parse("curlimages/curl:8.5.0").expect("parse");
        assert_eq!(
            (r.domain(), r.path(), r.tag()),
            ("docker.io", "curlimages/curl", Some("8.5.0"))
        );
        assert_eq!(r.familiar(), "curlimages/curl:8.5.0");
        assert_eq!(
            Reference::parse("nginx").expect("parse").familiar(),
            "nginx:latest"
        );
        assert_eq!(
            Reference::parse("docker.io/library/a/b")
                .expect("parse")
                .familiar(),
            "library/a/b:latest"
        );
        assert_eq!(
            Reference::parse("quay.io/x/y:1").expect("parse").familiar(),
            "quay.io/x/y:1"
        );
        let bare = Reference::parse_normalized("nginx").expect("parse");
        assert_eq!(bare.tag(), None);
        assert_eq!(bare.manifest_ref(), "latest");
        let dg = Reference::parse(&format!("nginx:1@sha256:{HEX}")).expect("parse");
        assert_eq!(dg.manifest_ref(), format!("sha256:{HEX}"));
    }

    #[test]
    fn errors_match_distribution() {
        let long = format!("a/{}", "b".repeat(250));
        let hex_err =
            format!("invalid repository name ({HEX}), cannot specify 64-byte hexadecimal strings");
        let cases: Vec<(String, &str)> = vec![
            ("".into(), "invalid reference format"),
            (
                "Nginx".into(),
                "invalid reference format: repository name (library/Nginx) must be lowercase",
            ),
            (
                "foo/Bar:1".into(),
                "invalid reference format: repository name (foo/Bar) must be lowercase",
            ),
            (
                "example.com/Foo".into(),
                "invalid reference format: repository name (Foo) must be lowercase",
            ),
            (HEX.into(), &hex_err),
            ("nginx:".into(), "invalid reference format"),
            ("nginx:-bad".into(), "invalid reference format"),
            (
                format!("nginx:{}", "t".repeat(129)),
                "invalid reference format",
            ),
            ("a//b".into(), "invalid reference format"),
            ("a/b-".into(), "invalid reference format"),
            ("a/.b".into(), "invalid reference format"),
            ("a/b___c".into(), "invalid reference format"),
            ("host:port/x".into(), "invalid reference format"),
            ("host:/x".into(), "invalid reference format"),
            ("-host.com/x".into(), "invalid reference format"),
            ("nginx@sha256:abc".into(), "invalid reference format"),
            (
                format!("nginx@sha256:{}", &HEX[..40]),
                "invalid checksum digest length",
            ),
            (format!("nginx@md5:{HEX}"), "unsupported digest algorithm"),
            (
                format!("nginx@sha256:{}", HEX.to_uppercase()),
                "invalid checksum digest format",
            ),
            (long, "repository name must not be more than 255 characters"),
            ("a b".into(), "invalid reference format"),
        ];
        for (input, want) in cases {
            let got = Reference::parse(&input)
                .map(|r| r.to_string())
                .map_err(|e| e.to_string());
            assert_eq!(got, Err(want.to_string()), "{input:?}");
        }
    }

    #[test]
    fn path_components() {
        for ok in ["a", "a0", "a.b", "a_b", "a__b", "a-b", "a---b", "a.b_c-d"] {
            assert!(path_component(ok), "{ok}");
        }
        for bad in ["", "A", "a.", "_a", "a..b", "a._b", "a___b", "a-_b"] {
            assert!(!path_component(bad), "{bad}");
        }
    }
}
