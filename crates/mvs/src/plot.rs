//! PNG line plots with 95% bands (plotters on an in-memory RGB buffer, saved with `image`),
//! with an embedded DejaVu Sans so that no system font is needed.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::FontStyle;

use multiverseg::eval::report::Stat;
use multiverseg::{Error, ErrorKind, Result};

/// One line: its label, colour and (x, statistics) points.
pub struct Series<'a> {
    /// Legend text.
    pub label: &'a str,
    /// Line colour (RGB).
    pub color: (u8, u8, u8),
    /// Points in x order.
    pub points: &'a [(usize, Stat)],
}

fn register_font() -> Result<()> {
    static ONCE: Once = Once::new();
    let mut err = None;
    ONCE.call_once(|| {
        if plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
            .is_err()
        {
            err = Some(Error::new(
                ErrorKind::Internal,
                "the embedded font did not load",
            ));
        }
    });
    err.map_or(Ok(()), Err)
}

fn plot_err(e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Internal, format!("plotting failed: {e}"))
}

/// Draws mean lines with shaded 95% intervals and writes a PNG to `path`.
pub fn line_plot(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<()> {
    register_font()?;
    let (w, h) = (800u32, 500u32);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let pts = series.iter().flat_map(|s| s.points.iter());
        let x_max = pts.clone().map(|(x, _)| *x).max().unwrap_or(1).max(1);
        let x_min = pts.clone().map(|(x, _)| *x).min().unwrap_or(0);
        let y_max = pts
            .clone()
            .map(|(_, s)| s.mean + s.half)
            .filter(|v| v.is_finite())
            .fold(0.0f64, f64::max);
        let y_top = if y_max > 0.0 { y_max * 1.1 } else { 1.0 };
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(x_min as f64 - 0.3..x_max as f64 + 0.3, 0.0..y_top)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .x_labels((x_max - x_min + 1).min(20))
            .x_label_formatter(&|x| format!("{:.0}", x))
            .y_desc(y_label)
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 17))
            .draw()
            .map_err(plot_err)?;
        for s in series {
            let c = RGBColor(s.color.0, s.color.1, s.color.2);
            let band: Vec<(f64, f64)> = s
                .points
                .iter()
                .map(|(x, st)| (*x as f64, st.mean + st.half))
                .chain(
                    s.points
                        .iter()
                        .rev()
                        .map(|(x, st)| (*x as f64, (st.mean - st.half).max(0.0))),
                )
                .collect();
            chart
                .draw_series(std::iter::once(Polygon::new(band, c.mix(0.2).filled())))
                .map_err(plot_err)?;
            chart
                .draw_series(LineSeries::new(
                    s.points.iter().map(|(x, st)| (*x as f64, st.mean)),
                    c.stroke_width(2),
                ))
                .map_err(plot_err)?
                .label(s.label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                });
            chart
                .draw_series(
                    s.points
                        .iter()
                        .map(|(x, st)| Circle::new((*x as f64, st.mean), 3, c.filled())),
                )
                .map_err(plot_err)?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 15))
            .draw()
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    let mut png = Vec::new();
    image::RgbImage::from_raw(w, h, buf)
        .ok_or_else(|| Error::new(ErrorKind::Internal, "plot buffer has the wrong size"))?
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| Error::new(ErrorKind::Io, format!("{}: {e}", path.display())))?;
    // crash-safe, as every file the library writes (temporary file, then rename)
    multiverseg::io::atomic_write(path, &png)
}
