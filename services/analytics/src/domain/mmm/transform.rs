//! The way a channel's spend turns into its daily effect on revenue before the
//! regression weighs it: geometric adstock (an ad keeps working on the days after it
//! ran) and then a saturating curve (each further unit of money buys less).
//!
//! Both are fixed functions of the spend and one decay; the regression coefficient is
//! the only scale, so a channel's contribution is `β · Σ_t response_t` and its ROI that
//! over its spend.

/// The adstock decays the model chooses among, per channel. A weekly carry-over of
/// 0.8⁷ ≈ 0.21 is already long for paid media; beyond it the adstocked series are so
/// smooth that days of a few months' data no longer tell the decays apart.
pub const DECAY_GRID: [f64; 9] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8];

/// Geometric adstock: `a_t = x_t + decay · a_{t-1}`, starting from nothing carried in
/// from before the first day (the spend before the window is unknown).
pub fn adstock(spend: &[f64], decay: f64) -> Vec<f64> {
    let mut carried = 0.0;
    spend
        .iter()
        .map(|&x| {
            carried = x + decay * carried;
            carried
        })
        .collect()
}

/// The channel's half-way point of the saturation curve: the median of its adstocked
/// spend over the days it has any, so `saturate` maps a typical day to `1 - 1/e` ≈ 0.63
/// whatever the currency or budget, and the coefficients of channels stay comparable.
/// Days without spend are left out, or a channel that spends one day a week would get
/// a median of zero. `None` when the channel never spends.
pub fn saturation_scale(adstocked: &[f64]) -> Option<f64> {
    let mut positive: Vec<f64> = adstocked.iter().copied().filter(|&a| a > 0.0).collect();
    if positive.is_empty() {
        return None;
    }
    positive.sort_by(f64::total_cmp);
    let mid = positive.len() / 2;
    let median = if positive.len().is_multiple_of(2) {
        (positive[mid - 1] + positive[mid]) / 2.0
    } else {
        positive[mid]
    };
    Some(median)
}

/// The saturation curve `1 - exp(-a / scale)`: zero at no spend, rising with slope
/// `1/scale`, never above one.
pub fn saturate(adstocked: &[f64], scale: f64) -> Vec<f64> {
    // exp_m1 keeps the precision of small responses that 1 - exp(..) would cancel away.
    adstocked.iter().map(|&a| -(-a / scale).exp_m1()).collect()
}

/// The channel's daily response to its spend for one decay: adstock, then saturation
/// at the channel's own scale. `None` when the channel never spends.
pub fn response(spend: &[f64], decay: f64) -> Option<Vec<f64>> {
    let adstocked = adstock(spend, decay);
    let scale = saturation_scale(&adstocked)?;
    Some(saturate(&adstocked, scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adstock_carries_a_decaying_share_forward() {
        assert_eq!(
            adstock(&[100.0, 0.0, 0.0, 10.0], 0.5),
            vec![100.0, 50.0, 25.0, 22.5]
        );
        assert_eq!(adstock(&[3.0, 4.0], 0.0), vec![3.0, 4.0]);
    }

    #[test]
    fn the_scale_is_the_median_of_days_with_spend() {
        assert_eq!(saturation_scale(&[0.0, 5.0, 1.0, 0.0, 9.0]), Some(5.0));
        assert_eq!(saturation_scale(&[0.0, 2.0, 4.0]), Some(3.0));
        assert_eq!(saturation_scale(&[0.0, 0.0]), None);
    }

    #[test]
    fn saturation_maps_the_scale_to_one_minus_one_over_e() {
        let s = saturate(&[0.0, 10.0, 1e9], 10.0);
        assert_eq!(s[0], 0.0);
        assert!((s[1] - (1.0 - (-1.0f64).exp())).abs() < 1e-12);
        assert!((s[2] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn a_channel_that_never_spends_has_no_response() {
        assert_eq!(response(&[0.0; 5], 0.3), None);
    }
}
