//! Full-text search over product name, description and attributes with tantivy.
//!
//! Every word of a query must match some field, exactly or within one typo (words of
//! three letters or more). Exact matches score above fuzzy ones and a match in the name
//! above one in the attributes, above one in the description. The index holds only the
//! searchable text and the product id; filters and the product data come from the
//! database, so results never show stale prices or stock.
//!
//! The index lives on local disk beside the service (for SQLite, next to its file). It
//! is rebuilt from the database when missing or when it disagrees with the database's
//! product count and latest change (a crash between a database commit and an index
//! commit), and updated after every product write.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tantivy::collector::TopDocs;
use tantivy::directory::MmapDirectory;
use tantivy::query::{BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, STORED, STRING, Schema, TEXT, Value};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term, doc};

/// How many hits a search takes from the index at first; when filters leave too few of
/// them, the search asks for more (see `CatalogApp::search`).
pub const FIRST_HITS: usize = 500;
/// The most hits one search considers (each becomes a bound id in one SQL statement).
pub const MOST_HITS: usize = 16_000;

/// Why the index failed.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// Tantivy failed.
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    /// The index directory could not be opened.
    #[error("search index directory: {0}")]
    Directory(String),
    /// A worker thread died.
    #[error("search index worker failed")]
    Worker,
}

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

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    name: Field,
    description: Field,
    attributes: Field,
}

/// The product search index.
#[derive(Clone)]
pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    writer: Arc<Mutex<IndexWriter>>,
    fields: Fields,
}

/// Where the index of the catalog whose database is `database_url` lives: beside a
/// SQLite file, or under the system temp directory for PostgreSQL, one per process
/// (each replica keeps its own and rebuilds it from the database; tantivy lets one
/// writer hold a directory, so two replicas on one host must not share it).
pub fn index_dir_for(database_url: &str) -> PathBuf {
    if let Some(path) = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
    {
        let file = path.split('?').next().unwrap_or(path);
        return PathBuf::from(format!("{file}.search"));
    }
    let name: String = database_url
        .rsplit('/')
        .next()
        .unwrap_or("catalog")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    std::env::temp_dir().join(format!("viscount-search-{name}-{}", std::process::id()))
}

/// Whether the index at `dir` belongs to this process alone (removed when it stops).
pub fn is_per_process(database_url: &str) -> bool {
    !(database_url.starts_with("sqlite:"))
}

impl SearchIndex {
    /// Opens (or creates) the index in `dir`.
    pub fn open(dir: &Path) -> Result<Self, SearchError> {
        std::fs::create_dir_all(dir).map_err(|e| SearchError::Directory(e.to_string()))?;
        let mut builder = Schema::builder();
        let fields = Fields {
            id: builder.add_text_field("id", STRING | STORED),
            name: builder.add_text_field("name", TEXT),
            description: builder.add_text_field("description", TEXT),
            attributes: builder.add_text_field("attributes", TEXT),
        };
        let schema = builder.build();
        let directory =
            MmapDirectory::open(dir).map_err(|e| SearchError::Directory(e.to_string()))?;
        let index = Index::open_or_create(directory, schema)?;
        let writer = index.writer_with_num_threads(1, 30_000_000)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Self {
            index,
            reader,
            writer: Arc::new(Mutex::new(writer)),
            fields,
        })
    }

    /// The marker stored with the last commit (product count and latest change).
    pub fn marker(&self) -> Option<String> {
        self.index.load_metas().ok().and_then(|m| m.payload)
    }

    /// How many products the index holds.
    pub fn product_count(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Replaces or removes products, then commits with `marker`. Runs off the async
    /// runtime: commits fsync.
    pub async fn apply(
        &self,
        upserts: Vec<Searchable>,
        deletes: Vec<String>,
        marker: String,
    ) -> Result<(), SearchError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            this.apply_blocking(upserts, deletes, Some(marker), false)
        })
        .await
        .map_err(|_| SearchError::Worker)?
    }

    /// Replaces the whole index with `all` (a rebuild).
    pub async fn rebuild(&self, all: Vec<Searchable>, marker: String) -> Result<(), SearchError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            this.apply_blocking(all, Vec::new(), Some(marker), true)
        })
        .await
        .map_err(|_| SearchError::Worker)?
    }

    fn apply_blocking(
        &self,
        upserts: Vec<Searchable>,
        deletes: Vec<String>,
        marker: Option<String>,
        clear: bool,
    ) -> Result<(), SearchError> {
        let mut writer = self.writer.lock().map_err(|_| SearchError::Worker)?;
        if clear {
            writer.delete_all_documents()?;
        }
        let f = self.fields;
        for id in deletes {
            writer.delete_term(Term::from_field_text(f.id, &id));
        }
        for product in upserts {
            writer.delete_term(Term::from_field_text(f.id, &product.id));
            writer.add_document(doc!(
                f.id => product.id,
                f.name => product.name,
                f.description => product.description,
                f.attributes => product.attributes,
            ))?;
        }
        let mut commit = writer.prepare_commit()?;
        if let Some(marker) = marker {
            commit.set_payload(&marker);
        }
        commit.commit()?;
        self.reader.reload()?;
        Ok(())
    }

    /// The best `limit` product ids matching `query`, best first, with their scores.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<(String, f32)>, SearchError> {
        let f = self.fields;
        let mut analyzer = self.index.tokenizer_for_field(f.name)?;
        let mut words = Vec::new();
        let mut stream = analyzer.token_stream(query);
        while stream.advance() {
            let word = stream.token().text.clone();
            if !words.contains(&word) {
                words.push(word);
            }
        }
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let fields = [(f.name, 3.0f32), (f.attributes, 1.5), (f.description, 1.0)];
        let per_word: Vec<(Occur, Box<dyn Query>)> = words
            .iter()
            .take(16)
            .map(|word| {
                let mut alternatives: Vec<(Occur, Box<dyn Query>)> = Vec::new();
                for (field, boost) in fields {
                    let term = Term::from_field_text(field, word);
                    alternatives.push((
                        Occur::Should,
                        Box::new(BoostQuery::new(
                            Box::new(TermQuery::new(term.clone(), IndexRecordOption::WithFreqs)),
                            boost * 2.0,
                        )),
                    ));
                    if word.chars().count() >= 3 {
                        alternatives.push((
                            Occur::Should,
                            Box::new(BoostQuery::new(
                                Box::new(FuzzyTermQuery::new(term, 1, true)),
                                boost,
                            )),
                        ));
                    }
                }
                (
                    Occur::Must,
                    Box::new(BooleanQuery::new(alternatives)) as Box<dyn Query>,
                )
            })
            .collect();
        let query = BooleanQuery::new(per_word);
        let searcher = self.reader.searcher();
        let hits = searcher.search(&query, &TopDocs::with_limit(limit.max(1)).order_by_score())?;
        let mut results = Vec::with_capacity(hits.len());
        for (score, address) in hits {
            let document: TantivyDocument = searcher.doc(address)?;
            if let Some(id) = document.get_first(f.id).and_then(|v| v.as_str()) {
                results.push((id.to_owned(), score));
            }
        }
        Ok(results)
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

        index
            .apply(vec![], vec!["in-name".into()], "2".into())
            .await
            .expect("delete");
        assert_eq!(
            ids(index.search("lantern", FIRST_HITS).expect("search")),
            vec!["in-description"]
        );
    }

    #[test]
    fn the_index_sits_beside_a_sqlite_file() {
        assert_eq!(
            index_dir_for("sqlite://data/catalog.db?mode=rwc"),
            PathBuf::from("data/catalog.db.search")
        );
        let dir = index_dir_for("postgres://h/vt_catalog");
        assert!(
            dir.ends_with(format!("viscount-search-vt_catalog-{}", std::process::id())),
            "{dir:?}"
        );
    }
}
