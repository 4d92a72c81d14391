//! Request extractors whose rejections are problem+json naming what is wrong.
//!
//! [`Json`] answers 415 for a body that is not JSON, 413 past the body limit, 400 for
//! malformed JSON and 422 (with `errors[].field` as a JSON path) for JSON of the wrong
//! shape, including unknown fields of `deny_unknown_fields` types.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::request::Parts;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::problem::{FieldError, Problem};

/// The largest request body any service accepts.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON request or response body.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn media_type_is(
    parts_or_req_ct: Option<&http::HeaderValue>,
    want: &str,
    suffix: Option<&str>,
) -> bool {
    let Some(value) = parts_or_req_ct.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == want || suffix.is_some_and(|s| essence.ends_with(s))
}

async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, Problem> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
            payload_too_large()
        } else {
            Problem::bad_request("the request body could not be read")
        }
    })
}

/// 413 for a body over [`MAX_BODY_BYTES`].
pub fn payload_too_large() -> Problem {
    Problem::new(
        http::StatusCode::PAYLOAD_TOO_LARGE,
        "payload-too-large",
        "Payload too large",
        format!("the request body exceeds {MAX_BODY_BYTES} bytes"),
    )
}

fn unsupported_media_type(want: &str) -> Problem {
    Problem::new(
        http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
        "Unsupported media type",
        format!("the request body must be {want}"),
    )
}

impl<S, T> FromRequest<S> for Json<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !media_type_is(
            req.headers().get(CONTENT_TYPE),
            "application/json",
            Some("+json"),
        ) {
            return Err(unsupported_media_type("application/json"));
        }
        let bytes = body_bytes(req, state).await?;
        parse_json(&bytes).map(Json)
    }
}

/// Parses JSON text into `T`, mapping errors as [`Json`] does.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    // serde lets a struct be read from a positional array; bodies with named fields
    // must be objects.
    let starts_with_array = bytes
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .is_some_and(|b| *b == b'[');
    if starts_with_array && expects_object::<T>() {
        return Err(Problem::invalid_field("body", "must be a JSON object"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        json_problem(&path, &inner)
    })?;
    deserializer
        .end()
        .map_err(|err| Problem::bad_request(format!("malformed JSON: {err}")))?;
    Ok(value)
}

/// `#[serde(default, deserialize_with = "platform::http::extract::object_or_null")]` on an
/// `Option` of a struct nested in a body: serde would read the struct from a positional
/// array too (`"sms": [null, true]`), which no client means; only an object (or `null`,
/// for none) is taken. [`parse_json`] guards the top level the same way.
pub fn object_or_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: DeserializeOwned,
{
    use serde::Deserialize;
    use serde::de::Error;
    match Option::<serde_json::Value>::deserialize(deserializer)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(object @ serde_json::Value::Object(_)) => serde_json::from_value(object)
            .map(Some)
            .map_err(D::Error::custom),
        Some(_) => Err(D::Error::custom("must be a JSON object")),
    }
}

/// Whether `T` is read from a JSON object (a struct or a map), asked of its
/// `Deserialize` impl without any input.
fn expects_object<T: DeserializeOwned>() -> bool {
    use serde::de::Visitor;

    #[derive(Debug)]
    struct Asked {
        object: bool,
    }
    impl std::fmt::Display for Asked {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("shape probe")
        }
    }
    impl std::error::Error for Asked {}
    impl serde::de::Error for Asked {
        fn custom<M: std::fmt::Display>(_: M) -> Self {
            Self { object: false }
        }
    }

    struct Probe;
    impl<'de> serde::Deserializer<'de> for Probe {
        type Error = Asked;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Asked> {
            Err(Asked { object: false })
        }

        fn deserialize_map<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Asked> {
            Err(Asked { object: true })
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            _: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Asked> {
            Err(Asked { object: true })
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct enum
            identifier ignored_any
        }
    }

    matches!(T::deserialize(Probe), Err(Asked { object: true }))
}

fn json_problem(path: &str, err: &serde_json::Error) -> Problem {
    use serde_json::error::Category;
    match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            Problem::bad_request(format!("malformed JSON: {err}"))
        }
        Category::Data => {
            let message = strip_position(&err.to_string());
            Problem::validation(vec![FieldError::new(field_of(path, &message), message)])
        }
    }
}

/// The field a data error is about: the JSON path, or for unknown and missing fields
/// (reported at their parent) the parent path joined with the quoted name.
fn field_of(path: &str, message: &str) -> String {
    let named = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    match (path, named) {
        (".", Some(name)) => name.to_owned(),
        (parent, Some(name)) if !parent.ends_with(name) => format!("{parent}.{name}"),
        (".", None) => "body".to_owned(),
        (path, _) => path.to_owned(),
    }
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// Query-string parameters.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(Query)
            .map_err(|err| {
                let path = err.path().to_string();
                let message = err.into_inner().to_string();
                Problem::validation(vec![FieldError::new(field_of(&path, &message), message)])
            })
    }
}

/// An `application/x-www-form-urlencoded` body (OAuth 2.0 endpoints).
#[derive(Debug, Clone, Copy, Default)]
pub struct Form<T>(pub T);

impl<S, T> FromRequest<S> for Form<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !media_type_is(
            req.headers().get(CONTENT_TYPE),
            "application/x-www-form-urlencoded",
            None,
        ) {
            return Err(unsupported_media_type("application/x-www-form-urlencoded"));
        }
        let bytes = body_bytes(req, state).await?;
        let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(&bytes));
        serde_path_to_error::deserialize(deserializer)
            .map(Form)
            .map_err(|err| {
                let path = err.path().to_string();
                let message = err.into_inner().to_string();
                Problem::validation(vec![FieldError::new(field_of(&path, &message), message)])
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        email: String,
        items: Vec<Item>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        quantity: u32,
    }

    #[test]
    fn malformed_json_is_400() {
        let problem = parse_json::<Body>(b"{\"email\": ").expect_err("must fail");
        assert_eq!(problem.status, 400);
    }

    #[test]
    fn wrong_type_names_the_nested_field() {
        let problem = parse_json::<Body>(br#"{"email":"a","items":[{"quantity":-1}]}"#)
            .expect_err("must fail");
        assert_eq!(problem.status, 422);
        assert_eq!(problem.errors[0].field, "items[0].quantity");
    }

    #[test]
    fn unknown_and_missing_fields_are_named() {
        let unknown =
            parse_json::<Body>(br#"{"email":"a","items":[],"admin":true}"#).expect_err("must fail");
        assert_eq!(unknown.errors[0].field, "admin");
        let missing = parse_json::<Body>(br#"{"items":[]}"#).expect_err("must fail");
        assert_eq!(missing.errors[0].field, "email");
    }

    #[test]
    fn a_positional_array_is_not_an_object() {
        let problem = parse_json::<Item>(b" [1]").expect_err("a struct is not read from an array");
        assert_eq!(problem.status, 422);
        assert_eq!(problem.errors[0].field, "body");
        let items = parse_json::<Vec<u32>>(b"[1]").expect("arrays are fine where expected");
        assert_eq!(items, vec![1]);
    }

    #[test]
    fn trailing_garbage_is_400() {
        let problem = parse_json::<Body>(br#"{"email":"a","items":[]} x"#).expect_err("must fail");
        assert_eq!(problem.status, 400);
    }
}
