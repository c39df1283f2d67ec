//! Server-rendered bar charts: the geometry is computed here as plain data (bars, ticks,
//! labels) and drawn as inline SVG by `templates/_usage.html`, so a chart needs no
//! JavaScript, no inline styles and no HTML built in Rust.

/// The viewBox: wide enough that 12 units of text read at about their true size.
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 52.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 28.0;

/// One rectangle of the chart, with its tooltip.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    /// `bar-platform` or `bar-workspace` (colours come from the style sheet).
    pub class: &'static str,
    pub title: String,
}

/// A horizontal grid line with its value on the y axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    pub y: f64,
    pub label: String,
}

/// A label under the x axis.
#[derive(Debug, Clone, PartialEq)]
pub struct XLabel {
    pub x: f64,
    pub label: String,
}

/// One column of a stacked chart: platform-key and workspace-key amounts.
#[derive(Debug, Clone)]
pub struct Stack {
    /// The full label used in tooltips (`2026-11-20`).
    pub label: String,
    /// The short label under the axis (`Nov 20`).
    pub short: String,
    pub platform: i64,
    pub workspace: i64,
}

/// A stacked bar chart ready for the template.
#[derive(Debug, Clone)]
pub struct BarChart {
    /// Prefix of the element ids (unique on the page).
    pub id: String,
    pub title: String,
    /// A one-sentence summary for screen readers (`<desc>`).
    pub summary: String,
    /// What the y axis counts ("Requests", "Tokens").
    pub y_label: String,
    pub width: f64,
    pub height: f64,
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
    pub bars: Vec<Bar>,
    pub ticks: Vec<Tick>,
    pub x_labels: Vec<XLabel>,
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// The smallest 1, 2 or 5 × 10ⁿ at or above `v` (at least 1).
fn nice(v: i64) -> i64 {
    let mut step = 1_i64;
    loop {
        for m in [1, 2, 5] {
            let candidate = step.saturating_mul(m);
            if candidate >= v || candidate == i64::MAX {
                return candidate;
            }
        }
        step = step.saturating_mul(10);
    }
}

/// Grid lines above the axis.
const TICKS: i64 = 4;

/// The top of the y axis: [`TICKS`] equal steps of a round size covering `v`, so every
/// tick falls on a round number.
fn nice_max(v: i64) -> i64 {
    nice((v + TICKS - 1) / TICKS).saturating_mul(TICKS)
}

/// `1234567` → `1.2M`, for axis ticks where space is short.
pub fn compact(n: i64) -> String {
    let f = n as f64;
    let (v, unit) = match n.abs() {
        0..1_000 => return n.to_string(),
        1_000..1_000_000 => (f / 1e3, "k"),
        1_000_000..1_000_000_000 => (f / 1e6, "M"),
        _ => (f / 1e9, "G"),
    };
    let s = format!("{v:.1}");
    format!("{}{unit}", s.trim_end_matches(".0"))
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl BarChart {
    /// A chart with one column per stack, platform at the bottom and workspace on top.
    /// `unit` names what is counted in tooltips ("requests", "tokens").
    pub fn stacked(id: &str, title: &str, y_label: &str, unit: &str, stacks: &[Stack]) -> Self {
        let plot_w = WIDTH - LEFT - RIGHT;
        let plot_h = HEIGHT - TOP - BOTTOM;
        let base = TOP + plot_h;
        let max = nice_max(
            stacks
                .iter()
                .map(|s| s.platform + s.workspace)
                .max()
                .unwrap_or(0),
        );
        let scale = plot_h / max as f64;
        let slot = plot_w / stacks.len().max(1) as f64;
        let bar_w = round1(slot * 0.7);
        let mut bars = Vec::new();
        let mut x_labels = Vec::new();
        let label_every = stacks.len().div_ceil(6).max(1);
        for (i, s) in stacks.iter().enumerate() {
            let x = round1(LEFT + slot * i as f64 + (slot - bar_w) / 2.0);
            let title = format!(
                "{}: {} platform / {} workspace {unit}",
                s.label,
                thousands(s.platform),
                thousands(s.workspace)
            );
            let platform_h = round1(s.platform as f64 * scale);
            let workspace_h = round1(s.workspace as f64 * scale);
            if s.platform > 0 {
                bars.push(Bar {
                    x,
                    y: round1(base - platform_h),
                    width: bar_w,
                    height: platform_h,
                    class: "bar-platform",
                    title: title.clone(),
                });
            }
            if s.workspace > 0 {
                bars.push(Bar {
                    x,
                    y: round1(base - platform_h - workspace_h),
                    width: bar_w,
                    height: workspace_h,
                    class: "bar-workspace",
                    title,
                });
            }
            // Label every few columns, always the last one (today).
            if (stacks.len() - 1 - i).is_multiple_of(label_every) {
                x_labels.push(XLabel {
                    x: round1(LEFT + slot * (i as f64 + 0.5)),
                    label: s.short.clone(),
                });
            }
        }
        let ticks = (0..=TICKS)
            .map(|k| Tick {
                y: round1(base - plot_h * k as f64 / TICKS as f64),
                label: compact(max / TICKS * k),
            })
            .collect();
        let (platform, workspace) = stacks
            .iter()
            .fold((0, 0), |(p, w), s| (p + s.platform, w + s.workspace));
        BarChart {
            id: id.to_owned(),
            title: title.to_owned(),
            summary: format!(
                "In total {} {unit} on the platform key and {} on workspace keys.",
                thousands(platform),
                thousands(workspace)
            ),
            y_label: y_label.to_owned(),
            width: WIDTH,
            height: HEIGHT,
            left: LEFT,
            right: WIDTH - RIGHT,
            top: TOP,
            bottom: base,
            bars,
            ticks,
            x_labels,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(p: i64, w: i64) -> Stack {
        Stack {
            label: "2026-11-20".into(),
            short: "Nov 20".into(),
            platform: p,
            workspace: w,
        }
    }

    #[test]
    fn bars_stack_workspace_on_platform_and_fit_the_plot() {
        let c = BarChart::stacked(
            "c",
            "t",
            "Requests",
            "requests",
            &[stack(120, 40), stack(0, 0)],
        );

        assert_eq!(c.bars.len(), 2, "an empty day draws no bar");
        let (p, w) = (&c.bars[0], &c.bars[1]);
        assert_eq!((p.class, w.class), ("bar-platform", "bar-workspace"));
        assert_eq!(p.title, "2026-11-20: 120 platform / 40 workspace requests");
        assert!(
            (p.y + p.height - c.bottom).abs() < 0.2,
            "platform sits on the axis"
        );
        assert!(
            (w.y + w.height - p.y).abs() < 0.2,
            "workspace sits on platform"
        );
        assert!(w.y >= c.top, "the tallest stack fits under the top");
        assert_eq!(c.ticks.last().map(|t| t.label.as_str()), Some("200"));
    }

    #[test]
    fn numbers_are_formatted_for_people() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(12_400), "12,400");
        assert_eq!(thousands(-1_234_567), "-1,234,567");
        assert_eq!(compact(999), "999");
        assert_eq!(compact(1_000), "1k");
        assert_eq!(compact(2_500_000), "2.5M");
        assert_eq!(nice_max(0), 4);
        assert_eq!(nice_max(5), 8);
        assert_eq!(nice_max(160), 200);
        assert_eq!(nice_max(501), 800);
    }
}
