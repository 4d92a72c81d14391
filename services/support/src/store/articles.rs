//! Knowledge-base articles (`articles`), read into and written from [`Article`], and
//! what the search index is built from.

use fulltext::{Document, Marker};
use platform::db::{Error, Executor, Row, Tx, decoded};

use crate::domain::Article;

const COLUMNS: &str = "id, title, body, tags, published, author_id, created_at, updated_at";

fn article(row: &Row) -> Result<Article, Error> {
    let tags: String = row.try_get("tags")?;
    let published: i64 = row.try_get("published")?;
    Ok(Article {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        body: row.try_get("body")?,
        tags: decoded("tags", serde_json::from_str(&tags))?,
        published: published == 1,
        author_id: row.try_get("author_id")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn tags_json(a: &Article) -> Result<String, Error> {
    serde_json::to_string(&a.tags).map_err(|e| Error::Encode(Box::new(e)))
}

/// What the search index holds of an article: title, tags and text.
pub fn document(a: &Article) -> Document {
    Document {
        id: a.id.clone(),
        texts: vec![a.title.clone(), a.tags.join(" "), a.body.clone()],
    }
}

/// Inserts a new article.
pub async fn insert(tx: &mut Tx, a: &Article) -> Result<(), Error> {
    platform::db::query(
        "INSERT INTO articles (id, title, body, tags, published, author_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&a.id)
    .bind(&a.title)
    .bind(&a.body)
    .bind(tags_json(a)?)
    .bind(i64::from(a.published))
    .bind(&a.author_id)
    .bind(a.created_at)
    .bind(a.updated_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes an article's content back; returns whether it still existed.
pub async fn update(tx: &mut Tx, a: &Article) -> Result<bool, Error> {
    let done = platform::db::query(
        "UPDATE articles SET title = $1, body = $2, tags = $3, published = $4, updated_at = $5 \
         WHERE id = $6",
    )
    .bind(&a.title)
    .bind(&a.body)
    .bind(tags_json(a)?)
    .bind(i64::from(a.published))
    .bind(a.updated_at)
    .bind(&a.id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes an article; returns whether it existed.
pub async fn delete(tx: &mut Tx, id: &str) -> Result<bool, Error> {
    let done = platform::db::query("DELETE FROM articles WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// An article by id.
pub async fn get<'c>(ex: impl Executor<'c>, id: &str) -> Result<Option<Article>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM articles WHERE id = $1");
    platform::db::query(&sql)
        .bind(id)
        .fetch_optional(ex)
        .await?
        .as_ref()
        .map(article)
        .transpose()
}

/// One page of articles, newest first, after the article `after`; drafts only when
/// `with_drafts`.
pub async fn list<'c>(
    ex: impl Executor<'c>,
    with_drafts: bool,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Article>, Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM articles WHERE published >= $1 AND ($2 IS NULL OR id < $2) \
         ORDER BY id DESC LIMIT $3"
    );
    platform::db::query(&sql)
        .bind(if with_drafts { 0i64 } else { 1 })
        .bind(after)
        .bind(limit)
        .fetch_all(ex)
        .await?
        .iter()
        .map(article)
        .collect()
}

/// The articles of `ids` (any order); drafts only when `with_drafts`.
pub async fn by_ids<'c>(
    ex: impl Executor<'c>,
    ids: &[String],
    with_drafts: bool,
) -> Result<Vec<Article>, Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM articles WHERE published >= $1 AND id IN {}",
        platform::db::in_list(2, ids.len())
    );
    let mut query = platform::db::query(&sql).bind(if with_drafts { 0i64 } else { 1 });
    for id in ids {
        query = query.bind(id);
    }
    query.fetch_all(ex).await?.iter().map(article).collect()
}

/// Every article, for a rebuild of the search index.
pub async fn all<'c>(ex: impl Executor<'c>) -> Result<Vec<Article>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM articles ORDER BY id");
    platform::db::query(&sql)
        .fetch_all(ex)
        .await?
        .iter()
        .map(article)
        .collect()
}

/// Which state of the table the search index must reflect: the article count and the
/// latest change.
pub async fn marker<'c>(ex: impl Executor<'c>) -> Result<Marker, Error> {
    // COALESCE and the casts keep one portable integer type (COUNT is BIGINT on
    // PostgreSQL already; MAX over an empty table is NULL).
    let row = platform::db::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n, CAST(COALESCE(MAX(updated_at), 0) AS BIGINT) AS latest \
         FROM articles",
    )
    .fetch_one(ex)
    .await?;
    let count: i64 = row.try_get("n")?;
    Ok(Marker {
        count: decoded("n", u64::try_from(count))?,
        latest: row.try_get("latest")?,
    })
}
