//! Attribution's tests: every model against hand-worked journeys, rounding, refunds,
//! the journey rules, the guard, and a property loop over pseudo-random journeys.

use std::collections::BTreeMap;

use contracts::ingestion::Channel;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use super::*;

/// The conversion instant every test journey ends at.
const AT: OffsetDateTime = datetime!(2025-03-01 12:00 UTC);

fn touch(days_before: i64, channel: Channel) -> Touch {
    Touch {
        at: AT - Duration::days(days_before),
        channel,
    }
}

fn allocations(pairs: &[(Channel, i64)]) -> Vec<Allocation> {
    pairs
        .iter()
        .map(|&(channel, amount)| Allocation { channel, amount })
        .collect()
}

fn alloc(model: Model, journey: &[Touch], amount: i64) -> Vec<Allocation> {
    allocate(model, journey, AT, amount, &Settings::default())
}

fn negated(allocations: &[Allocation]) -> Vec<Allocation> {
    allocations
        .iter()
        .map(|a| Allocation {
            channel: a.channel,
            amount: -a.amount,
        })
        .collect()
}

use Channel::{Affiliate, Direct, Email, OrganicSearch, PaidSearch, PaidSocial, Referral};

#[test]
fn models_are_named_as_the_api_names_them() {
    let names: Vec<&str> = Model::ALL.iter().map(|m| m.as_str()).collect();
    assert_eq!(
        names,
        [
            "last_touch",
            "first_touch",
            "linear",
            "time_decay",
            "position_based"
        ]
    );
    for model in Model::ALL {
        assert_eq!(Model::parse(model.as_str()), Some(model));
        assert_eq!(
            serde_json::to_value(model).ok(),
            Some(serde_json::Value::from(model.as_str()))
        );
    }
    assert_eq!(Model::parse("Last_Touch"), None);
    assert_eq!(Model::parse("u_shaped"), None);
}

#[test]
fn default_settings_are_thirty_days_back_and_a_week_of_half_life() {
    let settings = Settings::default();
    assert_eq!(settings.lookback, Duration::days(30));
    assert_eq!(settings.half_life, Duration::days(7));
}

#[test]
fn last_touch_gives_everything_to_the_last_touch() {
    let journey = [touch(3, PaidSearch), touch(1, Email), touch(0, Referral)];
    assert_eq!(
        alloc(Model::LastTouch, &journey, 1000),
        allocations(&[(Referral, 1000)])
    );
}

#[test]
fn first_touch_gives_everything_to_the_first_touch() {
    let journey = [touch(3, PaidSearch), touch(1, Email), touch(0, Referral)];
    assert_eq!(
        alloc(Model::FirstTouch, &journey, 1000),
        allocations(&[(PaidSearch, 1000)])
    );
}

#[test]
fn linear_shares_per_touch_and_sums_per_channel() {
    // 4 touches, 1000 / 4 = 250 each; paid search has two of them: 500.
    let journey = [
        touch(4, PaidSearch),
        touch(3, Email),
        touch(2, PaidSearch),
        touch(0, Referral),
    ];
    assert_eq!(
        alloc(Model::Linear, &journey, 1000),
        allocations(&[(PaidSearch, 500), (Email, 250), (Referral, 250)])
    );
}

#[test]
fn a_hundred_cents_over_three_equal_channels_is_34_33_33() {
    // 100 / 3 = 33.33…: floors 33 + 33 + 33 = 99, one cent left, three equal
    // remainders of 1/3, so the earliest channel in Channel order (paid search) gets it,
    // whatever the order of the touches.
    let expected = allocations(&[(PaidSearch, 34), (Email, 33), (Referral, 33)]);
    let forwards = [touch(2, PaidSearch), touch(1, Email), touch(0, Referral)];
    let backwards = [touch(2, Referral), touch(1, Email), touch(0, PaidSearch)];
    assert_eq!(alloc(Model::Linear, &forwards, 100), expected);
    assert_eq!(alloc(Model::Linear, &backwards, 100), expected);
    let equal = [(Referral, 1.0), (Email, 1.0), (PaidSearch, 1.0)];
    assert_eq!(split(100, &equal), expected);
}

#[test]
fn a_refund_mirrors_its_conversion() {
    let journey = [touch(2, PaidSearch), touch(1, Email), touch(0, Referral)];
    assert_eq!(
        alloc(Model::Linear, &journey, -100),
        allocations(&[(PaidSearch, -34), (Email, -33), (Referral, -33)])
    );
    for model in Model::ALL {
        for amount in [1, 2, 7, 100, 12_345, 999_999_999] {
            assert_eq!(
                alloc(model, &journey, -amount),
                negated(&alloc(model, &journey, amount)),
                "{} of {amount}",
                model.as_str()
            );
        }
    }
}

#[test]
fn time_decay_halves_the_weight_of_a_touch_one_half_life_older() {
    // Weights 2^(-7/7) = 1/2 for email (7 days old) and 2^0 = 1 for paid search (now):
    // shares 1/3 and 2/3 exactly, so 900 → 300 / 600.
    let journey = [touch(7, Email), touch(0, PaidSearch)];
    let shares = weights(Model::TimeDecay, &journey, AT, &Settings::default());
    assert_eq!(shares.len(), 2);
    assert_eq!(shares[0].0, PaidSearch);
    assert_eq!(shares[1].0, Email);
    assert_eq!(
        shares[1].1 * 2.0,
        shares[0].1,
        "exactly half, no float drift"
    );
    assert_eq!(
        alloc(Model::TimeDecay, &journey, 900),
        allocations(&[(PaidSearch, 600), (Email, 300)])
    );
}

#[test]
fn time_decay_over_two_half_lives() {
    // Weights 1/4 (email, 14 days), 1/2 (affiliate, 7 days), 1 (paid search, now):
    // total 7/4, shares 1/7, 2/7, 4/7, so 700 → 100 / 200 / 400.
    let journey = [touch(14, Email), touch(7, Affiliate), touch(0, PaidSearch)];
    assert_eq!(
        alloc(Model::TimeDecay, &journey, 700),
        allocations(&[(PaidSearch, 400), (Email, 100), (Affiliate, 200)])
    );
}

#[test]
fn time_decay_between_half_lives_is_split_in_fixed_point() {
    // Email 3.5 days old weighs 2^-0.5 = 0.70711 against paid search's 1: shares
    // 0.41421 and 0.58579, so 1000 → 414.21 / 585.79; floors 414 + 585, and the unit
    // left goes to paid search's larger remainder (0.79 against 0.21).
    let journey = [
        Touch {
            at: AT - Duration::hours(84),
            channel: Email,
        },
        touch(0, PaidSearch),
    ];
    assert_eq!(
        alloc(Model::TimeDecay, &journey, 1000),
        allocations(&[(PaidSearch, 586), (Email, 414)])
    );
}

#[test]
fn time_decay_follows_the_configured_half_life() {
    // Half-life 1 day: email 2 days old weighs 1/4 against referral's 1: 1/5 and 4/5.
    let settings = Settings {
        half_life: Duration::days(1),
        ..Settings::default()
    };
    let journey = [touch(2, Email), touch(0, Referral)];
    assert_eq!(
        allocate(Model::TimeDecay, &journey, AT, 1000, &settings),
        allocations(&[(Email, 200), (Referral, 800)])
    );
}

#[test]
fn time_decay_of_a_journey_ending_before_the_conversion_keeps_the_ratios() {
    // A direct order keeps the journey's own last touch (1 day old): ages 8 and 1 days
    // still differ by one half-life, so the shares are 1/3 and 2/3 as if it ended now.
    let journey = [touch(8, Email), touch(1, PaidSearch)];
    assert_eq!(
        alloc(Model::TimeDecay, &journey, 300),
        allocations(&[(PaidSearch, 200), (Email, 100)])
    );
    // Ages of thousands of half-lives do not underflow every weight to zero.
    let settings = Settings {
        lookback: Duration::days(3650),
        half_life: Duration::minutes(1),
    };
    let ancient = [touch(3000, Email), touch(3000, PaidSearch)];
    assert_eq!(
        allocate(Model::TimeDecay, &ancient, AT, 10, &settings),
        allocations(&[(PaidSearch, 5), (Email, 5)])
    );
}

#[test]
fn time_decay_with_no_half_life_credits_only_the_youngest_touches() {
    let settings = Settings {
        half_life: Duration::ZERO,
        ..Settings::default()
    };
    let journey = [touch(3, Email), touch(0, Referral), touch(0, PaidSocial)];
    assert_eq!(
        allocate(Model::TimeDecay, &journey, AT, 10, &settings),
        allocations(&[(PaidSocial, 5), (Referral, 5)])
    );
}

#[test]
fn position_based_with_one_touch_gives_it_everything() {
    assert_eq!(
        alloc(Model::PositionBased, &[touch(0, Email)], 999),
        allocations(&[(Email, 999)])
    );
}

#[test]
fn position_based_with_two_touches_halves() {
    // 101 / 2 = 50.5 each: floors 50 + 50, one cent left, equal remainders of exactly
    // 0.5, so paid search (before email in Channel order) gets 51.
    let journey = [touch(1, Email), touch(0, PaidSearch)];
    assert_eq!(
        alloc(Model::PositionBased, &journey, 101),
        allocations(&[(PaidSearch, 51), (Email, 50)])
    );
    assert_eq!(
        alloc(Model::PositionBased, &journey, -101),
        allocations(&[(PaidSearch, -51), (Email, -50)])
    );
}

#[test]
fn position_based_with_three_touches_is_40_20_40() {
    let journey = [touch(2, PaidSearch), touch(1, Email), touch(0, Referral)];
    assert_eq!(
        alloc(Model::PositionBased, &journey, 1000),
        allocations(&[(PaidSearch, 400), (Email, 200), (Referral, 400)])
    );
}

#[test]
fn position_based_with_five_touches_spreads_twenty_percent_over_the_middle() {
    // First 40 % (400) to paid search, last 40 % (400) to referral, 200 over the three
    // middle touches, 66.67 each: email (two of them) 133.33, affiliate 66.67. Floors
    // 400 + 133 + 66 + 400 = 999; the cent left goes to the largest remainder, affiliate's
    // 0.67 against email's 0.33.
    let journey = [
        touch(4, PaidSearch),
        touch(3, Email),
        touch(2, Affiliate),
        touch(1, Email),
        touch(0, Referral),
    ];
    assert_eq!(
        alloc(Model::PositionBased, &journey, 1000),
        allocations(&[
            (PaidSearch, 400),
            (Email, 133),
            (Affiliate, 67),
            (Referral, 400)
        ])
    );
}

#[test]
fn position_based_sums_the_ends_when_they_share_a_channel() {
    // Email first and last: 40 + 40 = 80 %; the middle referral 20 %.
    let journey = [touch(2, Email), touch(1, Referral), touch(0, Email)];
    assert_eq!(
        alloc(Model::PositionBased, &journey, 500),
        allocations(&[(Email, 400), (Referral, 100)])
    );
}

#[test]
fn weights_sum_to_one_in_channel_order() {
    let journey = [
        touch(9, Referral),
        touch(5, OrganicSearch),
        touch(2, Email),
        touch(0, PaidSearch),
    ];
    for model in Model::ALL {
        let shares = weights(model, &journey, AT, &Settings::default());
        let sum: f64 = shares.iter().map(|&(_, w)| w).sum();
        assert!((sum - 1.0).abs() < 1e-12, "{}: {sum}", model.as_str());
        assert!(shares.windows(2).all(|pair| pair[0].0 < pair[1].0));
        assert!(shares.iter().all(|&(_, w)| w > 0.0));
    }
    assert!(weights(Model::Linear, &[], AT, &Settings::default()).is_empty());
    assert!(alloc(Model::Linear, &[], 100).is_empty());
}

#[test]
fn the_journey_is_the_lookback_window_oldest_first_then_the_order_itself() {
    let settings = Settings::default();
    let touchpoints = [
        touch(0, Referral),
        touch(31, PaidSocial), // before the window
        touch(30, Affiliate),  // exactly on its edge: kept
        Touch {
            at: AT + Duration::hours(1), // after the conversion
            channel: OrganicSearch,
        },
        touch(5, Email),
    ];
    assert_eq!(
        journey(&touchpoints, AT, PaidSearch, &settings),
        vec![
            touch(30, Affiliate),
            touch(5, Email),
            touch(0, Referral),
            touch(0, PaidSearch),
        ]
    );
    let shorter = Settings {
        lookback: Duration::days(7),
        ..settings
    };
    assert_eq!(
        journey(&touchpoints, AT, PaidSearch, &shorter),
        vec![touch(5, Email), touch(0, Referral), touch(0, PaidSearch)]
    );
}

#[test]
fn simultaneous_touches_are_ordered_by_channel_whatever_their_arrival() {
    let one = [touch(2, Referral), touch(2, PaidSearch), touch(2, Email)];
    let other = [touch(2, Email), touch(2, Referral), touch(2, PaidSearch)];
    let settings = Settings::default();
    let expected = vec![
        touch(2, PaidSearch),
        touch(2, Email),
        touch(2, Referral),
        touch(0, Affiliate),
    ];
    assert_eq!(journey(&one, AT, Affiliate, &settings), expected);
    assert_eq!(journey(&other, AT, Affiliate, &settings), expected);
}

#[test]
fn a_direct_order_never_takes_credit_from_a_known_source() {
    let settings = Settings::default();
    let touchpoints = [touch(3, Email)];
    assert_eq!(
        journey(&touchpoints, AT, Direct, &settings),
        vec![touch(3, Email)]
    );
    let path = journey(&touchpoints, AT, Direct, &settings);
    assert_eq!(
        allocate(Model::LastTouch, &path, AT, 100, &settings),
        allocations(&[(Email, 100)])
    );
    // With nothing else in the window, direct is the journey.
    assert_eq!(journey(&[], AT, Direct, &settings), vec![touch(0, Direct)]);
    assert_eq!(
        journey(&[touch(40, Email)], AT, Direct, &settings),
        vec![touch(0, Direct)]
    );
    // Any other own channel is the last touch.
    assert_eq!(
        journey(&touchpoints, AT, Referral, &settings),
        vec![touch(3, Email), touch(0, Referral)]
    );
    // Direct touchpoints are ordinary touches; only the order's own direct yields.
    assert_eq!(
        journey(&[touch(1, Direct)], AT, Email, &settings),
        vec![touch(1, Direct), touch(0, Email)]
    );
}

#[test]
fn odd_lookbacks_do_not_panic() {
    let touchpoints = [touch(3, Email)];
    let negative = Settings {
        lookback: Duration::days(-1),
        ..Settings::default()
    };
    assert_eq!(
        journey(&touchpoints, AT, Referral, &negative),
        vec![touch(0, Referral)]
    );
    let endless = Settings {
        lookback: Duration::MAX,
        ..Settings::default()
    };
    assert_eq!(
        journey(&touchpoints, AT, Referral, &endless),
        vec![touch(3, Email), touch(0, Referral)]
    );
}

#[test]
fn split_keeps_tiny_shares_and_leaves_out_zero_weights() {
    // Email's share of 10 is 1e-9 cents: it rounds to 0 but keeps its row; referral's
    // weight of 0 (and the unusable NaN and negative ones) give no row at all.
    let weights = [
        (PaidSearch, 1.0),
        (Email, 1e-10),
        (Referral, 0.0),
        (Affiliate, f64::NAN),
        (PaidSocial, -1.0),
        (OrganicSearch, f64::INFINITY),
    ];
    assert_eq!(
        split(10, &weights),
        allocations(&[(PaidSearch, 10), (Email, 0)])
    );
    assert!(split(10, &[]).is_empty());
    assert!(split(10, &[(Email, 0.0), (Referral, f64::NAN)]).is_empty());
}

#[test]
fn split_sums_a_channel_named_twice_and_needs_no_normalization() {
    // 1 + 1 for email against 2 for referral: half each.
    let weights = [(Email, 1.0), (Referral, 2.0), (Email, 1.0)];
    assert_eq!(
        split(7, &weights),
        allocations(&[(Email, 4), (Referral, 3)])
    );
}

#[test]
fn split_of_zero_is_zeros_and_extreme_amounts_still_sum() {
    let equal = [(PaidSearch, 1.0), (Email, 1.0), (Referral, 1.0)];
    assert_eq!(
        split(0, &equal),
        allocations(&[(PaidSearch, 0), (Email, 0), (Referral, 0)])
    );
    for amount in [i64::MAX, i64::MIN, i64::MIN + 1] {
        let parts = split(amount, &equal);
        assert_eq!(check_sum(&parts, amount), Ok(()), "{amount}");
    }
}

#[test]
fn split_breaks_exact_ties_by_channel_even_through_float_noise() {
    // Linear shares 1/6, 3/6, 2/6 of 3: exactly 0.5, 1.5 and 1.0. The two halves tie, and
    // the tie goes to paid search (first in Channel order) although 1/6 as an f64 times
    // 3 comes out just under 0.5 in binary fixed point.
    let shares = [(PaidSearch, 1.0 / 6.0), (Email, 0.5), (Referral, 2.0 / 6.0)];
    assert_eq!(
        split(3, &shares),
        allocations(&[(PaidSearch, 1), (Email, 1), (Referral, 1)])
    );
}

#[test]
fn split_keeps_exact_ties_at_large_amounts() {
    // Shares 1/25, 2/25, 1/25, 11/25, 10/25 of 992,482,110 (992,482,110 / 25 =
    // 39,699,284.4): remainders 0.4, 0.8, 0.4, 0.4 and 0. Floors sum to 992,482,108; the
    // two units left go to paid social (0.8), then to organic search, first of the three
    // tied at exactly 0.4. In 2^-52 fixed point the float error at this size (~1e-7 of a
    // unit) would decide that tie instead.
    let shares = [
        (OrganicSearch, 1.0 / 25.0),
        (PaidSocial, 2.0 / 25.0),
        (Channel::OrganicSocial, 1.0 / 25.0),
        (Email, 11.0 / 25.0),
        (Affiliate, 10.0 / 25.0),
    ];
    assert_eq!(
        split(992_482_110, &shares),
        allocations(&[
            (OrganicSearch, 39_699_285),
            (PaidSocial, 79_398_569),
            (Channel::OrganicSocial, 39_699_284),
            (Email, 436_692_128),
            (Affiliate, 396_992_844),
        ])
    );
}

#[test]
fn check_sum_accepts_an_exact_split_and_refuses_anything_else() {
    let good = allocations(&[(PaidSearch, 34), (Email, 33), (Referral, 33)]);
    assert_eq!(check_sum(&good, 100), Ok(()));
    assert_eq!(check_sum(&negated(&good), -100), Ok(()));
    assert_eq!(
        check_sum(&allocations(&[(Email, 100), (Referral, 0)]), 100),
        Ok(())
    );
    assert_eq!(check_sum(&[], 0), Ok(()));

    // One cent short.
    let short = allocations(&[(PaidSearch, 33), (Email, 33), (Referral, 33)]);
    assert_eq!(
        check_sum(&short, 100),
        Err(SumMismatch {
            expected: 100,
            found: 99
        })
    );
    // The right sum, but one part against the amount's sign.
    let opposed = allocations(&[(Email, 150), (Referral, -50)]);
    assert_eq!(
        check_sum(&opposed, 100),
        Err(SumMismatch {
            expected: 100,
            found: 100
        })
    );
    // A refund allocated as a sale.
    assert!(check_sum(&good, -100).is_err());
    // Nothing allocated of something, and something of nothing.
    assert!(check_sum(&[], 100).is_err());
    assert!(check_sum(&allocations(&[(Email, 5), (Referral, -5)]), 0).is_err());
    // Sums beyond i64 are reported saturated, not wrapped.
    let huge = allocations(&[(Email, i64::MAX), (Referral, i64::MAX)]);
    assert_eq!(
        check_sum(&huge, i64::MAX),
        Err(SumMismatch {
            expected: i64::MAX,
            found: i64::MAX
        })
    );
    let message = SumMismatch {
        expected: 100,
        found: 99,
    }
    .to_string();
    assert!(
        message.contains("100") && message.contains("99"),
        "{message}"
    );
}

/// A tiny deterministic generator (Knuth's MMIX LCG), so the property loop needs no
/// `rand` and fails the same way every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// The exact integer numerators of the rational models, computed independently of the
/// module's float path.
fn exact_numerators(model: Model, journey: &[Touch]) -> BTreeMap<Channel, i128> {
    let mut credit = BTreeMap::new();
    let mut give = |channel, n: i128| *credit.entry(channel).or_insert(0) += n;
    let n = journey.len() as i128;
    match model {
        Model::LastTouch => give(journey[journey.len() - 1].channel, 1),
        Model::FirstTouch => give(journey[0].channel, 1),
        Model::Linear => journey.iter().for_each(|t| give(t.channel, 1)),
        Model::PositionBased if n <= 2 => journey.iter().for_each(|t| give(t.channel, 1)),
        Model::PositionBased => {
            for (i, t) in journey.iter().enumerate() {
                let ends = i == 0 || i == journey.len() - 1;
                give(t.channel, if ends { 2 * (n - 2) } else { 1 });
            }
        }
        Model::TimeDecay => unreachable!("not a rational model"),
    }
    credit
}

/// Largest-remainder rounding in exact rational arithmetic: the reference `split` must
/// agree with.
fn exact_split(amount: i64, numerators: &BTreeMap<Channel, i128>) -> Vec<Allocation> {
    let total: i128 = numerators.values().sum();
    let magnitude = i128::from(amount).abs();
    let mut parts: Vec<(Channel, i128, i128)> = numerators
        .iter()
        .map(|(&c, &n)| (c, magnitude * n / total, magnitude * n % total))
        .collect();
    let left = magnitude - parts.iter().map(|p| p.1).sum::<i128>();
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by(|&a, &b| parts[b].2.cmp(&parts[a].2).then(a.cmp(&b)));
    for &i in order.iter().take(left as usize) {
        parts[i].1 += 1;
    }
    parts
        .into_iter()
        .map(|(channel, units, _)| Allocation {
            channel,
            amount: (units * i128::from(amount.signum())) as i64,
        })
        .collect()
}

#[test]
fn every_model_splits_random_journeys_exactly() {
    let channels = Channel::ALL;
    let settings = Settings::default();
    let mut rng = Lcg(0x5eed);
    for round in 0..3000 {
        let len = 1 + rng.below(12) as usize;
        // Few distinct channels and coarse times make ties (the hard case) common.
        let distinct = 1 + rng.below(5);
        let touchpoints: Vec<Touch> = (0..len)
            .map(|_| Touch {
                at: AT - Duration::hours(rng.below(24 * 35) as i64 / 6 * 6),
                channel: channels[rng.below(distinct) as usize],
            })
            .collect();
        let own = channels[rng.below(channels.len() as u64) as usize];
        let path = journey(&touchpoints, AT, own, &settings);
        let amount = match rng.below(4) {
            0 => rng.below(10) as i64,
            1 => rng.below(1_000) as i64,
            _ => rng.below(1_000_000_000) as i64,
        };
        for model in Model::ALL {
            let context = format!("round {round}, {}, {amount}", model.as_str());
            let parts = allocate(model, &path, AT, amount, &settings);
            assert_eq!(check_sum(&parts, amount), Ok(()), "{context}");
            assert!(parts.iter().all(|a| a.amount >= 0), "{context}");
            assert!(
                parts.windows(2).all(|w| w[0].channel < w[1].channel),
                "{context}"
            );
            let refund = allocate(model, &path, AT, -amount, &settings);
            assert_eq!(refund, negated(&parts), "{context}");
            assert_eq!(check_sum(&refund, -amount), Ok(()), "{context}");

            // Each part is within one unit of its exact share.
            let shares = weights(model, &path, AT, &settings);
            assert_eq!(shares.len(), parts.len(), "{context}");
            for (&(channel, share), part) in shares.iter().zip(&parts) {
                assert_eq!(channel, part.channel, "{context}");
                let exact = amount as f64 * share;
                assert!((part.amount as f64 - exact).abs() < 1.0 + 1e-6, "{context}");
            }
            // The rational models agree unit for unit with exact rational arithmetic,
            // ties included.
            if model != Model::TimeDecay {
                let reference = exact_split(amount, &exact_numerators(model, &path));
                assert_eq!(parts, reference, "{context}");
            }
        }
    }
}

#[test]
fn shares_are_recognized_as_fractions_only_when_they_are_ones() {
    assert_eq!(as_fraction(1.0 / 3.0), Some((1, 3)));
    assert_eq!(as_fraction(11.0 / 25.0), Some((11, 25)));
    assert_eq!(as_fraction(0.0), Some((0, 1)));
    assert_eq!(as_fraction(1.0), Some((1, 1)));
    assert_eq!(
        as_fraction(999_999.0 / 1_000_003.0),
        Some((999_999, 1_000_003))
    );
    assert_eq!(as_fraction(std::f64::consts::FRAC_1_SQRT_2), None);
    assert_eq!(as_fraction(1.0 / 3_000_017.0), None);
}
