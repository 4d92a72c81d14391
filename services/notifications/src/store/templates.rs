//! Stored templates, one per (key, channel). `updated_by` is set once an admin edited
//! one, so seeding at start never overwrites an edit.

use platform::db::{Executor, Row, Tx};

use crate::domain::{Category, Template, TemplateId, TemplateText};

const TEMPLATE_COLUMNS: &str = "id, template_key, channel, category, subject, body, html, \
                                enabled, created_at, updated_at, updated_by";

fn template_from(row: &Row) -> Result<Template, platform::db::Error> {
    let id: String = row.try_get("id")?;
    let id = TemplateId::try_from(id).map_err(|err| platform::db::Error::ColumnDecode {
        column: "id".into(),
        source: Box::new(err),
    })?;
    Ok(Template {
        id,
        category: super::parsed(row, "category", Category::parse)?,
        text: TemplateText {
            subject: row.try_get("subject")?,
            body: row.try_get("body")?,
            html: row.try_get("html")?,
        },
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        updated_by: row.try_get("updated_by")?,
    })
}

/// Inserts a template, or replaces the stored one with the same id when `replace`.
/// Returns whether it was new.
pub async fn put_template(
    tx: &mut Tx,
    template: &Template,
    replace: bool,
) -> Result<bool, platform::db::Error> {
    let id = template.id.to_string();
    let text = &template.text;
    let inserted = platform::db::query(&format!(
        "INSERT INTO templates ({TEMPLATE_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING"
    ))
    .bind(&id)
    .bind(template.id.key())
    .bind(template.id.channel().as_str())
    .bind(template.category.as_str())
    .bind(&text.subject)
    .bind(&text.body)
    .bind(&text.html)
    .bind(i64::from(template.enabled))
    .bind(template.created_at)
    .bind(template.updated_at)
    .bind(&template.updated_by)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    if !inserted && replace {
        platform::db::query(
            "UPDATE templates SET category = $2, subject = $3, body = $4, html = $5, \
             enabled = $6, updated_at = $7, updated_by = $8 WHERE id = $1",
        )
        .bind(&id)
        .bind(template.category.as_str())
        .bind(&text.subject)
        .bind(&text.body)
        .bind(&text.html)
        .bind(i64::from(template.enabled))
        .bind(template.updated_at)
        .bind(&template.updated_by)
        .execute(&mut **tx)
        .await?;
    }
    Ok(inserted)
}

/// A template by id.
pub async fn template<'e>(
    ex: impl Executor<'e>,
    id: &TemplateId,
) -> Result<Option<Template>, platform::db::Error> {
    platform::db::query(&format!(
        "SELECT {TEMPLATE_COLUMNS} FROM templates WHERE id = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(ex)
    .await?
    .as_ref()
    .map(template_from)
    .transpose()
}

/// The enabled templates of `key`, one per channel, by channel.
pub async fn templates_for_key<'e>(
    ex: impl Executor<'e>,
    key: &str,
) -> Result<Vec<Template>, platform::db::Error> {
    let rows = platform::db::query(&format!(
        "SELECT {TEMPLATE_COLUMNS} FROM templates WHERE template_key = $1 AND enabled = 1 \
         ORDER BY channel"
    ))
    .bind(key)
    .fetch_all(ex)
    .await?;
    rows.iter().map(template_from).collect()
}

/// Templates by id after `after`.
pub async fn list_templates<'e>(
    ex: impl Executor<'e>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Template>, platform::db::Error> {
    let rows = platform::db::query(&format!(
        "SELECT {TEMPLATE_COLUMNS} FROM templates WHERE id > $1 ORDER BY id LIMIT $2"
    ))
    .bind(after.unwrap_or(""))
    .bind(limit)
    .fetch_all(ex)
    .await?;
    rows.iter().map(template_from).collect()
}
