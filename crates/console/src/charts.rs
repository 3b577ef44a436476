//! Charts drawn on the server as inline SVG: no script and no chart library, so a session's
//! meter curve shows without JavaScript and in a screenshot. One chart kind: a line of values
//! over time, with the axes labelled at their ends. The SVG carries a `<title>` and `<desc>`
//! and `role="img"`, so screen readers announce it; the same figures are in a table next to it.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

/// One point of a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Point {
    pub(crate) at: DateTime<Utc>,
    /// The plotted value. Screen geometry only: money and energy are never computed in floats.
    pub(crate) value: f64,
}

/// What to draw.
pub(crate) struct LineChart<'a> {
    pub(crate) title: &'a str,
    pub(crate) unit: &'a str,
    pub(crate) points: &'a [Point],
    /// Labels of the first and last time, already in the operator's zone.
    pub(crate) start_label: &'a str,
    pub(crate) end_label: &'a str,
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 36.0;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl LineChart<'_> {
    /// The SVG markup; `None` with fewer than two points (nothing to draw a line through).
    pub(crate) fn svg(&self) -> Option<String> {
        let (first, last) = (self.points.first()?, self.points.last()?);
        if self.points.len() < 2 {
            return None;
        }
        let t0 = first.at.timestamp_millis() as f64;
        let span = (last.at.timestamp_millis() as f64 - t0).max(1.0);
        let max = self
            .points
            .iter()
            .map(|p| p.value)
            .fold(0.0_f64, f64::max)
            .max(1e-9);
        let min = self.points.iter().map(|p| p.value).fold(0.0_f64, f64::min);
        let range = max - min;
        let (w, h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
        let x = |p: &Point| LEFT + (p.at.timestamp_millis() as f64 - t0) / span * w;
        let y = |v: f64| TOP + h - (v - min) / range * h;
        let mut path = String::new();
        for (i, p) in self.points.iter().enumerate() {
            let _ = write!(
                path,
                "{}{:.1},{:.1}",
                if i == 0 { "M" } else { " L" },
                x(p),
                y(p.value)
            );
        }
        let title = escape(self.title);
        let unit = escape(self.unit);
        let desc = format!(
            "{} {}: {} … {}, max {:.3} {}",
            title,
            self.points.len(),
            escape(self.start_label),
            escape(self.end_label),
            max,
            unit
        );
        let mut svg = String::new();
        let _ = write!(
            svg,
            "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" font-size=\"11\" \
             aria-labelledby=\"chart-title chart-desc\" xmlns=\"http://www.w3.org/2000/svg\">\
             <title id=\"chart-title\">{title}</title><desc id=\"chart-desc\">{desc}</desc>\
             <line class=\"axis\" x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{yb}\" stroke=\"#9aa5b3\"/>\
             <line class=\"axis\" x1=\"{LEFT}\" y1=\"{yb}\" x2=\"{xr}\" y2=\"{yb}\" stroke=\"#9aa5b3\"/>\
             <text class=\"tick\" x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\">{max:.1}</text>\
             <text class=\"tick\" x=\"{lx}\" y=\"{yb}\" text-anchor=\"end\">{min:.1}</text>\
             <text class=\"tick\" x=\"{LEFT}\" y=\"{by}\">{start}</text>\
             <text class=\"tick\" x=\"{xr}\" y=\"{by}\" text-anchor=\"end\">{end}</text>\
             <text class=\"unit\" x=\"{ux}\" y=\"{uy}\">{unit}</text>\
             <path class=\"series\" d=\"{path}\" fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"2\"/></svg>",
            yb = TOP + h,
            xr = LEFT + w,
            lx = LEFT - 6.0,
            ty = TOP + 4.0,
            by = HEIGHT - 10.0,
            ux = LEFT + 6.0,
            uy = TOP + 10.0,
            start = escape(self.start_label),
            end = escape(self.end_label),
        );
        Some(svg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn chart(points: &[Point]) -> Option<String> {
        LineChart {
            title: "Energy <kWh>",
            unit: "kWh",
            points,
            start_label: "10:00",
            end_label: "10:30",
        }
        .svg()
    }

    #[test]
    fn a_line_runs_from_the_left_bottom_to_the_right_top() {
        let t0 = Utc::now();
        let pts = [
            Point { at: t0, value: 0.0 },
            Point {
                at: t0 + TimeDelta::minutes(15),
                value: 5.0,
            },
            Point {
                at: t0 + TimeDelta::minutes(30),
                value: 10.0,
            },
        ];
        let svg = chart(&pts).unwrap();
        // First point at the origin of the plot area, last at its top right.
        assert!(
            svg.contains("d=\"M56.0,204.0 L342.0,110.0 L628.0,16.0\""),
            "{svg}"
        );
        assert!(svg.contains("<title id=\"chart-title\">Energy &lt;kWh&gt;</title>"));
        assert!(svg.contains(">10.0</text>"));
    }

    #[test]
    fn one_point_is_no_chart() {
        assert!(
            chart(&[Point {
                at: Utc::now(),
                value: 1.0
            }])
            .is_none()
        );
        assert!(chart(&[]).is_none());
    }
}
