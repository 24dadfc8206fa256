//! How lists and maps of an object merge: the strategic-merge-patch tags
//! (`patchStrategy`, `patchMergeKey`) and the server-side-apply markers
//! (`listType`, `listMapKey`, `mapType`, `structType`) of the API types.

mod builtin;
mod builtin_types;
mod types;

pub use builtin::BuiltinSchema;

/// A key field of an associative list (`+listMapKey`), with the default that
/// server-side apply assumes when an item omits it (`protocol` → `TCP`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapKey {
    pub name: &'static str,
    pub default: Option<&'static str>,
}

/// Server-side apply list semantics (`x-kubernetes-list-type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListType {
    /// The whole list is one value: replaced and owned as a unit.
    Atomic,
    /// A set of scalars, items identified by value (`v:` in fieldsV1).
    Set,
    /// Items identified by their key fields (`k:` in fieldsV1).
    Map(&'static [MapKey]),
}

/// How a list field merges, for both patch flavours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListStrategy {
    /// Strategic merge patch `patchMergeKey`.
    pub merge_key: Option<&'static str>,
    /// Strategic merge patch `patchStrategy` contains `merge` (otherwise the
    /// patch list replaces the live one).
    pub merge: bool,
    /// Server-side apply list type.
    pub list_type: ListType,
}

impl ListStrategy {
    /// Lists a schema does not describe: replaced by patches, atomic for apply.
    pub const ATOMIC: ListStrategy = ListStrategy {
        merge_key: None,
        merge: false,
        list_type: ListType::Atomic,
    };
}

/// The JSON a Go field holds when unset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Zero {
    Null,
    Str,
    Num,
    Bool,
    /// A non-pointer struct: `{}`.
    Obj,
    /// A `resource.Quantity`: `"0"`.
    Quantity,
}

impl Zero {
    pub fn value(self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Zero::Null => Value::Null,
            Zero::Str => Value::String(String::new()),
            Zero::Num => Value::from(0),
            Zero::Bool => Value::Bool(false),
            Zero::Obj => Value::Object(serde_json::Map::new()),
            Zero::Quantity => Value::String("0".into()),
        }
    }
}

/// How a map (struct or free-form map) merges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MapStrategy {
    /// `+mapType=atomic` / `+structType=atomic`: owned and replaced as a unit by apply.
    pub atomic: bool,
    /// Fields Go always serializes, with their unset value (non-omitempty
    /// fields, non-pointer structs). Managed-field diffs see them as
    /// kube-apiserver does: present even when a JSON document omits them.
    pub always: &'static [(&'static str, Zero)],
    /// `omitempty` scalars: their zero value is the same as absent.
    pub omit_zero: &'static [(&'static str, Zero)],
}

/// Paths (field names from the object root) whose ownership the server resets.
pub type ResetFields = &'static [&'static [&'static str]];

/// Schema of one kind. `path` is the list of field names from the object root
/// to the list or map in question; list indices are elided, so
/// `["spec", "containers", "env"]` is the env list of every container, and
/// free-form map keys are included (`["metadata", "labels", "app"]`).
pub trait PatchSchema {
    /// Strategy of the list at `path`.
    fn list(&self, path: &[&str]) -> ListStrategy;
    /// Strategy of the map at `path`.
    fn map(&self, path: &[&str]) -> MapStrategy;
    /// Top-level paths the (sub)resource strategy resets, so writes never own
    /// them (`status` for the main resource, `spec` for `status`).
    fn reset_fields(&self, subresource: Option<&str>) -> ResetFields {
        let _ = subresource;
        &[]
    }
}

/// A schema that knows nothing: every list is atomic, every map granular.
/// Right for kinds without a built-in schema.
#[derive(Clone, Copy, Debug, Default)]
pub struct UntypedSchema;

impl PatchSchema for UntypedSchema {
    fn list(&self, _path: &[&str]) -> ListStrategy {
        ListStrategy::ATOMIC
    }
    fn map(&self, _path: &[&str]) -> MapStrategy {
        MapStrategy::default()
    }
}
