//! The Gibbs sampler of the marketing-mix regression: the design (every channel's
//! response at every grid decay, centred, with its Gram matrix computed once) and the
//! chain over the coefficients, the decays and the noise variance.
//!
//! Everything here works on standardised revenue (`(y - mean) / sd`), so the priors and
//! the numerical tolerances do not depend on the currency or the size of the shop; the
//! caller turns the draws back into minor units.

use nalgebra::{DMatrix, DVector, linalg::Cholesky};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp1, Gamma, StandardNormal};

use super::transform::DECAY_GRID;

/// The inverse-gamma prior of the noise variance (standardised units): shape 1 and a
/// scale a thousandth of the revenue's variance, so weak that a fortnight of data
/// outweighs it, yet it keeps the variance off zero when the channels happen to fit
/// the revenue exactly.
const NOISE_PRIOR_SHAPE: f64 = 1.0;
const NOISE_PRIOR_SCALE: f64 = 1e-3;

/// How many times a sweep tries an exact draw of all coefficients at once (a normal
/// draw kept only when every coefficient is non-negative) before it leaves them to the
/// per-channel updates. Joint draws mix best when channels' spend is correlated; the
/// bound keeps a sweep's cost fixed when the posterior leans on the zero boundary,
/// where joint draws rarely land inside.
const BLOCK_TRIES: usize = 4;

/// A bound on rejection loops that, with the proposals used, end within a few tries;
/// it only matters if a non-finite number got in, and then a sweep must still end.
const MAX_REJECTIONS: usize = 1_000;

/// What the regression sees: per active channel, the centred response at every decay
/// of [`DECAY_GRID`], with their cross-products.
pub(super) struct Design {
    /// Days.
    days: usize,
    /// Active channels (those with any spend), in the caller's order.
    channels: usize,
    /// Centred responses, one column per (channel, decay): column `k * G + g`.
    centred: DMatrix<f64>,
    /// `centredᵀ · centred`.
    gram: DMatrix<f64>,
    /// `centredᵀ · y`.
    cross: DVector<f64>,
    /// Standardised revenue.
    revenue: DVector<f64>,
    /// Per column, the mean response over the days (what centring took out).
    means: Vec<f64>,
    /// Per column, the summed response over the days.
    sums: Vec<f64>,
    /// Per channel, the scale of its half-normal coefficient prior.
    prior_scale: Vec<f64>,
}

impl Design {
    /// The design for standardised `revenue` and, per active channel, its responses at
    /// each decay of the grid (`responses[k][g]`, every series as long as `revenue`).
    /// `level` is revenue's mean in standard deviations (`mean / sd`), for the priors.
    pub(super) fn new(revenue: &[f64], responses: &[Vec<Vec<f64>>], level: f64) -> Self {
        let days = revenue.len();
        let grid = DECAY_GRID.len();
        let raw = DMatrix::from_iterator(
            days,
            responses.len() * grid,
            responses.iter().flatten().flatten().copied(),
        );
        let means: Vec<f64> = raw.column_iter().map(|c| c.mean()).collect();
        let sums: Vec<f64> = raw.column_iter().map(|c| c.sum()).collect();
        let mut centred = raw;
        for (mut column, mean) in centred.column_iter_mut().zip(&means) {
            column.add_scalar_mut(-mean);
        }
        let revenue = DVector::from_column_slice(revenue);
        let gram = centred.tr_mul(&centred);
        let cross = centred.tr_mul(&revenue);
        // Weakly informative on purpose (the constraint, not the prior, is the model's
        // belief): one prior standard deviation of a channel's coefficient makes its
        // response on an average day (at no carry-over) worth `1 + level` standard
        // deviations of revenue, about a channel that makes all of it.
        let prior_scale = (0..responses.len())
            .map(|k| {
                let mean_response = means[k * grid];
                if mean_response > 0.0 {
                    (1.0 + level.abs()) / mean_response
                } else {
                    // Unreachable for an active channel; a wide prior is the safe side.
                    1e6
                }
            })
            .collect();
        Self {
            days,
            channels: responses.len(),
            centred,
            gram,
            cross,
            revenue,
            means,
            sums,
            prior_scale,
        }
    }

    /// The column of channel `k` at decay index `g`.
    fn column(k: usize, g: usize) -> usize {
        k * DECAY_GRID.len() + g
    }

    /// Days in the design.
    pub(super) fn days(&self) -> usize {
        self.days
    }

    /// The summed response of channel `k` at decay index `g` (its contribution per
    /// unit of coefficient).
    pub(super) fn response_sum(&self, k: usize, g: usize) -> f64 {
        self.sums[Self::column(k, g)]
    }

    /// The mean response of channel `k` at decay index `g`.
    pub(super) fn response_mean(&self, k: usize, g: usize) -> f64 {
        self.means[Self::column(k, g)]
    }

    /// The residual sum of squares of coefficients `beta` at decays `decay`.
    fn rss(&self, beta: &[f64], decay: &[usize]) -> f64 {
        let columns: Vec<usize> = decay
            .iter()
            .enumerate()
            .map(|(k, &g)| Self::column(k, g))
            .collect();
        let mut rss = self.revenue.norm_squared();
        for (i, &ci) in columns.iter().enumerate() {
            rss -= 2.0 * beta[i] * self.cross[ci];
            for (j, &cj) in columns.iter().enumerate() {
                rss += beta[i] * beta[j] * self.gram[(ci, cj)];
            }
        }
        // Rounding can take an exact fit a hair below zero.
        rss.max(0.0)
    }

    /// R² of the fit whose coefficient on each column is `coefficients` (the posterior
    /// mean of a channel's coefficient at a decay, zero where the decay was not drawn).
    pub(super) fn r2(&self, coefficients: &[f64]) -> f64 {
        let fitted = &self.centred * DVector::from_column_slice(coefficients);
        let total = self.revenue.norm_squared();
        1.0 - (&self.revenue - fitted).norm_squared() / total
    }
}

/// One kept draw of the chain.
pub(super) struct Draw {
    /// Per active channel, its coefficient (standardised units).
    pub(super) beta: Vec<f64>,
    /// Per active channel, the index of its decay in [`DECAY_GRID`].
    pub(super) decay: Vec<usize>,
}

/// Where the chain meets a number it cannot go on from; only non-finite input could
/// get it there, and validation keeps that out, so this is a guard, not a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stuck;

/// Runs the chain: `burn_in` sweeps thrown away, then `draws` kept, from `seed`.
///
/// The posterior (with the intercept integrated out under its flat prior, which is why
/// everything is centred and the noise has `days - 1` degrees of freedom):
/// `y | β, θ, σ² ~ N(X_θ β, σ² I)`, `β_k ~ N⁺(0, τ_k²)`, `θ_k` uniform on the grid,
/// `σ² ~ InvGamma(1, 10⁻³)`. A sweep:
/// 1. β | θ, σ² all at once, when an exact draw comes quickly (see [`BLOCK_TRIES`]):
///    this is what moves correlated channels together;
/// 2. per channel, (θ_k, β_k) together given the rest: θ_k from its conditional with
///    β_k integrated out (closed form: a one-dimensional truncated normal integral),
///    then β_k given θ_k. Drawing them together matters: a coefficient is tuned to its
///    decay, so a decay drawn given the old coefficient would hardly ever move, and
///    the intervals would miss the carry-over's uncertainty;
/// 3. σ² | β, θ, an inverse gamma.
pub(super) fn run(
    design: &Design,
    draws: usize,
    burn_in: usize,
    seed: u64,
) -> Result<Vec<Draw>, Stuck> {
    let channels = design.channels;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let noise_shape = NOISE_PRIOR_SHAPE + (design.days as f64 - 1.0) / 2.0;
    let noise_draw = Gamma::new(noise_shape, 1.0).map_err(|_| Stuck)?;

    // Start at no carry-over, the revenue's own variance and no effect; the burn-in
    // walks away from it.
    let mut decay = vec![0usize; channels];
    let mut beta = vec![0.0; channels];
    let mut variance = 1.0;
    let mut kept = Vec::with_capacity(draws);

    for sweep in 0..burn_in + draws {
        draw_all_coefficients(design, &decay, variance, &mut beta, &mut rng);
        for k in 0..channels {
            draw_channel(design, k, &mut beta, &mut decay, variance, &mut rng)?;
        }
        let rate = NOISE_PRIOR_SCALE + design.rss(&beta, &decay) / 2.0;
        let gamma: f64 = noise_draw.sample(&mut rng);
        variance = rate / gamma;
        if !variance.is_finite() || variance <= 0.0 {
            return Err(Stuck);
        }
        if sweep >= burn_in {
            kept.push(Draw {
                beta: beta.clone(),
                decay: decay.clone(),
            });
        }
    }
    Ok(kept)
}

/// Tries to draw every coefficient from its conditional given the decays and the
/// noise: the normal with precision `P = XᵀX/σ² + diag(1/τ²)` and mean `P⁻¹Xᵀy/σ²`,
/// truncated to the non-negative orthant. An unconstrained draw that lands in the
/// orthant is an exact draw of the truncated one (rejection sampling); after
/// [`BLOCK_TRIES`] misses the coefficients stay as they are, which leaves the posterior
/// invariant too, and the per-channel updates that follow move them.
fn draw_all_coefficients(
    design: &Design,
    decay: &[usize],
    variance: f64,
    beta: &mut [f64],
    rng: &mut ChaCha8Rng,
) {
    let n = beta.len();
    let columns: Vec<usize> = decay
        .iter()
        .enumerate()
        .map(|(k, &g)| Design::column(k, g))
        .collect();
    let precision = DMatrix::from_fn(n, n, |i, j| {
        let prior = if i == j {
            1.0 / design.prior_scale[i].powi(2)
        } else {
            0.0
        };
        design.gram[(columns[i], columns[j])] / variance + prior
    });
    let shift = DVector::from_iterator(n, columns.iter().map(|&c| design.cross[c] / variance));
    let Some(cholesky) = Cholesky::new(precision) else {
        return;
    };
    let mean = cholesky.solve(&shift);
    for _ in 0..BLOCK_TRIES {
        let z = DVector::from_fn(n, |_, _| StandardNormal.sample(rng));
        // β = mean + L⁻ᵀ z has covariance (L Lᵀ)⁻¹ = P⁻¹.
        let Some(offset) = cholesky.l_dirty().tr_solve_lower_triangular(&z) else {
            return;
        };
        let proposal = mean.clone() + offset;
        if proposal.iter().all(|&b| b >= 0.0) {
            beta.copy_from_slice(proposal.as_slice());
            return;
        }
    }
}

/// Draws channel `k`'s decay and coefficient together from their conditional given
/// the other channels and the noise.
///
/// With `x` the channel's centred response at a decay and `r` the revenue less the
/// other channels, the coefficient's conditional is `N⁺(b/P, 1/P)` with
/// `P = xᵀx/σ² + 1/τ²` and `b = xᵀr/σ²`, and integrating it out leaves the decay's
/// weight `exp(b²/2P) · P^(-1/2) · Φ(b/√P)` (factors common to all decays dropped).
fn draw_channel(
    design: &Design,
    k: usize,
    beta: &mut [f64],
    decay: &mut [usize],
    variance: f64,
    rng: &mut ChaCha8Rng,
) -> Result<(), Stuck> {
    let prior_precision = 1.0 / design.prior_scale[k].powi(2);
    let conditionals: Vec<(f64, f64)> = (0..DECAY_GRID.len())
        .map(|g| {
            let c = Design::column(k, g);
            let with_others: f64 = (0..beta.len())
                .filter(|&i| i != k)
                .map(|i| beta[i] * design.gram[(c, Design::column(i, decay[i]))])
                .sum();
            let precision = design.gram[(c, c)] / variance + prior_precision;
            let shift = (design.cross[c] - with_others) / variance;
            (precision, shift)
        })
        .collect();
    let log_weights: Vec<f64> = conditionals
        .iter()
        .map(|&(p, b)| b * b / (2.0 * p) - 0.5 * p.ln() + log_normal_cdf(b / p.sqrt()))
        .collect();
    if log_weights.iter().any(|w| !w.is_finite()) {
        return Err(Stuck);
    }
    let top = log_weights
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = log_weights.iter().map(|w| (w - top).exp()).collect();
    let total: f64 = weights.iter().sum();
    let mut pick = rng.random::<f64>() * total;
    // Rounding may leave `pick` past the last weight: that is the last decay's share.
    let mut chosen = DECAY_GRID.len() - 1;
    for (g, w) in weights.iter().enumerate() {
        if pick < *w {
            chosen = g;
            break;
        }
        pick -= w;
    }
    let (precision, shift) = conditionals[chosen];
    decay[k] = chosen;
    beta[k] = positive_normal(rng, shift / precision, precision.sqrt().recip());
    Ok(())
}

/// `ln Φ(x)`, the log of the standard normal distribution function, accurate to about
/// seven significant digits (plenty for sampling weights) and finite far into the
/// lower tail, where `Φ` itself underflows.
///
/// Uses the Chebyshev fit of `erfc` from Numerical Recipes (`erfcc`, fractional error
/// under 1.2·10⁻⁷ everywhere), which comes as `t · exp(-z² + poly(t))` and so can be
/// taken in logs without ever forming the tiny number.
fn log_normal_cdf(x: f64) -> f64 {
    // Φ(x) = erfc(-x/√2) / 2.
    let z = -x / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * z.abs());
    let poly = -1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    // ln erfc(|z|)
    let log_tail = t.ln() - z * z + poly;
    if z >= 0.0 {
        log_tail - std::f64::consts::LN_2
    } else {
        // erfc(z) = 2 - erfc(|z|) for z < 0: Φ(x) = 1 - erfc(|z|)/2.
        (-(log_tail.exp() / 2.0)).ln_1p()
    }
}

/// A draw from the normal `N(mean, sd²)` truncated to `[0, ∞)`.
///
/// With the bound below the mean, plain rejection accepts at least half the draws;
/// with it above, Robert's (1995) exponential proposal does far better than plain
/// rejection, whose acceptance falls to nothing in the tail.
fn positive_normal(rng: &mut ChaCha8Rng, mean: f64, sd: f64) -> f64 {
    let bound = -mean / sd;
    if !bound.is_finite() {
        return mean.max(0.0);
    }
    let z = if bound < 0.0 {
        (0..MAX_REJECTIONS)
            .map(|_| StandardNormal.sample(rng))
            .find(|&z: &f64| z >= bound)
    } else {
        let rate = (bound + (bound * bound + 4.0).sqrt()) / 2.0;
        (0..MAX_REJECTIONS).find_map(|_| {
            let e: f64 = Exp1.sample(rng);
            let z = bound + e / rate;
            let accept = (-(z - rate).powi(2) / 2.0).exp();
            (rng.random::<f64>() <= accept).then_some(z)
        })
    };
    // `mean + sd * bound` is zero up to rounding, hence the clamp.
    z.map_or(mean.max(0.0), |z| (mean + sd * z).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positive_normal_matches_the_truncated_moments() {
        // N(0, 1) truncated at 0 is the half-normal: mean √(2/π).
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let n = 20_000;
        let mean: f64 = (0..n)
            .map(|_| positive_normal(&mut rng, 0.0, 1.0))
            .sum::<f64>()
            / n as f64;
        assert!(
            (mean - (2.0 / std::f64::consts::PI).sqrt()).abs() < 0.02,
            "{mean}"
        );

        // Far in the tail (bound 5 sd above the mean): the mean is about bound + 1/bound.
        let tail: f64 = (0..n)
            .map(|_| positive_normal(&mut rng, -5.0, 1.0))
            .sum::<f64>()
            / n as f64;
        assert!((tail - 0.1865).abs() < 0.01, "{tail}");

        // Bound far below the mean: the plain normal.
        let plain: f64 = (0..n)
            .map(|_| positive_normal(&mut rng, 10.0, 1.0))
            .sum::<f64>()
            / n as f64;
        assert!((plain - 10.0).abs() < 0.05, "{plain}");
    }

    #[test]
    fn log_normal_cdf_matches_known_values_and_stays_finite_in_the_tail() {
        // Φ(0) = 0.5, Φ(1.96) = 0.975002, Φ(-3) = 0.0013499, Φ(-40): ln ≈ -804.608.
        for (x, want) in [
            (0.0, 0.5f64.ln()),
            (1.96, 0.975_002f64.ln()),
            (-3.0, 0.001_349_9f64.ln()),
            (-40.0, -804.608),
        ] {
            let got = log_normal_cdf(x);
            assert!(
                (got - want).abs() < 1e-4 * want.abs().max(1.0),
                "{x}: {got} vs {want}"
            );
        }
        assert!(log_normal_cdf(40.0) <= 0.0 && log_normal_cdf(40.0) > -1e-12);
    }

    #[test]
    fn positive_normal_never_goes_below_zero_nor_loops_on_nan() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert!((0..1000).all(|_| positive_normal(&mut rng, -0.3, 2.0) >= 0.0));
        assert_eq!(positive_normal(&mut rng, f64::NAN, 1.0), 0.0);
    }
}
