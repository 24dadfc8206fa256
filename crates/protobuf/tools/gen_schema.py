#!/usr/bin/env python3
"""Writes crates/protobuf/src/schema.rs, the table that drives the decoder.

Run by hand from the workspace root after `cargo fetch`:

    python3 crates/protobuf/tools/gen_schema.py [--check]

Three sources are joined, each for what only it knows:

* k8s-pb 0.9 (cargo registry): field numbers and protobuf types of every
  message (`#[prost(string, optional, tag = "3")]`, map key/value types,
  message type paths).
* The Go API types of kubernetes/api and kubernetes/apimachinery at tag
  v0.32.x (a git mirror; see --api/--apimachinery): which fields exist in
  v1.32, their JSON names, `omitempty`, pointer-ness, embedded `,inline`
  structs and declaration order. Protobuf does not carry these, yet they
  decide what Go's encoding/json prints (e.g. `replicas: 0` survives only
  because the field is `*int32`).
* k8s-openapi 0.27 `v1_32` (cargo registry): the JSON field names of each
  definition, used to cross-check the names taken from the Go tags.

Every disagreement between the sources is printed; the script fails if a
field's number or type differs between k8s-pb and the Go tags.
"""

import argparse
import glob
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "src", "schema.rs")

# Go package dir -> (repo key, protobuf package).
PACKAGES = {
    "core/v1": ("api", "k8s.io.api.core.v1"),
    "apps/v1": ("api", "k8s.io.api.apps.v1"),
    "coordination/v1": ("api", "k8s.io.api.coordination.v1"),
    "discovery/v1": ("api", "k8s.io.api.discovery.v1"),
    "events/v1": ("api", "k8s.io.api.events.v1"),
    "autoscaling/v1": ("api", "k8s.io.api.autoscaling.v1"),
    "policy/v1": ("api", "k8s.io.api.policy.v1"),
    "authentication/v1": ("api", "k8s.io.api.authentication.v1"),
    "pkg/apis/meta/v1": ("apimachinery", "k8s.io.apimachinery.pkg.apis.meta.v1"),
    "pkg/runtime": ("apimachinery", "k8s.io.apimachinery.pkg.runtime"),
    "pkg/util/intstr": ("apimachinery", "k8s.io.apimachinery.pkg.util.intstr"),
    "pkg/api/resource": ("apimachinery", "k8s.io.apimachinery.pkg.api.resource"),
}

# Go import aliases used in the API types -> protobuf package.
IMPORTS = {
    "metav1": "k8s.io.apimachinery.pkg.apis.meta.v1",
    "runtime": "k8s.io.apimachinery.pkg.runtime",
    "intstr": "k8s.io.apimachinery.pkg.util.intstr",
    "resource": "k8s.io.apimachinery.pkg.api.resource",
    "v1": "k8s.io.api.core.v1",
    "corev1": "k8s.io.api.core.v1",
    "types": None,
}

META = "k8s.io.apimachinery.pkg.apis.meta.v1"

# Messages whose protobuf and JSON forms are custom-coded in Go; the
# decoder handles them by hand (value: Special variant in table.rs).
SPECIAL = {
    META + ".Time": "Time",
    META + ".MicroTime": "MicroTime",
    META + ".Duration": "Duration",
    META + ".FieldsV1": "FieldsV1",
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": "IntOrString",
    "k8s.io.apimachinery.pkg.api.resource.Quantity": "Quantity",
    "k8s.io.apimachinery.pkg.runtime.RawExtension": "RawExtension",
}

# (apiVersion, kind, message): objects a request body may carry.
ROOTS = [
    ("v1", "Binding", "k8s.io.api.core.v1.Binding"),
    ("v1", "ConfigMap", "k8s.io.api.core.v1.ConfigMap"),
    ("v1", "Endpoints", "k8s.io.api.core.v1.Endpoints"),
    ("v1", "Event", "k8s.io.api.core.v1.Event"),
    ("v1", "Namespace", "k8s.io.api.core.v1.Namespace"),
    ("v1", "Node", "k8s.io.api.core.v1.Node"),
    ("v1", "Pod", "k8s.io.api.core.v1.Pod"),
    ("v1", "Secret", "k8s.io.api.core.v1.Secret"),
    ("v1", "ServiceAccount", "k8s.io.api.core.v1.ServiceAccount"),
    ("v1", "Service", "k8s.io.api.core.v1.Service"),
    ("apps/v1", "Deployment", "k8s.io.api.apps.v1.Deployment"),
    ("apps/v1", "ReplicaSet", "k8s.io.api.apps.v1.ReplicaSet"),
    ("coordination.k8s.io/v1", "Lease", "k8s.io.api.coordination.v1.Lease"),
    ("discovery.k8s.io/v1", "EndpointSlice", "k8s.io.api.discovery.v1.EndpointSlice"),
    ("events.k8s.io/v1", "Event", "k8s.io.api.events.v1.Event"),
    ("autoscaling/v1", "Scale", "k8s.io.api.autoscaling.v1.Scale"),
    ("policy/v1", "Eviction", "k8s.io.api.policy.v1.Eviction"),
    ("authentication.k8s.io/v1", "TokenRequest", "k8s.io.api.authentication.v1.TokenRequest"),
] + [
    # DeleteOptions is registered in every group version.
    (gv, "DeleteOptions", META + ".DeleteOptions")
    for gv in (
        "meta.k8s.io/v1",
        "v1",
        "apps/v1",
        "authentication.k8s.io/v1",
        "autoscaling/v1",
        "coordination.k8s.io/v1",
        "discovery.k8s.io/v1",
        "events.k8s.io/v1",
        "policy/v1",
    )
]

# ---------------------------------------------------------------- k8s-pb


def registry_dir(pattern):
    hits = sorted(glob.glob(os.path.expanduser("~/.cargo/registry/src/*/" + pattern)))
    if not hits:
        sys.exit(f"{pattern} not found in ~/.cargo/registry/src; run `cargo fetch` first")
    return hits[-1]


PROST_ATTR = re.compile(r"#\[prost\((.*)\)\]")
PB_STRUCT = re.compile(r"^pub struct (\w+) \{")


def pb_resolve(module, path):
    """`super::super::core::v1::Pod` seen from module [api, apps, v1] -> (pkg, name)."""
    parts = path.replace("::prost::alloc::string::", "").split("::")
    mod = list(module)
    while parts and parts[0] == "super":
        parts.pop(0)
        mod.pop()
    name = parts[-1]
    mod += parts[:-1]
    return "k8s.io." + ".".join(mod) + "." + name


def pb_inner_type(ty):
    ty = ty.replace(" ", "")
    for wrap in ("::core::option::Option<", "::prost::alloc::vec::Vec<", "::prost::alloc::boxed::Box<"):
        while ty.startswith(wrap):
            ty = ty[len(wrap) : -1]
    return ty


def parse_k8s_pb(root, proto_pkg):
    module = proto_pkg[len("k8s.io.") :].split(".")
    path = os.path.join(root, "src", *module, "mod.rs")
    text = open(path).read()
    messages = {}
    cur = None
    attr = None
    pending = None  # (attr, field name, type text so far)
    for line in text.splitlines():
        s = line.strip()
        m = PB_STRUCT.match(s)
        if m:
            cur = {}
            messages[proto_pkg + "." + m.group(1)] = cur
            continue
        if cur is None:
            continue
        if s == "}":
            cur = None
            continue
        if pending is not None:
            pending[2] += s
            if type_done(pending[2]):
                add_pb_field(cur, module, *pending)
                pending = None
            continue
        m = PROST_ATTR.match(s)
        if m:
            attr = m.group(1)
            continue
        m = re.match(r"pub (?:r#)?(\w+):\s*(.*)$", s)
        if m and attr is not None:
            pending = [attr, m.group(1), m.group(2)]
            attr = None
            if type_done(pending[2]):
                add_pb_field(cur, module, *pending)
                pending = None
    return messages


def type_done(ty):
    return ty.endswith(",") and ty.count("<") == ty.count(">")


def add_pb_field(msg, module, attr, name, ty):
    ty = ty.rstrip(",")
    tag = int(re.search(r'tag = "(\d+)"', attr).group(1))
    f = {"name": name}
    m = re.match(r'(?:btree_)?map = "(\w+), (\w+)"', attr)
    if m:
        f["card"] = "map"
        f["key"] = m.group(1)
        if m.group(2) == "message":
            value = ty.replace(" ", "")
            value = value[value.index(",") + 1 : -1].rstrip(",")
            f["type"] = ("message", pb_resolve(module, value))
        else:
            f["type"] = ("scalar", m.group(2))
    else:
        kind = attr.split(",")[0].strip()
        kind = kind.split("=")[0].strip()
        f["card"] = "repeated" if ", repeated" in attr else "one"
        if kind == "message":
            f["type"] = ("message", pb_resolve(module, pb_inner_type(ty)))
        else:
            f["type"] = ("scalar", kind)
    msg[tag] = f


# ---------------------------------------------------------------- Go types

GO_STRUCT = re.compile(r"^type (\w+) struct \{")
GO_FIELD = re.compile(r"^(?:(\w+)\s+)?([\w.*\[\]]+)\s+`([^`]*)`$")
GO_TAG = re.compile(r'(\w+):"([^"]*)"')


UNPARSED = {}


def git_show(repo, rev, path):
    return subprocess.run(
        ["git", "-C", repo, "show", f"{rev}:{path}"], check=True, capture_output=True, text=True
    ).stdout


def git_ls(repo, rev, path):
    out = subprocess.run(
        ["git", "-C", repo, "ls-tree", "--name-only", rev, path + "/"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.split()


def parse_go_package(repo, rev, path, proto_pkg):
    structs = {}
    for file in git_ls(repo, rev, path):
        base = os.path.basename(file)
        if (
            not base.endswith(".go")
            or base.endswith("_test.go")
            or base.startswith("zz_generated")
            or base.startswith("generated")
            or "swagger_doc" in base
        ):
            continue
        cur = None
        in_block = False
        for line in git_show(repo, rev, file).splitlines():
            s = line.strip()
            if cur is None:
                m = GO_STRUCT.match(s)
                if m:
                    cur = []
                    cur_name = m.group(1)
                    structs[proto_pkg + "." + cur_name] = cur
                continue
            if s == "}":
                cur = None
                continue
            if s.startswith("/*"):
                in_block = True
            if in_block:
                in_block = not s.endswith("*/")
                continue
            if not s or s.startswith("//"):
                continue
            m = GO_FIELD.match(s)
            if not m:
                UNPARSED.setdefault(proto_pkg + "." + cur_name, []).append(s)
                continue
            gname, gtype, tags = m.groups()
            tags = dict(GO_TAG.findall(tags))
            cur.append({"go": gname or gtype.lstrip("*").split(".")[-1], "embedded": gname is None, "type": gtype, "tags": tags})
    return structs


def go_type_ref(gtype, proto_pkg):
    """Full message name a Go field type names, ignoring pointer/slice."""
    t = gtype.lstrip("*")
    while t.startswith("[]"):
        t = t[2:].lstrip("*")
    if "." in t:
        alias, name = t.split(".", 1)
        pkg = IMPORTS.get(alias)
        return pkg + "." + name if pkg else None
    return proto_pkg + "." + t


# ---------------------------------------------------------------- k8s-openapi


def parse_openapi(root):
    names = {}
    for path in glob.glob(os.path.join(root, "src", "v1_32", "**", "*.rs"), recursive=True):
        text = open(path).read()
        m = re.match(r"// Generated from definition (\S+)", text)
        if not m:
            continue
        names[m.group(1)] = set(re.findall(r'"(\w+)" => Field::Key_', text))
    return names


def openapi_name(msg):
    # k8s.io.api.core.v1.Pod -> io.k8s.api.core.v1.Pod
    return "io.k8s." + msg[len("k8s.io.") :]


# ---------------------------------------------------------------- join


def snake(name):
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.lower()


def canon_ref(f, go_lower):
    kind, ref = f["type"]
    if kind == "message":
        f = dict(f, type=(kind, go_lower.get(ref.lower(), ref)))
    return f


def same_name(a, b):
    return a.replace("_", "").lower() == b.replace("_", "").lower()


# Go tags that disagree with the generated .proto; the .proto (k8s-pb) wins.
KNOWN_TAG_QUIRKS = {
    # Tagged "varint" in Go, `optional string propagationPolicy = 4` on the wire.
    META + ".DeleteOptions.PropagationPolicy",
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api", default="/work/.mirror/kubernetes+api/repo")
    ap.add_argument("--apimachinery", default="/work/.mirror/kubernetes+apimachinery/repo")
    ap.add_argument("--tag", default="v0.32.13")
    ap.add_argument("--check", action="store_true", help="fail if schema.rs would change")
    args = ap.parse_args()

    pb_root = registry_dir("k8s-pb-0.9.0")
    oa_root = registry_dir("k8s-openapi-0.27.*")
    repos = {"api": args.api, "apimachinery": args.apimachinery}

    pb, go = {}, {}
    for path, (repo, pkg) in PACKAGES.items():
        pb.update(parse_k8s_pb(pb_root, pkg))
        go.update(parse_go_package(repos[repo], args.tag, path, pkg))
    openapi = parse_openapi(oa_root)
    # k8s-pb CamelCases acronyms (PodDnsConfig for PodDNSConfig): key its
    # messages by the Go name, which is also the proto and OpenAPI name.
    go_lower = {m.lower(): m for m in go}
    pb = {go_lower.get(m.lower(), m): {t: canon_ref(f, go_lower) for t, f in fs.items()} for m, fs in pb.items()}

    problems, notes = [], []
    order, seen = [], set()
    queue = [r[2] for r in ROOTS]
    while queue:
        msg = queue.pop(0)
        if msg in seen or msg in SPECIAL:
            continue
        seen.add(msg)
        order.append(msg)
        if msg not in go:
            problems.append(f"{msg}: no Go struct")
            continue
        if msg not in pb:
            problems.append(f"{msg}: not in k8s-pb")
            continue
        for gf in go[msg]:
            if "protobuf" not in gf["tags"]:
                continue
            tag = int(gf["tags"]["protobuf"].split(",")[1])
            pf = pb[msg].get(tag)
            if pf and pf["type"][0] == "message":
                queue.append(pf["type"][1])

    tables = []
    index = {m: i for i, m in enumerate(order)}
    total_fields = 0
    for msg in order:
        fields = []
        for gf in go.get(msg, []):
            tags = gf["tags"]
            jtag = tags.get("json", "")
            jname, *jopts = jtag.split(",") if jtag else ("",)
            if "protobuf" not in tags:
                if gf["go"] != "TypeMeta" and jname != "-":
                    notes.append(f"{msg}.{gf['go']}: no protobuf tag, not decodable (json {jtag!r})")
                continue
            if jname == "-":
                notes.append(f"{msg}.{gf['go']}: json:\"-\", skipped")
                continue
            ptag = tags["protobuf"].split(",")
            wire, tag = ptag[0], int(ptag[1])
            pname = next((p[5:] for p in ptag if p.startswith("name=")), None)
            pf = pb[msg].get(tag)
            if pf is None:
                problems.append(f"{msg}.{gf['go']}: tag {tag} missing in k8s-pb")
                continue
            if pname is not None and not same_name(pname, pf["name"]):
                problems.append(f"{msg}.{gf['go']}: proto name {pname} vs k8s-pb {pf['name']}")
            kind, ref = pf["type"]
            expect = {"varint": ("int32", "int64", "bool"), "fixed64": ("double",), "fixed32": ("float",)}
            if kind == "scalar" and pf["card"] == "one" and wire in expect and ref not in expect[wire]:
                if f"{msg}.{gf['go']}" in KNOWN_TAG_QUIRKS:
                    notes.append(f"{msg}.{gf['go']}: Go tag says {wire}, k8s-pb says {ref}; using {ref}")
                else:
                    problems.append(f"{msg}.{gf['go']}: wire {wire} vs k8s-pb {ref}")
            if kind == "message" and wire != "bytes":
                problems.append(f"{msg}.{gf['go']}: wire {wire} for message")
            inline = gf["embedded"] and jname == ""
            if not inline and jname == "":
                problems.append(f"{msg}.{gf['go']}: no JSON name")
            if kind == "message" and pf["card"] != "map":
                gref = go_type_ref(gf["type"], msg.rsplit(".", 1)[0])
                if gref is not None and gref != ref:
                    problems.append(f"{msg}.{gf['go']}: Go type {gref} vs k8s-pb {ref}")
            fields.append(
                {
                    "number": tag,
                    "json": jname,
                    "kind": kind,
                    "ref": ref,
                    "card": pf["card"],
                    "key": pf.get("key"),
                    "pointer": gf["type"].startswith("*"),
                    "omitempty": "omitempty" in jopts or "omitzero" in jopts,
                    "inline": inline,
                }
            )
        # Fields k8s-pb knows but v1.32 did not have yet.
        go_tags = {f["number"] for f in fields}
        for tag, pf in sorted(pb.get(msg, {}).items()):
            if tag not in go_tags:
                notes.append(f"{msg}.{pf['name']} (#{tag}): not in v1.32, skipped like an unknown field")
        # JSON names against k8s-openapi v1_32.
        oa = openapi.get(openapi_name(msg))
        if oa is None:
            notes.append(f"{msg}: no k8s-openapi definition to cross-check")
        else:
            ours = set(json_names(msg, fields, go, pb, order))
            for n in sorted(ours - oa):
                problems.append(f"{msg}: JSON name {n} not in k8s-openapi")
            for n in sorted(oa - ours - {"apiVersion", "kind"}):
                notes.append(f"{msg}: k8s-openapi field {n} has no protobuf field")
        total_fields += len(fields)
        tables.append((msg, fields))

    for n in notes:
        print("note:", n)
    for msg in order:
        for u in UNPARSED.get(msg, []):
            print(f"note: {msg}: Go struct line not parsed: {u}")
    for p in problems:
        print("PROBLEM:", p)
    if problems:
        sys.exit(1)

    out = render(tables, index, args)
    print(f"{len(tables)} messages, {total_fields} fields, {len(SPECIAL)} special types, {len(ROOTS)} roots")
    if args.check:
        if open(OUT).read() != out:
            sys.exit("schema.rs is out of date")
        return
    with open(OUT, "w") as f:
        f.write(out)


def json_names(msg, fields, go, pb, order):
    """JSON keys a message prints, inline members expanded."""
    for f in fields:
        if f["inline"]:
            sub = f["ref"]
            for gf in go.get(sub, []):
                jt = gf["tags"].get("json", "")
                n = jt.split(",")[0]
                if n and "protobuf" in gf["tags"]:
                    yield n
        else:
            yield f["json"]


SCALARS = {"string": "String", "bool": "Bool", "int32": "Int32", "int64": "Int64", "double": "Double", "bytes": "Bytes"}


def render(tables, index, args):
    lines = [
        "// @generated by crates/protobuf/tools/gen_schema.py; do not edit by hand.",
        f"// Sources: k8s-pb 0.9.0 (field numbers, types), kubernetes/api and",
        f"// kubernetes/apimachinery {args.tag} Go types (JSON names, omitempty, pointers,",
        "// inline, order), cross-checked against k8s-openapi 0.27 v1_32.",
        "",
        "use crate::table::{Card::*, Field, Kind::*, Message, Root, Scalar::*, Special::*};",
        "",
        "/// Every message reachable from [`ROOTS`]; `Msg(i)` indexes this table.",
        "pub static MESSAGES: &[Message] = &[",
    ]
    for i, (msg, fields) in enumerate(tables):
        lines.append(f"    // {i}")
        lines.append("    Message {")
        lines.append(f'        name: "{msg}",')
        lines.append("        fields: &[")
        for f in fields:
            if f["kind"] == "message":
                kind = f"Special({SPECIAL[f['ref']]})" if f["ref"] in SPECIAL else f"Msg({index[f['ref']]})"
            else:
                kind = f"Scalar({SCALARS[f['ref']]})"
            card = {"one": "One", "repeated": "Repeated", "map": "Map"}[f["card"]]
            if f["card"] == "map" and f["key"] != "string":
                sys.exit(f"{msg}: map key {f['key']} unsupported")
            flags = []
            lines.append(
                "            Field { "
                f"number: {f['number']}, json: \"{f['json']}\", kind: {kind}, card: {card}, "
                f"pointer: {str(f['pointer']).lower()}, omitempty: {str(f['omitempty']).lower()}, "
                f"inline: {str(f['inline']).lower()} }},"
            )
        lines.append("        ],")
        lines.append("    },")
    lines.append("];")
    lines.append("")
    lines.append("/// Objects a request body may carry, by apiVersion and kind.")
    lines.append("pub static ROOTS: &[Root] = &[")
    for api_version, kind, msg in ROOTS:
        lines.append(f'    Root {{ api_version: "{api_version}", kind: "{kind}", message: {index[msg]} }},')
    lines.append("];")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
