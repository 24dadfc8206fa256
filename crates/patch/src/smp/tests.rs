use serde_json::{json, Value};

use super::strategic_merge;
use crate::error::PatchError;
use crate::schema::{BuiltinSchema, ListStrategy, ListType, MapKey, MapStrategy, PatchSchema};

/// The field names strategicpatch's own tests use.
struct TestSchema;

const NAME_KEY: &[MapKey] = &[MapKey {
    name: "name",
    default: None,
}];

impl PatchSchema for TestSchema {
    fn list(&self, path: &[&str]) -> ListStrategy {
        match path.last().copied() {
            Some("mergingList") => ListStrategy {
                merge_key: Some("name"),
                merge: true,
                list_type: ListType::Map(NAME_KEY),
            },
            Some("mergingIntList") => ListStrategy {
                merge_key: None,
                merge: true,
                list_type: ListType::Set,
            },
            _ => ListStrategy::ATOMIC,
        }
    }
    fn map(&self, _path: &[&str]) -> MapStrategy {
        MapStrategy::default()
    }
}

fn smp(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    strategic_merge(target, patch, &TestSchema)
}

#[test]
fn preserves_order_like_upstream() {
    // (live, patch, result) from strategicpatch's order-preserving cases.
    let cases = [
        (
            json!({"mergingIntList": [1, 4, 2]}),
            json!({"$setElementOrder/mergingIntList": [3, 1, 2], "mergingIntList": [3]}),
            json!({"mergingIntList": [3, 1, 4, 2]}),
        ),
        (
            json!({"mergingIntList": [1, 2, 3]}),
            json!({"$setElementOrder/mergingIntList": [2, 1], "$deleteFromPrimitiveList/mergingIntList": [3]}),
            json!({"mergingIntList": [2, 1]}),
        ),
        (
            json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]}),
            json!({
                "$setElementOrder/mergingList": [{"name": 3}, {"name": 1}, {"name": 2}],
                "mergingList": [{"name": 3, "value": 3}]
            }),
            json!({"mergingList": [
                {"name": 3, "value": 3},
                {"name": 1, "other": "a"},
                {"name": 2, "value": 2, "other": "b"}
            ]}),
        ),
        (
            json!({"mergingList": [
                {"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}, {"name": 3, "value": 3}
            ]}),
            json!({
                "$setElementOrder/mergingList": [{"name": 2}, {"name": 1}],
                "mergingList": [{"name": 3, "$patch": "delete"}]
            }),
            json!({"mergingList": [{"name": 2, "value": 2, "other": "b"}, {"name": 1, "other": "a"}]}),
        ),
        (
            json!({"mergingList": [
                {"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}, {"name": 3, "value": 3}
            ]}),
            json!({
                "$setElementOrder/mergingList": [{"name": 2}, {"name": 3}, {"name": 1}],
                "mergingList": [{"name": 3, "value": "x"}]
            }),
            json!({"mergingList": [
                {"name": 2, "value": 2, "other": "b"}, {"name": 3, "value": "x"}, {"name": 1, "other": "a"}
            ]}),
        ),
        (
            json!({"mergingList": [
                {"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}, {"name": 3, "value": 3}
            ]}),
            json!({
                "$setElementOrder/mergingList": [{"name": 4}, {"name": 2}, {"name": 1}],
                "mergingList": [{"name": 4, "value": 4}, {"name": 3, "$patch": "delete"}]
            }),
            json!({"mergingList": [
                {"name": 4, "value": 4}, {"name": 2, "value": 2, "other": "b"}, {"name": 1, "other": "a"}
            ]}),
        ),
        (
            json!({"mergingList": [
                {"name": 1, "other": "a"}, {"name": 3, "value": 3}, {"name": 4, "value": 4},
                {"name": 2, "value": 2}, {"name": 9}
            ]}),
            json!({"$setElementOrder/mergingList": [{"name": 4}, {"name": 2}, {"name": 3}, {"name": 1}]}),
            json!({"mergingList": [
                {"name": 4, "value": 4}, {"name": 2, "value": 2}, {"name": 3, "value": 3},
                {"name": 1, "other": "a"}, {"name": 9}
            ]}),
        ),
        (
            json!({"mergingList": [
                {"name": 1, "other": "a"}, {"name": 2, "value": 2}, {"name": 9},
                {"name": 3, "value": 3}, {"name": 4, "value": 4}
            ]}),
            json!({"$setElementOrder/mergingList": [{"name": 2}, {"name": 1}, {"name": 4}, {"name": 3}]}),
            json!({"mergingList": [
                {"name": 2, "value": 2}, {"name": 1, "other": "a"}, {"name": 9},
                {"name": 4, "value": 4}, {"name": 3, "value": 3}
            ]}),
        ),
        (
            json!({"mergingList": [
                {"name": 1, "other": "a"}, {"name": 2, "value": 2}, {"name": 7}, {"name": 9},
                {"name": 8}, {"name": 3, "value": 3}, {"name": 4, "value": 4}
            ]}),
            json!({"$setElementOrder/mergingList": [{"name": 2}, {"name": 1}, {"name": 4}, {"name": 3}]}),
            json!({"mergingList": [
                {"name": 2, "value": 2}, {"name": 1, "other": "a"}, {"name": 7}, {"name": 9},
                {"name": 8}, {"name": 4, "value": 4}, {"name": 3, "value": 3}
            ]}),
        ),
        // Without $setElementOrder the patch order wins for patched items.
        (
            json!({"mergingList": [{"name": 1}, {"name": 2, "value": "b"}, {"name": 3}]}),
            json!({"mergingList": [{"name": 3, "value": "c"}, {"name": 1, "value": "a"}]}),
            json!({"mergingList": [
                {"name": 2, "value": "b"}, {"name": 3, "value": "c"}, {"name": 1, "value": "a"}
            ]}),
        ),
        (
            json!({"mergingIntList": [1, 2, 3]}),
            json!({"mergingIntList": [3, 1]}),
            json!({"mergingIntList": [2, 3, 1]}),
        ),
        (
            json!({"mergingIntList": [1, 2, 3]}),
            json!({"mergingIntList": [3, 1, 2]}),
            json!({"mergingIntList": [3, 1, 2]}),
        ),
        // Items the live list lacks go before server-only ones.
        (
            json!({"mergingIntList": [1, 2]}),
            json!({"mergingIntList": [3]}),
            json!({"mergingIntList": [3, 1, 2]}),
        ),
        // Duplicates in the live list stay together.
        (
            json!({"mergingList": [
                {"name": 1}, {"name": 2, "value": "dup1"}, {"name": 3}, {"name": 2, "value": "dup2"}, {"name": 4}
            ]}),
            json!({"$setElementOrder/mergingList": [
                {"name": 2}, {"name": 1}, {"name": 4}, {"name": 3}, {"name": 2}
            ]}),
            json!({"mergingList": [
                {"name": 2, "value": "dup1"}, {"name": 2, "value": "dup2"}, {"name": 1}, {"name": 4}, {"name": 3}
            ]}),
        ),
    ];
    for (live, patch, want) in cases {
        assert_eq!(smp(&live, &patch), Ok(want), "{live} + {patch}");
    }
}

#[test]
fn directives() {
    let live = json!({
        "mergingList": [{"name": "a", "value": 1}, {"name": "b", "value": 2}],
        "mergingIntList": [1, 2, 3],
        "nonMergingList": [{"name": "x"}],
        "map": {"k1": "v1", "k2": "v2", "nested": {"n": 1}},
    });
    let cases = [
        // $patch: replace on a map keeps only the patch.
        (
            json!({"map": {"$patch": "replace", "k3": "v3"}}),
            json!({"mergingList": [{"name": "a", "value": 1}, {"name": "b", "value": 2}],
                   "mergingIntList": [1, 2, 3], "nonMergingList": [{"name": "x"}], "map": {"k3": "v3"}}),
        ),
        // $patch: delete on a map empties it.
        (
            json!({"map": {"$patch": "delete"}}),
            json!({"mergingList": [{"name": "a", "value": 1}, {"name": "b", "value": 2}],
                   "mergingIntList": [1, 2, 3], "nonMergingList": [{"name": "x"}], "map": {}}),
        ),
        // $patch: delete in a list element removes the item.
        (
            json!({"mergingList": [{"name": "a", "$patch": "delete"}]}),
            json!({"mergingList": [{"name": "b", "value": 2}],
                   "mergingIntList": [1, 2, 3], "nonMergingList": [{"name": "x"}],
                   "map": {"k1": "v1", "k2": "v2", "nested": {"n": 1}}}),
        ),
        // $patch: replace in a list makes the list exactly the other items.
        (
            json!({"mergingList": [{"name": "c"}, {"$patch": "replace"}]}),
            json!({"mergingList": [{"name": "c"}],
                   "mergingIntList": [1, 2, 3], "nonMergingList": [{"name": "x"}],
                   "map": {"k1": "v1", "k2": "v2", "nested": {"n": 1}}}),
        ),
        // $retainKeys clears unlisted keys, then merges.
        (
            json!({"map": {"$retainKeys": ["k1", "nested"], "nested": {"m": 2}}}),
            json!({"mergingList": [{"name": "a", "value": 1}, {"name": "b", "value": 2}],
                   "mergingIntList": [1, 2, 3], "nonMergingList": [{"name": "x"}],
                   "map": {"k1": "v1", "nested": {"n": 1, "m": 2}}}),
        ),
        // $deleteFromPrimitiveList removes values from a primitive merge list.
        (
            json!({"$deleteFromPrimitiveList/mergingIntList": [2, 7]}),
            json!({"mergingList": [{"name": "a", "value": 1}, {"name": "b", "value": 2}],
                   "mergingIntList": [1, 3], "nonMergingList": [{"name": "x"}],
                   "map": {"k1": "v1", "k2": "v2", "nested": {"n": 1}}}),
        ),
        // ... but never creates a missing list.
        (json!({"$deleteFromPrimitiveList/other": [2]}), live.clone()),
        // Merge-key lists merge item by item; nulls delete fields of an item.
        (
            json!({"mergingList": [{"name": "b", "value": null, "extra": true}]}),
            json!({"mergingList": [{"name": "a", "value": 1}, {"name": "b", "extra": true}],
                   "mergingIntList": [1, 2, 3], "nonMergingList": [{"name": "x"}],
                   "map": {"k1": "v1", "k2": "v2", "nested": {"n": 1}}}),
        ),
        // Lists without a merge strategy are replaced.
        (
            json!({"nonMergingList": [{"name": "y"}]}),
            json!({"mergingList": [{"name": "a", "value": 1}, {"name": "b", "value": 2}],
                   "mergingIntList": [1, 2, 3], "nonMergingList": [{"name": "y"}],
                   "map": {"k1": "v1", "k2": "v2", "nested": {"n": 1}}}),
        ),
        // null deletes a key; null for a missing key does nothing; nulls in new values vanish.
        (
            json!({"map": {"k2": null, "k9": null, "new": {"a": null, "b": 1}}}),
            json!({"mergingList": [{"name": "a", "value": 1}, {"name": "b", "value": 2}],
                   "mergingIntList": [1, 2, 3], "nonMergingList": [{"name": "x"}],
                   "map": {"k1": "v1", "nested": {"n": 1}, "new": {"b": 1}}}),
        ),
        // A new map value with $patch is not stored.
        (
            json!({"fresh": {"$patch": "replace", "a": 1}, "fresh2": {"x": {"$patch": "delete"}, "y": 1}}),
            json!({"mergingList": [{"name": "a", "value": 1}, {"name": "b", "value": 2}],
                   "mergingIntList": [1, 2, 3], "nonMergingList": [{"name": "x"}],
                   "map": {"k1": "v1", "k2": "v2", "nested": {"n": 1}}, "fresh2": {"y": 1}}),
        ),
        // Whole-object replace.
        (json!({"$patch": "replace", "only": 1}), json!({"only": 1})),
        // A value of another type replaces the live one.
        (
            json!({"map": "scalar", "mergingIntList": {"a": 1}}),
            json!({"mergingList": [{"name": "a", "value": 1}, {"name": "b", "value": 2}],
                   "mergingIntList": {"a": 1}, "nonMergingList": [{"name": "x"}], "map": "scalar"}),
        ),
    ];
    for (patch, want) in cases {
        assert_eq!(smp(&live, &patch), Ok(want), "{patch}");
    }
    assert_eq!(
        smp(
            &json!({"nonMergingIntList": [1, 2, 3]}),
            &json!({"$deleteFromPrimitiveList/nonMergingIntList": [2]})
        ),
        Ok(json!({"nonMergingIntList": [1, 3]}))
    );
    // $setElementOrder for a list only the patch has.
    assert_eq!(
        smp(
            &json!({}),
            &json!({"$setElementOrder/mergingList": [{"name": "b"}, {"name": "a"}],
                    "mergingList": [{"name": "b", "x": {"$patch": "delete"}}, {"name": "a"}]})
        ),
        Ok(json!({"mergingList": [{"name": "b"}, {"name": "a"}]}))
    );
    // Without a schema every list is replaced.
    assert_eq!(
        strategic_merge(
            &json!({"spec": {"containers": [{"name": "a"}]}}),
            &json!({"spec": {"containers": [{"name": "b"}]}}),
            &crate::schema::UntypedSchema
        ),
        Ok(json!({"spec": {"containers": [{"name": "b"}]}}))
    );
}

#[test]
fn errors_are_worded_like_strategicpatch() {
    let live = json!({
        "mergingList": [{"name": "a", "value": 1}],
        "mergingIntList": [1, 2],
        "map": {"k": "v"},
    });
    let cases = [
        (
            json!({"mergingList": [{"value": "b"}]}),
            PatchError::Internal("map: map[value:b] does not contain declared merge key: name".into()),
        ),
        (
            json!({"mergingList": [{"value": "b", "$patch": "delete"}]}),
            PatchError::Internal(
                "map: map[$patch:delete value:b] does not contain declared merge key: name".into(),
            ),
        ),
        (
            json!({"mergingList": [{"name": "a", "$patch": "merge"}]}),
            PatchError::Internal("merging lists cannot yet be specified in the patch".into()),
        ),
        (
            json!({"mergingList": [{"name": "a", "$patch": "bogus"}]}),
            PatchError::Internal("unknown patch type: bogus in map: map[$patch:bogus name:a]".into()),
        ),
        (
            json!({"map": {"$patch": "merge", "k": "w"}}),
            PatchError::Internal("unknown patch type: merge in map: map[$patch:merge k:w]".into()),
        ),
        (
            json!({"map": {"$retainKeys": ["k"], "other": 1}}),
            PatchError::BadRequest("invalid patch format of retainKeys".into()),
        ),
        (
            json!({"map": {"$retainKeys": "k"}}),
            PatchError::BadRequest("invalid patch format of retainKeys".into()),
        ),
        (
            json!({"$deleteFromPrimitiveListmergingIntList": [1]}),
            PatchError::BadRequest("invalid patch format of primitive list".into()),
        ),
        (
            json!({"$setElementOrdermergingList": []}),
            PatchError::BadRequest("invalid patch format of setElementOrder list".into()),
        ),
        (
            json!({"$setElementOrder/mergingList": "x"}),
            PatchError::Internal("expected a []interface {}, but received a string".into()),
        ),
        (
            json!({
                "$setElementOrder/mergingList": [{"name": "a"}, {"name": "b"}],
                "mergingList": [{"name": "b"}, {"name": "a"}]
            }),
            PatchError::Internal(
                "The order in patch list:\n[map[name:b] map[name:a]]\n doesn't match $setElementOrder list:\n[map[name:a] map[name:b]]\n"
                    .into(),
            ),
        ),
        (
            json!({"mergingIntList": [[1]]}),
            PatchError::Internal("list element types are not identical: [[1 2] [[1]]]".into()),
        ),
        (
            json!({"mergingIntList": ["x"]}),
            PatchError::Internal("list element types are not identical: [[1 2] [x]]".into()),
        ),
    ];
    for (patch, want) in cases {
        assert_eq!(smp(&live, &patch), Err(want), "{patch}");
    }
    assert_eq!(
        smp(&live, &json!([1])),
        Err(PatchError::BadRequest(
            "json: cannot unmarshal array into Go value of type map[string]interface {}".into()
        ))
    );
    assert_eq!(smp(&live, &json!(null)), Ok(live.clone()));
    assert_eq!(
        smp(
            &json!({"mergingIntList": []}),
            &json!({"mergingIntList": [[1]]})
        ),
        Err(PatchError::Unprocessable(
            "lists of lists are not supported".into()
        ))
    );
}

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "labels": {"app": "web", "tier": "fe"},
            "finalizers": ["example.com/a"],
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80, "protocol": "TCP"}],
                         "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                        {"name": "sidecar", "image": "busybox:1.36"}
                    ],
                    "tolerations": [{"key": "k", "operator": "Exists"}],
                    "volumes": [{"name": "data", "emptyDir": {}}]
                }
            }
        }
    })
}

fn deploy_smp(patch: &Value) -> Result<Value, PatchError> {
    let schema = BuiltinSchema::for_kind("apps/v1", "Deployment")
        .ok_or(PatchError::Internal("schema".into()))?;
    strategic_merge(&deployment(), patch, &schema)
}

#[test]
fn kubectl_set_image() {
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
        "containers": [{"image": "nginx:1.26", "name": "nginx"}]
    }}}});
    let got = deploy_smp(&patch).unwrap_or_default();
    let containers = &got["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers[0]["image"], "nginx:1.26");
    assert_eq!(
        containers[0]["ports"],
        json!([{"containerPort": 80, "protocol": "TCP"}])
    );
    assert_eq!(
        containers[1],
        json!({"name": "sidecar", "image": "busybox:1.36"})
    );
    assert_eq!(containers.as_array().map(Vec::len), Some(2));
}

#[test]
fn kubectl_label_and_annotate() {
    let got = deploy_smp(&json!({"metadata": {"labels": {"tier": null, "env": "prod"}}}))
        .unwrap_or_default();
    assert_eq!(
        got["metadata"]["labels"],
        json!({"app": "web", "env": "prod"})
    );
    let got = deploy_smp(&json!({"metadata": {"annotations": {"note": "x"}}})).unwrap_or_default();
    assert_eq!(got["metadata"]["annotations"], json!({"note": "x"}));
    assert_eq!(
        got["metadata"]["labels"],
        json!({"app": "web", "tier": "fe"})
    );
}

#[test]
fn deployment_patches() {
    let cases = [
        // kubectl scale / edit of a scalar.
        (json!({"spec": {"replicas": 5}}), "/spec/replicas", json!(5)),
        // finalizers union (patchStrategy=merge, no key): new values go first.
        (
            json!({"metadata": {"finalizers": ["example.com/b"]}}),
            "/metadata/finalizers",
            json!(["example.com/b", "example.com/a"]),
        ),
        (
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["example.com/a"]}}),
            "/metadata/finalizers",
            json!([]),
        ),
        // env merges by name; a new variable lands before untouched ones.
        (
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "nginx", "env": [{"name": "C", "value": "3"}]}
            ]}}}}),
            "/spec/template/spec/containers/0/env",
            json!([{"name": "C", "value": "3"}, {"name": "A", "value": "1"}, {"name": "B", "value": "2"}]),
        ),
        // kubectl set env style with order directive.
        (
            json!({"spec": {"template": {"spec": {"containers": [{
                "name": "nginx",
                "$setElementOrder/env": [{"name": "A"}, {"name": "B"}, {"name": "C"}],
                "env": [{"name": "B", "value": "20"}, {"name": "C", "value": "3"}]
            }]}}}}),
            "/spec/template/spec/containers/0/env",
            json!([{"name": "A", "value": "1"}, {"name": "B", "value": "20"}, {"name": "C", "value": "3"}]),
        ),
        // Removing an env var by directive.
        (
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "nginx", "env": [{"name": "A", "$patch": "delete"}]}
            ]}}}}),
            "/spec/template/spec/containers/0/env",
            json!([{"name": "B", "value": "2"}]),
        ),
        // Container ports merge by containerPort.
        (
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "nginx", "ports": [{"containerPort": 80, "name": "http"}]}
            ]}}}}),
            "/spec/template/spec/containers/0/ports",
            json!([{"containerPort": 80, "protocol": "TCP", "name": "http"}]),
        ),
        // Tolerations have no merge strategy: replaced.
        (
            json!({"spec": {"template": {"spec": {"tolerations": [{"key": "other", "operator": "Exists"}]}}}}),
            "/spec/template/spec/tolerations",
            json!([{"key": "other", "operator": "Exists"}]),
        ),
        // Deployment strategy retainKeys: switching to Recreate drops rollingUpdate.
        (
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
            "/spec/strategy",
            json!({"type": "Recreate"}),
        ),
        // volumes merge by name (merge,retainKeys).
        (
            json!({"spec": {"template": {"spec": {"volumes": [{"name": "cfg", "configMap": {"name": "c"}}]}}}}),
            "/spec/template/spec/volumes",
            json!([{"name": "cfg", "configMap": {"name": "c"}}, {"name": "data", "emptyDir": {}}]),
        ),
        // A new container: directives and nulls in it are dropped.
        (
            json!({"spec": {"template": {"spec": {
                "$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}, {"name": "log"}],
                "containers": [{"name": "log", "image": "busybox", "args": null, "$setElementOrder/env": []}]
            }}}}),
            "/spec/template/spec/containers/2",
            json!({"name": "log", "image": "busybox"}),
        ),
        // A container removed by directive.
        (
            json!({"spec": {"template": {"spec": {
                "$setElementOrder/containers": [{"name": "nginx"}],
                "containers": [{"name": "sidecar", "$patch": "delete"}]
            }}}}),
            "/spec/template/spec/containers/1",
            Value::Null,
        ),
        // selector is a plain map for SMP (merged), unlike for apply.
        (
            json!({"spec": {"selector": {"matchLabels": {"x": "y"}}}}),
            "/spec/selector/matchLabels",
            json!({"app": "web", "x": "y"}),
        ),
    ];
    for (patch, pointer, want) in cases {
        let got = deploy_smp(&patch).unwrap_or_else(|e| panic!("{patch}: {e}"));
        assert_eq!(
            got.pointer(pointer).cloned().unwrap_or(Value::Null),
            want,
            "{patch}"
        );
    }
}

#[test]
fn kubectl_edit_style_patch() {
    // kubectl edit sends the three-way diff of what the user changed.
    let patch = json!({
        "metadata": {"labels": {"edited": "yes"}},
        "spec": {
            "replicas": 4,
            "template": {"spec": {
                "$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
                "containers": [{"name": "sidecar", "image": "busybox:1.37", "command": ["sleep", "3600"]}]
            }}
        }
    });
    let got = deploy_smp(&patch).unwrap_or_default();
    assert_eq!(
        got["metadata"]["labels"],
        json!({"app": "web", "tier": "fe", "edited": "yes"})
    );
    assert_eq!(got["spec"]["replicas"], 4);
    assert_eq!(
        got["spec"]["template"]["spec"]["containers"][1],
        json!({"name": "sidecar", "image": "busybox:1.37", "command": ["sleep", "3600"]})
    );
    assert_eq!(
        got["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.25"
    );
}

#[test]
fn service_ports_merge_by_port() {
    let svc = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"app": "web"},
            "ports": [
                {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080},
                {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 8443}
            ]
        }
    });
    let schema = BuiltinSchema::for_kind("v1", "Service");
    let Some(schema) = schema else {
        panic!("no Service schema")
    };
    let cases = [
        (
            // kubectl apply (client side) style.
            json!({"spec": {
                "$setElementOrder/ports": [{"port": 80}, {"port": 443}],
                "ports": [{"port": 443, "targetPort": 9443}]
            }}),
            json!([
                {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080},
                {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 9443}
            ]),
        ),
        (
            json!({"spec": {"ports": [{"port": 80, "$patch": "delete"}]}}),
            json!([{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 8443}]),
        ),
        (
            json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}}),
            json!([
                {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080, "nodePort": 30080},
                {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 8443}
            ]),
        ),
    ];
    for (patch, want) in cases {
        let got = strategic_merge(&svc, &patch, &schema).unwrap_or_default();
        assert_eq!(got["spec"]["ports"], want, "{patch}");
    }
}

#[test]
fn node_status_and_owner_references() {
    let node = json!({
        "metadata": {"name": "n1", "ownerReferences": [{"uid": "u1", "kind": "X", "name": "x"}]},
        "status": {"conditions": [
            {"type": "Ready", "status": "False", "reason": "KubeletNotReady"},
            {"type": "MemoryPressure", "status": "False"}
        ]}
    });
    let schema = BuiltinSchema::for_kind("v1", "Node");
    let Some(schema) = schema else {
        panic!("no Node schema")
    };
    let patch = json!({
        "metadata": {"ownerReferences": [{"uid": "u2", "kind": "Y", "name": "y"}]},
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}
    });
    let got = strategic_merge(&node, &patch, &schema).unwrap_or_default();
    assert_eq!(
        got["status"]["conditions"],
        json!([
            {"type": "Ready", "status": "True", "reason": "KubeletReady"},
            {"type": "MemoryPressure", "status": "False"}
        ])
    );
    assert_eq!(
        got["metadata"]["ownerReferences"],
        json!([{"uid": "u2", "kind": "Y", "name": "y"}, {"uid": "u1", "kind": "X", "name": "x"}])
    );
}

#[test]
fn service_account_secrets_merge_by_name() {
    let sa = json!({"metadata": {"name": "default"}, "secrets": [{"name": "a"}]});
    let Some(schema) = BuiltinSchema::for_kind("v1", "ServiceAccount") else {
        panic!("schema")
    };
    let got =
        strategic_merge(&sa, &json!({"secrets": [{"name": "b"}]}), &schema).unwrap_or_default();
    assert_eq!(got["secrets"], json!([{"name": "b"}, {"name": "a"}]));
}
