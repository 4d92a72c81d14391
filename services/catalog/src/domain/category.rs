//! Categories: a tree of names products are filed under, where a category filter
//! includes every category below it.

use std::collections::{HashMap, HashSet};

/// A category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Parent, for sub-categories.
    pub parent_id: Option<String>,
}

/// `category` and every category under it, from (id, parent) pairs.
pub fn with_descendants(category: &str, tree: &[(String, Option<String>)]) -> Vec<String> {
    let mut children: HashMap<&str, Vec<&str>> = HashMap::new();
    for (id, parent) in tree {
        if let Some(parent) = parent {
            children
                .entry(parent.as_str())
                .or_default()
                .push(id.as_str());
        }
    }
    let mut seen: HashSet<&str> = HashSet::new();
    let mut queue = vec![category];
    while let Some(next) = queue.pop() {
        if seen.insert(next) {
            queue.extend(children.get(next).into_iter().flatten());
        }
    }
    let mut all: Vec<String> = seen.into_iter().map(str::to_owned).collect();
    all.sort();
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descendants_cover_the_whole_subtree_once() {
        let tree = vec![
            ("root".to_owned(), None),
            ("a".to_owned(), Some("root".to_owned())),
            ("b".to_owned(), Some("a".to_owned())),
            ("c".to_owned(), Some("root".to_owned())),
            ("other".to_owned(), None),
        ];
        assert_eq!(with_descendants("root", &tree), vec!["a", "b", "c", "root"]);
        assert_eq!(with_descendants("a", &tree), vec!["a", "b"]);
        assert_eq!(with_descendants("unknown", &tree), vec!["unknown"]);
    }
}
