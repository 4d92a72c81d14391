//! Attribution: which channels get credit for a conversion's revenue, and how much.
//!
//! This module owns the pure rules of multi-touch attribution: which touchpoints make up
//! a conversion's journey (the lookback window and GA4's direct rule), each model's
//! per-channel weights, the split of an amount of minor units into per-channel
//! allocations that sum exactly to it (largest-remainder rounding, deterministic), and
//! the sum-equality guard the store runs before it writes allocations. No I/O.
//!
//! A refund is split like the conversion it reverses: the same journey and model with the
//! negated amount give exactly the negated allocations.

use std::collections::BTreeMap;

use contracts::ingestion::Channel;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

#[cfg(test)]
mod tests;

/// An attribution model: the rule that shares a conversion among its journey's touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    /// Everything to the last touch.
    LastTouch,
    /// Everything to the first touch.
    FirstTouch,
    /// An equal share per touch, summed per channel.
    Linear,
    /// Each touch weighted by 2^(-age / half-life), so recent touches count more.
    TimeDecay,
    /// 40 % to the first touch, 40 % to the last, 20 % spread over the ones between
    /// (one touch: all of it; two touches: half each).
    PositionBased,
}

impl Model {
    /// Every model, in the order reports list them.
    pub const ALL: [Model; 5] = [
        Model::LastTouch,
        Model::FirstTouch,
        Model::Linear,
        Model::TimeDecay,
        Model::PositionBased,
    ];

    /// The API's and the store's name of the model.
    pub fn as_str(self) -> &'static str {
        match self {
            Model::LastTouch => "last_touch",
            Model::FirstTouch => "first_touch",
            Model::Linear => "linear",
            Model::TimeDecay => "time_decay",
            Model::PositionBased => "position_based",
        }
    }

    /// The model named `name` (as [`Model::as_str`] spells it), if any.
    pub fn parse(name: &str) -> Option<Model> {
        Self::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

/// The tunable parts of attribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// How far before a conversion a touchpoint still counts.
    pub lookback: Duration,
    /// The age at which a touch's time-decay weight halves.
    pub half_life: Duration,
}

impl Default for Settings {
    /// 30 days of lookback and a 7-day half-life, the usual defaults of attribution tools.
    fn default() -> Self {
        Self {
            lookback: Duration::days(30),
            half_life: Duration::days(7),
        }
    }
}

/// One touch of a journey: when, and through which channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Touch {
    /// When the touch happened (UTC).
    pub at: OffsetDateTime,
    /// The channel it came through.
    pub channel: Channel,
}

/// A channel's part of an amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    /// The channel credited.
    pub channel: Channel,
    /// Its part, in minor units of the amount's currency (negative for a refund).
    pub amount: i64,
}

/// Allocations that are not an exact split of their amount, refused by [`check_sum`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("allocations summing to {found} are not an exact same-signed split of {expected}")]
pub struct SumMismatch {
    /// The amount the allocations should split.
    pub expected: i64,
    /// What the allocations sum to (saturated at the bounds of `i64`).
    pub found: i64,
}

/// The journey of a conversion at `at` whose own channel (the order's channel fields) is
/// `own_channel`: the customer's touchpoints in [at - lookback, at], oldest first (ties
/// by channel order, deterministic), then the order's own channel as the last touch at
/// `at` — except that an order whose own channel is Direct does not override a journey
/// that already has touches (GA4's rule: direct never takes credit from a known source).
/// An empty journey is the order's own channel alone.
pub fn journey(
    touchpoints: &[Touch],
    at: OffsetDateTime,
    own_channel: Channel,
    settings: &Settings,
) -> Vec<Touch> {
    let mut journey: Vec<Touch> = touchpoints
        .iter()
        .copied()
        .filter(|touch| in_window(touch.at, at, settings.lookback))
        .collect();
    // Touchpoints arrive in any order (late ones re-attribute); sorting on the full key
    // makes the journey, and so every allocation, independent of that order.
    journey.sort_by_key(|touch| (touch.at, touch.channel));
    if own_channel != Channel::Direct || journey.is_empty() {
        journey.push(Touch {
            at,
            channel: own_channel,
        });
    }
    journey
}

/// Whether a touch at `touch` falls in the lookback window of a conversion at `at`.
fn in_window(touch: OffsetDateTime, at: OffsetDateTime, lookback: Duration) -> bool {
    if touch > at || lookback.is_negative() {
        return false;
    }
    // A lookback reaching past the earliest representable instant admits all the past.
    at.checked_sub(lookback).is_none_or(|start| touch >= start)
}

/// Each channel's share of the conversion, summing to 1, channels in Channel order.
///
/// Only channels with a positive share appear; an empty journey has no shares. The
/// rational models (all but time decay) count integer numerators first, so each share is
/// one correctly rounded division (`1/2` is exactly 0.5, three equal channels are three
/// identical shares), which [`split`] then turns back into exact ties.
pub fn weights(
    model: Model,
    journey: &[Touch],
    at: OffsetDateTime,
    settings: &Settings,
) -> Vec<(Channel, f64)> {
    let (Some(first), Some(last)) = (journey.first(), journey.last()) else {
        return Vec::new();
    };
    let mut credit: BTreeMap<Channel, f64> = BTreeMap::new();
    let mut give = |channel: Channel, weight: f64| {
        *credit.entry(channel).or_insert(0.0) += weight;
    };
    match model {
        Model::LastTouch => give(last.channel, 1.0),
        Model::FirstTouch => give(first.channel, 1.0),
        Model::Linear => journey.iter().for_each(|touch| give(touch.channel, 1.0)),
        Model::PositionBased => match journey {
            [_] => give(first.channel, 1.0),
            [_, _] => {
                give(first.channel, 1.0);
                give(last.channel, 1.0);
            }
            [_, middle @ .., _] => {
                // 40/20/40 over 5·(n-2) parts: 2·(n-2) to each end, 1 to each middle
                // touch, all integers, so the shares carry no float error of their own.
                let ends = 2.0 * middle.len() as f64;
                give(first.channel, ends);
                give(last.channel, ends);
                middle.iter().for_each(|touch| give(touch.channel, 1.0));
            }
            [] => {}
        },
        Model::TimeDecay => {
            // Ages are measured from the youngest touch instead of from `at`: the common
            // factor 2^(-youngest age / half-life) cancels in the normalization, and the
            // youngest touch keeps weight 1, so old journeys never underflow to all zeros.
            let age = |touch: &Touch| at - touch.at;
            let youngest = journey.iter().map(age).min().unwrap_or(Duration::ZERO);
            for touch in journey {
                give(
                    touch.channel,
                    decay(age(touch) - youngest, settings.half_life),
                );
            }
        }
    }
    let total: f64 = credit.values().sum();
    credit
        .into_iter()
        .filter(|&(_, weight)| weight > 0.0)
        .map(|(channel, weight)| (channel, weight / total))
        .collect()
}

/// The time-decay weight of a touch `older` than the youngest one: 2^(-older/half_life).
fn decay(older: Duration, half_life: Duration) -> f64 {
    if older.is_zero() {
        1.0
    } else if half_life.is_positive() {
        // The same Duration gives the same f64, so one half-life is exactly 2^-1.
        (-(older.as_seconds_f64() / half_life.as_seconds_f64())).exp2()
    } else {
        // A non-positive half-life is the limit of an instant decay: only the youngest
        // touches count.
        0.0
    }
}

/// Splits `amount` (may be negative: a refund) by `weights` into integer minor units that
/// sum exactly to `amount`: floor of each share, then the remaining units one each to the
/// largest fractional remainders (ties: earlier channel in Channel order). Deterministic;
/// split(-a, w) == -split(a, w) element-wise. Channels whose share rounds to 0 are kept
/// out only if their weight is 0.
///
/// Weights need not be normalized; a channel named twice gets the sum of its weights.
/// Weights that are zero, negative or not finite count as zero; when none is left, the
/// result is empty (which [`check_sum`] refuses for any amount but 0).
///
/// The arithmetic is exact. Shares that are fractions with a denominator up to 2^20 (the
/// weights of every model but time decay: 1/3, 2/5, 11/25, ...) are recognized through
/// their f64 rounding and split as those fractions, so an exact tie stays a tie at any
/// amount; other weights are split as 2^-52 fixed point relative to the largest, which
/// keeps ratios of powers of two (a half-life) exact.
pub fn split(amount: i64, weights: &[(Channel, f64)]) -> Vec<Allocation> {
    let Some((numerators, denominator)) = numerators(weights) else {
        return Vec::new();
    };
    // Split the magnitude and give it the amount's sign afterwards: that is what makes
    // a refund mirror its conversion unit for unit. |amount| ≤ 2^63 and numerators are at
    // most 2^52, so every product below fits u128.
    let magnitude = u128::from(amount.unsigned_abs());
    let mut parts: Vec<(Channel, u128, u128)> = numerators
        .iter()
        .map(|&(channel, numerator)| {
            let exact = magnitude * numerator;
            (channel, exact / denominator, exact % denominator)
        })
        .collect();
    let floored: u128 = parts.iter().map(|&(_, units, _)| units).sum();
    // Fewer than parts.len() units are left, since each floor lost less than one.
    let left = usize::try_from(magnitude - floored).unwrap_or(usize::MAX);
    let mut by_remainder: Vec<usize> = (0..parts.len()).collect();
    // Channels are distinct and in Channel order, so index order breaks ties by channel.
    by_remainder.sort_by(|&a, &b| parts[b].2.cmp(&parts[a].2).then(a.cmp(&b)));
    for &index in by_remainder.iter().take(left) {
        parts[index].1 += 1;
    }

    parts
        .into_iter()
        .map(|(channel, units, _)| {
            // units ≤ |amount|, so the signed value always fits i64 (even for i64::MIN).
            let units = i128::try_from(units).unwrap_or(i128::MAX);
            Allocation {
                channel,
                amount: saturate(if amount < 0 { -units } else { units }),
            }
        })
        .collect()
}

/// The largest denominator [`split`] recognizes a share as a fraction of: a journey of n
/// touches needs at most 5·(n - 2), so only journeys of some 200,000 touches fall back
/// to fixed point; and fractions up to it are never closer than [`FRACTION_TOLERANCE`].
const MAX_DENOMINATOR: u64 = 1 << 20;

/// How close a share must lie to a fraction to be taken as it. Two distinct fractions with
/// denominators up to 2^20 are at least 2^-40 apart and an f64 share misses its fraction
/// by about 2^-52, so no share is ever within this of the wrong one.
const FRACTION_TOLERANCE: f64 = 1.0 / (1u64 << 42) as f64;

/// Fixed-point scale of weights that are not fractions: 2^52, the precision of an f64.
const FIXED_POINT_SCALE: f64 = 4_503_599_627_370_496.0;

/// The usable weights as integer numerators per channel (Channel order) over a common
/// denominator; None when no weight is usable.
fn numerators(weights: &[(Channel, f64)]) -> Option<(Vec<(Channel, u128)>, u128)> {
    let usable = |weight: f64| weight.is_finite() && weight > 0.0;
    let largest = weights
        .iter()
        .map(|&(_, weight)| weight)
        .filter(|&weight| usable(weight))
        .fold(0.0_f64, f64::max);
    if largest <= 0.0 {
        return None;
    }
    // Scaled by the largest first, so summing a channel's weights cannot overflow.
    let mut per_channel: BTreeMap<Channel, f64> = BTreeMap::new();
    for &(channel, weight) in weights.iter().filter(|&&(_, weight)| usable(weight)) {
        *per_channel.entry(channel).or_insert(0.0) += weight / largest;
    }
    fractions(&per_channel).or_else(|| Some(fixed_point(&per_channel)))
}

/// The weights as exact fractions over their least common denominator, when every
/// share is one (up to 2^20) and the fractions add up to exactly 1.
fn fractions(weights: &BTreeMap<Channel, f64>) -> Option<(Vec<(Channel, u128)>, u128)> {
    let total: f64 = weights.values().sum();
    let shares: Vec<(Channel, u64, u64)> = weights
        .iter()
        .map(|(&channel, &weight)| {
            as_fraction(weight / total)
                .map(|(numerator, denominator)| (channel, numerator, denominator))
        })
        .collect::<Option<_>>()?;
    let denominator = shares
        .iter()
        .try_fold(1_u64, |common, &(_, _, denominator)| {
            let lcm = common.checked_mul(denominator / gcd(common, denominator))?;
            (lcm <= MAX_DENOMINATOR).then_some(lcm)
        })?;
    let numerators: Vec<(Channel, u128)> = shares
        .iter()
        .map(|&(channel, numerator, of)| (channel, u128::from(numerator * (denominator / of))))
        .collect();
    let sum: u128 = numerators.iter().map(|&(_, numerator)| numerator).sum();
    (sum == u128::from(denominator)).then_some((numerators, u128::from(denominator)))
}

/// The fraction p/q (q ≤ [`MAX_DENOMINATOR`]) within [`FRACTION_TOLERANCE`] of `x` in
/// [0, 1], found among the convergents of its continued fraction (Legendre: a fraction
/// that close is one of them).
fn as_fraction(x: f64) -> Option<(u64, u64)> {
    // Convergents h/k by the recurrence h_n = a_n·h_(n-1) + h_(n-2), seeded with
    // h_(-1)/k_(-1) = 1/0 and h_(-2)/k_(-2) = 0/1.
    let (mut h_prev, mut h) = (0_u64, 1_u64);
    let (mut k_prev, mut k) = (1_u64, 0_u64);
    let mut rest = x;
    // Denominators at least double every two steps, so 2^20 is passed within ~42.
    for _ in 0..64 {
        let whole = rest.floor();
        if !(0.0..=MAX_DENOMINATOR as f64).contains(&whole) {
            return None;
        }
        let a = whole as u64;
        (h_prev, h) = (h, a.checked_mul(h)?.checked_add(h_prev)?);
        (k_prev, k) = (k, a.checked_mul(k)?.checked_add(k_prev)?);
        if k > MAX_DENOMINATOR {
            return None;
        }
        if (x - h as f64 / k as f64).abs() <= FRACTION_TOLERANCE {
            return Some((h, k));
        }
        let fractional = rest - whole;
        if fractional <= 0.0 {
            return None;
        }
        rest = 1.0 / fractional;
    }
    None
}

/// Greatest common divisor (Euclid).
fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The weights in 2^-52 fixed point relative to the largest (which becomes 2^52).
fn fixed_point(weights: &BTreeMap<Channel, f64>) -> (Vec<(Channel, u128)>, u128) {
    let largest = weights.values().copied().fold(0.0_f64, f64::max);
    // Each value is in [0, 2^52]: the saturating cast never saturates.
    let numerators: Vec<(Channel, u128)> = weights
        .iter()
        .map(|(&channel, &weight)| {
            (
                channel,
                (weight / largest * FIXED_POINT_SCALE).round() as u128,
            )
        })
        .collect();
    let denominator = numerators.iter().map(|&(_, numerator)| numerator).sum();
    (numerators, denominator)
}

/// weights + split.
pub fn allocate(
    model: Model,
    journey: &[Touch],
    at: OffsetDateTime,
    amount: i64,
    settings: &Settings,
) -> Vec<Allocation> {
    split(amount, &weights(model, journey, at, settings))
}

/// The sum-equality guard the store runs before writing allocations (the seed's rule):
/// Err when the allocations do not sum exactly to `amount`, or any allocation's sign
/// differs from the amount's.
///
/// An allocation of 0 has no sign and is accepted: a channel with a tiny weight keeps
/// its row with nothing in it. An amount of 0 accepts only allocations of 0.
pub fn check_sum(allocations: &[Allocation], amount: i64) -> Result<(), SumMismatch> {
    let found: i128 = allocations.iter().map(|a| i128::from(a.amount)).sum();
    let same_signs = allocations
        .iter()
        .all(|a| a.amount == 0 || a.amount.signum() == amount.signum());
    if found == i128::from(amount) && same_signs {
        Ok(())
    } else {
        Err(SumMismatch {
            expected: amount,
            found: saturate(found),
        })
    }
}

/// `value` as i64, clamped to its bounds.
fn saturate(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
}
