//! The console's client of the public API: every call goes through the gateway's own
//! edge (rate limits, the response cache, the route table), in process, as any other
//! client's request would, carrying the browser's address and the signed-in user's
//! access token.

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use platform::http::ClientIp;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tower::ServiceExt;

/// Most bytes of an API answer the console reads (a page never needs more).
const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;

/// The public API, as the gateway serves it.
#[derive(Clone)]
pub struct Api {
    gateway: Router,
}

/// One field the API found wrong, as the problem's `errors` name it.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
pub struct FieldProblem {
    /// The field (`shipping_address.postal_code`).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// An API answer that is not a success: the problem it carried.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct ApiProblem {
    /// The HTTP status.
    #[serde(default)]
    pub status: u16,
    /// Short summary.
    #[serde(default)]
    pub title: String,
    /// What happened.
    #[serde(default)]
    pub detail: String,
    /// Invalid fields.
    #[serde(default)]
    pub errors: Vec<FieldProblem>,
}

impl ApiProblem {
    fn of(status: StatusCode, body: &[u8]) -> Self {
        let mut problem: ApiProblem = serde_json::from_slice(body).unwrap_or(ApiProblem {
            status: status.as_u16(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            detail: String::new(),
            errors: Vec::new(),
        });
        problem.status = status.as_u16();
        problem
    }

    /// The problem a page shows when the API could not be read at all.
    pub fn unreadable(what: &str) -> Self {
        ApiProblem {
            status: 502,
            title: "Unexpected answer".into(),
            detail: format!("the {what} answer could not be read"),
            errors: Vec::new(),
        }
    }

    /// Whether the caller's credentials were refused (401).
    pub fn unauthorized(&self) -> bool {
        self.status == 401
    }

    /// The message of `field`'s error, if the API named it.
    pub fn field(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|error| error.field == field)
            .map(|error| error.message.as_str())
    }
}

/// One call: what to ask and on whose behalf.
pub struct Call<'a> {
    method: Method,
    path: String,
    token: Option<&'a str>,
    body: Option<(Bytes, &'static str)>,
    headers: HeaderMap,
}

impl<'a> Call<'a> {
    /// `GET path` (with its query).
    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::GET, path)
    }

    /// `POST path` with a JSON body.
    pub fn post(path: impl Into<String>, body: &impl serde::Serialize) -> Self {
        Self::new(Method::POST, path).json(body)
    }

    /// `PUT path` with a JSON body.
    pub fn put(path: impl Into<String>, body: &impl serde::Serialize) -> Self {
        Self::new(Method::PUT, path).json(body)
    }

    /// `DELETE path`.
    pub fn delete(path: impl Into<String>) -> Self {
        Self::new(Method::DELETE, path)
    }

    /// A call of `method` to `path`.
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            token: None,
            body: None,
            headers: HeaderMap::new(),
        }
    }

    /// With a JSON body.
    pub fn json(mut self, body: &impl serde::Serialize) -> Self {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        self.body = Some((Bytes::from(bytes), "application/json"));
        self
    }

    /// With a form-encoded body (OAuth's token endpoint).
    pub fn form(mut self, fields: &[(&str, &str)]) -> Self {
        let encoded = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.body = Some((Bytes::from(encoded), "application/x-www-form-urlencoded"));
        self
    }

    /// As the holder of `token` (an access token), if any.
    pub fn bearer(mut self, token: Option<&'a str>) -> Self {
        self.token = token;
        self
    }

    /// With one more header (`Idempotency-Key`, `Prefer`).
    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.insert(name, value);
        }
        self
    }
}

/// A successful answer: its status and body.
pub struct Answer {
    /// The status (2xx).
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Answer {
    /// The body as `T`.
    pub fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T, ApiProblem> {
        serde_json::from_slice(&self.body).map_err(|err| {
            tracing::warn!(what, error = %err, "API answer does not read");
            ApiProblem::unreadable(what)
        })
    }
}

/// The request of the browser a call is made for: its address, so the gateway's limits
/// count the browser and not the console.
#[derive(Debug, Clone, Copy)]
pub struct OnBehalf {
    /// The browser's address.
    pub client_ip: ClientIp,
}

impl Api {
    /// The API as `gateway` (its edge and route table) serves it.
    pub fn new(gateway: Router) -> Self {
        Self { gateway }
    }

    /// Makes `call` for the browser `on`; a non-2xx answer is its problem.
    pub async fn send(&self, call: Call<'_>, on: OnBehalf) -> Result<Answer, ApiProblem> {
        let mut request = Request::builder().method(call.method).uri(&call.path);
        if let Some(headers) = request.headers_mut() {
            headers.extend(call.headers);
            headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
            if let Some(token) = call.token
                && let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}"))
            {
                headers.insert(header::AUTHORIZATION, value);
            }
            if let Some((_, content_type)) = &call.body {
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            }
        }
        let body = call
            .body
            .map_or_else(Body::empty, |(bytes, _)| Body::from(bytes));
        let mut request = request.body(body).map_err(|err| {
            tracing::warn!(path = %call.path, error = %err, "API call does not build");
            ApiProblem::unreadable("request")
        })?;
        request.extensions_mut().insert(on.client_ip);
        let response = match self.gateway.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, MAX_ANSWER_BYTES)
            .await
            .map_err(|_| ApiProblem::unreadable("API"))?;
        if parts.status.is_success() {
            Ok(Answer {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        } else {
            Err(ApiProblem::of(parts.status, &body))
        }
    }
}
