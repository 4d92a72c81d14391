//! Pages rendered from the templates compiled into the binary, the answers of a page
//! that cannot be shown (sign in, 403, 404, the API's problem), and the security
//! headers of every page.

use std::sync::LazyLock;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use http::{HeaderValue, StatusCode, header};
use minijinja::{Environment, Value, context};

use super::visitor::Visitor;
use crate::app::ApiProblem;
use crate::domain::{format, shipping};

/// What every page may load: its own scripts and styles, no inline ones, no frames.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../templates/", $name)))),*]
    };
}

/// A page's context: the layout's `base`, then each value serialized into the
/// template's (an API answer, a form, a list).
macro_rules! view {
    ($base:expr; $($name:ident => $value:expr),* $(,)?) => {
        minijinja::context! { $($name => minijinja::Value::from(minijinja::value::Serde(&$value))),*, ..$base }
    };
}
pub(crate) use view;

/// Every template, by name.
const TEMPLATES: &[(&str, &str)] = templates![
    "base.html",
    "macros.html",
    "error.html",
    "confirm.html",
    "shop/home.html",
    "shop/products.html",
    "shop/product.html",
    "shop/cart.html",
    "shop/cart_lines.html",
    "shop/checkout.html",
    "shop/orders.html",
    "shop/order.html",
    "account/signup.html",
    "account/account.html",
    "account/mfa.html",
    "admin/dashboard.html",
    "admin/products.html",
    "admin/product.html",
    "admin/stock.html",
    "admin/orders.html",
    "admin/order.html",
    "admin/templates.html",
    "admin/template.html",
    "admin/preview.html",
    "admin/users.html",
    "admin/api_keys.html",
    "admin/tenants.html",
    "admin/revenue.html",
    "admin/reconciliation.html",
    "admin/reports.html",
    "admin/shipments.html",
    "admin/returns.html",
    "admin/dead_letters.html",
    "admin/health.html",
];

static PAGES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in TEMPLATES {
        // The templates are part of the binary; one that does not parse fails the
        // console's tests, never a request.
        if let Err(err) = env.add_template(name, source) {
            tracing::error!(template = name, error = %err, "console template does not parse");
        }
    }
    env.add_filter("money", |money: Value| -> String {
        let amount = money
            .get_attr("amount")
            .ok()
            .and_then(|a| i64::try_from(a).ok())
            .unwrap_or(0);
        let currency = money
            .get_attr("currency")
            .ok()
            .and_then(|c| c.as_str().map(str::to_owned))
            .unwrap_or_else(|| "USD".into());
        format::money(amount, &currency)
    });
    env.add_filter("when", |at: String| format::when(&at));
    env.add_filter("words", |name: String| format::words(&name));
    // The first letter up and nothing else touched (`capitalize` lowers the rest, a sku
    // with it).
    env.add_filter("sentence", |text: String| format::sentence(&text));
    env.add_filter("fixed", |value: f64, digits: usize| {
        format!("{value:.digits$}")
    });
    env.add_filter("percent", |ratio: f64| format!("{:.1}%", ratio * 100.0));
    env.add_filter("signed", |value: i64| format!("{value:+}"));
    env.add_function("shipment_actions", |status: String| {
        shipping::shipment_actions(&status)
            .into_iter()
            .map(|(action, label)| Value::from(vec![action, label]))
            .collect::<Vec<_>>()
    });
    env
});

/// Whether every template parses (for the tests).
pub fn templates_parse() -> Result<(), String> {
    let mut env = Environment::new();
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .map_err(|err| format!("{name}: {err:#}"))?;
    }
    Ok(())
}

/// What every page's layout needs: who is signed in and the session's CSRF token.
pub fn base(visitor: &Visitor) -> Value {
    let me = visitor.user().map(|user| {
        context! {
            name => user.name.clone(),
            email => user.email.clone(),
            admin => user.is_admin(),
        }
    });
    // What the page after a redirect confirms (`?saved=1`, `?return=…`).
    let confirmed = if visitor.path.contains("saved=1") {
        Some("Saved.")
    } else if visitor.path.contains("return=") {
        Some("Your return request is sent. We will tell you when it is approved.")
    } else {
        None
    };
    context! {
        me => me,
        csrf => visitor.csrf(),
        path => visitor.path.clone(),
        confirmed => confirmed,
    }
}

/// `template` rendered with `ctx`, answered with `status`.
pub fn page(status: StatusCode, template: &str, ctx: Value) -> Response {
    match PAGES.get_template(template).and_then(|t| t.render(ctx)) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(err) => {
            tracing::error!(template, error = %format!("{err:#}"), "console page not rendered");
            (StatusCode::INTERNAL_SERVER_ERROR, Html(FALLBACK_ERROR)).into_response()
        }
    }
}

/// `template` rendered with `ctx`, 200.
pub fn ok(template: &str, ctx: Value) -> PageResult {
    Ok(page(StatusCode::OK, template, ctx))
}

const FALLBACK_ERROR: &str = "<!doctype html><html lang=\"en\"><title>Error</title>\
    <h1>Something went wrong</h1><p>The page could not be shown.</p></html>";

/// A page's answer.
pub type PageResult = Result<Response, PageError>;

/// Why a page is not shown.
#[derive(Debug)]
pub enum PageError {
    /// Nobody is signed in: to the sign-in, then back to this path.
    SignIn(String),
    /// Signed in, but not allowed (a customer at the admin).
    Forbidden,
    /// No such page or thing.
    NotFound,
    /// A form did not carry its session's CSRF token.
    Csrf,
    /// A form that could not be read.
    BadForm(String),
    /// The API said no or failed.
    Api(ApiProblem),
    /// The session store is down.
    Unavailable,
    /// A bug.
    Internal,
}

impl From<ApiProblem> for PageError {
    fn from(problem: ApiProblem) -> Self {
        match problem.status {
            401 => PageError::SignIn("/".into()),
            403 => PageError::Forbidden,
            404 => PageError::NotFound,
            _ => PageError::Api(problem),
        }
    }
}

/// An error page's content, kept on its response so that [`super::visitor::visit`]
/// can render it again within the layout of whoever is signed in.
#[derive(Debug, Clone)]
pub struct ErrorView {
    status: StatusCode,
    title: String,
    detail: String,
    retry: Option<String>,
}

impl ErrorView {
    /// The error page, with the layout's `base` (none: as nobody signed in).
    pub fn render(&self, base: Option<Value>) -> Response {
        let ctx = context! {
            status => self.status.as_u16(), title => self.title.clone(),
            detail => self.detail.clone(), retry => self.retry.clone(),
        };
        let ctx = match base {
            Some(base) => context! { ..ctx, ..base },
            None => ctx,
        };
        let mut response = page(self.status, "error.html", ctx);
        response.extensions_mut().insert(self.clone());
        response
    }
}

/// An error page answered with `status`.
pub fn error_page(status: StatusCode, title: &str, detail: &str) -> Response {
    error_page_with_retry(status, title, detail, None)
}

/// An error page with a link to try again at `retry`.
pub fn error_page_with_retry(
    status: StatusCode,
    title: &str,
    detail: &str,
    retry: Option<&str>,
) -> Response {
    ErrorView {
        status,
        title: title.to_owned(),
        detail: detail.to_owned(),
        retry: retry.map(str::to_owned),
    }
    .render(None)
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::SignIn(back) => {
                let query = form_urlencoded::Serializer::new(String::new())
                    .append_pair("return_to", &back)
                    .finish();
                Redirect::to(&format!("/auth/login?{query}")).into_response()
            }
            PageError::Forbidden => error_page(
                StatusCode::FORBIDDEN,
                "Not allowed",
                "Your account may not open this page.",
            ),
            PageError::NotFound => error_page(
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing at this address.",
            ),
            PageError::Csrf => error_page(
                StatusCode::FORBIDDEN,
                "Form refused",
                "This form did not come from a page of this site, or it has expired. \
                 Go back, reload the page and send it again.",
            ),
            PageError::BadForm(why) => error_page(StatusCode::BAD_REQUEST, "Bad form", &why),
            PageError::Api(problem) => {
                let status = StatusCode::from_u16(problem.status)
                    .ok()
                    .filter(|s| s.is_client_error() || s.is_server_error())
                    .unwrap_or(StatusCode::BAD_GATEWAY);
                let detail = if problem.detail.is_empty() {
                    "The shop could not do that just now.".to_owned()
                } else {
                    problem.detail.clone()
                };
                error_page(status, &problem.title, &detail)
            }
            PageError::Unavailable => error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable",
                "The shop cannot keep sessions just now. Try again in a moment.",
            ),
            PageError::Internal => error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The page could not be shown.",
            ),
        }
    }
}

/// The console's own 404 page.
pub async fn not_found() -> PageError {
    PageError::NotFound
}

/// The security headers of every console answer; pages (not assets) are never cached,
/// as they show one person's data.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        templates_parse().expect("templates parse");
    }

    #[test]
    fn pages_load_at_most_100_kb_of_script() {
        let bytes = super::super::assets::script_bytes();
        assert!(bytes > 0 && bytes <= 100 * 1024, "{bytes} bytes of script");
    }
}
