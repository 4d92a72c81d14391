//! The CLI's progress bars on stderr, through indicatif: the benches' run bar (time
//! fills it; the message carries the successes, current rate and errors) and the
//! counted bars of set-up work (`seed --demo`'s products, `bench ingest`'s pre-signed
//! deliveries). indicatif draws only when stderr is a terminal, so piped runs, logs
//! and `--json` reports on stdout stay clean.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressState, ProgressStyle};

/// The run bar: elapsed over total (the position and length are milliseconds), then
/// the message of [`run_message`].
const RUN_TEMPLATE: &str = "[{bar:24}] {at:>6}/{total}  {msg}";
/// A counted bar: `[####----] 12/50 products (3s)`.
const COUNTED_TEMPLATE: &str = "[{bar:24}] {pos}/{len} {msg} ({elapsed})";

/// A bar over a run lasting `total`. Move it with `set_position(elapsed ms)` and
/// `set_message(run_message(..))`; end it with `finish()` (it stays on screen).
pub fn run_bar(total: Duration) -> ProgressBar {
    let millis = u64::try_from(total.as_millis()).unwrap_or(u64::MAX);
    ProgressBar::new(millis).with_style(
        style(RUN_TEMPLATE)
            .with_key(
                "at",
                |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                    let _ = write!(out, "{:.1}s", state.pos() as f64 / 1_000.0);
                },
            )
            .with_key(
                "total",
                |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                    let total = Duration::from_millis(state.len().unwrap_or(0));
                    let _ = write!(out, "{}", humantime::format_duration(total));
                },
            ),
    )
}

/// The run bar's message: the successes (named `what`), the current rate, the errors,
/// and whether the warm-up (not recorded) is still on.
pub fn run_message(what: &str, done: u64, rate: f64, errors: u64, warming_up: bool) -> String {
    let mut message = format!("{what} {done}  {rate:.1}/s  errors {errors}");
    if warming_up {
        message.push_str("  (warm-up)");
    }
    message
}

/// A bar over `len` pieces of work called `what` (`products`, `signed`); move it with
/// `inc`, end it with `finish_and_clear()` once a summary line is printed instead.
pub fn counted_bar(len: u64, what: &'static str) -> ProgressBar {
    ProgressBar::new(len)
        .with_style(style(COUNTED_TEMPLATE))
        .with_message(what)
}

/// The style of a template of this module, with `#` filling the bar.
fn style(template: &str) -> ProgressStyle {
    // The templates are this module's constants, which the tests parse; the fallback
    // only keeps a typo from becoming a panic.
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("#-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_templates_parse() {
        for template in [RUN_TEMPLATE, COUNTED_TEMPLATE] {
            assert!(ProgressStyle::with_template(template).is_ok(), "{template}");
        }
    }

    #[test]
    fn the_run_bar_counts_milliseconds_of_the_run() {
        let bar = run_bar(Duration::from_secs(90));
        assert_eq!(bar.length(), Some(90_000));
        let counted = counted_bar(50, "products");
        assert_eq!(counted.length(), Some(50));
        assert_eq!(counted.message(), "products");
    }

    #[test]
    fn the_run_message_shows_successes_rate_errors_and_warm_up() {
        let line = run_message("settled", 42, 8.5, 1, false);
        assert_eq!(line, "settled 42  8.5/s  errors 1");
        let warming = run_message("accepted", 0, 0.0, 0, true);
        assert!(warming.ends_with("(warm-up)"), "{warming}");
    }
}
