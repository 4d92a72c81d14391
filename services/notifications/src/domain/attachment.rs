//! A file an email carries (a scheduled report), and the rules a file must meet to be
//! attached: a name a mail client can show and save safely, a media type, a size bound.

use super::Invalid;

/// Largest file attached to one message, in bytes. A larger report is not attached;
/// its message links to the download instead. The bound keeps one message (stored
/// base64, and base64 again in the email) well inside what mail servers accept.
pub const MAX_ATTACHMENT_BYTES: usize = 10 * 1024 * 1024;

/// Longest file name kept, in characters.
const MAX_FILE_NAME: usize = 200;

/// The media type of a file whose given type is unusable.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// A file attached to an email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    file_name: String,
    content_type: String,
    content: Vec<u8>,
}

impl Attachment {
    /// An attachment of `content` named `file_name` with media type `content_type`.
    ///
    /// The name is reduced to its last path segment without control characters or
    /// quotes (a client saves it under that name, so `../` must not survive), and the
    /// type falls back to `application/octet-stream` when it is not a media type (the
    /// bytes still arrive intact). Refused: an empty file name or content over
    /// [`MAX_ATTACHMENT_BYTES`].
    pub fn new(file_name: &str, content_type: &str, content: Vec<u8>) -> Result<Self, Invalid> {
        if content.len() > MAX_ATTACHMENT_BYTES {
            return Err(Invalid("the file is too large to attach"));
        }
        let base = file_name
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control() && !matches!(c, '"' | '\''))
            .take(MAX_FILE_NAME)
            .collect::<String>();
        let file_name = base.trim().trim_start_matches('.').trim();
        if file_name.is_empty() {
            return Err(Invalid("the file needs a name"));
        }
        let content_type = if is_media_type(content_type) {
            content_type.trim().to_owned()
        } else {
            OCTET_STREAM.to_owned()
        };
        Ok(Self {
            file_name: file_name.to_owned(),
            content_type,
            content,
        })
    }

    /// An attachment as stored (for the store, which wrote it through [`Attachment::new`]).
    pub fn restore(file_name: String, content_type: String, content: Vec<u8>) -> Self {
        Self {
            file_name,
            content_type,
            content,
        }
    }

    /// The name it is saved under.
    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    /// Its media type, e.g. `text/csv; charset=utf-8`.
    pub fn content_type(&self) -> &str {
        &self.content_type
    }

    /// The file's bytes.
    pub fn content(&self) -> &[u8] {
        &self.content
    }
}

/// Whether `raw` is `type/subtype` with optional `; name=value` parameters, in the
/// characters RFC 2045 allows (a quoted parameter value is not needed by any report).
fn is_media_type(raw: &str) -> bool {
    let token = |part: &str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    let mut parts = raw.trim().split(';');
    let Some((kind, subtype)) = parts.next().and_then(|m| m.split_once('/')) else {
        return false;
    };
    token(kind.trim())
        && token(subtype.trim())
        && parts.all(|parameter| {
            parameter
                .split_once('=')
                .is_some_and(|(name, value)| token(name.trim()) && token(value.trim()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_safe_to_save_and_types_checked() {
        let cases = [
            (
                "report.csv",
                "text/csv; charset=utf-8",
                "report.csv",
                "text/csv; charset=utf-8",
            ),
            (
                "../../etc/passwd",
                "application/pdf",
                "passwd",
                "application/pdf",
            ),
            (
                "C:\\reports\\q1.pdf",
                "application/pdf",
                "q1.pdf",
                "application/pdf",
            ),
            (
                "a\"b\r\n.json",
                "application/json",
                "ab.json",
                "application/json",
            ),
            (".hidden", "text/plain", "hidden", "text/plain"),
            ("x.bin", "not a type", "x.bin", OCTET_STREAM),
            ("x.bin", "text/", "x.bin", OCTET_STREAM),
            ("x.bin", "text/csv; charset", "x.bin", OCTET_STREAM),
            (
                "x.bin",
                "text/csv\r\nBcc: evil@example.com",
                "x.bin",
                OCTET_STREAM,
            ),
        ];
        for (name, content_type, want_name, want_type) in cases {
            let attachment =
                Attachment::new(name, content_type, vec![1, 2, 3]).expect("attachable");
            assert_eq!(
                (attachment.file_name(), attachment.content_type()),
                (want_name, want_type),
                "{name:?} {content_type:?}"
            );
            assert_eq!(attachment.content(), [1, 2, 3]);
        }
        assert!(Attachment::new("../", "text/plain", Vec::new()).is_err());
        assert!(Attachment::new(" ", "text/plain", Vec::new()).is_err());
        assert!(
            Attachment::new(
                "big.pdf",
                "application/pdf",
                vec![0; MAX_ATTACHMENT_BYTES + 1]
            )
            .is_err()
        );
        assert!(
            Attachment::new("max.pdf", "application/pdf", vec![0; MAX_ATTACHMENT_BYTES]).is_ok()
        );
    }
}
