//! SVG plots (plotters' SVG backend: no system libraries, no fonts needed). Every plot has a
//! title, axis labels with units and a legend. Series lines are drawn 2 px wide and reference
//! lines (targets, limits, events) 1 px dashed-looking light lines, so a reader — or a test —
//! tells them apart.

use super::ReportError;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const SIZE: (u32, u32) = (1000, 420);

/// The plot's share of the width; the legend stands to its right, off the data.
const PLOT_WIDTH: u32 = 730;

/// Legend rows that fit beside the plot; more series are summed up in one last row.
const LEGEND_ROWS: usize = 20;

/// Legend names longer than this are cut (with …) to stay within the legend's column.
const LEGEND_CHARS: usize = 40;

/// The colours of successive series: Okabe–Ito (readable by colour-blind readers), then darker
/// tones of the same hues — sixteen, so no colour repeats within a plot of up to sixteen series
/// (four designs × four variants in `compare`).
const PALETTE: [RGBColor; 16] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
    RGBColor(0, 60, 110),
    RGBColor(140, 50, 0),
    RGBColor(0, 95, 70),
    RGBColor(130, 60, 100),
    RGBColor(150, 100, 0),
    RGBColor(40, 110, 150),
    RGBColor(150, 140, 20),
    RGBColor(110, 110, 110),
];

/// Dash patterns (SVG `stroke-dasharray`), the second cue besides colour: solid, dashed,
/// dotted, dash-dot.
const DASHES: [&str; 4] = ["", "8 4", "2 3", "10 3 2 3"];

/// The i-th series' colour: the 16 of the palette, then hues a golden angle apart at two
/// lightnesses, so no colour repeats within a plot (the legend holds at most 20 rows).
pub fn colour(i: usize) -> RGBColor {
    if let Some(c) = PALETTE.get(i) {
        return *c;
    }
    let k = i - PALETTE.len();
    let hue = (k as f64 * 137.507_764) % 360.0 / 360.0;
    let lightness = if k.is_multiple_of(2) { 0.35 } else { 0.55 };
    let (r, g, b) = HSLColor(hue, 0.75, lightness).to_rgba().rgb();
    RGBColor(r, g, b)
}

/// The dash pattern of series `i` (empty: solid).
pub fn dash(i: usize) -> &'static str {
    DASHES[i % DASHES.len()]
}

/// Gives each series' lines (2 px wide, in the series' own colour) its dash pattern. Colours are
/// unique within a plot of up to sixteen series, so the colour finds the series.
fn with_dashes(svg: String, series: usize) -> String {
    let mut out = svg;
    for i in 0..series {
        let d = dash(i);
        if d.is_empty() {
            continue;
        }
        let c = colour(i);
        let key = format!(
            "stroke=\"#{:02X}{:02X}{:02X}\" stroke-width=\"2\"",
            c.0, c.1, c.2
        );
        out = out.replace(&key, &format!("{key} stroke-dasharray=\"{d}\""));
    }
    out
}

/// One line of a line chart.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// A reference line: vertical at an x (an event) or horizontal at a y (a target, a limit).
pub enum Mark {
    X(f64, String),
    Y(f64, String),
}

pub struct LineChart<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub series: &'a [Series],
    pub marks: &'a [Mark],
    /// A logarithmic y axis (values ≤ 0 are drawn at the bottom).
    pub log_y: bool,
}

fn bounds(series: &[Series], marks: &[Mark]) -> (f64, f64, f64, f64) {
    let xs = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .chain(marks.iter().filter_map(|m| match m {
            Mark::X(x, _) => Some(*x),
            Mark::Y(..) => None,
        }));
    let ys = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .chain(marks.iter().filter_map(|m| match m {
            Mark::Y(y, _) => Some(*y),
            Mark::X(..) => None,
        }));
    let (x0, x1) = xs.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
    let (y0, y1) = ys.fold((f64::MAX, f64::MIN), |(a, b), y| (a.min(y), b.max(y)));
    let fix = |lo: f64, hi: f64| {
        if lo > hi {
            (0.0, 1.0)
        } else if lo == hi {
            (lo - 1.0, hi + 1.0)
        } else {
            (lo, hi)
        }
    };
    let (x0, x1) = fix(x0, x1);
    let (y0, y1) = fix(y0, y1);
    (x0, x1, y0, y1)
}

/// A tick label: whole numbers on wide axes, two decimals on narrow ones.
fn tick(v: f64, span: f64) -> String {
    if span >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn err<E: std::fmt::Debug>(e: E) -> ReportError {
    ReportError::Plot(format!("{e:?}"))
}

/// Draws a line chart to an SVG document.
pub fn line_chart(c: &LineChart) -> Result<String, ReportError> {
    let mut svg = String::new();
    {
        let whole = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        whole.fill(&WHITE).map_err(err)?;
        let (root, side) = whole.split_horizontally(PLOT_WIDTH);
        let names: Vec<&str> = c.series.iter().map(|s| s.name.as_str()).collect();
        legend(&side, &names, Sample::Line)?;
        let (x0, x1, y0, y1) = bounds(c.series, c.marks);
        if c.log_y {
            let positive = c
                .series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.1))
                .filter(|y| *y > 0.0)
                .fold(f64::MAX, f64::min);
            // Twelve decades at most below the top: the tail beyond says nothing to a reader.
            let lo = if positive == f64::MAX {
                1e-9
            } else {
                (positive / 2.0).max(y1 * 1e-12).max(1e-300)
            };
            let hi = y1.max(lo * 10.0);
            let mut chart = frame(&root, c.title)
                .build_cartesian_2d(x0..x1, (lo..hi).log_scale())
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc(c.x_label)
                .y_desc(c.y_label)
                .x_label_formatter(&|v| tick(*v, x1 - x0))
                .y_label_formatter(&|v| format!("{v:.0e}"))
                .max_light_lines(0)
                .draw()
                .map_err(err)?;
            draw(&mut chart, c, lo)?;
        } else {
            let pad = (y1 - y0) * 0.05;
            let mut chart = frame(&root, c.title)
                .build_cartesian_2d(x0..x1, (y0.min(0.0))..(y1 + pad))
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc(c.x_label)
                .y_desc(c.y_label)
                .x_label_formatter(&|v| tick(*v, x1 - x0))
                .y_label_formatter(&|v| tick(*v, y1 - y0))
                .max_light_lines(0)
                .draw()
                .map_err(err)?;
            draw(&mut chart, c, y0.min(0.0))?;
        }
        whole.present().map_err(err)?;
    }
    Ok(with_dashes(svg, c.series.len()))
}

fn frame<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    title: &str,
) -> ChartBuilder<'a, 'b, SVGBackend<'b>> {
    let mut b = ChartBuilder::on(root);
    b.caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(64);
    b
}

fn draw<'a, 'b: 'a, Y>(
    chart: &mut ChartContext<
        'a,
        SVGBackend<'b>,
        Cartesian2d<plotters::coord::types::RangedCoordf64, Y>,
    >,
    c: &LineChart,
    floor: f64,
) -> Result<(), ReportError>
where
    Y: Ranged<ValueType = f64>,
{
    let (x0, x1, y0, y1) = bounds(c.series, c.marks);
    let _ = y0;
    let grey = RGBColor(120, 120, 120);
    let mut nth_x = 0usize;
    for m in c.marks {
        let (pts, label) = match m {
            Mark::X(x, l) => (vec![(*x, floor), (*x, y1)], l),
            Mark::Y(y, l) => (vec![(x0, *y), (x1, *y)], l),
        };
        chart
            .draw_series(std::iter::once(PathElement::new(
                pts.clone(),
                grey.stroke_width(1),
            )))
            .map_err(err)?;
        // Horizontal marks are labelled at their left end; vertical ones near their top, on one
        // of five staggered rows so that close events keep readable labels.
        let at = match m {
            Mark::X(x, _) => {
                let row = (nth_x % 5) as f64;
                nth_x += 1;
                let y = if c.log_y {
                    y1 / 10f64.powf(0.6 * row)
                } else {
                    y1 - (y1 - floor) * 0.05 * row
                };
                (*x, y)
            }
            Mark::Y(..) => pts[0],
        };
        chart
            .draw_series(std::iter::once(Text::new(
                label.clone(),
                at,
                ("sans-serif", 12).into_font().color(&grey),
            )))
            .map_err(err)?;
    }
    for (i, s) in c.series.iter().enumerate() {
        let col = colour(i);
        chart
            .draw_series(LineSeries::new(
                s.points
                    .iter()
                    .map(|(x, y)| (*x, if *y > floor { *y } else { floor })),
                col.stroke_width(2),
            ))
            .map_err(err)?;
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Sample {
    Line,
    Bar,
}

/// The legend in its own column beside the plot: a sample in each series' style (a line's dash
/// is added with the series') and its name.
fn legend(
    area: &DrawingArea<SVGBackend, Shift>,
    names: &[&str],
    sample: Sample,
) -> Result<(), ReportError> {
    let font = ("sans-serif", 12).into_font();
    let text = TextStyle::from(font).pos(Pos::new(HPos::Left, VPos::Center));
    let shown = if names.len() > LEGEND_ROWS {
        LEGEND_ROWS - 1
    } else {
        names.len()
    };
    for (i, name) in names.iter().enumerate().take(shown) {
        let y = 48 + 18 * i as i32;
        let col = colour(i);
        match sample {
            Sample::Line => area.draw(&PathElement::new(
                vec![(6, y), (30, y)],
                col.stroke_width(2),
            )),
            Sample::Bar => area.draw(&Rectangle::new([(8, y - 5), (28, y + 5)], col.filled())),
        }
        .map_err(err)?;
        let label = if name.chars().count() > LEGEND_CHARS {
            let cut: String = name.chars().take(LEGEND_CHARS - 1).collect();
            format!("{cut}…")
        } else {
            name.to_string()
        };
        area.draw(&Text::new(label, (36, y), text.clone()))
            .map_err(err)?;
    }
    if shown < names.len() {
        let y = 48 + 18 * shown as i32;
        area.draw(&Text::new(
            format!("… and {} more series", names.len() - shown),
            (36, y),
            text.clone(),
        ))
        .map_err(err)?;
    }
    Ok(())
}

/// Grouped bars: one group per category, one bar per series in each.
pub struct BarChart<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub categories: &'a [String],
    /// (series name, one value per category)
    pub series: &'a [(String, Vec<f64>)],
}

pub fn bar_chart(c: &BarChart) -> Result<String, ReportError> {
    let mut svg = String::new();
    {
        let whole = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        whole.fill(&WHITE).map_err(err)?;
        let (root, side) = whole.split_horizontally(PLOT_WIDTH);
        let names: Vec<&str> = c.series.iter().map(|s| s.0.as_str()).collect();
        legend(&side, &names, Sample::Bar)?;
        let n = c.categories.len().max(1);
        let top = c
            .series
            .iter()
            .flat_map(|s| s.1.iter().copied())
            .fold(0.0, f64::max)
            .max(1e-9);
        let mut chart = frame(&root, c.title)
            .build_cartesian_2d(0f64..n as f64, 0f64..top * 1.1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(c.x_label)
            .y_desc(c.y_label)
            .max_light_lines(0)
            .disable_x_mesh()
            .x_labels(0)
            .x_label_formatter(&|_| String::new())
            .y_label_formatter(&|v| tick(*v, top))
            .draw()
            .map_err(err)?;
        // Category labels centred under each group.
        let k = c.series.len().max(1) as f64;
        let width = 0.8 / k;
        for (si, (_, values)) in c.series.iter().enumerate() {
            let col = colour(si);
            chart
                .draw_series(
                    values
                        .iter()
                        .enumerate()
                        .filter(|(_, v)| **v > 0.0)
                        .map(|(ci, v)| {
                            let x = ci as f64 + 0.1 + si as f64 * width;
                            Rectangle::new([(x, 0.0), (x + width, *v)], col.filled())
                        }),
                )
                .map_err(err)?;
        }
        chart
            .draw_series(c.categories.iter().enumerate().map(|(i, l)| {
                Text::new(
                    l.clone(),
                    (i as f64 + 0.5, 0.0),
                    TextStyle::from(("sans-serif", 11).into_font())
                        .pos(Pos::new(HPos::Center, VPos::Top)),
                )
            }))
            .map_err(err)?;
        whole.present().map_err(err)?;
    }
    Ok(svg)
}
