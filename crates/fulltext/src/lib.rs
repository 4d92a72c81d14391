//! The platform's full-text search engine: a tantivy index on local disk beside a
//! service's database, typo-tolerant boosted queries, and the marker that says which
//! database state the index reflects. The catalog searches products with it and support
//! searches its knowledge base; each names its searchable fields and their weights
//! ([`Layout`]) and keeps its own index in step with its own database.
//!
//! Why a crate of its own and not a module of `platform`: tantivy is a large dependency
//! (a compile of its own, a few MB in a binary) that only the services with full-text
//! search need; in `platform` every service and tool would build and link it. Why not a
//! module of the catalog: support would then depend on the catalog's crate, and a
//! service depends on another only through its public API.
//!
//! Queries: every word must match some field, exactly or within one typo (words of
//! three letters or more). Exact matches score above fuzzy ones and a match in a field
//! of higher weight above one of lower. The index holds only the searchable text and
//! the document id; what a result shows (and filters on) comes from the database, so
//! results are never stale.
//!
//! Keeping it in step: a write commits the index with a [`Marker`] (document count and
//! latest change in the database). At start, and whenever the marker disagrees with
//! the database's (a crash between a database commit and an index commit, another
//! replica's write), the service updates or rebuilds it ([`ensure`]). Commits fsync, so
//! writes and searches run on tokio's blocking pool, off the async workers.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tantivy::collector::TopDocs;
use tantivy::directory::MmapDirectory;
use tantivy::query::{BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, STORED, STRING, Schema, TEXT, Value};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

/// The most words of a query that count (the rest are ignored), so a pasted paragraph
/// cannot build a query of thousands of clauses.
const MAX_QUERY_WORDS: usize = 16;

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
    /// A document did not have one text per field of the layout.
    #[error("a document has {given} texts for {expected} fields")]
    Shape {
        /// Texts given.
        given: usize,
        /// Fields of the layout.
        expected: usize,
    },
}

/// The searchable fields of an index, each with its weight: a match in a field of
/// weight 3 scores three times one in a field of weight 1. The names are the tantivy
/// field names on disk, so renaming one means a rebuild.
pub type Layout = &'static [(&'static str, f32)];

/// One document: its id and one text per field of the index's [`Layout`], in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The id (the aggregate's id in the database).
    pub id: String,
    /// The texts, one per field of the layout.
    pub texts: Vec<String>,
}

/// Which database state an index reflects: how many documents and the latest change
/// (epoch milliseconds). Stored as `count:latest` with each commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    /// Documents in the database.
    pub count: u64,
    /// The latest change in the database (epoch ms).
    pub latest: i64,
}

impl std::fmt::Display for Marker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.count, self.latest)
    }
}

impl Marker {
    /// Reads a stored marker back; `None` for anything else.
    pub fn parse(raw: &str) -> Option<Self> {
        let (count, latest) = raw.split_once(':')?;
        Some(Self {
            count: count.parse().ok()?,
            latest: latest.parse().ok()?,
        })
    }
}

/// A full-text index on local disk. Clones share it.
#[derive(Clone)]
pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    writer: Arc<Mutex<IndexWriter>>,
    id: Field,
    fields: Arc<[(Field, f32)]>,
}

/// Where the index of the service whose database is `database_url` lives: beside a
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
        .unwrap_or("index")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    std::env::temp_dir().join(format!("viscount-search-{name}-{}", std::process::id()))
}

/// Whether the index of `database_url` belongs to this process alone (to be removed
/// when it stops): every index but a SQLite file's.
pub fn is_per_process(database_url: &str) -> bool {
    !database_url.starts_with("sqlite:")
}

/// A service's index directory ([`index_dir_for`]), and whether it is this process's
/// own ([`is_per_process`]): one value, so each service opens and removes it alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexDir {
    /// The directory.
    pub path: PathBuf,
    own: bool,
}

impl IndexDir {
    /// The index directory of the service whose database is `database_url`.
    pub fn for_database(database_url: &str) -> Self {
        Self {
            path: index_dir_for(database_url),
            own: is_per_process(database_url),
        }
    }

    /// Removes the directory when it is this process's own (call when the service
    /// stops); a SQLite file's index stays beside it for the next start.
    pub fn remove_if_own(&self) -> std::io::Result<()> {
        if self.own {
            std::fs::remove_dir_all(&self.path)
        } else {
            Ok(())
        }
    }
}

impl SearchIndex {
    /// Opens (or creates) the index in `dir` with the searchable fields of `layout`
    /// (blocking: it reads the directory).
    pub fn open(dir: &Path, layout: Layout) -> Result<Self, SearchError> {
        std::fs::create_dir_all(dir).map_err(|e| SearchError::Directory(e.to_string()))?;
        let mut builder = Schema::builder();
        let id = builder.add_text_field("id", STRING | STORED);
        let fields: Arc<[(Field, f32)]> = layout
            .iter()
            .map(|(name, weight)| (builder.add_text_field(name, TEXT), *weight))
            .collect();
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
            id,
            fields,
        })
    }

    /// Opens (or creates) the index in `dir` on the blocking pool.
    pub async fn open_async(dir: PathBuf, layout: Layout) -> Result<Self, SearchError> {
        tokio::task::spawn_blocking(move || Self::open(&dir, layout))
            .await
            .map_err(|_| SearchError::Worker)?
    }

    /// The marker stored with the last commit, as stored.
    pub fn marker(&self) -> Option<String> {
        self.index.load_metas().ok().and_then(|m| m.payload)
    }

    /// Whether the index reflects the database state `marker` describes.
    pub fn is_current(&self, marker: &Marker) -> bool {
        self.marker().as_deref() == Some(marker.to_string().as_str())
    }

    /// How many documents the index holds.
    pub fn doc_count(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Replaces or removes documents, then commits with `marker`.
    pub async fn apply(
        &self,
        upserts: Vec<Document>,
        deletes: Vec<String>,
        marker: String,
    ) -> Result<(), SearchError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.apply_blocking(upserts, deletes, marker, false))
            .await
            .map_err(|_| SearchError::Worker)?
    }

    /// Replaces the whole index with `all` (a rebuild), committed with `marker`.
    pub async fn rebuild(&self, all: Vec<Document>, marker: String) -> Result<(), SearchError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.apply_blocking(all, Vec::new(), marker, true))
            .await
            .map_err(|_| SearchError::Worker)?
    }

    fn apply_blocking(
        &self,
        upserts: Vec<Document>,
        deletes: Vec<String>,
        marker: String,
        clear: bool,
    ) -> Result<(), SearchError> {
        if let Some(bad) = upserts.iter().find(|d| d.texts.len() != self.fields.len()) {
            return Err(SearchError::Shape {
                given: bad.texts.len(),
                expected: self.fields.len(),
            });
        }
        let mut writer = self.writer.lock().map_err(|_| SearchError::Worker)?;
        if clear {
            writer.delete_all_documents()?;
        }
        for id in deletes {
            writer.delete_term(Term::from_field_text(self.id, &id));
        }
        for document in upserts {
            writer.delete_term(Term::from_field_text(self.id, &document.id));
            let mut doc = TantivyDocument::default();
            doc.add_text(self.id, document.id);
            for ((field, _), text) in self.fields.iter().zip(document.texts) {
                doc.add_text(*field, text);
            }
            writer.add_document(doc)?;
        }
        let mut commit = writer.prepare_commit()?;
        commit.set_payload(&marker);
        commit.commit()?;
        self.reader.reload()?;
        Ok(())
    }

    /// The best `limit` document ids matching `query`, best first, with their scores
    /// (blocking; see [`SearchIndex::search_async`]).
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<(String, f32)>, SearchError> {
        let Some((first, _)) = self.fields.first() else {
            return Ok(Vec::new());
        };
        let words = self.words(*first, query)?;
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let per_word: Vec<(Occur, Box<dyn Query>)> = words
            .iter()
            .map(|word| {
                (
                    Occur::Must,
                    Box::new(BooleanQuery::new(self.alternatives(word))) as Box<dyn Query>,
                )
            })
            .collect();
        let query = BooleanQuery::new(per_word);
        let searcher = self.reader.searcher();
        let hits = searcher.search(&query, &TopDocs::with_limit(limit.max(1)).order_by_score())?;
        let mut results = Vec::with_capacity(hits.len());
        for (score, address) in hits {
            let document: TantivyDocument = searcher.doc(address)?;
            if let Some(id) = document.get_first(self.id).and_then(|v| v.as_str()) {
                results.push((id.to_owned(), score));
            }
        }
        Ok(results)
    }

    /// [`SearchIndex::search`] on the blocking pool.
    pub async fn search_async(
        &self,
        query: &str,
        limit: usize,
    ) -> Result<Vec<(String, f32)>, SearchError> {
        let this = self.clone();
        let query = query.to_owned();
        tokio::task::spawn_blocking(move || this.search(&query, limit))
            .await
            .map_err(|_| SearchError::Worker)?
    }

    /// The distinct words of `query` as the index's analyzer cuts them (every field
    /// uses the same one).
    fn words(&self, field: Field, query: &str) -> Result<Vec<String>, SearchError> {
        let mut analyzer = self.index.tokenizer_for_field(field)?;
        let mut words = Vec::new();
        let mut stream = analyzer.token_stream(query);
        while stream.advance() && words.len() < MAX_QUERY_WORDS {
            let word = stream.token().text.clone();
            if !words.contains(&word) {
                words.push(word);
            }
        }
        Ok(words)
    }

    /// Where one word may match: in each field exactly (twice the field's weight) or,
    /// for words of three letters or more, within one edit.
    fn alternatives(&self, word: &str) -> Vec<(Occur, Box<dyn Query>)> {
        let mut alternatives: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (field, weight) in self.fields.iter() {
            let term = Term::from_field_text(*field, word);
            alternatives.push((
                Occur::Should,
                Box::new(BoostQuery::new(
                    Box::new(TermQuery::new(term.clone(), IndexRecordOption::WithFreqs)),
                    weight * 2.0,
                )),
            ));
            if word.chars().count() >= 3 {
                alternatives.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(
                        Box::new(FuzzyTermQuery::new(term, 1, true)),
                        *weight,
                    )),
                ));
            }
        }
        alternatives
    }
}

/// Rebuilds `index` from what `load_all` reads when it does not reflect `marker` (the
/// database's state now); returns whether it rebuilt. For a corpus small enough to read
/// whole; a larger one updates what changed first (see the catalog's sync).
pub async fn ensure<E, F, Fut>(index: &SearchIndex, marker: Marker, load_all: F) -> Result<bool, E>
where
    E: From<SearchError>,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Vec<Document>, E>>,
{
    if index.is_current(&marker) {
        return Ok(false);
    }
    let all = load_all().await?;
    index.rebuild(all, marker.to_string()).await?;
    Ok(true)
}

#[cfg(test)]
mod tests;
