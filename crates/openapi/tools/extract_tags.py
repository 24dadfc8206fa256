#!/usr/bin/env python3
"""Regenerates src/tags.rs: the OpenAPI facts that k8s-openapi's schemas lack.

k8s-openapi drops the `x-kubernetes-*` list/patch extensions and the enum
values that kube-apiserver publishes. They come from the Go types' struct
tags and `+marker` comments, so this reads them from a checkout of
k8s.io/api and k8s.io/apimachinery at the served release:

    tools/extract_tags.py API_REPO APIMACHINERY_REPO v0.32.13 > src/tags.rs

Run by hand when the Kubernetes version changes; the output is committed.
"""

import re
import subprocess
import sys

# Go package (repo, path) -> OpenAPI schema name prefix, for every group k1s serves.
PACKAGES = [
    ("api", "core/v1", "io.k8s.api.core.v1"),
    ("api", "apps/v1", "io.k8s.api.apps.v1"),
    ("api", "discovery/v1", "io.k8s.api.discovery.v1"),
    ("api", "events/v1", "io.k8s.api.events.v1"),
    ("api", "coordination/v1", "io.k8s.api.coordination.v1"),
    ("api", "autoscaling/v1", "io.k8s.api.autoscaling.v1"),
    ("apimachinery", "pkg/apis/meta/v1", "io.k8s.apimachinery.pkg.apis.meta.v1"),
]

# List kinds whose schemas are written here (k8s-openapi has no schema for List<T>).
LIST_KINDS = {"ConfigMapList", "EndpointsList", "EventList", "NamespaceList", "NodeList", "PodList",
              "SecretList", "ServiceAccountList", "ServiceList", "DeploymentList", "ReplicaSetList",
              "LeaseList", "EndpointSliceList", "ReplicationControllerList", "DaemonSetList"}

# Option structs whose fields kube-apiserver publishes as query parameters.
OPTION_STRUCTS = ["io.k8s.apimachinery.pkg.apis.meta.v1." + n for n in
                  ("ListOptions", "CreateOptions", "UpdateOptions", "PatchOptions", "DeleteOptions")] + \
                 ["io.k8s.api.core.v1." + n for n in
                  ("PodLogOptions", "PodExecOptions", "PodAttachOptions", "PodPortForwardOptions",
                   "PodProxyOptions", "ServiceProxyOptions")]
SCALARS = {"string": "string", "*string": "string", "[]string": "string", "bool": "boolean",
           "*bool": "boolean", "int64": "integer", "*int64": "integer", "int32": "integer", "[]int32": "integer",
           "*ResourceVersionMatch": "string", "ResourceVersionMatch": "string",
           "*DeletionPropagation": "string"}

STRUCT_RE = re.compile(r"^type (\w+) struct \{")
ENUM_TYPE_RE = re.compile(r"^type (\w+) string\b")
FIELD_RE = re.compile(r"^\t(\w+)\s+([\w.*\[\]]+)\s+`([^`]*)`")
EMBED_RE = re.compile(r"^\t([\w.]+)\s+`([^`]*)`")
CONST_RE = re.compile(r"^\s*(\w+)\s+(\w+)\s*=\s*\"([^\"]*)\"")
TAG_RE = re.compile(r'(\w+):"([^"]*)"')


def git_files(repo, rev, path):
    out = subprocess.run(["git", "-C", repo, "ls-tree", "--name-only", rev, path + "/"],
                         check=True, capture_output=True, text=True).stdout
    return [f for f in out.split() if f.endswith(".go") and not f.endswith("_test.go")
            and "zz_generated" not in f and "generated.pb" not in f]


def git_show(repo, rev, path):
    return subprocess.run(["git", "-C", repo, "show", f"{rev}:{path}"],
                          check=True, capture_output=True, text=True).stdout


def markers(comments):
    """`+key=value` markers of a comment block, in order."""
    out = []
    for c in comments:
        if c.startswith("+"):
            key, _, value = c[1:].partition("=")
            out.append((key, value))
    return out


def describe(comments):
    """A Go doc comment as kube-openapi turns it into a description."""
    paragraphs, current = [], []
    for c in comments:
        if c.startswith("+"):
            continue
        if c == "":
            if current:
                paragraphs.append(" ".join(current))
            current = []
        else:
            current.append(c)
    if current:
        paragraphs.append(" ".join(current))
    return "\n\n".join(paragraphs)


def parse(source, prefix, structs, enums, consts):
    comments = []
    current = None
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("//"):
            comments.append(stripped[2:].strip())
            continue
        if current is not None:
            if line.startswith("}"):
                current = None
            else:
                m = FIELD_RE.match(line)
                e = EMBED_RE.match(line)
                if m:
                    name, typ, tag = m.groups()
                    tags = dict(TAG_RE.findall(tag))
                    json_name = tags.get("json", "").split(",")[0]
                    if json_name and json_name != "-":
                        current["fields"].append((json_name, typ, tags, markers(comments)))
                        current["docs"][json_name] = describe(comments)
                elif e:
                    json_name = dict(TAG_RE.findall(e.group(2))).get("json", "").split(",")[0]
                    if json_name:  # an embedded struct under its own key, e.g. ListMeta
                        current["docs"][json_name] = describe(comments)
                    elif ",inline" in e.group(2):
                        current["inline"].append(e.group(1).split(".")[-1])
            comments = []
            continue
        m = STRUCT_RE.match(line)
        if m:
            current = {"fields": [], "inline": [], "markers": markers(comments),
                       "doc": describe(comments), "docs": {}}
            structs[f"{prefix}.{m.group(1)}"] = current
        m = ENUM_TYPE_RE.match(line)
        if m and ("enum", "") in markers(comments):
            enums.setdefault(f"{prefix}.{m.group(1)}", [])
        m = CONST_RE.match(line)
        if m and line.startswith(("\t", "const ")):
            name, typ, value = m.groups()
            consts.append((f"{prefix}.{typ}", name, value, " ".join(c for c in comments)))
        if stripped.startswith("const ") and "=" in stripped:
            m = CONST_RE.match(stripped[len("const "):])
            if m:
                name, typ, value = m.groups()
                consts.append((f"{prefix}.{typ}", name, value, " ".join(comments)))
        comments = []


def enum_lines(values):
    lines = []
    for name, value, comment in values:
        text = comment.strip()
        if text.startswith(name):
            text = text[len(name):]
        text = re.sub(r"\s+", " ", text.strip())
        lines.append(f' - `"{value}"` {text}')
    return sorted(lines)


def rust_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main():
    api_repo, machinery_repo, rev = sys.argv[1:4]
    repos = {"api": api_repo, "apimachinery": machinery_repo}
    structs, enums, consts = {}, {}, []
    for repo, path, prefix in PACKAGES:
        for f in git_files(repos[repo], rev, path):
            parse(git_show(repos[repo], rev, f), prefix, structs, enums, consts)
    for typ, name, value, comment in consts:
        if typ in enums and all(v != value for _, v, _ in enums[typ]):
            enums[typ].append((name, value, comment))

    def enum_of(prefix, typ):
        bare = typ.lstrip("*")
        if "[" in bare:
            return None
        if "." in bare:
            pkg, bare = bare.split(".", 1)
            candidates = [f"{p}.{bare}" for _, _, p in PACKAGES if p.endswith("." + pkg) or pkg == "v1"]
        else:
            candidates = [f"{prefix}.{bare}"]
        for c in candidates:
            if c in enums:
                return c
        return None

    rows, enum_rows, atomic = [], [], []
    for sname in sorted(structs):
        s = structs[sname]
        prefix = sname.rsplit(".", 1)[0]
        if ("structType", "atomic") in s["markers"] or ("mapType", "atomic") in s["markers"]:
            atomic.append(sname)
        fields = list(s["fields"])
        pending = list(s["inline"])
        while pending:  # inline structs contribute their fields to this schema
            inner = structs.get(f"{prefix}.{pending.pop()}")
            if inner:
                fields += inner["fields"]
                pending += inner["inline"]
        for json_name, typ, tags, marks in fields:
            m = dict(marks)
            keys = [v for k, v in marks if k == "listMapKey"]
            strategy = tags.get("patchStrategy") or m.get("patchStrategy")
            merge_key = tags.get("patchMergeKey") or m.get("patchMergeKey")
            list_type = m.get("listType")
            map_type = m.get("mapType")
            if any([strategy, merge_key, list_type, map_type]):
                rows.append((sname, json_name, list_type, keys, merge_key, strategy, map_type))
            enum = enum_of(prefix, typ)
            if enum and enums[enum]:
                enum_rows.append((sname, json_name, enum))

    opt = lambda v: f"Some({rust_str(v)})" if v else "None"
    print("// @generated by tools/extract_tags.py from k8s.io/api and k8s.io/apimachinery", rev + ".")
    print("// Facts about the API types that k8s-openapi's schemas do not carry.")
    print("#![cfg_attr(rustfmt, rustfmt_skip)]")
    print()
    print("use crate::extensions::{EnumType, FieldTags};")
    print()
    print("/// List, map and patch extensions per schema property.")
    print("pub(crate) static FIELDS: &[FieldTags] = &[")
    for sname, prop, lt, keys, mk, st, mt in rows:
        ks = ", ".join(rust_str(k) for k in keys)
        print(f"    FieldTags {{ schema: {rust_str(sname)}, property: {rust_str(prop)}, list_type: {opt(lt)}, "
              f"list_map_keys: &[{ks}], patch_merge_key: {opt(mk)}, patch_strategy: {opt(st)}, map_type: {opt(mt)} }},")
    print("];")
    print()
    print("/// Schemas that are atomic as a whole (`x-kubernetes-map-type: atomic`).")
    print("pub(crate) static ATOMIC_STRUCTS: &[&str] = &[")
    for a in atomic:
        print(f"    {rust_str(a)},")
    print("];")
    print()
    used = sorted({e for _, _, e in enum_rows})
    print("/// String enums: their values and the text kube-openapi appends to descriptions.")
    print("pub(crate) static ENUMS: &[EnumType] = &[")
    for e in used:
        values = sorted(v for _, v, _ in enums[e])
        vs = ", ".join(rust_str(v) for v in values)
        lines = "\\n".join(l.replace("\\", "\\\\").replace('"', '\\"') for l in enum_lines(enums[e]))
        print(f"    EnumType {{ name: {rust_str(e)}, values: &[{vs}],")
        print(f"        lines: \"{lines}\" }},")
    print("];")
    print()
    print("/// Descriptions of the list kinds k1s serves: (schema, list, items, metadata).")
    print("pub(crate) static LIST_DOCS: &[(&str, &str, &str, &str)] = &[")
    for sname in sorted(structs):
        if sname.rsplit(".", 1)[1] in LIST_KINDS:
            s = structs[sname]
            print(f"    ({rust_str(sname)}, {rust_str(s['doc'])}, {rust_str(s['docs'].get('items', ''))}, "
                  f"{rust_str(s['docs'].get('metadata', ''))}),")
    print("];")
    print()
    print("/// Query parameters: (options struct, name, OpenAPI type, description), in field order.")
    print("pub(crate) static PARAMS: &[(&str, &str, &str, &str)] = &[")
    for sname in OPTION_STRUCTS:
        s = structs[sname]
        for json_name, typ, _, _ in s["fields"]:
            if typ in SCALARS:
                print(f"    ({rust_str(sname.rsplit('.', 1)[1])}, {rust_str(json_name)}, {rust_str(SCALARS[typ])}, "
                      f"{rust_str(s['docs'][json_name])}),")
    print("];")
    print()
    print("/// Properties whose type is one of ENUMS: (schema, property, enum).")
    print("pub(crate) static ENUM_FIELDS: &[(&str, &str, &str)] = &[")
    for sname, prop, e in enum_rows:
        print(f"    ({rust_str(sname)}, {rust_str(prop)}, {rust_str(e)}),")
    print("];")


main()
