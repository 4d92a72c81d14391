//! What every form shares: the field errors shown beside the fields (the console's own
//! checks and the API's problem+json `errors`), and the confirmation asked before a
//! destructive action.

use std::collections::BTreeMap;

use crate::http::render::view;
use serde::Serialize;

use super::render::{PageResult, base, ok};
use super::visitor::Visitor;
use crate::app::ApiProblem;

/// The field answering "yes" on a confirmation page.
const CONFIRMED: &str = "confirmed";

/// Errors by form field, and one for the form as a whole.
#[derive(Debug, Default, Serialize)]
pub struct FieldErrors {
    /// By field name.
    fields: BTreeMap<String, String>,
    /// About the whole form (a conflict, a refusal).
    form: Option<String>,
}

impl FieldErrors {
    /// Adds `message` on `field`.
    pub fn push(&mut self, field: &str, message: impl Into<String>) {
        self.fields
            .entry(field.to_owned())
            .or_insert(message.into());
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.form.is_none()
    }

    /// `text` as a whole number, or `message` on `field`.
    pub fn number(&mut self, text: &str, field: &str, message: &str) -> Option<i64> {
        match text.trim().parse::<i64>() {
            Ok(number) => Some(number),
            Err(_) => {
                self.push(field, message);
                None
            }
        }
    }

    /// The API's `problem` on this form: each of its field errors on the form field
    /// it names, after replacing the first matching prefix of `renames` (the API's
    /// `shipping_address.city` is the form's `city`); without field errors, its detail
    /// for the whole form.
    pub fn from_problem(problem: &ApiProblem, renames: &[(&str, &str)]) -> Self {
        let mut errors = FieldErrors::default();
        for error in &problem.errors {
            let field = renames
                .iter()
                .find_map(|(from, to)| {
                    error
                        .field
                        .strip_prefix(from)
                        .map(|rest| format!("{to}{rest}"))
                })
                .unwrap_or_else(|| error.field.clone());
            errors.push(&field, crate::domain::format::sentence(&error.message));
        }
        if errors.fields.is_empty() {
            errors.form = Some(if problem.detail.is_empty() {
                problem.title.clone()
            } else {
                crate::domain::format::sentence(&problem.detail)
            });
        }
        errors
    }
}

/// Whether the form was sent from its confirmation page.
pub fn confirmed(fields: &BTreeMap<String, String>) -> bool {
    fields.get(CONFIRMED).is_some_and(|v| v == "yes")
}

/// The page asking to confirm a destructive action: what will happen, and a button
/// that sends the same form to `action` again, confirmed.
pub fn confirm_page(
    visitor: &Visitor,
    title: &str,
    message: &str,
    action: &str,
    fields: &BTreeMap<String, String>,
    button: &str,
    back: &str,
) -> PageResult {
    let hidden: Vec<(&String, &String)> = fields
        .iter()
        .filter(|(name, _)| {
            name.as_str() != super::visitor::CSRF_FIELD && name.as_str() != CONFIRMED
        })
        .collect();
    ok(
        "confirm.html",
        view!(base(visitor); title => title, message => message, action => action, hidden => hidden,
            button => button, back => back),
    )
}
