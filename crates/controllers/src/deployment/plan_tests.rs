//! Table and simulation tests of the Deployment planner: single passes
//! with golden outputs, and whole rollouts driven pass by pass with a
//! simulated ReplicaSet controller, checking surge/unavailability bounds.

use super::*;
use crate::deployment::util::{self, annotation, MAX_REPLICAS, REVISION_HISTORY};
use serde_json::json;

const NOW: &str = "2026-01-01T12:00:00Z";

fn now() -> DateTime<Utc> {
    st::parse_time(&json!(NOW)).unwrap_or_default()
}

fn deployment(replicas: i64, image: &str, strategy: Value) -> Value {
    json!({
        "metadata": {"name": "web", "namespace": "default", "uid": "d-uid", "generation": 1, "resourceVersion": "10"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "nginx", "image": image}]}},
            "strategy": strategy,
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600
        },
        "status": {}
    })
}

fn rolling(surge: Value, unavailable: Value) -> Value {
    json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}})
}

fn default_rolling() -> Value {
    rolling(json!("25%"), json!("25%"))
}

/// A ReplicaSet of `d`'s current template, as the controller would have made it.
fn rs_of(d: &Value, size: i64, available: i64, created: &str, revision: i64) -> Value {
    let mut template = d["spec"]["template"].clone();
    let hash = compute_hash(&template, None);
    template["metadata"]["labels"][HASH_LABEL] = json!(hash);
    json!({
        "metadata": {
            "name": format!("web-{hash}"), "namespace": "default", "uid": format!("uid-{hash}"),
            "generation": 1, "creationTimestamp": created, "resourceVersion": "5",
            "labels": template["metadata"]["labels"],
            "annotations": {REVISION: revision.to_string(), DESIRED_REPLICAS: replicas(d).to_string(),
                            MAX_REPLICAS: (replicas(d) + max_surge(d)).to_string()},
            "ownerReferences": [controller_ref(d, "apps/v1", "Deployment")]
        },
        "spec": {"replicas": size, "selector": {"matchLabels": {"app": "web", HASH_LABEL: hash}}, "template": template},
        "status": {"replicas": size, "readyReplicas": size, "availableReplicas": available, "observedGeneration": 1}
    })
}

fn with_image(d: &Value, image: &str) -> Value {
    let mut d = d.clone();
    d["spec"]["template"]["spec"]["containers"][0]["image"] = json!(image);
    d["metadata"]["generation"] = json!(2);
    d
}

fn run(d: &Value, rss: Vec<Value>) -> Plan {
    plan(Input {
        deployment: d,
        replica_sets: rss,
        pod_phases: HashMap::new(),
        now: now(),
    })
}

fn events(p: &Plan) -> Vec<String> {
    p.actions
        .iter()
        .filter_map(|a| match a {
            Action::CreateReplicaSet(rs) if replicas(rs) > 0 => Some(format!(
                "Scaled up replica set {} from 0 to {}",
                name(rs),
                replicas(rs)
            )),
            Action::UpdateReplicaSet {
                rs,
                scaled: Some((op, from, to)),
            } => Some(format!(
                "Scaled {op} replica set {} from {from} to {to}",
                name(rs)
            )),
            Action::Event {
                reason, message, ..
            } => Some(format!("{reason}: {message}")),
            Action::DeleteReplicaSet { name, .. } => Some(format!("delete {name}")),
            _ => None,
        })
        .collect()
}

#[test]
fn a_new_deployment_gets_its_first_replica_set() {
    let d = deployment(3, "nginx", default_rolling());
    let p = run(&d, vec![]);
    let hash = compute_hash(&d["spec"]["template"], None);
    let name = format!("web-{hash}");
    assert_eq!(
        p.actions,
        vec![Action::CreateReplicaSet(json!({
            "metadata": {
                "name": name, "namespace": "default",
                "labels": {"app": "web", "pod-template-hash": hash},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "d-uid", "controller": true, "blockOwnerDeletion": true}],
                "annotations": {"deployment.kubernetes.io/revision": "1", "deployment.kubernetes.io/desired-replicas": "3", "deployment.kubernetes.io/max-replicas": "4"}
            },
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web", "pod-template-hash": hash}},
                "template": {"metadata": {"labels": {"app": "web", "pod-template-hash": hash}},
                             "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}
            }
        }))]
    );
    assert_eq!(
        events(&p),
        vec![format!("Scaled up replica set {name} from 0 to 3")]
    );
    assert_eq!(
        p.annotations,
        Some(json!({"deployment.kubernetes.io/revision": "1"}))
    );
    assert_eq!(
        p.status,
        Some(json!({
            "observedGeneration": 1,
            "unavailableReplicas": 3,
            "conditions": [
                {"type": "Progressing", "status": "True", "lastUpdateTime": NOW, "lastTransitionTime": NOW,
                 "reason": "NewReplicaSetCreated", "message": format!("Created new replica set \"{name}\"")},
                {"type": "Available", "status": "False", "lastUpdateTime": NOW, "lastTransitionTime": NOW,
                 "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability."}
            ]
        }))
    );
    assert_eq!(p.error, None);
}

/// A cluster in memory: the planner's writes applied, ReplicaSet status
/// following spec (new pods become available one pass later).
struct World {
    d: Value,
    rss: Vec<Value>,
    events: Vec<String>,
    next: u32,
}

impl World {
    fn new(d: Value, rss: Vec<Value>) -> World {
        World {
            d,
            rss,
            events: Vec::new(),
            next: 0,
        }
    }

    /// One Deployment pass; returns whether it wrote anything.
    fn pass(&mut self) -> bool {
        let p = run(&self.d, self.rss.clone());
        assert_eq!(p.error, None);
        self.events.extend(events(&p));
        let wrote = !p.actions.is_empty() || p.status.is_some() || p.annotations.is_some();
        for a in p.actions {
            match a {
                Action::CreateReplicaSet(mut rs) => {
                    self.next += 1;
                    rs["metadata"]["uid"] = json!(format!("new-{}", self.next));
                    rs["metadata"]["generation"] = json!(1);
                    rs["metadata"]["creationTimestamp"] =
                        json!(format!("2026-01-01T11:{:02}:00Z", 10 + self.next));
                    rs["status"] = json!({"replicas": 0});
                    self.rss.push(rs);
                }
                Action::UpdateReplicaSet { rs, .. } => {
                    if let Some(slot) = self.rss.iter_mut().find(|r| name(r) == name(&rs)) {
                        *slot = rs;
                    }
                }
                Action::DeleteReplicaSet { name: n, .. } => self.rss.retain(|r| name(r) != n),
                Action::Event { .. } => {}
            }
        }
        if let Some(a) = p.annotations {
            self.d["metadata"]["annotations"] = a;
        }
        if let Some(s) = p.status {
            self.d["status"] = s;
        }
        wrote
    }

    /// The ReplicaSet controller and kubelet: pods follow spec; pods that
    /// existed before stay available, new ones are not yet.
    fn replicaset_controller(&mut self) -> bool {
        let mut changed = false;
        for rs in &mut self.rss {
            let want = replicas(rs);
            let avail = status_count(rs, "availableReplicas").min(want);
            let new = json!({"replicas": want, "readyReplicas": avail, "availableReplicas": avail,
                             "observedGeneration": rs["metadata"]["generation"]});
            changed |= rs["status"] != new;
            rs["status"] = new;
        }
        changed
    }

    fn pods_become_ready(&mut self) -> bool {
        let mut changed = false;
        for rs in &mut self.rss {
            let want = replicas(rs);
            changed |= status_count(rs, "availableReplicas") != want;
            rs["status"]["readyReplicas"] = json!(want);
            rs["status"]["availableReplicas"] = json!(want);
        }
        changed
    }

    fn pods(&self) -> i64 {
        self.rss.iter().map(|rs| status_count(rs, "replicas")).sum()
    }

    fn available(&self) -> i64 {
        self.rss
            .iter()
            .map(|rs| status_count(rs, "availableReplicas"))
            .sum()
    }

    /// Runs until nothing changes, checking the bounds after every step.
    fn settle(&mut self, max_pods: i64, min_available: i64) {
        for _ in 0..200 {
            let a = self.pass();
            let b = self.replicaset_controller();
            assert!(
                self.pods() <= max_pods,
                "{} pods > {max_pods}: {:?}",
                self.pods(),
                self.events
            );
            assert!(
                self.available() >= min_available,
                "{} available < {min_available}: {:?}",
                self.available(),
                self.events
            );
            let c = self.pods_become_ready();
            if !(a || b || c) {
                return;
            }
        }
        panic!("no steady state: {:?}", self.events);
    }
}

fn names(w: &World) -> (String, String) {
    let mut sorted = w.rss.clone();
    sorted.sort_by(by_creation);
    (
        name(&sorted[0]).to_string(),
        name(&sorted[sorted.len() - 1]).to_string(),
    )
}

#[test]
fn rolling_update_of_three_surges_one_and_never_drops_availability() {
    let d = deployment(3, "nginx", default_rolling());
    let old = rs_of(&d, 3, 3, "2026-01-01T10:00:00Z", 1);
    let mut w = World::new(with_image(&d, "nginx:1.17"), vec![old]);
    w.d["metadata"]["annotations"] = json!({REVISION: "1"});
    w.settle(4, 3);
    let (a, b) = names(&w);
    assert_eq!(
        w.events,
        vec![
            format!("Scaled up replica set {b} from 0 to 1"),
            format!("Scaled down replica set {a} from 3 to 2"),
            format!("Scaled up replica set {b} from 1 to 2"),
            format!("Scaled down replica set {a} from 2 to 1"),
            format!("Scaled up replica set {b} from 2 to 3"),
            format!("Scaled down replica set {a} from 1 to 0"),
        ]
    );
    let s = &w.d["status"];
    assert_eq!(
        (
            s["replicas"].clone(),
            s["updatedReplicas"].clone(),
            s["availableReplicas"].clone()
        ),
        (json!(3), json!(3), json!(3))
    );
    assert_eq!(s["observedGeneration"], 2);
    let progressing = get_condition(s, st::PROGRESSING)
        .cloned()
        .unwrap_or_default();
    assert_eq!(progressing["reason"], "NewReplicaSetAvailable");
    assert_eq!(
        progressing["message"],
        json!(format!("ReplicaSet \"{b}\" has successfully progressed."))
    );
    assert_eq!(annotation(&w.d, REVISION), Some("2"));
}

#[test]
fn rolling_update_bounds_hold_for_many_shapes() {
    let shapes = [
        (10, json!("25%"), json!("25%")),
        (4, json!(0), json!(1)),
        (5, json!(2), json!(0)),
        (5, json!("0%"), json!("0%")),
        (1, json!("25%"), json!("25%")),
        (7, json!("50%"), json!("30%")),
    ];
    for (n, surge, unavailable) in shapes {
        let d = deployment(n, "nginx", rolling(surge.clone(), unavailable.clone()));
        let (s, u) = util::resolve_fenceposts(&surge, &unavailable, n).unwrap_or((0, 0));
        let old = rs_of(&d, n, n, "2026-01-01T10:00:00Z", 1);
        let mut w = World::new(with_image(&d, "nginx:1.17"), vec![old]);
        w.settle(n + s, n - u);
        assert_eq!(
            w.d["status"]["updatedReplicas"],
            json!(n),
            "{n} {surge} {unavailable}"
        );
        assert_eq!(
            w.d["status"]["replicas"],
            json!(n),
            "{n} {surge} {unavailable}"
        );
    }
}

#[test]
fn ten_replicas_surge_three_and_drop_two_in_the_first_pass() {
    let d = deployment(10, "nginx", default_rolling());
    let old = rs_of(&d, 10, 10, "2026-01-01T10:00:00Z", 1);
    let p = run(&with_image(&d, "nginx:1.17"), vec![old.clone()]);
    let e = events(&p);
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].ends_with("from 0 to 3"), "{e:?}");
    assert_eq!(
        e[1],
        format!("Scaled down replica set {} from 10 to 8", name(&old))
    );
}

#[test]
fn zero_surge_scales_down_first() {
    let d = deployment(4, "nginx", rolling(json!(0), json!(1)));
    let old = rs_of(&d, 4, 4, "2026-01-01T10:00:00Z", 1);
    let p = run(&with_image(&d, "nginx:1.17"), vec![old.clone()]);
    match &p.actions[0] {
        Action::CreateReplicaSet(rs) => assert_eq!(replicas(rs), 0),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        events(&p),
        vec![format!(
            "Scaled down replica set {} from 4 to 3",
            name(&old)
        )]
    );
}

#[test]
fn scaling_mid_rollout_is_proportional() {
    let d10 = deployment(10, "nginx", default_rolling());
    let old = rs_of(&d10, 8, 8, "2026-01-01T10:00:00Z", 1);
    let d10b = with_image(&d10, "nginx:1.17");
    let new = rs_of(&d10b, 5, 0, "2026-01-01T11:00:00Z", 2);
    let mut d20 = d10b.clone();
    d20["spec"]["replicas"] = json!(20);
    d20["status"] = json!({"replicas": 13});
    let p = run(&d20, vec![old.clone(), new.clone()]);
    assert_eq!(
        events(&p),
        vec![
            format!("Scaled up replica set {} from 8 to 15", name(&old)),
            format!("Scaled up replica set {} from 5 to 10", name(&new)),
        ]
    );
    for a in &p.actions {
        if let Action::UpdateReplicaSet { rs, .. } = a {
            assert_eq!(annotation(rs, DESIRED_REPLICAS), Some("20"));
            assert_eq!(annotation(rs, MAX_REPLICAS), Some("25"));
        }
    }
}

#[test]
fn scaling_a_settled_deployment_resizes_its_replica_set() {
    let d = deployment(3, "nginx", default_rolling());
    let rs = rs_of(&d, 3, 3, "2026-01-01T10:00:00Z", 1);
    for (to, want) in [
        (5, "Scaled up replica set {} from 3 to 5"),
        (0, "Scaled down replica set {} from 3 to 0"),
    ] {
        let mut scaled = d.clone();
        scaled["spec"]["replicas"] = json!(to);
        let p = run(&scaled, vec![rs.clone()]);
        assert_eq!(events(&p), vec![want.replace("{}", name(&rs))]);
    }
}

#[test]
fn recreate_scales_down_waits_for_pods_then_creates() {
    let d = deployment(3, "nginx", json!({"type": "Recreate"}));
    let old = rs_of(&d, 3, 3, "2026-01-01T10:00:00Z", 1);
    let d2 = with_image(&d, "nginx:1.17");
    let p = run(&d2, vec![old.clone()]);
    assert_eq!(
        events(&p),
        vec![format!(
            "Scaled down replica set {} from 3 to 0",
            name(&old)
        )]
    );
    // Scaled to zero, but a pod is still terminating: wait.
    let mut emptied = old.clone();
    emptied["spec"]["replicas"] = json!(0);
    emptied["status"] = json!({"replicas": 0, "observedGeneration": 1});
    let mut phases = HashMap::new();
    phases.insert(uid(&old).to_string(), vec!["Running".to_string()]);
    let p = plan(Input {
        deployment: &d2,
        replica_sets: vec![emptied.clone()],
        pod_phases: phases.clone(),
        now: now(),
    });
    assert!(p.actions.is_empty(), "{:?}", p.actions);
    // Finished pods do not count.
    phases.insert(uid(&old).to_string(), vec!["Succeeded".to_string()]);
    let p = plan(Input {
        deployment: &d2,
        replica_sets: vec![emptied],
        pod_phases: phases,
        now: now(),
    });
    let e = events(&p);
    assert_eq!(e.len(), 1);
    assert!(e[0].ends_with("from 0 to 3"), "{e:?}");
}

#[test]
fn paused_deployments_do_not_roll_and_say_so() {
    let d = deployment(3, "nginx", default_rolling());
    let rs = rs_of(&d, 3, 3, "2026-01-01T10:00:00Z", 1);
    let mut paused = with_image(&d, "nginx:1.17");
    paused["spec"]["paused"] = json!(true);
    let p = run(&paused, vec![rs.clone()]);
    assert!(p.actions.is_empty(), "{:?}", p.actions);
    let status = p.status.unwrap_or_default();
    let c = get_condition(&status, st::PROGRESSING)
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (
            c["status"].clone(),
            c["reason"].clone(),
            c["message"].clone()
        ),
        (
            json!("Unknown"),
            json!("DeploymentPaused"),
            json!("Deployment is paused")
        )
    );
    let mut resumed = paused.clone();
    resumed["spec"]["paused"] = json!(false);
    resumed["status"] = status;
    let p = run(&resumed, vec![rs]);
    let status = p.status.unwrap_or_default();
    assert_eq!(
        get_condition(&status, st::PROGRESSING).map(|c| c["reason"].clone()),
        Some(json!("NewReplicaSetCreated"))
    );
    assert!(matches!(
        p.actions.first(),
        Some(Action::CreateReplicaSet(_))
    ));
}

#[test]
fn old_replica_sets_beyond_the_history_limit_are_deleted() {
    let mut d = deployment(2, "v4", default_rolling());
    d["spec"]["revisionHistoryLimit"] = json!(1);
    let mut rss = Vec::new();
    for (i, image) in ["v1", "v2", "v3"].iter().enumerate() {
        let di = with_image(&d, image);
        let mut rs = rs_of(&di, 0, 0, &format!("2026-01-01T0{i}:00:00Z"), i as i64 + 1);
        rs["status"] = json!({"replicas": 0, "observedGeneration": 1});
        rss.push(rs);
    }
    let current = rs_of(&d, 2, 2, "2026-01-01T05:00:00Z", 4);
    rss.push(current);
    d["status"] = json!({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2, "readyReplicas": 2});
    let p = run(&d, rss.clone());
    assert_eq!(
        events(&p),
        vec![
            format!("delete {}", name(&rss[0])),
            format!("delete {}", name(&rss[1]))
        ]
    );
}

#[test]
fn stuck_rollouts_time_out_after_the_deadline() {
    let d = deployment(3, "nginx", default_rolling());
    let old = rs_of(&d, 3, 3, "2026-01-01T10:00:00Z", 1);
    let d2 = with_image(&d, "nginx:1.17");
    let new = rs_of(&d2, 1, 0, "2026-01-01T11:00:00Z", 2);
    let status = |updated: &str| {
        json!({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 1, "readyReplicas": 4,
               "availableReplicas": 3, "unavailableReplicas": 1,
               "conditions": [
                 {"type": "Available", "status": "True", "lastUpdateTime": "t", "lastTransitionTime": "t",
                  "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."},
                 {"type": "Progressing", "status": "True", "lastUpdateTime": updated, "lastTransitionTime": updated,
                  "reason": "ReplicaSetUpdated", "message": "x"}]})
    };
    let mut fresh = d2.clone();
    fresh["metadata"]["annotations"] = json!({REVISION: "2"});
    fresh["status"] = status("2026-01-01T11:55:00Z");
    let p = run(&fresh, vec![old.clone(), new.clone()]);
    assert!(p.status.is_none(), "{:?}", p.status);
    // 600 s from 11:55:00 is 12:05:00; now is 12:00:00: 300 s + 1 s.
    assert_eq!(p.recheck, Some(Duration::from_secs(301)));
    let mut stale = fresh.clone();
    stale["status"] = status("2026-01-01T11:49:00Z");
    let p = run(&stale, vec![old, new.clone()]);
    let s = p.status.unwrap_or_default();
    let c = get_condition(&s, st::PROGRESSING)
        .cloned()
        .unwrap_or_default();
    assert_eq!(c["status"], "False");
    assert_eq!(c["reason"], "ProgressDeadlineExceeded");
    assert_eq!(
        c["message"],
        json!(format!(
            "ReplicaSet \"{}\" has timed out progressing.",
            name(&new)
        ))
    );
}

#[test]
fn rollback_reuses_the_old_replica_set_with_a_new_revision() {
    let d1 = deployment(3, "nginx", default_rolling());
    let d2 = with_image(&d1, "nginx:1.17");
    let a = rs_of(&d1, 0, 0, "2026-01-01T10:00:00Z", 1);
    let b = rs_of(&d2, 3, 3, "2026-01-01T11:00:00Z", 2);
    // `kubectl rollout undo` puts the first template back.
    let mut undone = d1.clone();
    undone["metadata"]["generation"] = json!(3);
    undone["metadata"]["annotations"] = json!({REVISION: "2"});
    let p = run(&undone, vec![a.clone(), b.clone()]);
    let first = match &p.actions[0] {
        Action::UpdateReplicaSet { rs, scaled: None } => rs.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(annotation(&first, REVISION), Some("3"));
    assert_eq!(annotation(&first, REVISION_HISTORY), Some("1"));
    assert_eq!(
        events(&p),
        vec![format!("Scaled up replica set {} from 0 to 1", name(&a))]
    );
    assert_eq!(p.annotations, Some(json!({REVISION: "3"})));
}

#[test]
fn deleting_deployments_only_report_status() {
    let mut d = deployment(3, "nginx", default_rolling());
    d["metadata"]["deletionTimestamp"] = json!(NOW);
    let p = run(&d, vec![]);
    assert!(p.actions.is_empty());
    assert_eq!(
        p.status.map(|s| s["observedGeneration"].clone()),
        Some(json!(1))
    );
}

#[test]
fn an_empty_selector_is_refused_with_an_event() {
    let mut d = deployment(3, "nginx", default_rolling());
    d["spec"]["selector"] = json!({});
    let p = run(&d, vec![]);
    assert_eq!(
        events(&p),
        vec!["SelectingAll: This deployment is selecting all pods. A non-empty selector is required."]
    );
    assert_eq!(p.status, Some(json!({"observedGeneration": 1})));
}

#[test]
fn a_settled_deployment_needs_no_writes() {
    let d = deployment(3, "nginx", default_rolling());
    let rs = rs_of(&d, 3, 3, "2026-01-01T10:00:00Z", 1);
    let mut w = World::new(d, vec![rs]);
    w.settle(4, 3);
    let p = run(&w.d, w.rss.clone());
    assert_eq!(p, Plan::default());
}

#[test]
fn min_ready_seconds_is_copied_to_the_new_replica_set() {
    let mut d = deployment(2, "nginx", default_rolling());
    d["spec"]["minReadySeconds"] = json!(5);
    let rs = rs_of(
        &deployment(2, "nginx", default_rolling()),
        2,
        2,
        "2026-01-01T10:00:00Z",
        1,
    );
    let p = run(&d, vec![rs]);
    match &p.actions[0] {
        Action::UpdateReplicaSet { rs, scaled: None } => {
            assert_eq!(rs["spec"]["minReadySeconds"], 5)
        }
        other => panic!("{other:?}"),
    }
}
