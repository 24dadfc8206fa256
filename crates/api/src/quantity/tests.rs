//! Vectors from k8s.io/apimachinery v0.32.0 pkg/api/resource/quantity_test.go
//! (TestQuantityParse, TestQuantityString, TestQuantityParseEmit,
//! TestJSONWhitespace), with the string each one serializes to derived
//! from the value and format those tables assert; plus k1s cases.

use super::*;
use serde_json::json;

fn emit(s: &str) -> String {
    canonicalize(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn parse_emit_table() {
    // TestQuantityParseEmit.
    let table = [
        ("1Ki", "1Ki"),
        ("1Mi", "1Mi"),
        ("1Gi", "1Gi"),
        ("1024Mi", "1Gi"),
        ("1000M", "1G"),
        (".001Ki", "1024m"),
        (".000001Ki", "1024u"),
        (".000000001Ki", "1024n"),
        (".000000000001Ki", "2n"),
    ];
    for (input, want) in table {
        assert_eq!(emit(input), want, "{input}");
        assert_eq!(emit(&format!("-{input}")), format!("-{want}"), "-{input}");
    }
}

#[test]
fn canonical_strings_and_their_alternates() {
    // TestQuantityString: the canonical form parses to itself (kept as
    // written); the alternate spelling re-encodes to it.
    let table = [
        ("1Gi", "1024Mi"),
        ("300Mi", "307200Ki"),
        ("6Ki", ""),
        ("1001Gi", "1025024Mi"),
        ("1Ti", "1024Gi"),
        ("5", "5000m"),
        ("500m", "0.5"),
        ("1G", "1000M"),
        ("1G", "0.001T"),
        ("1m", "1000u"),
        ("80m", ""),
        ("1080m", "1.08"),
        ("1080m", "1080000000n"),
        ("300M", ""),
        ("1T", ""),
        ("1234567M", ""),
        ("1234567m", ""),
        ("3k", ""),
        ("1025", ""),
        ("0", "00"),
        ("1e9", ".001e12"),
        ("1e-3", "0.001e0"),
        ("1e-9", "1000e-12"),
        ("80e-3", ""),
        ("300e6", ""),
        ("1e12", ""),
        ("1e3", ""),
        ("3e3", ""),
        ("1n", ""),
        ("80n", ""),
        ("1080n", ""),
        ("1u", ""),
        ("80u", ""),
        ("1080u", ""),
    ];
    for (canonical, alternate) in table {
        assert_eq!(emit(canonical), canonical);
        if !alternate.is_empty() {
            assert_eq!(emit(alternate), canonical, "{alternate}");
        }
        if canonical != "0" {
            assert_eq!(emit(&format!("-{canonical}")), format!("-{canonical}"));
        }
    }
}

#[test]
fn parse_table_serializes_by_value_and_format() {
    // TestQuantityParse: (input, expected value and format), written here
    // as String() of the parsed quantity: an input whose int64 form is
    // canonical (scale a multiple of 3, no "000" tail) is kept verbatim.
    let table = [
        ("0n", "0"),
        ("0Ki", "0"),
        ("0Ti", "0"),
        ("8Ki", "8Ki"),
        ("7Mi", "7Mi"),
        ("3Ei", "3Ei"),
        ("100Ti", "100Ti"),
        ("50k", "50k"),
        ("40T", "40T"),
        ("1E", "1E"),
        ("1E-3", "1E-3"),
        ("1e15", "1e15"),
        ("1e14", "100e12"),
        ("1e13", "10e12"),
        ("100.035k", "100.035k"),
        ("0.001", "1m"),
        ("0.0005k", "500m"),
        ("0.05", "50m"),
        ("0.00500", "5m"),
        ("0.50000", "500m"),
        ("0.5e0", "500e-3"),
        ("0.5e-1", "50e-3"),
        ("10.035M", "10.035M"),
        ("1.2e3", "1200"),
        ("1.3E+6", "1300e3"),
        ("1.40e9", "1400e6"),
        ("1.53E12", "1530e9"),
        ("1.7E18", "1700e15"),
        ("9.01", "9010m"),
        ("8.1k", "8100"),
        ("7.123456M", "7.123456M"),
        ("6.987654321G", "6.987654321G"),
        ("5.444T", "5.444T"),
        ("300.2T", "300200G"),
        ("2.5P", "2500T"),
        ("1.01E", "1010P"),
        // Things that saturate/round.
        ("3.001n", "4n"),
        ("1.1E-9", "2e-9"),
        ("0.0000000001", "1n"),
        ("0.00000000050", "1n"),
        ("0.5e-9", "1e-9"),
        ("0.9n", "1n"),
        ("0.00000012345", "124n"),
        ("0.00000012354", "124n"),
        ("9Ei", "9223372036854775807"),
        ("9223372036854775807Ki", "9223372036854775807"),
        ("12E", "12E"),
        // Fractional binary values.
        ("100.035Ki", "102435840m"),
        ("0.5Mi", "512Ki"),
        ("0.05Gi", "53687091200m"),
        ("0.025Ti", "27487790694400m"),
        // "Things written by trolls".
        ("0.000000000001Ki", "2n"),
        (".001", "1m"),
        (".0001k", "100m"),
    ];
    for (input, want) in table {
        assert_eq!(emit(input), want, "{input}");
        let negative = emit(&format!("-{input}"));
        if want == "0" {
            assert_eq!(negative, "0", "-{input}");
        } else {
            assert_eq!(negative, format!("-{want}"), "-{input}");
        }
    }
}

#[test]
fn task_vectors() {
    let table = [
        ("0.5", "500m"),
        ("1000m", "1"),
        ("1.5Gi", "1536Mi"),
        ("100m", "100m"),
        ("128Mi", "128Mi"),
        ("-0.5", "-500m"),
        ("-1.5Gi", "-1536Mi"),
        ("-1024Ki", "-1Mi"),
        (".5", "500m"),
        ("0", "0"),
        ("-0", "0"),
        ("0.0", "0"),
        ("0.0001", "100u"),
        ("1n", "1n"),
        ("0.1n", "1n"),
        ("1e-12", "1e-9"),
        ("2000", "2k"),
        ("1.1Ki", "1126400m"),
        ("0.5Ki", "512"),
        ("1023Ki", "1023Ki"),
        ("1048576Ki", "1Gi"),
        ("8Ei", "9223372036854775807"),
        ("-8Ei", "-9223372036854775807"),
        ("1e2", "100"),
        ("10e100", "100e99"),
        (
            "123456789012345678901234567890",
            "123456789012345678901234567890",
        ),
        ("1234567890123456789012.5", "1234567890123456789012500m"),
        // v1.32 has no DecimalSI suffix past E and drops it.
        ("1000E", "1"),
    ];
    for (input, want) in table {
        assert_eq!(emit(input), want, "{input}");
    }
}

#[test]
fn spellings_the_fast_path_keeps_verbatim() {
    // ParseQuantity keeps the input string when its int64 form is already
    // canonical, whatever its sign or exponent spelling.
    for s in [
        "+1", "+100m", "01", "1e3", "1E3", "1e+3", "5.", "1.", "1.G", "1.500", "-1Ki",
    ] {
        assert_eq!(emit(s), s);
    }
    assert_eq!(emit("+0.5"), "500m");
    assert_eq!(emit("+8Ki"), "8Ki");
    assert_eq!(emit("."), "0");
    assert_eq!(emit("+"), "0");
}

#[test]
fn rejects_malformed_quantities() {
    use QuantityError::*;
    let table = [
        // TestQuantityParse's invalid list.
        ("1.1.M", FormatWrong),
        ("1+1.0M", FormatWrong),
        ("0.1mi", Suffix),
        ("0.1am", FormatWrong),
        ("aoeu", FormatWrong),
        (".5i", Suffix),
        ("1i", Suffix),
        ("-3.01i", Suffix),
        ("-3.01e-", Suffix),
        (" 1", FormatWrong),
        ("1 ", FormatWrong),
        // More.
        ("", FormatWrong),
        ("abc", FormatWrong),
        ("1.2.3", FormatWrong),
        ("5Qi", FormatWrong),
        ("1e", Suffix),
        ("1ki", Suffix),
        ("1KI", FormatWrong),
        ("e-10", Numeric),
        ("1e99999999999999999999", Suffix),
    ];
    for (input, want) in table {
        assert_eq!(Quantity::parse(input), Err(want), "{input:?}");
    }
    assert_eq!(
        FormatWrong.to_string(),
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    );
}

#[test]
fn json_values() {
    // TestJSONWhitespace, plus bare JSON numbers and other JSON types.
    let table = [
        (json!(" 1"), "1"),
        (json!("1 "), "1"),
        (json!(1), "1"),
        (json!(10), "10"),
        (json!(-1), "-1"),
        (json!(0.5), "500m"),
        (json!(1.5), "1500m"),
        (json!(null), "0"),
    ];
    for (v, want) in table {
        assert_eq!(canonicalize_json(&v).as_deref(), Ok(want), "{v}");
    }
    for v in [json!(true), json!({}), json!([1]), json!("abc")] {
        assert_eq!(
            canonicalize_json(&v),
            Err(QuantityError::FormatWrong),
            "{v}"
        );
    }
}

#[test]
fn nanos() {
    let n = |s: &str| Quantity::parse(s).ok().and_then(|q| q.nanos());
    assert_eq!(n("1"), Some(1_000_000_000));
    assert_eq!(n("-100m"), Some(-100_000_000));
    assert_eq!(n("0.1n"), Some(1));
    assert_eq!(n("1Ki"), Some(1_024_000_000_000));
    assert_eq!(n("1e300"), None);
}

mod objects {
    use super::super::fields::canonicalize_object;
    use super::*;

    fn pod_spec() -> Value {
        json!({
            "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "0.25"}}}],
            "containers": [{
                "name": "c",
                "resources": {"limits": {"cpu": 1, "memory": "1.5Gi"}, "requests": {"cpu": "0.5", "memory": null}},
                "env": [
                    {"name": "A", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
                    {"name": "B", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1024Ki"}}},
                    {"name": "C", "value": "0.5"}
                ]
            }],
            "ephemeralContainers": [{"name": "e", "resources": {"limits": {"memory": "2048Ki"}}}],
            "overhead": {"cpu": "0.1"},
            "resources": {"limits": {"cpu": "2000m"}},
            "volumes": [
                {"name": "a", "emptyDir": {"sizeLimit": "1000M"}},
                {"name": "b", "emptyDir": {"sizeLimit": null}},
                {"name": "c", "downwardAPI": {"items": [{"path": "x", "resourceFieldRef": {"resource": "requests.cpu", "divisor": "1000m"}}]}},
                {"name": "d", "projected": {"sources": [{"downwardAPI": {"items": [{"path": "y", "resourceFieldRef": {"resource": "limits.cpu", "divisor": "0.001"}}]}}]}},
                {"name": "e", "ephemeral": {"volumeClaimTemplate": {"spec": {"resources": {"requests": {"storage": "1024Mi"}}}}}}
            ]
        })
    }

    fn canonical_spec() -> Value {
        json!({
            "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "250m"}}}],
            "containers": [{
                "name": "c",
                "resources": {"limits": {"cpu": "1", "memory": "1536Mi"}, "requests": {"cpu": "500m", "memory": "0"}},
                "env": [
                    {"name": "A", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "0"}}},
                    {"name": "B", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
                    {"name": "C", "value": "0.5"}
                ]
            }],
            "ephemeralContainers": [{"name": "e", "resources": {"limits": {"memory": "2Mi"}}}],
            "overhead": {"cpu": "100m"},
            "resources": {"limits": {"cpu": "2"}},
            "volumes": [
                {"name": "a", "emptyDir": {"sizeLimit": "1G"}},
                {"name": "b", "emptyDir": {}},
                {"name": "c", "downwardAPI": {"items": [{"path": "x", "resourceFieldRef": {"resource": "requests.cpu", "divisor": "1"}}]}},
                {"name": "d", "projected": {"sources": [{"downwardAPI": {"items": [{"path": "y", "resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}}]}}]}},
                {"name": "e", "ephemeral": {"volumeClaimTemplate": {"spec": {"resources": {"requests": {"storage": "1Gi"}}}}}}
            ]
        })
    }

    #[test]
    fn canonicalizes_every_pod_quantity() {
        let mut pod = json!({"kind": "Pod", "spec": pod_spec(), "status": {
            "containerStatuses": [{"name": "c", "allocatedResources": {"cpu": "0.5"}, "resources": {"requests": {"cpu": "0.5"}}}]
        }});
        canonicalize_object("", "Pod", &mut pod).unwrap();
        assert_eq!(pod["spec"], canonical_spec());
        assert_eq!(
            pod["status"]["containerStatuses"][0]["allocatedResources"]["cpu"],
            "500m"
        );
        assert_eq!(
            pod["status"]["containerStatuses"][0]["resources"]["requests"]["cpu"],
            "500m"
        );
    }

    #[test]
    fn canonicalizes_pod_templates() {
        for (group, kind) in [
            ("apps", "Deployment"),
            ("apps", "ReplicaSet"),
            ("apps", "DaemonSet"),
            ("apps", "StatefulSet"),
            ("", "ReplicationController"),
            ("batch", "Job"),
        ] {
            let mut obj = json!({"spec": {"template": {"spec": pod_spec()}}});
            canonicalize_object(group, kind, &mut obj).unwrap();
            assert_eq!(obj["spec"]["template"]["spec"], canonical_spec(), "{kind}");
        }
        let mut cron =
            json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": pod_spec()}}}}});
        canonicalize_object("batch", "CronJob", &mut cron).unwrap();
        assert_eq!(
            cron["spec"]["jobTemplate"]["spec"]["template"]["spec"],
            canonical_spec()
        );
    }

    #[test]
    fn first_malformed_quantity_fails() {
        let mut pod = json!({"spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": "abc"}}}]}});
        assert_eq!(
            canonicalize_object("", "Pod", &mut pod),
            Err(QuantityError::FormatWrong)
        );
        let mut d = json!({"spec": {"template": {"spec": {"volumes": [{"emptyDir": {"sizeLimit": "1i"}}]}}}});
        assert_eq!(
            canonicalize_object("apps", "Deployment", &mut d),
            Err(QuantityError::Suffix)
        );
    }

    #[test]
    fn leaves_other_shapes_and_kinds_alone() {
        let mut odd =
            json!({"spec": {"containers": "x", "volumes": [1, {"emptyDir": "y"}], "overhead": 3}});
        let before = odd.clone();
        canonicalize_object("", "Pod", &mut odd).unwrap();
        assert_eq!(odd, before);
        let mut cm = json!({"data": {"cpu": "0.5"}});
        canonicalize_object("", "ConfigMap", &mut cm).unwrap();
        assert_eq!(cm["data"]["cpu"], "0.5");
        let mut node = json!({"status": {"capacity": {"memory": "1048576Ki", "cpu": "2"}}});
        canonicalize_object("", "Node", &mut node).unwrap();
        assert_eq!(
            node["status"]["capacity"],
            json!({"memory": "1Gi", "cpu": "2"})
        );
    }
}
