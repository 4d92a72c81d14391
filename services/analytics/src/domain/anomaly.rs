//! Anomaly detection: a robust baseline for a per-minute series (orders, payment
//! failures, revenue) and the rule that says when a minute leaves it.
//!
//! This module owns the statistics only: a [`Baseline`] is the learned state of one
//! series (stored as JSON between minutes), [`Baseline::observe`] feeds it the next
//! minute and answers a [`Deviation`] when the value lies outside the band. The expected
//! value is an EWMA; the band is k robust sigmas (1.4826 · MAD of the recent residuals),
//! never narrower than `min_band`, so a flat series does not alert on its first wiggle.
//! An outlier is learned only as far as the band's edge: one spike barely moves the
//! baseline, while a lasting level shift widens the band and pulls the level until the
//! new level is normal. Publishing the alert is the caller's business. No I/O.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// The tunable parts of a baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BaselineSettings {
    /// EWMA smoothing factor in [0, 1]: how much of each minute the level takes in.
    pub alpha: f64,
    /// How many recent residuals the band is measured on.
    pub window: usize,
    /// Band half-width in robust sigmas.
    pub k: f64,
    /// Observations before any alert, while the baseline is still learning.
    pub warmup: usize,
    /// The narrowest band half-width, in the series' units.
    pub min_band: f64,
}

impl Default for BaselineSettings {
    /// α 0.1 (a level that follows about ten minutes), an hour of residuals, 4 robust
    /// sigmas, half an hour of warmup and a band never under one unit.
    fn default() -> Self {
        Self {
            alpha: 0.1,
            window: 60,
            k: 4.0,
            warmup: 30,
            min_band: 1.0,
        }
    }
}

/// Which side of the band a value left it by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Above the upper edge.
    Above,
    /// Below the lower edge.
    Below,
}

impl Direction {
    /// The event's and the API's name: `above` or `below`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Above => "above",
            Direction::Below => "below",
        }
    }
}

/// A value outside its baseline's band: what was expected, the band, and the side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Deviation {
    /// The baseline's expected value for the minute.
    pub expected: f64,
    /// The band's lower edge.
    pub lower: f64,
    /// The band's upper edge.
    pub upper: f64,
    /// Which edge the value crossed.
    pub direction: Direction,
}

/// 1.4826 · MAD estimates the standard deviation of normal noise robustly.
const MAD_TO_SIGMA: f64 = 1.4826;

/// The learned state of one per-minute series.
///
/// Stored as JSON whose floats are strings of their shortest exact decimal (see
/// [`StoredBaseline`]), so a baseline read back is the very baseline written.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(into = "StoredBaseline", try_from = "StoredBaseline")]
pub struct Baseline {
    /// The expected value (the EWMA of what was learned); none before the first minute.
    level: Option<f64>,
    /// The latest residuals (learned value − expected value), oldest first, at most
    /// `window` of them.
    residuals: VecDeque<f64>,
    /// Minutes observed so far, for the warmup.
    observed: u64,
}

impl Baseline {
    /// A baseline that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Observes the next minute's value; Some when it lies outside
    /// expected ± max(k·1.4826·MAD, min_band) after warmup. An outlier updates the
    /// baseline with its value clipped to the band, so one spike does not drag the
    /// baseline (and a level shift is learned within a few dozen minutes).
    ///
    /// The MAD is the median of the residuals' magnitudes, i.e. measured around the
    /// expected value rather than around the residuals' own median: when a level shift
    /// puts every new residual on one side, that is what widens the band so the level
    /// catches up. A value that is not finite is ignored (no alert, nothing learned), so
    /// the stored state always stays finite and serializable.
    pub fn observe(&mut self, value: f64, settings: &BaselineSettings) -> Option<Deviation> {
        if !value.is_finite() {
            return None;
        }
        let Some(expected) = self.level else {
            self.level = Some(value);
            self.observed = 1;
            return None;
        };

        // Never negative nor NaN, whatever the settings, so lower ≤ upper below.
        let band = (settings.k * MAD_TO_SIGMA * median_magnitude(&self.residuals))
            .max(settings.min_band)
            .max(0.0);
        let (lower, upper) = (expected - band, expected + band);
        let warm = self.observed >= u64::try_from(settings.warmup).unwrap_or(u64::MAX);
        let direction = if !warm {
            None
        } else if value > upper {
            Some(Direction::Above)
        } else if value < lower {
            Some(Direction::Below)
        } else {
            None
        };

        let learned = if direction.is_some() {
            value.clamp(lower, upper)
        } else {
            value
        };
        let residual = learned - expected;
        // Until 1/α minutes are in, the level is their plain mean, so the first minute
        // does not linger in it for the whole warmup.
        let alpha = sanitized_alpha(settings.alpha).max(1.0 / (self.observed as f64 + 1.0));
        let level = expected + alpha * residual;
        if residual.is_finite() && level.is_finite() {
            self.level = Some(level);
            self.residuals.push_back(residual);
            while self.residuals.len() > settings.window {
                self.residuals.pop_front();
            }
            self.observed = self.observed.saturating_add(1);
        }

        direction.map(|direction| Deviation {
            expected,
            lower,
            upper,
            direction,
        })
    }
}

/// [`Baseline`]'s stored form. serde_json's default number parser may miss a float's
/// last bit, and a baseline that drifts an ulp per read is no longer equal to itself nor
/// certain to alert as it would have; Rust's own float formatting and parsing round-trip
/// exactly, so the floats travel as strings.
#[derive(Serialize, Deserialize)]
struct StoredBaseline {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    level: Option<String>,
    #[serde(default)]
    residuals: Vec<String>,
    #[serde(default)]
    observed: u64,
}

/// A stored baseline holding something that is not a finite number.
#[derive(Debug, thiserror::Error)]
#[error("a stored baseline holds {0:?} where a finite number belongs")]
struct UnreadableBaseline(String);

impl From<Baseline> for StoredBaseline {
    fn from(baseline: Baseline) -> Self {
        Self {
            level: baseline.level.map(|level| level.to_string()),
            residuals: baseline.residuals.iter().map(f64::to_string).collect(),
            observed: baseline.observed,
        }
    }
}

impl TryFrom<StoredBaseline> for Baseline {
    type Error = UnreadableBaseline;

    fn try_from(stored: StoredBaseline) -> Result<Self, Self::Error> {
        let finite = |text: String| match text.parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(value),
            _ => Err(UnreadableBaseline(text)),
        };
        Ok(Self {
            level: stored.level.map(finite).transpose()?,
            residuals: stored
                .residuals
                .into_iter()
                .map(finite)
                .collect::<Result<_, _>>()?,
            observed: stored.observed,
        })
    }
}

/// α clamped to [0, 1]; one that is not a number falls back to the default.
fn sanitized_alpha(alpha: f64) -> f64 {
    if alpha.is_nan() {
        BaselineSettings::default().alpha
    } else {
        alpha.clamp(0.0, 1.0)
    }
}

/// The median of the values' absolute values (0 for none).
fn median_magnitude(values: &VecDeque<f64>) -> f64 {
    let mut magnitudes: Vec<f64> = values.iter().map(|v| v.abs()).collect();
    magnitudes.sort_by(f64::total_cmp);
    let middle = magnitudes.len() / 2;
    match magnitudes.len() {
        0 => 0.0,
        // Even and not empty, so middle ≥ 1.
        len if len.is_multiple_of(2) => (magnitudes[middle - 1] + magnitudes[middle]) / 2.0,
        _ => magnitudes[middle],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny deterministic generator (Knuth's MMIX LCG): noise without `rand`, the same
    /// every run.
    struct Lcg(u64);

    impl Lcg {
        /// Uniform in [-1, 1).
        fn unit(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        }
    }

    /// A baseline fed `minutes` of `level` ± `noise`, asserting none of them alerted.
    fn steady(minutes: usize, level: f64, noise: f64, rng: &mut Lcg) -> Baseline {
        let settings = BaselineSettings::default();
        let mut baseline = Baseline::new();
        for minute in 0..minutes {
            let value = level + noise * rng.unit();
            assert_eq!(baseline.observe(value, &settings), None, "minute {minute}");
        }
        baseline
    }

    #[test]
    fn a_steady_noisy_series_never_alerts() {
        let mut rng = Lcg(7);
        let baseline = steady(5000, 100.0, 3.0, &mut rng);
        let level = baseline.level.unwrap_or(f64::NAN);
        assert!((level - 100.0).abs() < 2.0, "{level}");
        assert_eq!(baseline.residuals.len(), 60);
    }

    #[test]
    fn a_spike_alerts_above_and_does_not_drag_the_baseline() {
        let settings = BaselineSettings::default();
        let mut rng = Lcg(11);
        let mut baseline = steady(200, 100.0, 3.0, &mut rng);
        let before = baseline.level.unwrap_or(f64::NAN);
        let deviation = baseline.observe(400.0, &settings);
        let Some(deviation) = deviation else {
            panic!("a spike to 400 over 100 ± 3 must alert");
        };
        assert_eq!(deviation.direction, Direction::Above);
        assert_eq!(deviation.direction.as_str(), "above");
        assert_eq!(deviation.expected, before);
        assert!(deviation.lower < 100.0 && 100.0 < deviation.upper);
        assert!(deviation.upper < 400.0);
        // The spike was learned only up to the band's edge: α · band, well under the
        // α · 300 = 30 an unclipped EWMA would have moved.
        let after = baseline.level.unwrap_or(f64::NAN);
        assert!(after - before <= 0.1 * (deviation.upper - before) + 1e-9);
        assert!(after - before < 2.0, "{before} → {after}");
        // And the series back to normal is normal again at once.
        for minute in 0..200 {
            let value = 100.0 + 3.0 * rng.unit();
            assert_eq!(baseline.observe(value, &settings), None, "minute {minute}");
        }
    }

    #[test]
    fn a_drop_to_zero_alerts_below() {
        let settings = BaselineSettings::default();
        let mut rng = Lcg(13);
        let mut baseline = steady(120, 10.0, 2.0, &mut rng);
        let deviation = baseline.observe(0.0, &settings);
        assert_eq!(deviation.map(|d| d.direction), Some(Direction::Below));
        assert_eq!(Direction::Below.as_str(), "below");
        assert!(deviation.is_some_and(|d| d.lower > 0.0 && d.expected > 8.0));
    }

    #[test]
    fn warmup_never_alerts_and_alerting_starts_right_after_it() {
        let settings = BaselineSettings::default();
        let mut wild = Baseline::new();
        for (minute, value) in [0.0, 1000.0, -50.0, 3.0, 1e6, 0.0]
            .iter()
            .cycle()
            .enumerate()
        {
            if minute == settings.warmup {
                break;
            }
            assert_eq!(wild.observe(*value, &settings), None, "minute {minute}");
        }

        // 29 flat minutes, then a jump in the 30th, the last of the warmup: silent. The
        // same jump one minute later, the first after the warmup, alerts.
        let mut baseline = Baseline::new();
        for _ in 1..settings.warmup {
            assert_eq!(baseline.observe(10.0, &settings), None);
        }
        assert_eq!(baseline.observe(1000.0, &settings), None);
        let deviation = baseline.observe(1000.0, &settings);
        assert_eq!(deviation.map(|d| d.direction), Some(Direction::Above));
    }

    #[test]
    fn a_permanent_level_shift_stops_alerting_within_three_quarters_of_an_hour() {
        let settings = BaselineSettings::default();
        let mut rng = Lcg(17);
        let mut baseline = steady(300, 100.0, 3.0, &mut rng);
        let mut last_alert = None;
        for minute in 0..1000 {
            let value = 150.0 + 3.0 * rng.unit();
            if let Some(deviation) = baseline.observe(value, &settings) {
                assert_eq!(deviation.direction, Direction::Above, "minute {minute}");
                last_alert = Some(minute);
            }
        }
        // The shift alerts at first, then becomes the new normal for good: once half the
        // residual window holds clipped residuals the band widens and the level catches
        // up (here after 30 minutes).
        let Some(last_alert) = last_alert else {
            panic!("a shift from 100 to 150 must alert");
        };
        assert!(last_alert < 45, "still alerting at minute {last_alert}");
        let level = baseline.level.unwrap_or(f64::NAN);
        assert!((level - 150.0).abs() < 2.0, "{level}");
    }

    #[test]
    fn a_flat_series_alerts_only_beyond_the_minimum_band() {
        let settings = BaselineSettings::default();
        let mut baseline = Baseline::new();
        for _ in 0..100 {
            assert_eq!(baseline.observe(0.0, &settings), None);
        }
        // MAD 0, so the band is min_band: 1 is on the edge (inside), 2 is out.
        let mut probe = baseline.clone();
        assert_eq!(probe.observe(1.0, &settings), None);
        let deviation = baseline.observe(2.0, &settings);
        assert_eq!(
            deviation,
            Some(Deviation {
                expected: 0.0,
                lower: -1.0,
                upper: 1.0,
                direction: Direction::Above,
            })
        );
    }

    #[test]
    fn values_that_are_not_numbers_are_ignored() {
        let settings = BaselineSettings::default();
        let mut rng = Lcg(19);
        let mut baseline = steady(100, 50.0, 1.0, &mut rng);
        let before = baseline.clone();
        for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(baseline.observe(value, &settings), None);
        }
        assert_eq!(baseline, before);
        assert!(Baseline::new().observe(f64::NAN, &settings).is_none());
    }

    #[test]
    fn odd_settings_do_not_panic() {
        let odd = [
            BaselineSettings {
                k: -4.0,
                min_band: -1.0,
                ..BaselineSettings::default()
            },
            BaselineSettings {
                alpha: f64::NAN,
                k: f64::NAN,
                min_band: f64::NAN,
                ..BaselineSettings::default()
            },
            BaselineSettings {
                alpha: 7.0,
                window: 0,
                warmup: 0,
                ..BaselineSettings::default()
            },
        ];
        for settings in odd {
            let mut baseline = Baseline::new();
            for value in [1.0, 5.0, -3.0, 1e300, -1e300, 0.0, 2.0] {
                let _ = baseline.observe(value, &settings);
            }
            assert!(baseline.level.is_some_and(f64::is_finite));
            assert!(serde_json::to_string(&baseline).is_ok());
        }
    }

    #[test]
    fn a_baseline_survives_a_json_round_trip() {
        let settings = BaselineSettings::default();
        let mut rng = Lcg(23);
        let mut baseline = steady(90, 20.0, 2.0, &mut rng);
        let json = serde_json::to_string(&baseline).unwrap_or_default();
        let restored: Result<Baseline, _> = serde_json::from_str(&json);
        assert_eq!(restored.as_ref().ok(), Some(&baseline), "{json}");
        // The restored baseline goes on exactly like the original.
        let Ok(mut restored) = restored else {
            return;
        };
        for value in [20.0, 35.0, 0.0, 21.5] {
            assert_eq!(
                restored.observe(value, &settings),
                baseline.observe(value, &settings)
            );
        }
        assert_eq!(restored, baseline);
        // Stored floats are exact decimals, and anything else is refused.
        assert!(json.contains("\"observed\":90"), "{json}");
        for bad in [
            r#"{"level":"NaN"}"#,
            r#"{"level":"inf"}"#,
            r#"{"residuals":["1.5","x"]}"#,
            r#"{"level":1.5}"#,
        ] {
            assert!(serde_json::from_str::<Baseline>(bad).is_err(), "{bad}");
        }
        // A fresh baseline round-trips too, and an empty object reads as one.
        let fresh = serde_json::to_string(&Baseline::new()).unwrap_or_default();
        assert_eq!(
            serde_json::from_str::<Baseline>(&fresh).ok(),
            Some(Baseline::new())
        );
        assert_eq!(
            serde_json::from_str::<Baseline>("{}").ok(),
            Some(Baseline::new())
        );
    }

    #[test]
    fn the_median_magnitude_is_the_mad_about_the_baseline() {
        let of = |values: &[f64]| median_magnitude(&values.iter().copied().collect());
        assert_eq!(of(&[]), 0.0);
        assert_eq!(of(&[-3.0]), 3.0);
        assert_eq!(of(&[1.0, -4.0]), 2.5);
        assert_eq!(of(&[5.0, -1.0, 2.0]), 2.0);
    }
}
