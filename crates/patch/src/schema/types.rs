//! The static type graph that `builtin_types.rs` is generated into, and the
//! walk that resolves a field path in it.

use super::{ListStrategy, MapStrategy, Zero};

/// A Go struct: only its struct, list and map fields are recorded.
pub(crate) struct Struct {
    pub atomic: bool,
    pub always: &'static [(&'static str, Zero)],
    pub omit_zero: &'static [(&'static str, Zero)],
    pub fields: &'static [(&'static str, Ty)],
}

pub(crate) enum Ty {
    Struct(&'static Struct),
    Map {
        atomic: bool,
        elem: Option<&'static Struct>,
    },
    List {
        strategy: ListStrategy,
        elem: Option<&'static Struct>,
    },
}

/// What a path resolves to.
pub(crate) enum Node {
    Struct(&'static Struct),
    Map {
        atomic: bool,
        elem: Option<&'static Struct>,
    },
    List {
        strategy: ListStrategy,
        elem: Option<&'static Struct>,
    },
    /// Scalars and fields the graph does not describe.
    Unknown,
}

impl Struct {
    fn field(&'static self, name: &str) -> Node {
        match self.fields.iter().find(|(n, _)| *n == name) {
            Some((_, Ty::Struct(s))) => Node::Struct(s),
            Some((_, Ty::Map { atomic, elem })) => Node::Map {
                atomic: *atomic,
                elem: *elem,
            },
            Some((_, Ty::List { strategy, elem })) => Node::List {
                strategy: *strategy,
                elem: *elem,
            },
            None => Node::Unknown,
        }
    }
}

pub(crate) fn resolve(root: &'static Struct, path: &[&str]) -> Node {
    let mut node = Node::Struct(root);
    for seg in path {
        node = match node {
            Node::Struct(s) => s.field(seg),
            // A map key selects the element; a list path continues into its items.
            Node::Map { elem: Some(s), .. } => Node::Struct(s),
            Node::List { elem: Some(s), .. } => s.field(seg),
            _ => Node::Unknown,
        };
    }
    node
}

pub(crate) fn map_strategy(node: &Node) -> MapStrategy {
    match node {
        // Items of a list of structs share the list's path.
        Node::Struct(s) | Node::List { elem: Some(s), .. } => MapStrategy {
            atomic: s.atomic,
            always: s.always,
            omit_zero: s.omit_zero,
        },
        Node::Map { atomic, .. } => MapStrategy {
            atomic: *atomic,
            ..MapStrategy::default()
        },
        _ => MapStrategy::default(),
    }
}

pub(crate) fn list_strategy(node: &Node) -> ListStrategy {
    match node {
        Node::List { strategy, .. } => *strategy,
        _ => ListStrategy::ATOMIC,
    }
}
