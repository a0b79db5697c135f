//! Usage charts, drawn as SVG on the server: they show before the wasm
//! loads and need no chart library in the bundle. Each has a title, a
//! sentence that says what it shows, and the numbers as a table; hovering
//! a day's bar shows that day's numbers (the bar's own `<title>`).

use crate::{
    app::table::{Column, DataRow, DataTable},
    keys::model::DailyUsage,
};
use leptos::prelude::*;

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 160.0;
/// Room under the bars for the first and last dates.
const AXIS: f64 = 18.0;

/// Requests per day, each day's bar split into valid (below) and refused
/// (above).
#[component]
pub fn UsageChart(
    /// Oldest first, every day present.
    days: Vec<DailyUsage>,
    /// What the chart is of, e.g. "Requests per day, last 30 days".
    title: String,
) -> impl IntoView {
    let summary = summary(&days);
    let peak = days.iter().map(DailyUsage::total).max().unwrap_or(0);
    let scale = if peak == 0 {
        0.0
    } else {
        (HEIGHT - AXIS - 4.0) / peak as f64
    };
    let slot = WIDTH / days.len().max(1) as f64;
    let bars = days
        .iter()
        .enumerate()
        .map(|(i, day)| {
            let x = i as f64 * slot + 1.0;
            let valid = day.valid as f64 * scale;
            let refused = day.refused.total() as f64 * scale;
            let base = HEIGHT - AXIS;
            view! {
                <g class="chart-day">
                    <title>{day_label(day)}</title>
                    <rect class="chart-hover" x=x y=0 width=slot - 2.0 height=base />
                    <rect class="chart-valid" x=x y=base - valid width=slot - 2.0 height=valid />
                    <rect class="chart-refused" x=x y=base - valid - refused width=slot - 2.0 height=refused />
                </g>
            }
        })
        .collect_view();
    view! {
        <figure class="chart">
            <ChartSvg id="usage-chart" title=title.clone() span=span_of(&days) peak>{bars}</ChartSvg>
            <figcaption id="usage-chart-summary">{summary}</figcaption>
            <p class="chart-legend" aria-hidden="true">
                <span class="swatch chart-valid"></span>"Valid "
                <span class="swatch chart-refused"></span>"Refused"
            </p>
            <details>
                <summary>"Show the numbers"</summary>
                <UsageTable days title />
            </details>
        </figure>
    }
}

/// The first and last dates of `days`.
fn span_of(days: &[DailyUsage]) -> (String, String) {
    let date = |day: Option<&DailyUsage>| day.map(|d| d.date.clone()).unwrap_or_default();
    (date(days.first()), date(days.last()))
}

/// A chart's drawing: its bars (the children), the first and last dates,
/// and the peak; labelled by its title and by the caption whose id is
/// `{id}-summary`.
#[component]
fn ChartSvg(
    id: &'static str,
    title: String,
    /// The first and last dates.
    span: (String, String),
    peak: i64,
    children: Children,
) -> impl IntoView {
    let (first, last) = span;
    view! {
        <svg
            viewBox=format!("0 0 {WIDTH} {HEIGHT}")
            role="img"
            aria-labelledby=format!("{id}-title {id}-summary")
        >
            <title id=format!("{id}-title")>{title}</title>
            {children()}
            <text class="chart-axis" x=0 y=HEIGHT - 4.0>{first}</text>
            <text class="chart-axis" x=WIDTH y=HEIGHT - 4.0 text-anchor="end">{last}</text>
            <text class="chart-axis" x=4 y=12>{format!("peak {peak} a day")}</text>
        </svg>
    }
}

/// Credits spent per day: one bar a day.
#[component]
pub fn CreditsChart(
    /// Oldest first, every day present.
    days: Vec<DailyUsage>,
    title: String,
) -> impl IntoView {
    let total: i64 = days.iter().map(|day| day.credits_spent).sum();
    let peak = days.iter().map(|day| day.credits_spent).max().unwrap_or(0);
    let scale = if peak == 0 {
        0.0
    } else {
        (HEIGHT - AXIS - 4.0) / peak as f64
    };
    let slot = WIDTH / days.len().max(1) as f64;
    let base = HEIGHT - AXIS;
    let bars = days
        .iter()
        .enumerate()
        .map(|(i, day)| {
            let x = i as f64 * slot + 1.0;
            let spent = day.credits_spent as f64 * scale;
            view! {
                <g class="chart-day">
                    <title>{format!("{}: {} credits spent", day.date, day.credits_spent)}</title>
                    <rect class="chart-hover" x=x y=0 width=slot - 2.0 height=base />
                    <rect class="chart-valid" x=x y=base - spent width=slot - 2.0 height=spent />
                </g>
            }
        })
        .collect_view();
    let summary = format!(
        "{total} credit{} spent in the last {} days.",
        if total == 1 { "" } else { "s" },
        days.len()
    );
    let svg = view! { <ChartSvg id="credits-chart" title=title.clone() span=span_of(&days) peak>{bars}</ChartSvg> };
    let rows: Vec<DailyUsage> = days.into_iter().rev().collect();
    view! {
        <figure class="chart">
            {svg}
            <figcaption id="credits-chart-summary">{summary}</figcaption>
            <details>
                <summary>"Show the numbers"</summary>
                <DataTable
                    label=title
                    class="usage"
                    columns=vec![Column::row_header("Date (UTC)"), Column::number("Credits spent")]
                    rows=rows
                    row=|day: DailyUsage| DataRow::new(vec![day.date.into_any(), day.credits_spent.into_any()])
                    empty="No days to show."
                />
            </details>
        </figure>
    }
}

const USAGE_COLUMNS: [Column; 8] = [
    Column::row_header("Date (UTC)"),
    Column::number("Valid"),
    Column::number("Revoked"),
    Column::number("Expired"),
    Column::number("Insufficient scope"),
    Column::number("IP not allowed"),
    Column::number("Rate limited"),
    Column::number("Usage exceeded"),
];

/// The chart's numbers, newest day first.
#[component]
fn UsageTable(days: Vec<DailyUsage>, title: String) -> impl IntoView {
    let day_row = |day: DailyUsage| {
        DataRow::new(vec![
            day.date.into_any(),
            day.valid.into_any(),
            day.refused.revoked.into_any(),
            day.refused.expired.into_any(),
            day.refused.insufficient_scope.into_any(),
            day.refused.ip_not_allowed.into_any(),
            day.refused.rate_limited.into_any(),
            day.refused.usage_exceeded.into_any(),
        ])
    };
    view! {
        <DataTable
            label=title
            class="usage"
            columns=USAGE_COLUMNS.to_vec()
            rows={days.into_iter().rev().collect::<Vec<_>>()}
            row=day_row
            empty="No days to show."
        />
    }
}

fn day_label(day: &DailyUsage) -> String {
    format!(
        "{}: {} valid, {} refused",
        day.date,
        day.valid,
        day.refused.total()
    )
}

/// One sentence with what the chart shows.
fn summary(days: &[DailyUsage]) -> String {
    let valid: i64 = days.iter().map(|d| d.valid).sum();
    let refused: i64 = days.iter().map(|d| d.refused.total()).sum();
    let total = valid + refused;
    let span = match days.len() {
        1 => "the last day".to_owned(),
        n => format!("the last {n} days"),
    };
    if total == 0 {
        return format!("No verifications in {span}.");
    }
    let busiest = days
        .iter()
        .max_by_key(|d| (d.total(), std::cmp::Reverse(d.date.clone())))
        .map(|d| format!(" Busiest day: {} ({}).", d.date, d.total()))
        .unwrap_or_default();
    format!(
        "{total} verification{} in {span}: {valid} valid, {refused} refused.{busiest}",
        if total == 1 { "" } else { "s" },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::model::Refusals;

    fn day(date: &str, valid: i64, revoked: i64) -> DailyUsage {
        DailyUsage {
            date: date.into(),
            valid,
            refused: Refusals {
                revoked,
                ..Refusals::default()
            },
            credits_spent: valid,
        }
    }

    #[test]
    fn the_summary_says_the_totals_and_the_busiest_day() {
        let days = [
            day("2026-11-23", 0, 0),
            day("2026-11-24", 3, 1),
            day("2026-11-25", 2, 0),
        ];
        assert_eq!(
            summary(&days),
            "6 verifications in the last 3 days: 5 valid, 1 refused. Busiest day: 2026-11-24 (4)."
        );
        assert_eq!(summary(&days[..1]), "No verifications in the last day.");
        assert_eq!(day_label(&days[1]), "2026-11-24: 3 valid, 1 refused");
    }
}
