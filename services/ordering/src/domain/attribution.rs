//! Where an order's customer came from: the optional UTM fields and referrer a
//! storefront sends at checkout. Ordering keeps them on the order and puts them in its
//! events, so ingestion can classify Viscount's own orders into marketing channels
//! exactly as it does an external storefront's. Only their shape is checked here; what
//! they mean (the channel) is ingestion's business.

use url::Url;

use crate::domain::{Invalid, Text};

/// The attribution an order carries (the type its events carry).
pub use contracts::ordering::Attribution;

/// Longest value of an attribution field, in characters.
pub const MAX_ATTRIBUTION_CHARS: usize = 500;

/// A checkout's attribution from its parts; errors name the field (without a prefix).
/// Each value given must be 1 to [`MAX_ATTRIBUTION_CHARS`] characters once trimmed,
/// without control characters; the referrer must also be an absolute `http` or `https`
/// URL. No field given at all is no attribution (`None`).
pub fn attribution(
    utm_source: Option<String>,
    utm_medium: Option<String>,
    utm_campaign: Option<String>,
    referrer: Option<String>,
) -> Result<Option<Attribution>, Vec<(&'static str, Invalid)>> {
    let mut errors = Vec::new();
    let mut check = |field: &'static str, value: Option<String>, rule: fn(&str) -> bool| {
        let value = value?;
        match Text::<MAX_ATTRIBUTION_CHARS>::try_from(value) {
            Ok(text) if rule(text.as_str()) => Some(text.into_string()),
            Ok(_) => {
                errors.push((field, Invalid("must be an absolute http(s) URL")));
                None
            }
            Err(invalid) => {
                errors.push((field, invalid));
                None
            }
        }
    };
    let any = |_: &str| true;
    let attribution = Attribution {
        utm_source: check("utm_source", utm_source, any),
        utm_medium: check("utm_medium", utm_medium, any),
        utm_campaign: check("utm_campaign", utm_campaign, any),
        referrer: check("referrer", referrer, is_web_url),
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok((attribution != Attribution::default()).then_some(attribution))
}

/// Whether `text` is an absolute `http`/`https` URL naming a host: a referrer is a
/// page the customer came from, and anything else (a relative path, `javascript:`, a
/// bare word) would only confuse the channel it is classified into.
fn is_web_url(text: &str) -> bool {
    Url::parse(text).is_ok_and(|url| {
        matches!(url.scheme(), "http" | "https") && url.host_str().is_some_and(|h| !h.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(
        result: Result<Option<Attribution>, Vec<(&'static str, Invalid)>>,
    ) -> Vec<&'static str> {
        result
            .expect_err("invalid")
            .iter()
            .map(|(field, _)| *field)
            .collect()
    }

    #[test]
    fn given_values_are_trimmed_and_kept() {
        let kept = attribution(
            Some(" newsletter ".into()),
            Some("email".into()),
            None,
            Some("https://www.Example.com/blog?p=1".into()),
        )
        .expect("valid");
        assert_eq!(
            kept,
            Some(Attribution {
                utm_source: Some("newsletter".into()),
                utm_medium: Some("email".into()),
                utm_campaign: None,
                referrer: Some("https://www.Example.com/blog?p=1".into()),
            })
        );
    }

    #[test]
    fn no_field_is_no_attribution() {
        assert_eq!(attribution(None, None, None, None), Ok(None));
    }

    #[test]
    fn empty_long_and_control_values_are_named() {
        let long = "x".repeat(MAX_ATTRIBUTION_CHARS + 1);
        let at_limit = "é".repeat(MAX_ATTRIBUTION_CHARS);
        assert!(attribution(Some(at_limit), None, None, None).is_ok());
        assert_eq!(
            fields(attribution(
                Some("  ".into()),
                Some(long),
                Some("a\u{7}b".into()),
                None
            )),
            ["utm_source", "utm_medium", "utm_campaign"]
        );
    }

    #[test]
    fn a_referrer_must_be_an_absolute_web_url() {
        let cases = [
            ("https://www.google.com/search?q=x", true),
            ("http://news.example/a", true),
            ("HTTPS://SHOP.EXAMPLE", true),
            ("www.google.com", false),
            ("/relative/path", false),
            ("ftp://files.example/x", false),
            ("javascript:alert(1)", false),
            ("mailto:a@example.com", false),
            ("https://", false),
            ("", false),
        ];
        for (referrer, ok) in cases {
            let result = attribution(None, None, None, Some(referrer.into()));
            if ok {
                assert!(result.is_ok(), "{referrer:?}");
            } else {
                assert_eq!(fields(result), ["referrer"], "{referrer:?}");
            }
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_ATTRIBUTION_CHARS));
        assert_eq!(
            fields(attribution(None, None, None, Some(long))),
            ["referrer"]
        );
    }
}
