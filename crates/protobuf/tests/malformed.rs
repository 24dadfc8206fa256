//! Malformed bodies return errors and never panic.

mod common;

use common::{envelope, envelope_raw, s};
use k1s_protobuf::{decode, decode_object, DecodeError};
use k8s_pb::api::apps::v1 as apps;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use prost::Message;

fn with_magic(rest: &[u8]) -> Vec<u8> {
    let mut body = b"k8s\0".to_vec();
    body.extend_from_slice(rest);
    body
}

fn wrong(message: &'static str, field: u32, wire: &'static str) -> DecodeError {
    DecodeError::WrongWireType {
        message,
        field,
        wire,
    }
}

const HUGE_LEN: [u8; 10] = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];

#[test]
fn envelope_errors() {
    let mut huge = vec![0x12];
    huge.extend(HUGE_LEN);
    let cases: Vec<(&str, Vec<u8>, DecodeError)> = vec![
        ("empty", vec![], DecodeError::BadMagic),
        ("short magic", b"k8s".to_vec(), DecodeError::BadMagic),
        ("json", br#"{"kind":"Pod"}"#.to_vec(), DecodeError::BadMagic),
        (
            "wrong magic",
            b"k8s\x01\x0a\x00".to_vec(),
            DecodeError::BadMagic,
        ),
        ("truncated key", with_magic(&[0x80]), DecodeError::Truncated),
        (
            "truncated raw",
            with_magic(&[0x12, 100, 1, 2, 3]),
            DecodeError::Truncated,
        ),
        ("huge length", with_magic(&huge), DecodeError::Truncated),
        (
            "varint overflow",
            with_magic(&[
                0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
            ]),
            DecodeError::VarintOverflow,
        ),
        (
            "group",
            with_magic(&[0x0b]),
            DecodeError::InvalidWireType(3),
        ),
        (
            "field 0",
            with_magic(&[0x02, 0x00]),
            DecodeError::InvalidFieldNumber(0),
        ),
        (
            "typeMeta as varint",
            with_magic(&[0x08, 0x01]),
            wrong("k8s.io.apimachinery.pkg.runtime.Unknown", 1, "varint"),
        ),
        (
            "kind as varint",
            with_magic(&[0x0a, 0x02, 0x10, 0x01]),
            wrong("k8s.io.apimachinery.pkg.runtime.TypeMeta", 2, "varint"),
        ),
        (
            "no type meta",
            with_magic(&[]),
            DecodeError::UnknownKind {
                api_version: String::new(),
                kind: String::new(),
            },
        ),
    ];
    for (name, body, want) in cases {
        assert_eq!(decode(&body), Err(want), "{name}");
    }
}

#[test]
fn unknown_kinds_and_encodings() {
    let pod = core::Pod::default();
    assert_eq!(
        decode(&envelope("v1", "PodTemplate", &pod)),
        Err(DecodeError::UnknownKind {
            api_version: "v1".into(),
            kind: "PodTemplate".into()
        })
    );
    assert_eq!(
        decode(&envelope("apps/v1", "Pod", &pod)),
        Err(DecodeError::UnknownKind {
            api_version: "apps/v1".into(),
            kind: "Pod".into()
        })
    );
    let with = |encoding: &str, content_type: &str| {
        let unknown = Unknown {
            type_meta: Some(TypeMeta {
                api_version: s("v1"),
                kind: s("Pod"),
            }),
            raw: Some(pod.encode_to_vec()),
            content_encoding: s(encoding),
            content_type: s(content_type),
        };
        let mut body = b"k8s\0".to_vec();
        body.extend(unknown.encode_to_vec());
        decode(&body)
    };
    assert_eq!(
        with("gzip", ""),
        Err(DecodeError::UnsupportedContentEncoding("gzip".into()))
    );
    assert_eq!(
        with("", "application/json"),
        Err(DecodeError::UnsupportedContentType(
            "application/json".into()
        ))
    );
    assert!(with("", "application/vnd.kubernetes.protobuf").is_ok());
}

#[test]
fn wrong_wire_types_in_objects() {
    let cases: Vec<(&str, &str, Vec<u8>, DecodeError)> = vec![
        (
            "metadata as varint",
            "Deployment",
            vec![0x08, 0x01],
            wrong("k8s.io.api.apps.v1.Deployment", 1, "varint"),
        ),
        (
            "name as varint",
            "Deployment",
            vec![0x0a, 0x02, 0x08, 0x01],
            wrong(
                "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta",
                1,
                "varint",
            ),
        ),
        (
            "replicas as string",
            "Deployment",
            vec![0x12, 0x03, 0x0a, 0x01, b'3'],
            wrong("k8s.io.api.apps.v1.DeploymentSpec", 1, "length-delimited"),
        ),
        (
            "labels entry as fixed32",
            "Deployment",
            vec![0x0a, 0x05, 0x5d, 0, 0, 0, 0],
            wrong(
                "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta",
                11,
                "fixed32",
            ),
        ),
        (
            "labels key as varint",
            "Deployment",
            vec![0x0a, 0x04, 0x5a, 0x02, 0x08, 0x01],
            wrong(
                "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta",
                11,
                "varint",
            ),
        ),
        (
            "creationTimestamp as varint",
            "Deployment",
            vec![0x0a, 0x02, 0x40, 0x01],
            wrong(
                "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta",
                8,
                "varint",
            ),
        ),
        (
            "finalizers item as varint",
            "Deployment",
            vec![0x0a, 0x02, 0x70, 0x01],
            wrong(
                "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta",
                14,
                "varint",
            ),
        ),
        (
            "truncated nested length",
            "Deployment",
            vec![0x0a, 0x02, 0x0a, 0x05],
            DecodeError::Truncated,
        ),
        (
            "nested length past the parent",
            "Deployment",
            vec![0x0a, 0x02, 0x0a, 0x01, b'x', b'y'],
            DecodeError::Truncated,
        ),
        (
            "impossible IntOrString type",
            "Service",
            // spec{ports[{targetPort{type: 7}}]}
            vec![0x12, 0x06, 0x0a, 0x04, 0x22, 0x02, 0x08, 0x07],
            DecodeError::InvalidIntOrString(7),
        ),
        (
            "empty quantity",
            "Node",
            // status{capacity{"cpu": {string: ""}}}
            vec![
                0x1a, 0x0b, 0x0a, 0x09, 0x0a, 0x03, b'c', b'p', b'u', 0x12, 0x02, 0x0a, 0x00,
            ],
            DecodeError::InvalidQuantity,
        ),
    ];
    for (name, kind, raw, want) in cases {
        let api_version = if kind == "Deployment" {
            "apps/v1"
        } else {
            "v1"
        };
        assert_eq!(
            decode(&envelope_raw(api_version, kind, raw)),
            Err(want),
            "{name}"
        );
    }
}

#[test]
fn error_messages() {
    let cases = [
        (
            DecodeError::BadMagic,
            "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]",
        ),
        (
            DecodeError::UnknownKind {
                api_version: "v1".into(),
                kind: "Foo".into(),
            },
            "no kind \"Foo\" is registered for version \"v1\"",
        ),
        (
            wrong("k8s.io.api.apps.v1.Deployment", 1, "varint"),
            "wrong wire type varint for field 1 of k8s.io.api.apps.v1.Deployment",
        ),
        (
            DecodeError::TooDeep(64),
            "protobuf message nests deeper than 64 levels",
        ),
    ];
    for (err, want) in cases {
        assert_eq!(err.to_string(), want);
    }
}

/// Unknown fields (newer Kubernetes versions) are skipped, however deep
/// their own payload nests, without recursion.
#[test]
fn unknown_fields_are_skipped() {
    let d = apps::Deployment {
        metadata: Some(meta::ObjectMeta {
            name: s("web"),
            ..Default::default()
        }),
        ..Default::default()
    };
    let plain = decode(&envelope("apps/v1", "Deployment", &d)).unwrap();

    // A depth bomb in an unknown field: 10_000 nested length-delimited fields.
    let mut bomb: Vec<u8> = Vec::new();
    for _ in 0..10_000 {
        let mut outer = vec![0xfa, 0x06]; // field 111, length-delimited
        let mut len = bomb.len();
        while len >= 0x80 {
            outer.push((len as u8) | 0x80);
            len >>= 7;
        }
        outer.push(len as u8);
        outer.extend(bomb);
        bomb = outer;
    }
    let mut raw = d.encode_to_vec();
    raw.extend(&bomb);
    raw.extend([0x98, 0x06, 0x01]); // field 99 varint
    raw.extend([0xa1, 0x06, 1, 2, 3, 4, 5, 6, 7, 8]); // field 100 fixed64
    raw.extend([0xad, 0x06, 1, 2, 3, 4]); // field 101 fixed32
    assert_eq!(
        decode(&envelope_raw("apps/v1", "Deployment", raw)),
        Ok(plain)
    );
}

/// A message field repeated on the wire merges, as protobuf specifies.
#[test]
fn repeated_singular_message_merges() {
    let a = apps::Deployment {
        metadata: Some(meta::ObjectMeta {
            name: s("web"),
            ..Default::default()
        }),
        ..Default::default()
    };
    let b = apps::Deployment {
        metadata: Some(meta::ObjectMeta {
            namespace: s("prod"),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut raw = a.encode_to_vec();
    raw.extend(b.encode_to_vec());
    let v = decode_object("apps/v1", "Deployment", &raw).unwrap();
    assert_eq!(v["metadata"]["name"], "web");
    assert_eq!(v["metadata"]["namespace"], "prod");
}

/// Every truncation and many single-byte corruptions of a real Pod body
/// decode to something or to an error, never a panic.
#[test]
fn corrupted_bodies_never_panic() {
    let pod = core::Pod {
        metadata: Some(meta::ObjectMeta {
            name: s("web-0"),
            labels: common::labels(&[("app", "web")]),
            ..Default::default()
        }),
        spec: Some(core::PodSpec {
            containers: vec![core::Container {
                name: s("web"),
                image: s("nginx"),
                ports: vec![core::ContainerPort {
                    container_port: Some(80),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: None,
    };
    let body = envelope("v1", "Pod", &pod);
    for len in 0..body.len() {
        let _ = decode(&body[..len]);
    }
    for i in 0..body.len() {
        for x in [0x01u8, 0x07, 0x80, 0xff] {
            let mut bad = body.clone();
            bad[i] ^= x;
            let _ = decode(&bad);
        }
    }
    // Huge length prefixes at every position of the object.
    let raw = pod.encode_to_vec();
    for i in 0..raw.len() {
        let mut bad = raw[..i].to_vec();
        bad.push(0x0a);
        bad.extend(HUGE_LEN);
        let _ = decode_object("v1", "Pod", &bad);
    }
}

/// Many repeated entries are fine (no quadratic work, no recursion).
#[test]
fn many_repeated_entries() {
    let cm = core::ConfigMap {
        data: (0..20_000)
            .map(|i| (format!("k{i:05}"), "v".to_string()))
            .collect(),
        ..Default::default()
    };
    let v = decode(&envelope("v1", "ConfigMap", &cm)).unwrap();
    assert_eq!(v["data"].as_object().map(|m| m.len()), Some(20_000));
}
