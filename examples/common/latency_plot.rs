//! `load --plot FILE.svg`: one SVG with two panels, latency over the run (p50, p99 and max
//! of each time slice) above the latency distribution (latency by percentile, the tail
//! stretched out: 90%, 99%, 99.9% are equally spaced).

use std::path::Path;

use plotters::prelude::*;

use crate::loadstats::Latencies;

/// Time slices in the upper panel.
const SLICES: usize = 60;

/// Writes the picture to `path`. `samples` are (seconds since the start when the request
/// was sent, latency in ms); `title` heads the picture.
pub fn write_svg(
    path: &Path,
    title: &str,
    samples: &[(f64, f64)],
    lat: &Latencies,
) -> Result<(), String> {
    draw(path, title, samples, lat).map_err(|e| format!("{}: {e}", path.display()))
}

fn draw(
    path: &Path,
    title: &str,
    samples: &[(f64, f64)],
    lat: &Latencies,
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (900, 760)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 20))?;
    let (top, bottom) = root.split_vertically(360);
    over_time(&top, samples)?;
    by_percentile(&bottom, lat)?;
    root.present()?;
    Ok(())
}

/// The value at quantile `q` of a sorted slice.
fn at(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn over_time(
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    samples: &[(f64, f64)],
) -> Result<(), Box<dyn std::error::Error>> {
    let end = samples.iter().map(|s| s.0).fold(0.0, f64::max).max(1e-3);
    let width = end / SLICES as f64;
    let mut slices = vec![Vec::new(); SLICES];
    for &(t, ms) in samples {
        slices[((t / width) as usize).min(SLICES - 1)].push(ms);
    }
    // (slice middle, p50, p99, max) of each slice that saw a request.
    let mut rows = Vec::new();
    for (i, s) in slices.iter_mut().enumerate() {
        if s.is_empty() {
            continue;
        }
        s.sort_by(f64::total_cmp);
        let t = (i as f64 + 0.5) * width;
        rows.push((t, at(s, 0.5), at(s, 0.99), *s.last().unwrap()));
    }
    let top = rows.iter().map(|r| r.3).fold(0.0, f64::max).max(1e-3) * 1.05;
    let mut chart = ChartBuilder::on(area)
        .caption("latency over the run", ("sans-serif", 16))
        .margin(12)
        .margin_right(36)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..end, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("seconds since start")
        .y_desc("latency (ms)")
        .draw()?;
    let green = RGBColor(0, 140, 0);
    let series = [("max", RED, 3usize), ("p99", BLUE, 2), ("p50", green, 1)];
    for (name, color, k) in series {
        let pick = move |r: &(f64, f64, f64, f64)| match k {
            1 => (r.0, r.1),
            2 => (r.0, r.2),
            _ => (r.0, r.3),
        };
        chart
            .draw_series(LineSeries::new(
                rows.iter().map(pick),
                color.stroke_width(2),
            ))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// x = log10(1 / (1 - q)): 0 is 0%, 1 is 90%, 2 is 99%, 3 is 99.9%.
fn percent_label(x: &f64) -> String {
    let p = 100.0 * (1.0 - 10f64.powf(-x));
    let s = format!("{p:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}%")
}

fn by_percentile(
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    lat: &Latencies,
) -> Result<(), Box<dyn std::error::Error>> {
    // Enough requests to say something about the quantile at the right edge.
    let right = (lat.count().max(10) as f64).log10().floor().clamp(1.0, 5.0);
    let steps = 200;
    let points: Vec<(f64, f64)> = (0..=steps)
        .map(|i| {
            let x = right * i as f64 / steps as f64;
            (x, lat.ms_at(1.0 - 10f64.powf(-x)))
        })
        .collect();
    let top = lat.max_ms().max(1e-3) * 1.05;
    let mut chart = ChartBuilder::on(area)
        .caption("latency by percentile", ("sans-serif", 16))
        .margin(12)
        .margin_right(36)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..right, 0.0..top)?;
    chart
        .configure_mesh()
        .x_labels(right as usize + 1)
        .x_label_formatter(&percent_label)
        .x_desc("percentile")
        .y_desc("latency (ms)")
        .draw()?;
    chart.draw_series(LineSeries::new(points, BLUE.stroke_width(2)))?;
    Ok(())
}
