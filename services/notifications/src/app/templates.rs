//! Templates: the defaults seeded at start, and an admin's reads, edits (checked to
//! render before they are stored) and previews of an edit (checked the same way,
//! rendered with sample data, stored nowhere).

use super::{NotificationsApp, NotificationsError};
use crate::domain::{Category, Content, Template, TemplateId, TemplateText};
use crate::store;
use crate::templates;

/// A template edit.
#[derive(Debug, Clone)]
pub struct TemplateDraft {
    /// The text.
    pub text: TemplateText,
    /// Category; keeps the stored one (or transactional) when absent.
    pub category: Option<Category>,
    /// Whether messages are made from it.
    pub enabled: bool,
}

impl NotificationsApp {
    /// Stores the default templates that are not stored yet.
    pub async fn seed_templates(&self) -> Result<(), platform::db::Error> {
        let now = self.clock.now_millis();
        let mut tx = self.db.begin().await?;
        for default in templates::defaults() {
            let template = Template::seeded(default.id, default.category, default.text, now);
            store::put_template(&mut tx, &template, false).await?;
        }
        tx.commit().await
    }

    /// Templates by id.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn templates(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Template>, NotificationsError> {
        Ok(store::list_templates(self.db.reader(), after, limit).await?)
    }

    /// A template by id.
    #[tracing::instrument(skip_all, fields(template_id = %id), err(level = "info"))]
    pub async fn template(&self, id: &TemplateId) -> Result<Template, NotificationsError> {
        store::template(self.db.reader(), id)
            .await?
            .ok_or(NotificationsError::UnknownTemplate)
    }

    /// What template `id` with `text` would say: checked as [`Self::put_template`]
    /// checks an edit (refused with the same problems), then rendered with sample
    /// data. Nothing is read or written.
    #[tracing::instrument(skip_all, fields(template_id = %id), err(level = "info"))]
    pub fn preview_template(
        &self,
        id: &TemplateId,
        text: &TemplateText,
    ) -> Result<Content, NotificationsError> {
        self.renderer
            .preview(id, text)
            .map_err(NotificationsError::InvalidTemplate)
    }

    /// Creates or replaces template `id` after checking it renders; returns it and
    /// whether it is new. Messages already created keep the text they were rendered
    /// with; the next ones use the new text.
    #[tracing::instrument(skip_all, fields(template_id = %id), err(level = "info"))]
    pub async fn put_template(
        &self,
        actor: &str,
        id: &TemplateId,
        draft: TemplateDraft,
    ) -> Result<(Template, bool), NotificationsError> {
        let problems = self.renderer.check(id, &draft.text);
        if !problems.is_empty() {
            return Err(NotificationsError::InvalidTemplate(problems));
        }
        let now = self.clock.now_millis();
        let mut tx = self.db.begin().await?;
        let existing = store::template(&mut *tx, id).await?;
        let template = Template::edited(
            existing.as_ref(),
            id.clone(),
            draft.text,
            draft.category,
            draft.enabled,
            actor,
            now,
        );
        let created = store::put_template(&mut tx, &template, true).await?;
        tx.commit().await?;
        Ok((template, created))
    }
}
