//! Knowledge-base articles: a title, a text, tags, and whether customers see it yet
//! (a draft is for admins only).

use super::{ArticleBody, Invalid, Title};

/// Most tags on one article.
pub const MAX_TAGS: usize = 20;
/// Longest tag, in characters.
pub const MAX_TAG_LEN: usize = 40;

/// An article's tags: at most [`MAX_TAGS`], each 1 to [`MAX_TAG_LEN`] of letters, digits,
/// `-` and `_`, stored lowercase, each once, in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags(Vec<String>);

impl TryFrom<Vec<String>> for Tags {
    type Error = Invalid;

    fn try_from(raw: Vec<String>) -> Result<Self, Self::Error> {
        if raw.len() > MAX_TAGS {
            return Err(Invalid("must hold at most 20 tags"));
        }
        let mut tags: Vec<String> = Vec::with_capacity(raw.len());
        for tag in raw {
            let tag = tag.trim().to_lowercase();
            if tag.is_empty() || tag.chars().count() > MAX_TAG_LEN {
                return Err(Invalid("each tag must be 1 to 40 characters"));
            }
            if !tag
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
            {
                return Err(Invalid("a tag may contain only letters, digits, - and _"));
            }
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        Ok(Self(tags))
    }
}

impl Tags {
    /// The tags.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// The tags, owned.
    pub fn into_vec(self) -> Vec<String> {
        self.0
    }
}

/// What an article is made of, checked (for creating and replacing one).
#[derive(Debug, Clone)]
pub struct ArticleInput {
    /// Title.
    pub title: Title,
    /// Text.
    pub body: ArticleBody,
    /// Tags.
    pub tags: Tags,
    /// Whether customers see it.
    pub published: bool,
}

/// A knowledge-base article.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Article {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Text.
    pub body: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Whether customers see it.
    pub published: bool,
    /// The admin who wrote it.
    pub author_id: String,
    /// Created (epoch ms).
    pub created_at: i64,
    /// Last change (epoch ms).
    pub updated_at: i64,
}

impl Article {
    /// A new article by `author_id`.
    pub fn write(input: ArticleInput, id: String, author_id: String, now: i64) -> Self {
        Self {
            id,
            title: input.title.into_string(),
            body: input.body.into_string(),
            tags: input.tags.into_vec(),
            published: input.published,
            author_id,
            created_at: now,
            updated_at: now,
        }
    }

    /// Replaces the article's content; its id, author and creation stay.
    pub fn revise(&mut self, input: ArticleInput, now: i64) {
        self.title = input.title.into_string();
        self.body = input.body.into_string();
        self.tags = input.tags.into_vec();
        self.published = input.published;
        // Never backwards, so the search index's marker (latest change) always moves.
        self.updated_at = now.max(self.updated_at + 1);
    }

    /// Whether a caller who is not an admin may see it.
    pub fn is_public(&self) -> bool {
        self.published
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(raw: &[&str]) -> Result<Tags, Invalid> {
        Tags::try_from(raw.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn tags_are_checked_lowercased_and_deduplicated() {
        assert_eq!(
            tags(&["Shipping", "returns", "shipping"])
                .expect("tags")
                .as_slice(),
            ["shipping", "returns"]
        );
        assert!(tags(&[""]).is_err());
        assert!(tags(&["two words"]).is_err());
        assert!(tags(&[&"x".repeat(41)]).is_err());
        let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
        assert!(Tags::try_from(many).is_err());
        assert!(tags(&[]).expect("none").as_slice().is_empty());
    }
}
