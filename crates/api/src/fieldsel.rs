//! Field selectors (`?fieldSelector=metadata.name=x,spec.nodeName!=y`):
//! apimachinery's `fields.ParseSelector`, the per-kind field label
//! conversions kube-apiserver applies before listing (which decide the
//! "field label not supported" errors), and each registry's selectable
//! fields used for matching.

use crate::field::go_quote;
use crate::resource::ResourceInfo;
use crate::table::access::{bool_at, int_at, str_at};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// One `field=value` (or `field!=value`) clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub field: String,
    pub value: String,
    /// `!=` instead of `=`/`==`.
    pub not: bool,
}

impl Term {
    fn matches(&self, fields: &BTreeMap<String, String>) -> bool {
        // A field the object does not have reads as "", like fields.Set.Get.
        let have = fields.get(&self.field).map_or("", String::as_str);
        (have == self.value) != self.not
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = if self.not { "!=" } else { "=" };
        write!(f, "{}{}{}", self.field, op, escape_value(&self.value))
    }
}

/// The AND of its terms; no terms selects everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    terms: Vec<Term>,
}

impl FieldSelector {
    pub fn everything() -> Self {
        Self::default()
    }

    /// Parses the syntax only (`fields.ParseSelector`). Terms come out
    /// sorted; the error is the BadRequest message kube-apiserver returns.
    pub fn parse(selector: &str) -> Result<Self, String> {
        let mut parts = split_terms(selector);
        parts.sort();
        let mut terms = Vec::new();
        for part in parts {
            if part.is_empty() {
                continue;
            }
            let Some((field, op, raw)) = split_term(part) else {
                return Err(format!(
                    "invalid selector: '{selector}'; can't understand '{part}'"
                ));
            };
            let value = unescape_value(raw)?;
            // A term with neither field nor value selects everything.
            if field.is_empty() && value.is_empty() {
                continue;
            }
            terms.push(Term {
                field: field.to_string(),
                value,
                not: op == "!=",
            });
        }
        Ok(FieldSelector { terms })
    }

    /// Parses and converts the field labels for `resource` the way a list or
    /// watch request does: unsupported fields fail with kube-apiserver's
    /// message (`field label not supported: spec.foo`, or for kinds without
    /// their own conversion `"spec.foo" is not a known field selector: only
    /// "metadata.name", "metadata.namespace"`), answered as 400 BadRequest.
    pub fn parse_for(resource: &ResourceInfo, selector: &str) -> Result<Self, String> {
        let mut parsed = Self::parse(selector)?;
        for term in &mut parsed.terms {
            term.field = convert_field_label(resource, &term.field)?;
        }
        Ok(parsed)
    }

    pub fn is_everything(&self) -> bool {
        self.terms.is_empty()
    }

    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    /// Matches a prepared field set (see [`selectable_fields`]).
    pub fn matches_fields(&self, fields: &BTreeMap<String, String>) -> bool {
        self.terms.iter().all(|t| t.matches(fields))
    }

    /// Matches an object of `resource` using that registry's selectable fields.
    pub fn matches(&self, resource: &ResourceInfo, obj: &Value) -> bool {
        self.is_everything() || self.matches_fields(&selectable_fields(resource, obj))
    }

    /// The value an `=` term pins `field` to, to narrow lookups
    /// (`metadata.name=x`).
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.field == field && !t.not)
            .map(|t| t.value.as_str())
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.terms.iter().map(Term::to_string).collect();
        f.write_str(&parts.join(","))
    }
}

/// Splits on commas that are not backslash-escaped (escapes are kept).
fn split_terms(selector: &str) -> Vec<&str> {
    if selector.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in selector.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&selector[start..i]);
            start = i + 1;
        }
    }
    terms.push(&selector[start..]);
    terms
}

/// Splits at the first operator; `!=` and `==` win over `=` at one position.
fn split_term(term: &str) -> Option<(&str, &'static str, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for op in ["!=", "==", "="] {
            if let Some(value) = rest.strip_prefix(op) {
                return Some((&term[..i], op, value));
            }
        }
    }
    None
}

/// `fields.EscapeValue`.
pub fn escape_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `fields.UnescapeValue` with its error texts (a bad character prints as
/// its code point, as Go's `%v` of a rune does).
fn unescape_value(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(format!(
                    "invalid field selector: invalid escape sequence: \\{c}"
                ));
            }
            out.push(c);
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => {
                return Err(format!(
                    "invalid field selector: unescaped character in value: {}",
                    c as u32
                ))
            }
            c => out.push(c),
        }
    }
    if in_slash {
        return Err("invalid field selector: invalid escape sequence: \\".to_string());
    }
    Ok(out)
}

const POD_FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.podIPs",
    "status.nominatedNodeName",
];

const EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
    "metadata.namespace",
    "metadata.name",
];

/// events.k8s.io/v1 names mapped onto the core Event's selectable fields.
const EVENTS_V1_FIELDS: &[(&str, &str)] = &[
    ("reason", "reason"),
    ("regarding.kind", "involvedObject.kind"),
    ("regarding.namespace", "involvedObject.namespace"),
    ("regarding.name", "involvedObject.name"),
    ("regarding.uid", "involvedObject.uid"),
    ("regarding.apiVersion", "involvedObject.apiVersion"),
    (
        "regarding.resourceVersion",
        "involvedObject.resourceVersion",
    ),
    ("regarding.fieldPath", "involvedObject.fieldPath"),
    ("reportingController", "reportingComponent"),
    ("type", "type"),
    ("metadata.namespace", "metadata.namespace"),
    ("metadata.name", "metadata.name"),
];

/// The field label conversion kube-apiserver registers for the kind served
/// by `resource`: the internal field name, or the BadRequest message.
pub fn convert_field_label(resource: &ResourceInfo, label: &str) -> Result<String, String> {
    let allowed: &[&str] = match (resource.group, resource.kind) {
        ("", "Pod") if label == "spec.host" => return Ok("spec.nodeName".to_string()),
        ("", "Pod") => POD_FIELDS,
        ("", "Node") => &["metadata.name", "spec.unschedulable"],
        ("", "Event") => EVENT_FIELDS,
        ("", "Namespace") => &["status.phase", "metadata.name"],
        ("", "Secret") => &["type", "metadata.namespace", "metadata.name"],
        ("", "Service") => &[
            "metadata.namespace",
            "metadata.name",
            "spec.clusterIP",
            "spec.type",
        ],
        ("events.k8s.io", "Event") => {
            return EVENTS_V1_FIELDS
                .iter()
                .find(|(from, _)| *from == label)
                .map(|(_, to)| to.to_string())
                .ok_or_else(|| format!("field label not supported: {label}"))
        }
        // Kinds without their own conversion (apps/v1 included) accept only
        // the metadata fields.
        _ => {
            return match label {
                "metadata.name" | "metadata.namespace" => Ok(label.to_string()),
                _ => Err(format!(
                "{} is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
                go_quote(label)
            )),
            }
        }
    };
    if allowed.contains(&label) {
        Ok(label.to_string())
    } else {
        Err(format!("field label not supported: {label}"))
    }
}

/// The fields an object of `resource` can be selected by, named as after
/// conversion (the registry's `GetAttrs`), with Go's zero values for
/// missing fields.
pub fn selectable_fields(resource: &ResourceInfo, obj: &Value) -> BTreeMap<String, String> {
    let mut f = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        f.insert(k.to_string(), v);
    };
    put(
        "metadata.name",
        str_at(obj, &["metadata", "name"]).to_string(),
    );
    if resource.namespaced {
        put(
            "metadata.namespace",
            str_at(obj, &["metadata", "namespace"]).to_string(),
        );
    }
    let s = |path: &[&str]| str_at(obj, path).to_string();
    match (resource.group, resource.kind) {
        ("", "Pod") => {
            put("spec.nodeName", s(&["spec", "nodeName"]));
            put("spec.restartPolicy", s(&["spec", "restartPolicy"]));
            put("spec.schedulerName", s(&["spec", "schedulerName"]));
            put(
                "spec.serviceAccountName",
                s(&["spec", "serviceAccountName"]),
            );
            put(
                "spec.hostNetwork",
                bool_at(obj, &["spec", "hostNetwork"]).to_string(),
            );
            put("status.phase", s(&["status", "phase"]));
            // status.podIPs is accepted but, as upstream, has no value.
            put("status.podIP", crate::table::pod_ip(obj).to_string());
            put(
                "status.nominatedNodeName",
                s(&["status", "nominatedNodeName"]),
            );
        }
        ("", "Node") => put(
            "spec.unschedulable",
            bool_at(obj, &["spec", "unschedulable"]).to_string(),
        ),
        ("", "Namespace") => {
            put("status.phase", s(&["status", "phase"]));
            // Upstream keeps this legacy alias in the set.
            put("name", s(&["metadata", "name"]));
        }
        ("", "Secret") => put("type", s(&["type"])),
        ("", "Service") => {
            put("spec.clusterIP", s(&["spec", "clusterIP"]));
            put("spec.type", s(&["spec", "type"]));
        }
        ("apps", "ReplicaSet") => put(
            "status.replicas",
            int_at(obj, &["status", "replicas"]).to_string(),
        ),
        ("" | "events.k8s.io", "Event") => event_fields(obj, &mut put),
        _ => {}
    }
    f
}

/// Core Event fields; reads both the core/v1 and the events.k8s.io/v1 shape
/// since both APIs serve the same stored events.
fn event_fields(obj: &Value, put: &mut impl FnMut(&str, String)) {
    let v1 = obj.get("regarding").is_some() || obj.get("note").is_some();
    let (reference, source_key) = if v1 {
        ("regarding", "deprecatedSource")
    } else {
        ("involvedObject", "source")
    };
    for (field, key) in [
        ("kind", "kind"),
        ("namespace", "namespace"),
        ("name", "name"),
        ("uid", "uid"),
        ("apiVersion", "apiVersion"),
        ("resourceVersion", "resourceVersion"),
        ("fieldPath", "fieldPath"),
    ] {
        put(
            &format!("involvedObject.{field}"),
            str_at(obj, &[reference, key]).to_string(),
        );
    }
    let reporting = if v1 {
        str_at(obj, &["reportingController"])
    } else {
        str_at(obj, &["reportingComponent"])
    };
    let mut source = str_at(obj, &[source_key, "component"]);
    if source.is_empty() {
        source = reporting;
    }
    put("reason", str_at(obj, &["reason"]).to_string());
    put("reportingComponent", reporting.to_string());
    put("source", source.to_string());
    put("type", str_at(obj, &["type"]).to_string());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::lookup;
    use serde_json::json;

    fn r(group: &str, plural: &str) -> &'static ResourceInfo {
        lookup(group, plural).unwrap()
    }

    #[test]
    fn parses_terms_sorted_and_unescaped() {
        let cases = [
            ("", ""),
            ("metadata.name=x", "metadata.name=x"),
            ("metadata.name==x", "metadata.name=x"),
            (
                "spec.nodeName!=y,metadata.name=x",
                "metadata.name=x,spec.nodeName!=y",
            ),
            ("a=,", "a="),
            (",,a=b,,", "a=b"),
            ("=", ""),
            ("=x", "=x"),
            ("a=b\\,c", "a=b\\,c"),
            ("a=b\\=c\\\\", "a=b\\=c\\\\"),
            ("a!=!b", "a!=!b"),
            ("a=!b", "a=!b"),
        ];
        for (input, want) in cases {
            let s = FieldSelector::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(s.to_string(), want, "{input}");
        }
        let s = FieldSelector::parse("a=b\\,c").unwrap();
        assert_eq!(s.terms()[0].value, "b,c");
        let s = FieldSelector::parse("a==b").unwrap();
        assert_eq!(s.terms()[0].value, "b");
    }

    #[test]
    fn parse_errors_match_apimachinery() {
        let cases = [
            ("foo", "invalid selector: 'foo'; can't understand 'foo'"),
            (
                "b=c,foo",
                "invalid selector: 'b=c,foo'; can't understand 'foo'",
            ),
            (
                "a=b=c",
                "invalid field selector: unescaped character in value: 61",
            ),
            (
                "a=b\\x",
                "invalid field selector: invalid escape sequence: \\x",
            ),
            (
                "a=b\\",
                "invalid field selector: invalid escape sequence: \\",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                FieldSelector::parse(input).err().as_deref(),
                Some(want),
                "{input}"
            );
        }
    }

    #[test]
    fn converts_labels_per_kind() {
        let ok = [
            (("", "pods"), "spec.nodeName", "spec.nodeName"),
            (("", "pods"), "spec.host", "spec.nodeName"),
            (("", "pods"), "status.podIPs", "status.podIPs"),
            (("", "pods"), "spec.hostNetwork", "spec.hostNetwork"),
            (("", "nodes"), "spec.unschedulable", "spec.unschedulable"),
            (("", "namespaces"), "status.phase", "status.phase"),
            (("", "secrets"), "type", "type"),
            (("", "services"), "spec.clusterIP", "spec.clusterIP"),
            (("", "services"), "spec.type", "spec.type"),
            (("", "events"), "involvedObject.name", "involvedObject.name"),
            (("", "events"), "reportingComponent", "reportingComponent"),
            (
                ("events.k8s.io", "events"),
                "regarding.name",
                "involvedObject.name",
            ),
            (
                ("events.k8s.io", "events"),
                "reportingController",
                "reportingComponent",
            ),
            (
                ("", "configmaps"),
                "metadata.namespace",
                "metadata.namespace",
            ),
            (("apps", "deployments"), "metadata.name", "metadata.name"),
        ];
        for ((g, p), label, want) in ok {
            assert_eq!(
                convert_field_label(r(g, p), label).as_deref(),
                Ok(want),
                "{p} {label}"
            );
        }
        let bad = [
            (("", "pods"), "spec.foo", "field label not supported: spec.foo"),
            (("", "pods"), "", "field label not supported: "),
            (("", "nodes"), "metadata.namespace", "field label not supported: metadata.namespace"),
            (("", "namespaces"), "metadata.namespace", "field label not supported: metadata.namespace"),
            (("", "services"), "spec.selector", "field label not supported: spec.selector"),
            (("", "events"), "regarding.name", "field label not supported: regarding.name"),
            (("events.k8s.io", "events"), "involvedObject.name", "field label not supported: involvedObject.name"),
            (("events.k8s.io", "events"), "source", "field label not supported: source"),
            (
                ("apps", "replicasets"),
                "status.replicas",
                "\"status.replicas\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
            ),
            (
                ("", "configmaps"),
                "data.x",
                "\"data.x\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
            ),
        ];
        for ((g, p), label, want) in bad {
            assert_eq!(
                convert_field_label(r(g, p), label).err().as_deref(),
                Some(want),
                "{p} {label}"
            );
        }
        // Conversion runs over the sorted terms, after empty terms are gone.
        assert_eq!(
            FieldSelector::parse_for(r("", "pods"), "spec.zzz=1,spec.aaa=2")
                .err()
                .as_deref(),
            Some("field label not supported: spec.aaa")
        );
        assert!(FieldSelector::parse_for(r("", "pods"), "=")
            .unwrap()
            .is_everything());
        assert_eq!(
            FieldSelector::parse_for(r("", "pods"), "spec.host=node1")
                .unwrap()
                .to_string(),
            "spec.nodeName=node1"
        );
    }

    fn pod() -> Value {
        json!({
            "metadata": {"name": "web-1", "namespace": "default"},
            "spec": {"nodeName": "node1", "restartPolicy": "Always", "schedulerName": "default-scheduler", "serviceAccountName": "default"},
            "status": {"phase": "Running", "podIP": "10.0.0.9", "podIPs": [{"ip": "10.244.0.5"}, {"ip": "fd00::5"}]}
        })
    }

    #[test]
    fn pod_fields_follow_the_registry() {
        let f = selectable_fields(r("", "pods"), &pod());
        let want: BTreeMap<String, String> = [
            ("metadata.name", "web-1"),
            ("metadata.namespace", "default"),
            ("spec.hostNetwork", "false"),
            ("spec.nodeName", "node1"),
            ("spec.restartPolicy", "Always"),
            ("spec.schedulerName", "default-scheduler"),
            ("spec.serviceAccountName", "default"),
            ("status.nominatedNodeName", ""),
            ("status.phase", "Running"),
            ("status.podIP", "10.244.0.5"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(f, want);
    }

    #[test]
    fn matches_objects() {
        let pods = r("", "pods");
        let cases = [
            ("", true),
            ("metadata.name=web-1", true),
            ("metadata.name=web-2", false),
            ("metadata.name!=web-2", true),
            ("spec.nodeName=node1,status.phase=Running", true),
            ("spec.nodeName=node1,status.phase!=Running", false),
            ("spec.host=node1", true),
            ("spec.hostNetwork=false", true),
            ("status.podIP=10.244.0.5", true),
            ("status.podIPs=", true),
            ("status.podIPs=10.244.0.5", false),
            ("status.nominatedNodeName=", true),
        ];
        for (sel, want) in cases {
            let s = FieldSelector::parse_for(pods, sel).unwrap();
            assert_eq!(s.matches(pods, &pod()), want, "{sel}");
        }
        let node = json!({"metadata": {"name": "node1"}, "spec": {"unschedulable": true}});
        let s = FieldSelector::parse_for(r("", "nodes"), "spec.unschedulable=true").unwrap();
        assert!(s.matches(r("", "nodes"), &node));
        let s = FieldSelector::parse_for(r("", "nodes"), "spec.unschedulable=false").unwrap();
        assert!(!s.matches(r("", "nodes"), &node));

        let svc = json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {"type": "NodePort", "clusterIP": "10.96.0.5"}});
        let s = FieldSelector::parse_for(
            r("", "services"),
            "spec.type=NodePort,spec.clusterIP=10.96.0.5",
        )
        .unwrap();
        assert!(s.matches(r("", "services"), &svc));

        let secret = json!({"metadata": {"name": "s", "namespace": "default"}, "type": "Opaque"});
        let s = FieldSelector::parse_for(r("", "secrets"), "type=Opaque").unwrap();
        assert!(s.matches(r("", "secrets"), &secret));

        let ns = json!({"metadata": {"name": "dev"}, "status": {"phase": "Terminating"}});
        let s = FieldSelector::parse_for(r("", "namespaces"), "status.phase=Active").unwrap();
        assert!(!s.matches(r("", "namespaces"), &ns));
        assert!(!selectable_fields(r("", "namespaces"), &ns).contains_key("metadata.namespace"));

        let rs = json!({"metadata": {"name": "web-abc", "namespace": "default"}, "status": {"replicas": 3}});
        assert_eq!(
            selectable_fields(r("apps", "replicasets"), &rs)["status.replicas"],
            "3"
        );
    }

    #[test]
    fn events_match_in_both_shapes() {
        let core = json!({
            "metadata": {"name": "web.1", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default", "uid": "u1", "fieldPath": "spec.containers{nginx}"},
            "reason": "Pulled", "type": "Normal",
            "source": {"component": "kubelet"},
            "reportingComponent": "kubelet"
        });
        let f = selectable_fields(r("", "events"), &core);
        assert_eq!(f["involvedObject.kind"], "Pod");
        assert_eq!(f["involvedObject.fieldPath"], "spec.containers{nginx}");
        assert_eq!(f["involvedObject.apiVersion"], "");
        assert_eq!(f["source"], "kubelet");
        assert_eq!(f["reportingComponent"], "kubelet");

        let v1 = json!({
            "metadata": {"name": "web.1", "namespace": "default"},
            "regarding": {"kind": "Service", "name": "web", "namespace": "default"},
            "reason": "EnsuringLoadBalancer", "type": "Normal", "note": "Ensuring load balancer",
            "reportingController": "service-lb-controller"
        });
        let events = r("events.k8s.io", "events");
        let s = FieldSelector::parse_for(
            events,
            "regarding.kind=Service,reportingController=service-lb-controller",
        )
        .unwrap();
        assert!(s.matches(events, &v1));
        let f = selectable_fields(events, &v1);
        assert_eq!(f["source"], "service-lb-controller");
        let s = FieldSelector::parse_for(r("", "events"), "involvedObject.name=web,type=Normal")
            .unwrap();
        assert!(s.matches(r("", "events"), &v1));
    }

    #[test]
    fn exact_matches_and_escaping() {
        let s = FieldSelector::parse("metadata.name=web,metadata.namespace!=kube-system").unwrap();
        assert_eq!(s.requires_exact_match("metadata.name"), Some("web"));
        assert_eq!(s.requires_exact_match("metadata.namespace"), None);
        assert_eq!(escape_value("a,b=c\\d"), "a\\,b\\=c\\\\d");
    }
}
