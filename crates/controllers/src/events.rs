//! An Event recorder like client-go's legacy `record.EventRecorder`:
//! core/v1 Events named `<object>.<hex nanoseconds>`, with `source` and
//! `reportingComponent` set to the controller's name. A repeat of the same
//! event (same object, type, reason and message) bumps `count` and
//! `lastTimestamp` of the Event written before instead of adding another.
//! Writes happen on a background task, in order, so recording never blocks
//! a controller.

use k1s_api::resource::lookup;
use k1s_api::ResourceInfo;
use k1s_apiserver::{Api, WriteOptions};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use tokio::sync::mpsc;

/// How many distinct events the recorder remembers for counting repeats
/// (client-go's LRU holds 4096).
const REMEMBERED: usize = 4096;

/// The object an Event is about (`involvedObject`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    pub kind: String,
    pub api_version: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub resource_version: String,
    /// Part of the object the event is about, e.g. `spec.containers{web}`.
    pub field_path: String,
}

impl ObjectRef {
    /// A reference to `obj`, an object of resource `r`.
    pub fn of(r: &ResourceInfo, obj: &Value) -> ObjectRef {
        let m = &obj["metadata"];
        let s = |f: &str| m[f].as_str().unwrap_or("").to_string();
        ObjectRef {
            kind: r.kind.to_string(),
            api_version: r.api_version(),
            namespace: s("namespace"),
            name: s("name"),
            uid: s("uid"),
            resource_version: s("resourceVersion"),
            field_path: String::new(),
        }
    }

    fn to_json(&self) -> Value {
        let mut v = json!({"kind": self.kind});
        if !self.namespace.is_empty() {
            v["namespace"] = json!(self.namespace);
        }
        v["name"] = json!(self.name);
        v["uid"] = json!(self.uid);
        v["apiVersion"] = json!(self.api_version);
        if !self.resource_version.is_empty() {
            v["resourceVersion"] = json!(self.resource_version);
        }
        if !self.field_path.is_empty() {
            v["fieldPath"] = json!(self.field_path);
        }
        v
    }
}

/// One event to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub object: ObjectRef,
    pub type_: &'static str,
    pub reason: String,
    pub message: String,
}

/// What the writer does for an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Create this Event object.
    Create(Value),
    /// Bump the Event written before: set these fields on it.
    Bump {
        namespace: String,
        name: String,
        count: i64,
        last_timestamp: String,
    },
}

struct Seen {
    name: String,
    count: i64,
}

/// Decides, purely, whether an event is new or a repeat (client-go's
/// EventLogger keyed like `getEventKey`, without the aggregation of
/// similar-but-different messages).
pub struct Correlator {
    component: String,
    seen: HashMap<String, Seen>,
    order: VecDeque<String>,
}

impl Correlator {
    pub fn new(component: &str) -> Correlator {
        Correlator {
            component: component.to_string(),
            seen: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    fn key(&self, ev: &Pending) -> String {
        let o = &ev.object;
        [
            self.component.as_str(),
            "",
            &o.kind,
            &o.namespace,
            &o.name,
            &o.uid,
            &o.api_version,
            ev.type_,
            &ev.reason,
            &ev.message,
        ]
        .join("\u{0}")
    }

    /// What to write for `ev` at `now` (RFC 3339) / `now_nanos` (Unix ns).
    pub fn observe(&mut self, ev: &Pending, now: &str, now_nanos: i64) -> Write {
        let key = self.key(ev);
        if let Some(seen) = self.seen.get_mut(&key) {
            seen.count += 1;
            return Write::Bump {
                namespace: event_namespace(&ev.object),
                name: seen.name.clone(),
                count: seen.count,
                last_timestamp: now.to_string(),
            };
        }
        let name = format!("{}.{:x}", ev.object.name, now_nanos);
        let obj = new_event(ev, &self.component, &name, now);
        self.seen.insert(key.clone(), Seen { name, count: 1 });
        self.order.push_back(key);
        while self.order.len() > REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        Write::Create(obj)
    }

    /// Forgets `ev` (its Event vanished): the next one is created afresh.
    pub fn forget(&mut self, ev: &Pending) {
        let key = self.key(ev);
        self.seen.remove(&key);
        self.order.retain(|k| *k != key);
    }
}

/// Events about cluster-scoped objects live in `default`, as upstream.
fn event_namespace(o: &ObjectRef) -> String {
    if o.namespace.is_empty() {
        "default".to_string()
    } else {
        o.namespace.clone()
    }
}

/// The core/v1 Event kube-controller-manager writes.
pub fn new_event(ev: &Pending, component: &str, name: &str, now: &str) -> Value {
    json!({
        "metadata": {"name": name, "namespace": event_namespace(&ev.object)},
        "involvedObject": ev.object.to_json(),
        "reason": ev.reason,
        "message": ev.message,
        "source": {"component": component},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "type": ev.type_,
        "eventTime": null,
        "reportingComponent": component,
        "reportingInstance": "",
    })
}

/// Records Events for one controller.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::UnboundedSender<Pending>,
}

impl Recorder {
    /// Starts the writer task (needs a Tokio runtime).
    pub fn new(api: Api, component: &'static str) -> Recorder {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_events(api, component, rx));
        Recorder { tx }
    }

    /// A recorder that drops everything (for tests).
    pub fn discard() -> Recorder {
        let (tx, _) = mpsc::unbounded_channel();
        Recorder { tx }
    }

    pub fn event(&self, object: ObjectRef, type_: &'static str, reason: &str, message: String) {
        let _ = self.tx.send(Pending {
            object,
            type_,
            reason: reason.to_string(),
            message,
        });
    }

    pub fn normal(&self, object: ObjectRef, reason: &str, message: String) {
        self.event(object, "Normal", reason, message);
    }

    pub fn warning(&self, object: ObjectRef, reason: &str, message: String) {
        self.event(object, "Warning", reason, message);
    }
}

fn now() -> (String, i64) {
    let t = chrono::Utc::now();
    (
        t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        t.timestamp_nanos_opt().unwrap_or(0),
    )
}

async fn write_events(api: Api, component: &'static str, mut rx: mpsc::UnboundedReceiver<Pending>) {
    let Some(events) = lookup("", "events") else {
        return;
    };
    let opts = WriteOptions {
        field_manager: "kube-controller-manager".into(),
        ..Default::default()
    };
    let mut correlator = Correlator::new(component);
    while let Some(ev) = rx.recv().await {
        let (ts, nanos) = now();
        match correlator.observe(&ev, &ts, nanos) {
            Write::Create(obj) => {
                let ns = event_namespace(&ev.object);
                if let Err(e) = api.create(events, Some(&ns), obj, &opts).await {
                    // A terminating namespace refuses new Events; nothing to do.
                    tracing::debug!(%component, "recording event: {}", e.message);
                    correlator.forget(&ev);
                }
            }
            Write::Bump {
                namespace,
                name,
                count,
                last_timestamp,
            } => {
                let bumped = match api.get(events, Some(&namespace), &name) {
                    Ok(mut existing) => {
                        existing["count"] = json!(count);
                        existing["lastTimestamp"] = json!(last_timestamp);
                        api.update(events, Some(&namespace), &name, existing, None, &opts)
                            .await
                            .is_ok()
                    }
                    Err(_) => false,
                };
                if !bumped {
                    // Gone (or changed under us): start a new Event.
                    correlator.forget(&ev);
                    if let Write::Create(obj) = correlator.observe(&ev, &ts, nanos) {
                        let _ = api.create(events, Some(&namespace), obj, &opts).await;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment_ref() -> ObjectRef {
        ObjectRef {
            kind: "Deployment".into(),
            api_version: "apps/v1".into(),
            namespace: "default".into(),
            name: "web".into(),
            uid: "u1".into(),
            resource_version: "42".into(),
            field_path: String::new(),
        }
    }

    fn scaled(msg: &str) -> Pending {
        Pending {
            object: deployment_ref(),
            type_: "Normal",
            reason: "ScalingReplicaSet".into(),
            message: msg.into(),
        }
    }

    #[test]
    fn first_event_is_created_like_kube_controller_manager() {
        let mut c = Correlator::new("deployment-controller");
        let w = c.observe(
            &scaled("Scaled up replica set web-7d9c8b6f5 from 0 to 3"),
            "2026-01-02T03:04:05Z",
            0x17a3f0e2c1d4b5a6,
        );
        assert_eq!(
            w,
            Write::Create(json!({
                "metadata": {"name": "web.17a3f0e2c1d4b5a6", "namespace": "default"},
                "involvedObject": {"kind": "Deployment", "namespace": "default", "name": "web", "uid": "u1", "apiVersion": "apps/v1", "resourceVersion": "42"},
                "reason": "ScalingReplicaSet",
                "message": "Scaled up replica set web-7d9c8b6f5 from 0 to 3",
                "source": {"component": "deployment-controller"},
                "firstTimestamp": "2026-01-02T03:04:05Z",
                "lastTimestamp": "2026-01-02T03:04:05Z",
                "count": 1,
                "type": "Normal",
                "eventTime": null,
                "reportingComponent": "deployment-controller",
                "reportingInstance": ""
            }))
        );
    }

    #[test]
    fn repeats_bump_the_count() {
        let mut c = Correlator::new("replicaset-controller");
        let ev = scaled("same");
        assert!(matches!(c.observe(&ev, "t1", 1), Write::Create(_)));
        assert_eq!(
            c.observe(&ev, "t2", 2),
            Write::Bump {
                namespace: "default".into(),
                name: "web.1".into(),
                count: 2,
                last_timestamp: "t2".into()
            }
        );
        assert!(matches!(
            c.observe(&ev, "t3", 3),
            Write::Bump { count: 3, .. }
        ));
        // A different message is a different event.
        assert!(matches!(
            c.observe(&scaled("other"), "t4", 4),
            Write::Create(_)
        ));
        c.forget(&ev);
        assert!(matches!(c.observe(&ev, "t5", 5), Write::Create(_)));
    }

    #[test]
    fn resource_version_differences_do_not_split_repeats() {
        let mut c = Correlator::new("x");
        let a = scaled("m");
        let mut b = scaled("m");
        b.object.resource_version = "43".into();
        assert!(matches!(c.observe(&a, "t1", 1), Write::Create(_)));
        assert!(matches!(
            c.observe(&b, "t2", 2),
            Write::Bump { count: 2, .. }
        ));
    }

    #[test]
    fn cluster_scoped_objects_get_events_in_default() {
        let node = lookup("", "nodes").expect("nodes");
        let r = ObjectRef::of(node, &json!({"metadata": {"name": "node1", "uid": "n"}}));
        let ev = Pending {
            object: r,
            type_: "Normal",
            reason: "X".into(),
            message: "y".into(),
        };
        let obj = new_event(&ev, "c", "node1.1", "t");
        assert_eq!(obj["metadata"]["namespace"], "default");
        assert_eq!(
            obj["involvedObject"],
            json!({"kind": "Node", "name": "node1", "uid": "n", "apiVersion": "v1"})
        );
    }
}
