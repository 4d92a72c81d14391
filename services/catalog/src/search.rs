//! Full-text search over product name, description and attributes, on the platform's
//! search engine (the `fulltext` crate: a tantivy index on local disk, typo-tolerant
//! boosted queries, the marker that ties it to the database).
//!
//! This module says what the catalog indexes and how much each field weighs: a match in
//! the name above one in the attributes, above one in the description. Filters and the
//! product data come from the database, so results never show stale prices or stock.
//! The index is rebuilt from the database when missing or when it disagrees with the
//! database's product count and latest change (see `app::index`), and updated after
//! every product write.

use std::path::Path;

pub use fulltext::SearchError;
use fulltext::{Document, Layout};

/// How many hits a search takes from the index at first; when filters leave too few of
/// them, the search asks for more (see `CatalogApp::search`).
pub const FIRST_HITS: usize = 500;
/// The most hits one search considers (each becomes a bound id in one SQL statement).
pub const MOST_HITS: usize = 16_000;

/// The indexed fields and their weights. The names are those of the index on disk
/// before the engine moved to its own crate, so an existing index opens unchanged.
const LAYOUT: Layout = &[("name", 3.0), ("description", 1.0), ("attributes", 1.5)];

/// The searchable text of one product.
#[derive(Debug, Clone)]
pub struct Searchable {
    /// Product id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Attribute text.
    pub attributes: String,
}

impl From<Searchable> for Document {
    fn from(product: Searchable) -> Self {
        Document {
            id: product.id,
            texts: vec![product.name, product.description, product.attributes],
        }
    }
}

/// The product search index.
#[derive(Clone)]
pub struct SearchIndex(fulltext::SearchIndex);

impl SearchIndex {
    /// Opens (or creates) the index in `dir`.
    pub fn open(dir: &Path) -> Result<Self, SearchError> {
        fulltext::SearchIndex::open(dir, LAYOUT).map(Self)
    }

    /// The marker stored with the last commit (product count and latest change).
    pub fn marker(&self) -> Option<String> {
        self.0.marker()
    }

    /// How many products the index holds.
    pub fn product_count(&self) -> u64 {
        self.0.doc_count()
    }

    /// Replaces or removes products, then commits with `marker`.
    pub async fn apply(
        &self,
        upserts: Vec<Searchable>,
        deletes: Vec<String>,
        marker: String,
    ) -> Result<(), SearchError> {
        let upserts = upserts.into_iter().map(Document::from).collect();
        self.0.apply(upserts, deletes, marker).await
    }

    /// Replaces the whole index with `all` (a rebuild).
    pub async fn rebuild(&self, all: Vec<Searchable>, marker: String) -> Result<(), SearchError> {
        let all = all.into_iter().map(Document::from).collect();
        self.0.rebuild(all, marker).await
    }

    /// The best `limit` product ids matching `query`, best first, with their scores
    /// (blocking).
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<(String, f32)>, SearchError> {
        self.0.search(query, limit)
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    fn product(id: &str, name: &str, description: &str, attributes: &str) -> Searchable {
        Searchable {
            id: id.into(),
            name: name.into(),
            description: description.into(),
            attributes: attributes.into(),
        }
    }

    #[tokio::test]
    async fn names_outrank_descriptions_and_one_typo_still_finds() {
        let dir = tempfile::tempdir().expect("dir");
        let index = SearchIndex::open(dir.path()).expect("index");
        index
            .apply(
                vec![
                    product(
                        "in-description",
                        "Canvas bag",
                        "A sturdy bag for your lantern",
                        "colour green",
                    ),
                    product(
                        "in-name",
                        "Brass lantern",
                        "Lights the way",
                        "material brass",
                    ),
                    product("other", "Wool socks", "Warm", "size 42"),
                ],
                vec![],
                "3".into(),
            )
            .await
            .expect("apply");
        let ids = |hits: Vec<(String, f32)>| hits.into_iter().map(|h| h.0).collect::<Vec<_>>();
        assert_eq!(
            ids(index.search("lantern", FIRST_HITS).expect("search")),
            vec!["in-name", "in-description"]
        );
        assert_eq!(
            ids(index.search("lantren", FIRST_HITS).expect("search")),
            vec!["in-name", "in-description"],
            "transposition"
        );
        assert_eq!(
            ids(index.search("lanterm", FIRST_HITS).expect("search"))[0],
            "in-name",
            "substitution"
        );
        assert_eq!(
            ids(index.search("green bag", FIRST_HITS).expect("search")),
            vec!["in-description"],
            "every word must match"
        );
        assert!(index.search("zzz", FIRST_HITS).expect("search").is_empty());
        assert_eq!(index.marker().as_deref(), Some("3"));
        assert_eq!(index.product_count(), 3);

        index
            .apply(vec![], vec!["in-name".into()], "2".into())
            .await
            .expect("delete");
        assert_eq!(
            ids(index.search("lantern", FIRST_HITS).expect("search")),
            vec!["in-description"]
        );
    }
}
