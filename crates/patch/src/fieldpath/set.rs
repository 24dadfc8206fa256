//! A set of field paths stored as a tree: at each level, the elements that
//! are members themselves and the subtrees below elements.

use std::collections::{BTreeMap, BTreeSet};

use super::element::PathElement;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Set {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, Set>,
}

impl Set {
    pub fn new() -> Set {
        Set::default()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    /// Adds a path; the empty path is not a member of anything.
    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    pub fn has(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.has(rest)),
        }
    }

    pub(crate) fn is_member(&self, pe: &PathElement) -> bool {
        self.members.contains(pe)
    }

    /// The paths below `pe`, without `pe`.
    pub(crate) fn child(&self, pe: &PathElement) -> Option<&Set> {
        self.children.get(pe)
    }

    pub(crate) fn members(&self) -> impl Iterator<Item = &PathElement> {
        self.members.iter()
    }

    pub(crate) fn children(&self) -> impl Iterator<Item = (&PathElement, &Set)> {
        self.children.iter()
    }

    pub(crate) fn from_parts(
        members: BTreeSet<PathElement>,
        children: BTreeMap<PathElement, Set>,
    ) -> Set {
        let children = children
            .into_iter()
            .filter(|(_, c)| !c.is_empty())
            .collect();
        Set { members, children }
    }

    pub fn union(&self, other: &Set) -> Set {
        let members = self.members.union(&other.members).cloned().collect();
        let mut children = self.children.clone();
        for (pe, c) in &other.children {
            let merged = match children.get(pe) {
                Some(mine) => mine.union(c),
                None => c.clone(),
            };
            children.insert(pe.clone(), merged);
        }
        Set::from_parts(members, children)
    }

    /// Paths in `self` that are not in `other` (member by member).
    pub fn difference(&self, other: &Set) -> Set {
        let members = self.members.difference(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .map(|(pe, c)| match other.children.get(pe) {
                Some(o) => (pe.clone(), c.difference(o)),
                None => (pe.clone(), c.clone()),
            })
            .collect();
        Set::from_parts(members, children)
    }

    pub fn intersection(&self, other: &Set) -> Set {
        let members = self.members.intersection(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(pe, c)| {
                other
                    .children
                    .get(pe)
                    .map(|o| (pe.clone(), c.intersection(o)))
            })
            .collect();
        Set::from_parts(members, children)
    }

    /// Paths in `self` that neither are in `other` nor lie below a member of it.
    pub fn recursive_difference(&self, other: &Set) -> Set {
        let members = self
            .members
            .iter()
            .filter(|pe| !other.members.contains(pe))
            .cloned()
            .collect();
        let children = self
            .children
            .iter()
            .filter(|(pe, _)| !other.members.contains(pe))
            .map(|(pe, c)| match other.children.get(pe) {
                Some(o) => (pe.clone(), c.recursive_difference(o)),
                None => (pe.clone(), c.clone()),
            })
            .collect();
        Set::from_parts(members, children)
    }

    /// Makes every field that has paths below it a member too, so removing it
    /// removes the field (structured-merge-diff's EnsureNamedFieldsAreMembers).
    pub(crate) fn with_named_fields_as_members(&self) -> Set {
        let mut members = self.members.clone();
        let mut children = BTreeMap::new();
        for (pe, c) in &self.children {
            if matches!(pe, PathElement::Field(_)) {
                members.insert(pe.clone());
            }
            children.insert(pe.clone(), c.with_named_fields_as_members());
        }
        Set::from_parts(members, children)
    }

    /// Every path, members of a level before the levels below, all sorted.
    pub fn paths(&self) -> Vec<Vec<PathElement>> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Vec<PathElement>>) {
        for m in &self.members {
            let mut p = prefix.clone();
            p.push(m.clone());
            out.push(p);
        }
        for (pe, c) in &self.children {
            prefix.push(pe.clone());
            c.collect(prefix, out);
            prefix.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str) -> PathElement {
        PathElement::Field(name.into())
    }

    fn set(paths: &[&[&str]]) -> Set {
        let mut s = Set::new();
        for p in paths {
            let p: Vec<PathElement> = p.iter().map(|n| f(n)).collect();
            s.insert(&p);
        }
        s
    }

    #[test]
    fn set_algebra() {
        let a = set(&[
            &["spec", "replicas"],
            &["spec", "template", "x"],
            &["metadata", "labels", "app"],
        ]);
        let b = set(&[&["spec", "replicas"], &["metadata"]]);
        assert_eq!(a.union(&b).paths().len(), 4);
        assert_eq!(
            a.difference(&b),
            set(&[&["spec", "template", "x"], &["metadata", "labels", "app"]])
        );
        assert_eq!(a.intersection(&b), set(&[&["spec", "replicas"]]));
        assert_eq!(
            a.recursive_difference(&b),
            set(&[&["spec", "template", "x"]])
        );
        assert!(a.has(&[f("spec"), f("replicas")]));
        assert!(!a.has(&[f("spec")]));
        assert!(a.difference(&a).is_empty());
        let named = set(&[&["spec", "template", "x"]]).with_named_fields_as_members();
        assert!(named.has(&[f("spec")]) && named.has(&[f("spec"), f("template")]));
    }

    #[test]
    fn paths_are_sorted_members_first() {
        let s = set(&[&["b", "x"], &["a"], &["b"], &["c"]]);
        let shown: Vec<String> = s
            .paths()
            .iter()
            .map(|p| super::super::path_string(p))
            .collect();
        assert_eq!(shown, [".a", ".b", ".c", ".b.x"]);
    }
}
