//! The knowledge base: admins write articles; every signed-in caller reads the
//! published ones and searches them with typo tolerance; admins see drafts too.
//!
//! The search index (the platform's `fulltext` engine, the catalog's) ranks; the
//! database decides what the caller may see and supplies the articles. After each
//! write here the index is updated with the database's new [`fulltext::Marker`]; a
//! periodic check ([`SupportApp::ensure_index`]) rebuilds it whenever the marker
//! disagrees (another replica's write, a crash between the two commits). A knowledge
//! base holds hundreds of articles, not millions, so a rebuild reads them all rather
//! than the catalog's incremental sync.

use std::collections::HashMap;

use platform::auth::Principal;

use super::{SupportApp, SupportError};
use crate::domain::{Article, ArticleInput};
use crate::store;

/// The most hits one search ranks before the caller's view filters them.
const MOST_HITS: usize = 1_000;

/// The searchable fields of an article and their weights: the title counts most, then
/// the tags, then the text.
pub const LAYOUT: fulltext::Layout = &[("title", 3.0), ("tags", 2.0), ("body", 1.0)];

/// How articles are listed: all (newest first), or ranked by a query.
#[derive(Debug, Clone)]
pub enum ArticleQuery {
    /// Newest first, after the article with this id.
    Newest(Option<String>),
    /// Ranked by `q`, from rank `offset`.
    Search {
        /// The words.
        q: String,
        /// How many ranked results earlier pages held.
        offset: usize,
    },
}

impl SupportApp {
    /// Writes a new article (admins; the handler checks).
    #[tracing::instrument(skip_all, fields(article_id = tracing::field::Empty), err)]
    pub async fn create_article(
        &self,
        caller: &Principal,
        input: ArticleInput,
    ) -> Result<Article, SupportError> {
        let article = Article::write(
            input,
            platform::ids::new_id(),
            caller.subject.clone(),
            self.clock.now_millis(),
        );
        tracing::Span::current().record("article_id", article.id.as_str());
        let mut tx = self.db.begin().await?;
        store::articles::insert(&mut tx, &article).await?;
        tx.commit().await?;
        self.reindex(vec![store::articles::document(&article)], Vec::new())
            .await?;
        Ok(article)
    }

    /// Replaces an article's content (admins).
    #[tracing::instrument(skip_all, fields(article_id = %id), err(level = "debug"))]
    pub async fn revise_article(
        &self,
        id: &str,
        input: ArticleInput,
    ) -> Result<Article, SupportError> {
        let mut tx = self.db.begin().await?;
        let Some(mut article) = store::articles::get(&mut *tx, id).await? else {
            return Err(SupportError::ArticleNotFound);
        };
        article.revise(input, self.clock.now_millis());
        if !store::articles::update(&mut tx, &article).await? {
            return Err(SupportError::ArticleNotFound);
        }
        tx.commit().await?;
        self.reindex(vec![store::articles::document(&article)], Vec::new())
            .await?;
        Ok(article)
    }

    /// Deletes an article (admins).
    #[tracing::instrument(skip_all, fields(article_id = %id), err(level = "debug"))]
    pub async fn delete_article(&self, id: &str) -> Result<(), SupportError> {
        let mut tx = self.db.begin().await?;
        if !store::articles::delete(&mut tx, id).await? {
            return Err(SupportError::ArticleNotFound);
        }
        tx.commit().await?;
        self.reindex(Vec::new(), vec![id.to_owned()]).await?;
        Ok(())
    }

    /// An article the caller may see: published, or any for an admin.
    pub async fn article(&self, caller: &Principal, id: &str) -> Result<Article, SupportError> {
        store::articles::get(self.db.reader(), id)
            .await?
            .filter(|a| a.is_public() || caller.is_admin())
            .ok_or(SupportError::ArticleNotFound)
    }

    /// Up to `limit + 1` articles the caller may see, as `query` asks (one more than
    /// the page, to know whether another follows).
    pub async fn articles(
        &self,
        caller: &Principal,
        query: ArticleQuery,
        limit: usize,
    ) -> Result<Vec<Article>, SupportError> {
        let with_drafts = caller.is_admin();
        let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
        match query {
            ArticleQuery::Newest(after) => {
                Ok(
                    store::articles::list(self.db.reader(), with_drafts, after.as_deref(), fetch)
                        .await?,
                )
            }
            ArticleQuery::Search { q, offset } => {
                let hits = self.index.search_async(&q, MOST_HITS).await?;
                let ids: Vec<String> = hits.into_iter().map(|(id, _)| id).collect();
                let mut found: HashMap<String, Article> =
                    store::articles::by_ids(self.db.reader(), &ids, with_drafts)
                        .await?
                        .into_iter()
                        .map(|a| (a.id.clone(), a))
                        .collect();
                let visible: Vec<Article> = ids
                    .iter()
                    .filter_map(|id| found.remove(id))
                    .skip(offset)
                    .take(limit + 1)
                    .collect();
                if offset == 0 {
                    crate::metrics::search(!visible.is_empty());
                }
                Ok(visible)
            }
        }
    }

    /// Puts articles written here into the index (and takes deleted ones out), marked
    /// with the database's state now.
    async fn reindex(
        &self,
        upserts: Vec<fulltext::Document>,
        deletes: Vec<String>,
    ) -> Result<(), SupportError> {
        let marker = store::articles::marker(self.db.reader()).await?;
        self.index
            .apply(upserts, deletes, marker.to_string())
            .await?;
        Ok(())
    }

    /// Rebuilds the search index from the database when it does not reflect it;
    /// returns whether it did.
    pub async fn ensure_index(&self) -> Result<bool, SupportError> {
        let marker = store::articles::marker(self.db.reader()).await?;
        fulltext::ensure(&self.index, marker, || async {
            let all = store::articles::all(self.db.reader()).await?;
            tracing::info!(
                articles = all.len(),
                "rebuilding the knowledge-base index from the database"
            );
            Ok::<_, SupportError>(all.iter().map(store::articles::document).collect())
        })
        .await
    }
}
