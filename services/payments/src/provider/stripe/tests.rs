use super::wire::{MAX_IDEMPOTENCY_KEY_LEN, payments_amount};
use super::*;

fn money(amount: i64, currency: &str) -> Money {
    Money {
        amount,
        currency: currency.to_owned(),
    }
}

fn api(status: u16, kind: &str, code: Option<&str>, decline_code: Option<&str>) -> Failure {
    Failure::Api {
        status,
        error: ApiError {
            kind: Some(kind.to_owned()),
            code: code.map(str::to_owned),
            decline_code: decline_code.map(str::to_owned),
        },
    }
}

#[test]
fn stripes_errors_map_to_failure_reasons() {
    use FailureReason::*;
    let cases = [
        (
            api(
                402,
                "card_error",
                Some("card_declined"),
                Some("generic_decline"),
            ),
            Declined,
        ),
        (
            api(
                402,
                "card_error",
                Some("card_declined"),
                Some("do_not_honor"),
            ),
            Declined,
        ),
        (
            api(
                402,
                "card_error",
                Some("card_declined"),
                Some("insufficient_funds"),
            ),
            InsufficientFunds,
        ),
        (
            api(402, "card_error", Some("card_declined"), Some("fraudulent")),
            Fraud,
        ),
        (
            api(
                402,
                "card_error",
                Some("card_declined"),
                Some("stolen_card"),
            ),
            Fraud,
        ),
        (
            api(402, "card_error", Some("expired_card"), None),
            ExpiredCard,
        ),
        (
            api(402, "card_error", Some("incorrect_cvc"), None),
            Declined,
        ),
        (
            api(402, "card_error", Some("processing_error"), None),
            ProviderError,
        ),
        (
            api(
                402,
                "card_error",
                Some("card_declined"),
                Some("try_again_later"),
            ),
            ProviderError,
        ),
        // localstripe: every error is an invalid_request_error, a decline a 402.
        (
            api(402, "invalid_request_error", Some("card_declined"), None),
            Declined,
        ),
        (
            api(400, "invalid_request_error", Some("resource_missing"), None),
            ProviderError,
        ),
        (api(401, "invalid_request_error", None, None), ProviderError),
        (
            api(429, "invalid_request_error", Some("rate_limit"), None),
            ProviderError,
        ),
        (api(500, "api_error", None, None), ProviderError),
        (api(503, "", None, None), ProviderError),
        (
            Failure::Unavailable("stripe did not answer in time"),
            ProviderError,
        ),
    ];
    for (failure, reason) in cases {
        assert_eq!(failure.decline().reason, reason, "{failure:?}");
    }
    let do_not_honor = api(
        402,
        "card_error",
        Some("card_declined"),
        Some("do_not_honor"),
    );
    assert_eq!(
        do_not_honor.decline().detail,
        "the card was declined (do_not_honor)"
    );
    // Text that is not a code never reaches the detail.
    let odd = api(
        402,
        "card_error",
        Some("card_declined"),
        Some("<b>call us</b>"),
    );
    assert_eq!(odd.decline().detail, "the card was declined");
}

#[test]
fn only_a_bare_or_unexpected_state_400_is_looked_up() {
    assert!(api(400, "invalid_request_error", None, None).is_unexpected_state());
    assert!(
        api(
            400,
            "invalid_request_error",
            Some("payment_intent_unexpected_state"),
            None
        )
        .is_unexpected_state()
    );
    assert!(
        !api(400, "invalid_request_error", Some("amount_too_large"), None).is_unexpected_state()
    );
    assert!(!api(404, "invalid_request_error", None, None).is_unexpected_state());
    assert!(!api(402, "card_error", None, None).is_unexpected_state());
}

#[test]
fn idempotency_keys_are_ours_and_fit_stripe() {
    assert_eq!(
        idempotency_key("capture", "pay-1:capture"),
        "viscount:capture:pay-1:capture"
    );
    assert_ne!(
        idempotency_key("authorize", "k"),
        idempotency_key("refund", "k")
    );
    for key in ["x".repeat(300), "with space".to_owned(), "naïve".to_owned()] {
        let derived = idempotency_key("refund", &key);
        assert!(
            derived.len() <= MAX_IDEMPOTENCY_KEY_LEN
                && derived.starts_with("viscount:refund:sha256:")
                && derived.bytes().all(|b| b.is_ascii_graphic()),
            "{derived}"
        );
        assert_eq!(derived, idempotency_key("refund", &key), "stable");
    }
}

#[test]
fn amounts_are_in_stripes_minor_units() {
    assert_eq!(
        stripe_amount(&money(1999, "USD")),
        Ok((1999, "usd".to_owned()))
    );
    assert_eq!(
        stripe_amount(&money(500, "JPY")),
        Ok((500, "jpy".to_owned()))
    );
    assert_eq!(
        stripe_amount(&money(500, "ISK")),
        Ok((50_000, "isk".to_owned()))
    );
    assert_eq!(
        stripe_amount(&money(5120, "KWD")),
        Ok((5120, "kwd".to_owned()))
    );
    assert!(stripe_amount(&money(5124, "KWD")).is_err());
    assert!(stripe_amount(&money(0, "USD")).is_err());
    assert!(stripe_amount(&money(i64::MAX, "ISK")).is_err());
    assert_eq!(payments_amount(50_000, "isk"), Ok(money(500, "ISK")));
    assert_eq!(payments_amount(1999, "usd"), Ok(money(1999, "USD")));
}

#[test]
fn only_payment_intent_ids_go_into_a_path() {
    assert_eq!(intent_id("pi_3Abc_9"), Ok("pi_3Abc_9"));
    for bad in [
        "",
        "pi_",
        "sbx_auth_1",
        "pi_../../v1/refunds",
        "pi_a?b=c",
        "pi_a/b",
    ] {
        assert!(intent_id(bad).is_err(), "{bad}");
    }
}

#[test]
fn debug_never_shows_the_secret_key() {
    let provider = StripeProvider::from_config(&StripeConfig {
        api_base: "http://127.0.0.1:8420".to_owned(),
        secret_key: Some(Secret::from("sk_test_very_secret")),
        webhook_secret: Some(Secret::from("whsec_very_secret")),
        timeout_ms: 1000,
    })
    .expect("provider");
    let debug = format!("{provider:?}");
    assert!(!debug.contains("very_secret"), "{debug}");
    assert!(debug.contains("127.0.0.1:8420"), "{debug}");
}

#[test]
fn intents_read_from_stripe_and_from_localstripe() {
    // Stripe (API 2024-06-20, latest_charge expanded), captured then refunded.
    let stripe: Intent = serde_json::from_str(
        r#"{"id":"pi_1","object":"payment_intent","status":"succeeded","amount":2500,
            "currency":"usd","amount_capturable":0,"amount_received":2500,
            "latest_charge":{"id":"ch_1","amount":2500,"amount_captured":2500,
            "amount_refunded":1000,"captured":true},"last_payment_error":null}"#,
    )
    .expect("reads");
    let state = stripe.state().expect("state");
    assert_eq!(state.status, IntentStatus::Succeeded);
    assert_eq!(state.captured, money(2500, "USD"));
    assert_eq!(state.refunded, money(1000, "USD"));
    assert_eq!(state.charge.as_deref(), Some("ch_1"));
    // localstripe: no amount_received / amount_capturable / amount_captured.
    let local: Intent = serde_json::from_str(
        r#"{"id":"pi_2","status":"requires_capture","amount":700,"currency":"eur",
            "latest_charge":{"id":"ch_2","amount":700,"amount_refunded":0,"captured":false},
            "next_action":null}"#,
    )
    .expect("reads");
    let state = local.state().expect("state");
    assert_eq!(state.capturable, money(700, "EUR"));
    assert_eq!(state.captured, money(0, "EUR"));
    // An unexpanded charge and a status this version does not know.
    let later: Intent = serde_json::from_str(
        r#"{"id":"pi_3","status":"requires_reauthorization","amount":1,"currency":"usd",
            "latest_charge":"ch_3"}"#,
    )
    .expect("reads");
    assert_eq!(later.charge_id().as_deref(), Some("ch_3"));
    assert_eq!(later.state().map(|s| s.status), Ok(IntentStatus::Unknown));
}
