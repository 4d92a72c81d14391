//! The MiniJinja renderer (plain text as written, HTML auto-escaped) and the check of
//! an admin's edit before it is stored.
//!
//! Rendering uses MiniJinja's semi-strict undefined behaviour: printing or iterating a
//! name the context does not have is an error (so a typo never sends "Hello ,"), while
//! `{% if name %}` on a missing value is allowed. An edit to a template whose context is
//! fixed by code (the event templates) is rendered once against a sample of that
//! context, so a bad variable is refused on PUT rather than at the next order.
//!
//! A preview renders an edit the same way, after the same check. A template whose
//! context the sender chooses has no sample to check against: its preview renders with
//! what a send without `data` gives (`user` alone), leniently, so the names the sender
//! would supply print as nothing rather than refusing a template the edit accepts.

use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde_json::Value;

use super::{sample_context, sample_send_context};
use crate::domain::{Channel, Content, TemplateId, TemplateText};

/// Longest subject template.
pub const MAX_SUBJECT: usize = 1_000;
/// Longest body template.
pub const MAX_BODY: usize = 100_000;
/// Longest HTML template.
pub const MAX_HTML: usize = 200_000;
/// Rendering budget (MiniJinja fuel): stops a template that loops for ever.
const FUEL: u64 = 200_000;

/// A part of a template that cannot be stored or rendered, named like the API field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct TemplateError {
    /// `subject`, `body` or `html`.
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

/// Renders templates: plain text as written, HTML with auto-escaping.
pub struct Renderer {
    text: Environment<'static>,
    html: Environment<'static>,
    /// The same, printing undefined names as nothing: for previews of templates whose
    /// context the sender chooses.
    lenient_text: Environment<'static>,
    lenient_html: Environment<'static>,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer").finish_non_exhaustive()
    }
}

impl Default for Renderer {
    fn default() -> Self {
        Self::new()
    }
}

fn environment(escape: AutoEscape, undefined: UndefinedBehavior) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(undefined);
    env.set_fuel(Some(FUEL));
    // Block tags on their own line leave no blank line behind, which matters in text
    // messages where every newline shows.
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    env.set_auto_escape_callback(move |_| escape.clone());
    env
}

impl Renderer {
    /// A renderer with the platform's settings.
    pub fn new() -> Self {
        Self {
            text: environment(AutoEscape::None, UndefinedBehavior::SemiStrict),
            html: environment(AutoEscape::Html, UndefinedBehavior::SemiStrict),
            lenient_text: environment(AutoEscape::None, UndefinedBehavior::Chainable),
            lenient_html: environment(AutoEscape::Html, UndefinedBehavior::Chainable),
        }
    }

    /// Renders every part of `template` with `context`.
    pub fn render(
        &self,
        template: &TemplateText,
        context: &Value,
    ) -> Result<Content, TemplateError> {
        self.render_in(&self.text, &self.html, template, context)
    }

    /// A preview of an edit of template `id`: the same [`Renderer::check`], then a
    /// render with sample data. An event template renders with the sample of its
    /// event's context (the one the check renders against); any other with
    /// [`sample_send_context`], where names the sender would supply print as nothing.
    /// Every problem found when the edit would be refused.
    pub fn preview(
        &self,
        id: &TemplateId,
        template: &TemplateText,
    ) -> Result<Content, Vec<TemplateError>> {
        let problems = self.check(id, template);
        if !problems.is_empty() {
            return Err(problems);
        }
        let rendered = match sample_context(id.key()) {
            Some(sample) => self.render(template, &sample),
            None => self.render_in(
                &self.lenient_text,
                &self.lenient_html,
                template,
                &sample_send_context(),
            ),
        };
        rendered.map_err(|err| vec![err])
    }

    fn render_in(
        &self,
        text: &Environment<'static>,
        html: &Environment<'static>,
        template: &TemplateText,
        context: &Value,
    ) -> Result<Content, TemplateError> {
        let subject = template
            .subject
            .as_deref()
            .map(|source| {
                self.render_part(text, "subject", source, context)
                    // A subject is one header line whatever the data holds.
                    .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
            })
            .transpose()?;
        let body = self.render_part(text, "body", &template.body, context)?;
        let html = template
            .html
            .as_deref()
            .map(|source| self.render_part(html, "html", source, context))
            .transpose()?;
        Ok(Content {
            subject,
            body,
            html,
        })
    }

    fn render_part(
        &self,
        env: &Environment<'static>,
        field: &'static str,
        source: &str,
        context: &Value,
    ) -> Result<String, TemplateError> {
        env.render_str(source, minijinja::Value::from(Serde(context)))
            .map_err(|err| TemplateError {
                field,
                message: describe(&err),
            })
    }

    /// Checks an edit of template `id`: sizes, a subject for email, syntax of every part,
    /// and, for event templates, a render against a sample of the event's context.
    /// Returns every problem found.
    pub fn check(&self, id: &TemplateId, template: &TemplateText) -> Vec<TemplateError> {
        let mut problems = Vec::new();
        let mut problem = |field, message: &str| {
            problems.push(TemplateError {
                field,
                message: message.to_owned(),
            });
        };
        match &template.subject {
            None if id.channel().needs_subject() => {
                problem("subject", "is required for email templates")
            }
            Some(s) if s.trim().is_empty() => problem("subject", "must not be empty"),
            Some(s) if s.chars().count() > MAX_SUBJECT => problem("subject", "is too long"),
            _ => {}
        }
        if template.body.trim().is_empty() {
            problem("body", "must not be empty");
        } else if template.body.chars().count() > MAX_BODY {
            problem("body", "is too long");
        }
        match &template.html {
            Some(_) if id.channel() != Channel::Email => {
                problem("html", "only email templates have an HTML part")
            }
            Some(h) if h.chars().count() > MAX_HTML => problem("html", "is too long"),
            _ => {}
        }
        if !problems.is_empty() {
            return problems;
        }
        let parts = [
            ("subject", &self.text, template.subject.as_deref()),
            ("body", &self.text, Some(template.body.as_str())),
            ("html", &self.html, template.html.as_deref()),
        ];
        for (field, env, source) in parts {
            if let Some(source) = source
                && let Err(err) = env.template_from_str(source)
            {
                problems.push(TemplateError {
                    field,
                    message: describe(&err),
                });
            }
        }
        if problems.is_empty()
            && let Some(sample) = sample_context(id.key())
            && let Err(err) = self.render(template, &sample)
        {
            problems.push(err);
        }
        problems
    }
}

/// An engine error as an API message: what and where, without the template source.
fn describe(err: &minijinja::Error) -> String {
    let what = match err.detail() {
        Some(detail) => format!("{}: {detail}", err.kind()),
        None => err.kind().to_string(),
    };
    match err.line() {
        Some(line) => format!("{what} (line {line})"),
        None => what,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::Recipient;
    use crate::templates::welcome;

    fn text(subject: Option<&str>, body: &str, html: Option<&str>) -> TemplateText {
        TemplateText {
            subject: subject.map(str::to_owned),
            body: body.to_owned(),
            html: html.map(str::to_owned),
        }
    }

    fn id(raw: &str) -> TemplateId {
        TemplateId::try_from(raw.to_owned()).expect("template id")
    }

    #[test]
    fn edits_are_checked_field_by_field() {
        let renderer = Renderer::new();
        let fields = |raw: &str, t: TemplateText| -> Vec<&'static str> {
            renderer
                .check(&id(raw), &t)
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        let cases: Vec<(&str, TemplateText, Vec<&str>)> = vec![
            (
                "welcome.email",
                text(Some("Hi {{ user.name }}"), "Hello", None),
                vec![],
            ),
            ("welcome.email", text(None, "Hello", None), vec!["subject"]),
            (
                "welcome.sms",
                text(None, "Hello {{ user.name }}", None),
                vec![],
            ),
            (
                "welcome.email",
                text(Some("Hi"), "Hello {{ user.name", None),
                vec!["body"],
            ),
            (
                "welcome.email",
                text(Some("{% if %}"), "Hello", None),
                vec!["subject"],
            ),
            (
                "welcome.email",
                text(Some("Hi"), "{{ order.id }}", None),
                vec!["body"],
            ),
            (
                "welcome.email",
                text(Some("Hi"), "x", Some("{{ nope }}")),
                vec!["html"],
            ),
            (
                "welcome.sms",
                text(None, "x", Some("<p>x</p>")),
                vec!["html"],
            ),
            ("welcome.email", text(Some("Hi"), "  ", None), vec!["body"]),
            // A key of the admin's own: any variable may be used, only syntax is checked.
            (
                "newsletter.email",
                text(Some("{{ title }}"), "{{ anything }}", None),
                vec![],
            ),
            (
                "newsletter.email",
                text(Some("{{ title }"), "x", None),
                vec!["subject"],
            ),
        ];
        for (raw, template, want) in cases {
            assert_eq!(fields(raw, template.clone()), want, "{raw} {template:?}");
        }
    }

    #[test]
    fn rendering_fills_the_context_and_escapes_only_html() {
        let renderer = Renderer::new();
        let recipient = Recipient::live(
            "u1".into(),
            "tom@example.com".into(),
            "Tom & <Jerry>".into(),
            Vec::new(),
        );
        let rendered = renderer
            .render(
                &text(
                    Some("Hi\n{{ user.name }}"),
                    "Hello {{ user.name }}",
                    Some("<p>{{ user.name }}</p>"),
                ),
                &welcome(&recipient),
            )
            .expect("renders");
        assert_eq!(rendered.subject.as_deref(), Some("Hi Tom & <Jerry>"));
        assert_eq!(rendered.body, "Hello Tom & <Jerry>");
        assert_eq!(
            rendered.html.as_deref(),
            Some("<p>Tom &amp; &lt;Jerry&gt;</p>")
        );
        let missing = renderer
            .render(&text(None, "{{ headline }}", None), &welcome(&recipient))
            .expect_err("undefined is an error");
        assert_eq!(missing.field, "body");
        let optional = renderer
            .render(
                &text(None, "{% if headline %}x{% endif %}ok", None),
                &welcome(&recipient),
            )
            .expect("a missing value may be tested");
        assert_eq!(optional.body, "ok");
    }

    #[test]
    fn a_preview_renders_an_edit_with_the_sample_its_check_uses() {
        let renderer = Renderer::new();
        let preview = renderer
            .preview(
                &id("order_confirmed.email"),
                &text(
                    Some("Order {{ order.id }}"),
                    "Thanks {{ user.name }}: {{ order.total }}",
                    Some("<p>{{ user.name }}</p>"),
                ),
            )
            .expect("renders");
        assert_eq!(
            preview.subject.as_deref(),
            Some("Order 0190a000-0000-7000-8000-000000000002")
        );
        assert_eq!(preview.body, "Thanks Ada Lovelace: 29.98 USD");
        assert_eq!(preview.html.as_deref(), Some("<p>Ada Lovelace</p>"));

        // Refused as the edit is, field by field.
        let refused = renderer
            .preview(
                &id("welcome.email"),
                &text(Some("Hi"), "{{ order.id }}", Some("{{ x")),
            )
            .expect_err("refused");
        let fields: Vec<&str> = refused.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["html"], "syntax first, as the check reports it");
        let refused = renderer
            .preview(
                &id("welcome.email"),
                &text(Some("Hi"), "{{ order.id }}", None),
            )
            .expect_err("refused");
        assert_eq!(
            refused.iter().map(|e| e.field).collect::<Vec<_>>(),
            ["body"]
        );

        // A key of the admin's own: the sender's names print as nothing.
        let own = renderer
            .preview(
                &id("newsletter.email"),
                &text(
                    Some("{{ title }}"),
                    "Hello {{ user.name }}{{ extra.deep }}!",
                    None,
                ),
            )
            .expect("renders");
        assert_eq!(own.subject.as_deref(), Some(""));
        assert_eq!(own.body, "Hello Ada Lovelace!");
    }

    #[test]
    fn a_template_that_loops_for_ever_runs_out_of_fuel() {
        let renderer = Renderer::new();
        let err = renderer
            .render(
                &text(
                    None,
                    "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}",
                    None,
                ),
                &json!({}),
            )
            .expect_err("out of fuel");
        assert_eq!(err.field, "body");
    }
}
