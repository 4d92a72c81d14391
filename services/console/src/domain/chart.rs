//! The admin dashboard's charts, drawn on the server as SVG with plotters: a time series
//! as bars (counts) or a line (money, rates), labelled for screen readers. No script
//! draws them and nothing inline is styled, so they live under the console's CSP.

use plotters::prelude::*;

const WIDTH: u32 = 560;
const HEIGHT: u32 = 220;
const INK: RGBColor = RGBColor(0x1f, 0x3a, 0x5f);
const GRID: RGBColor = RGBColor(0xd6, 0xdc, 0xe4);

/// How a series' values read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A count (orders, payments).
    Count,
    /// Minor units of a currency.
    Money,
    /// A ratio 0..1, shown as a percentage.
    Ratio,
}

impl Unit {
    /// The API's unit name (`orders`, `minor_units`, `ratio`).
    pub fn of(name: &str) -> Self {
        match name {
            "minor_units" => Unit::Money,
            "ratio" => Unit::Ratio,
            _ => Unit::Count,
        }
    }

    fn label(self, value: f64) -> String {
        match self {
            // Whole counts only: a gridline at 0.5 orders says nothing.
            Unit::Count if (value - value.round()).abs() > 1e-9 => String::new(),
            Unit::Count => format!("{value:.0}"),
            Unit::Money => format!("{:.0}", value / 100.0),
            Unit::Ratio => format!("{:.0}%", value * 100.0),
        }
    }
}

/// One chart: its title, the points' labels (times) and values (`None`: no data).
#[derive(Debug, Clone)]
pub struct Series {
    /// What it shows, also its accessible name.
    pub title: String,
    /// How the values read.
    pub unit: Unit,
    /// Each bucket's label (`14:05`).
    pub labels: Vec<String>,
    /// Each bucket's value.
    pub values: Vec<Option<f64>>,
}

impl Series {
    /// The chart as an SVG element: bars for counts, a line otherwise.
    pub fn svg(&self) -> String {
        let mut svg = String::new();
        let drawn = {
            let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
            self.draw(&root)
        };
        if drawn.is_err() {
            return String::new();
        }
        self.accessible(&svg)
    }

    fn draw(
        &self,
        root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    ) -> Result<(), Box<dyn std::error::Error + '_>> {
        root.fill(&WHITE)?;
        let count = self.values.len().max(1);
        let top = self
            .values
            .iter()
            .flatten()
            .copied()
            .fold(0.0_f64, f64::max);
        let top = match self.unit {
            Unit::Ratio => 1.0,
            _ if top <= 0.0 => 1.0,
            _ => top * 1.15,
        };
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(24)
            .y_label_area_size(48)
            .build_cartesian_2d(0.0..count as f64, 0.0..top)?;
        let labels = &self.labels;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .max_light_lines(0)
            .bold_line_style(GRID)
            .axis_style(INK)
            .x_labels(6)
            .x_label_formatter(&|x| {
                labels
                    .get(x.floor().max(0.0) as usize)
                    .cloned()
                    .unwrap_or_default()
            })
            .y_labels(5)
            .y_label_formatter(&|y| self.unit.label(*y))
            .label_style(("sans-serif", 12).into_font().color(&INK))
            .draw()?;
        match self.unit {
            Unit::Count => {
                chart.draw_series(self.values.iter().enumerate().filter_map(|(i, v)| {
                    let v = (*v)?;
                    let x = i as f64;
                    Some(Rectangle::new([(x + 0.1, 0.0), (x + 0.9, v)], INK.filled()))
                }))?;
            }
            Unit::Money | Unit::Ratio => {
                chart.draw_series(LineSeries::new(
                    self.values
                        .iter()
                        .enumerate()
                        .filter_map(|(i, v)| Some((i as f64 + 0.5, (*v)?))),
                    INK.stroke_width(2),
                ))?;
            }
        }
        root.present()?;
        Ok(())
    }

    /// The SVG with its accessible name (`role="img"` and a `<title>`).
    fn accessible(&self, svg: &str) -> String {
        let title = escape(&self.title);
        match svg.split_once('>') {
            Some((open, rest)) if open.starts_with("<svg") => {
                format!("{open} role=\"img\" aria-label=\"{title}\"><title>{title}</title>{rest}")
            }
            _ => svg.to_owned(),
        }
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(unit: Unit, values: Vec<Option<f64>>) -> Series {
        Series {
            title: "Orders per minute <last hour>".into(),
            unit,
            labels: (0..values.len()).map(|i| format!("14:{i:02}")).collect(),
            values,
        }
    }

    #[test]
    fn counts_are_bars_and_the_chart_is_named() {
        let svg = series(Unit::Count, vec![Some(1.0), None, Some(3.0)]).svg();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("<title>Orders per minute &lt;last hour&gt;</title>"));
        assert_eq!(
            svg.matches("<rect").count() - 1,
            2,
            "one bar per known value, past the background"
        );
        assert!(
            !svg.contains("style="),
            "no inline style: the CSP forbids it"
        );
    }

    #[test]
    fn money_is_a_line_and_an_empty_series_still_draws() {
        let svg = series(Unit::Money, vec![Some(1200.0), Some(900.0)]).svg();
        assert!(svg.contains("<polyline"), "{svg}");
        assert!(series(Unit::Ratio, Vec::new()).svg().starts_with("<svg"));
    }
}
