//! Prompt rasterization at the network size, as ScribblePrompt's `prepare_inputs`, with
//! one documented departure for thin scribbles.
//!
//! Coordinates are in the caller's pixels, continuous: pixel (i, j) covers
//! [i, i+1) x [j, j+1), so its centre is (i+0.5, j+0.5); x runs right, y down. They scale by
//! 128/side (side = the padded square, see [`crate::ImageView`]) and are truncated, so a
//! click lands in the network cell that contains it. Channels of the target tensor: 1 box,
//! 2 positive clicks + scribbles, 3 negative clicks + scribbles.
//!
//! Scribbles: the brush mask (image size) is padded and resized to 128 bilinearly
//! (align_corners=False), as the official code does, and then every network cell that
//! contains the centre of a painted pixel is set to 1: value = max(bilinear, occupancy).
//! Plain bilinear downscaling reads only two source columns per output column (at 4x,
//! columns 4k+1 and 4k+2), so a one-pixel line on the others vanished; with the occupancy
//! every painted pixel reaches the network at any scale, and where nothing is thin the
//! result is the official one (a painted cell is already near 1).

use crate::error::{Error, Result};
use crate::model::NET_SIZE;
use crate::preprocess::{square_side, to_network};

/// One user interaction, already converted to the network grid where that is lossless.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    /// A click at network pixel (x, y).
    Click {
        /// Column at 128x128.
        x: usize,
        /// Row at 128x128.
        y: usize,
        /// Foreground (true) or background.
        positive: bool,
    },
    /// A box covering columns x0..x1 and rows y0..y1 (end exclusive) at 128x128.
    Box {
        /// Left column.
        x0: usize,
        /// Top row.
        y0: usize,
        /// Right column (exclusive).
        x1: usize,
        /// Bottom row (exclusive).
        y1: usize,
    },
    /// A scribble resized to 128x128 (values in [0, 1]).
    Scribble {
        /// Foreground (true) or background.
        positive: bool,
        /// 128*128 values.
        raster: Vec<f32>,
    },
}

fn check_point(x: f64, y: f64, width: usize, height: usize, what: &str) -> Result<()> {
    if !(x.is_finite() && y.is_finite())
        || x < 0.0
        || y < 0.0
        || x >= width as f64
        || y >= height as f64
    {
        return Err(Error::arg(format!(
            "{what}: point ({x}, {y}) is outside the {width}x{height} image"
        )));
    }
    Ok(())
}

fn scale(v: f64, side: usize) -> usize {
    // Truncation, as `.int()` in ScribblePrompt.
    ((v * NET_SIZE as f64 / side as f64) as usize).min(NET_SIZE)
}

/// A click at (x, y) in image pixels.
pub fn click(x: f64, y: f64, positive: bool, width: usize, height: usize) -> Result<Prompt> {
    check_point(x, y, width, height, "click")?;
    let side = square_side(width, height);
    Ok(Prompt::Click {
        x: scale(x, side).min(NET_SIZE - 1),
        y: scale(y, side).min(NET_SIZE - 1),
        positive,
    })
}

/// A box with corners (x0, y0), (x1, y1) in image pixels, in any order; corners may lie on
/// the far edges (x = width, y = height).
pub fn bbox(x0: f64, y0: f64, x1: f64, y1: f64, width: usize, height: usize) -> Result<Prompt> {
    for (x, y) in [(x0, y0), (x1, y1)] {
        if !(x.is_finite() && y.is_finite())
            || x < 0.0
            || y < 0.0
            || x > width as f64
            || y > height as f64
        {
            return Err(Error::arg(format!(
                "box: corner ({x}, {y}) is outside the {width}x{height} image"
            )));
        }
    }
    let side = square_side(width, height);
    let (a, b) = (scale(x0, side), scale(x1, side));
    let (c, d) = (scale(y0, side), scale(y1, side));
    let p = Prompt::Box {
        x0: a.min(b),
        x1: a.max(b),
        y0: c.min(d),
        y1: c.max(d),
    };
    if let Prompt::Box { x0, x1, y0, y1 } = p {
        if x0 == x1 || y0 == y1 {
            return Err(Error::arg(format!(
                "box: ({x0}, {y0})-({x1}, {y1}) at 128x128 is empty; draw a larger box"
            )));
        }
    }
    Ok(p)
}

/// 128x128 occupancy of a brush mask at image size: 1 in every network cell that contains
/// the centre of a painted pixel of the padded square.
fn occupancy(mask: &[f32], width: usize, height: usize) -> Vec<f32> {
    let side = square_side(width, height);
    let cell =
        |i: usize| (((i as f64 + 0.5) * NET_SIZE as f64 / side as f64) as usize).min(NET_SIZE - 1);
    let mut out = vec![0.0f32; NET_SIZE * NET_SIZE];
    for y in 0..height {
        for x in 0..width {
            if mask[y * width + x] != 0.0 {
                out[cell(y) * NET_SIZE + cell(x)] = 1.0;
            }
        }
    }
    out
}

/// A scribble given as a brush mask at image size (nonzero = painted); see the module docs
/// for how it reaches the 128 grid.
pub fn scribble_mask(mask: &[f32], positive: bool, width: usize, height: usize) -> Result<Prompt> {
    if mask.len() != width * height {
        return Err(Error::arg(format!(
            "scribble: mask holds {} pixels, the image has {}x{}",
            mask.len(),
            width,
            height
        )));
    }
    if !mask.iter().any(|&v| v != 0.0) {
        return Err(Error::arg("scribble: the mask is empty"));
    }
    let bin: Vec<f32> = mask
        .iter()
        .map(|&v| if v != 0.0 { 1.0 } else { 0.0 })
        .collect();
    let mut raster = to_network(&bin, width, height);
    for (r, o) in raster.iter_mut().zip(occupancy(&bin, width, height)) {
        *r = r.max(o);
    }
    Ok(Prompt::Scribble { positive, raster })
}

/// Paints a polyline of `points` (x, y; continuous pixel coordinates as clicks) at image
/// size: every pixel the line passes through, and every pixel whose centre lies within
/// `radius` of it (so radius 0 gives a connected one-pixel line).
pub fn polyline_mask(
    points: &[(f64, f64)],
    radius: f64,
    width: usize,
    height: usize,
) -> Result<Vec<f32>> {
    if points.is_empty() {
        return Err(Error::arg("scribble: the polyline has no points"));
    }
    if !(radius.is_finite() && radius >= 0.0) {
        return Err(Error::arg(format!(
            "scribble: radius {radius} must be finite and >= 0"
        )));
    }
    for &(x, y) in points {
        check_point(x, y, width, height, "scribble")?;
    }
    let mut m = vec![0.0f32; width * height];
    let segs: Vec<((f64, f64), (f64, f64))> = if points.len() == 1 {
        vec![(points[0], points[0])]
    } else {
        points.windows(2).map(|w| (w[0], w[1])).collect()
    };
    for ((ax, ay), (bx, by)) in segs {
        // The pixels the segment passes through (sampled finer than a pixel).
        let steps = ((bx - ax).abs().max((by - ay).abs()) * 4.0).ceil().max(1.0) as usize;
        for k in 0..=steps {
            let t = k as f64 / steps as f64;
            let (x, y) = (ax + t * (bx - ax), ay + t * (by - ay));
            let (xi, yi) = ((x as usize).min(width - 1), (y as usize).min(height - 1));
            m[yi * width + xi] = 1.0;
        }
        // The pixels whose centres lie within the radius.
        let (x_lo, x_hi) = (
            (ax.min(bx) - radius - 1.0).floor().max(0.0) as usize,
            ((ax.max(bx) + radius + 1.0).ceil() as usize).min(width - 1),
        );
        let (y_lo, y_hi) = (
            (ay.min(by) - radius - 1.0).floor().max(0.0) as usize,
            ((ay.max(by) + radius + 1.0).ceil() as usize).min(height - 1),
        );
        let (dx, dy) = (bx - ax, by - ay);
        let len2 = dx * dx + dy * dy;
        for y in y_lo..=y_hi {
            for x in x_lo..=x_hi {
                let (px, py) = (x as f64 + 0.5, y as f64 + 0.5);
                let t = if len2 > 0.0 {
                    (((px - ax) * dx + (py - ay) * dy) / len2).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let (qx, qy) = (ax + t * dx - px, ay + t * dy - py);
                if qx * qx + qy * qy <= radius * radius + 1e-9 {
                    m[y * width + x] = 1.0;
                }
            }
        }
    }
    Ok(m)
}

/// Writes prompts into channels 1-3 of a [5, 128, 128] target, in order.
pub fn rasterize<'a>(prompts: impl IntoIterator<Item = &'a Prompt>, target: &mut [f32]) {
    let px = NET_SIZE * NET_SIZE;
    let (ch1, rest) = target[px..4 * px].split_at_mut(px);
    let (ch2, ch3) = rest.split_at_mut(px);
    let mut pos = vec![0.0f32; px];
    let mut neg = vec![0.0f32; px];
    let mut any_scribble = false;
    for p in prompts {
        match p {
            Prompt::Box { x0, y0, x1, y1 } => {
                for y in *y0..*y1 {
                    ch1[y * NET_SIZE + x0..y * NET_SIZE + x1]
                        .iter_mut()
                        .for_each(|v| *v = 1.0);
                }
            }
            Prompt::Click { x, y, positive } => {
                // The later click at a pixel wins, as in click_onehot.
                ch2[y * NET_SIZE + x] = if *positive { 1.0 } else { 0.0 };
                ch3[y * NET_SIZE + x] = if *positive { 0.0 } else { 1.0 };
            }
            Prompt::Scribble { positive, raster } => {
                any_scribble = true;
                let dst = if *positive { &mut pos } else { &mut neg };
                dst.iter_mut().zip(raster).for_each(|(d, s)| *d += s);
            }
        }
    }
    if any_scribble {
        for i in 0..px {
            ch2[i] = (ch2[i] + pos[i]).clamp(0.0, 1.0);
            ch3[i] = (ch3[i] + neg[i]).clamp(0.0, 1.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const P: usize = NET_SIZE * NET_SIZE;

    fn raster(p: &[Prompt]) -> Vec<f32> {
        let mut t = vec![0.0; 5 * P];
        rasterize(p, &mut t);
        t
    }

    #[test]
    fn click_at_the_far_corner_of_a_non_square_image() {
        // 200x100: side 200, scale 0.64. (199, 99) -> (127.36, 63.36) -> (127, 63).
        let p = click(199.0, 99.0, true, 200, 100).unwrap();
        assert_eq!(
            p,
            Prompt::Click {
                x: 127,
                y: 63,
                positive: true
            }
        );
        let t = raster(&[p]);
        assert_eq!(t[2 * P + 63 * 128 + 127], 1.0);
        assert_eq!(t[2 * P..3 * P].iter().sum::<f32>(), 1.0);
        assert_eq!(t[3 * P..4 * P].iter().sum::<f32>(), 0.0);
        // Origin corner, negative.
        let t = raster(&[click(0.0, 0.0, false, 200, 100).unwrap()]);
        assert_eq!(t[3 * P], 1.0);
    }

    #[test]
    fn later_click_overrides_earlier_at_same_pixel() {
        let t = raster(&[
            click(5.0, 5.0, true, 128, 128).unwrap(),
            click(5.0, 5.0, false, 128, 128).unwrap(),
        ]);
        assert_eq!((t[2 * P + 5 * 128 + 5], t[3 * P + 5 * 128 + 5]), (0.0, 1.0));
    }

    #[test]
    fn box_on_a_non_square_image() {
        // 300x150, scale 128/300: (30,15)-(150,75) -> x 12..64, y 6..32 (end exclusive).
        let p = bbox(150.0, 75.0, 30.0, 15.0, 300, 150).unwrap();
        assert_eq!(
            p,
            Prompt::Box {
                x0: 12,
                y0: 6,
                x1: 64,
                y1: 32
            }
        );
        let t = raster(&[p]);
        assert_eq!(t[P..2 * P].iter().sum::<f32>(), (52 * 26) as f32);
        assert_eq!(t[P + 6 * 128 + 12], 1.0);
        assert_eq!(t[P + 31 * 128 + 63], 1.0);
        assert_eq!(t[P + 32 * 128 + 63], 0.0);
        assert_eq!(t[P + 31 * 128 + 64], 0.0);
    }

    #[test]
    fn scribble_on_an_odd_sized_image() {
        // 5x3 image, one painted pixel at (2, 1); side 5, scale 5/128 per output pixel.
        let mut m = vec![0.0; 15];
        m[5 + 2] = 1.0;
        let p = scribble_mask(&m, true, 5, 3).unwrap();
        let t = raster(&[p]);
        // Output (x=63, y=38) samples source (1.98046875, 1.00390625):
        // weight of pixel (2, 1) = 0.98046875 * (1 - 0.00390625).
        let want = 0.98046875f32 * (1.0 - 0.00390625);
        assert!(
            (t[2 * P + 38 * 128 + 63] - want).abs() < 1e-6,
            "{}",
            t[2 * P + 38 * 128 + 63]
        );
        assert_eq!(t[3 * P..4 * P].iter().sum::<f32>(), 0.0);
        // Rows of the square below the image (y >= 3 -> output rows >= 77) are untouched.
        assert!(t[2 * P + 80 * 128..3 * P].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn scribbles_and_clicks_add_and_clamp() {
        let m = vec![1.0; 16 * 16];
        let t = raster(&[
            click(3.0, 3.0, true, 16, 16).unwrap(),
            scribble_mask(&m, true, 16, 16).unwrap(),
        ]);
        assert_eq!(t[2 * P + 3 * 8 * 128 + 3 * 8], 1.0);
        assert!(t[2 * P..3 * P].iter().all(|&v| v == 1.0));
    }

    #[test]
    fn polyline_brush() {
        // The line y = 1 is the border between rows 0 and 1; pixel centres are at +0.5, so
        // both rows lie 0.5 from it, row 2 1.5; the ends reach x = 0 and 5 (0.71 away).
        let m = polyline_mask(&[(1.0, 1.0), (5.0, 1.0)], 1.0, 7, 3).unwrap();
        let painted: Vec<usize> = (0..21).filter(|&i| m[i] == 1.0).collect();
        assert_eq!(painted, vec![0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12]);
        // Radius 0 off the pixel centres: the pixels the line passes through.
        let m = polyline_mask(&[(2.3, 0.2), (2.3, 2.9)], 0.0, 7, 3).unwrap();
        let painted: Vec<usize> = (0..21).filter(|&i| m[i] == 1.0).collect();
        assert_eq!(painted, vec![2, 9, 16]);
    }

    /// Every painted pixel reaches the 128 map, at every scale and every position modulo
    /// the scale (plain bilinear lost 1-pixel lines on half the columns at 4x).
    #[test]
    fn thin_scribbles_survive_downscaling() {
        for side in [256usize, 384, 512, 934] {
            let scale = side as f64 / 128.0;
            let cell = |i: usize| ((i as f64 + 0.5) / scale) as usize;
            for x in 400.min(side - 8)..400.min(side - 8) + scale.ceil() as usize {
                // A vertical 1-pixel line at column x, rows 180..220 (or what fits).
                let mut m = vec![0.0f32; side * side];
                for y in 180.min(side - 50)..220.min(side - 10) {
                    m[y * side + x] = 1.0;
                }
                let Prompt::Scribble { raster, .. } = scribble_mask(&m, true, side, side).unwrap()
                else {
                    unreachable!()
                };
                let col = cell(x);
                let row = cell(200.min(side - 30));
                assert_eq!(raster[row * 128 + col], 1.0, "side {side}, column {x}");
                // A single painted pixel.
                let mut one = vec![0.0f32; side * side];
                one[203 * side + x] = 1.0;
                let Prompt::Scribble { raster, .. } =
                    scribble_mask(&one, false, side, side).unwrap()
                else {
                    unreachable!()
                };
                assert_eq!(
                    raster[cell(203) * 128 + col],
                    1.0,
                    "side {side}, pixel ({x}, 203)"
                );
                // A horizontal line through every residue of y.
                let y = x % side;
                let mut h = vec![0.0f32; side * side];
                h[y * side..y * side + side]
                    .iter_mut()
                    .for_each(|v| *v = 1.0);
                let Prompt::Scribble { raster, .. } = scribble_mask(&h, true, side, side).unwrap()
                else {
                    unreachable!()
                };
                assert!(raster[cell(y) * 128..cell(y) * 128 + 128]
                    .iter()
                    .all(|&v| v == 1.0));
            }
        }
        // At 128 (no resize) the raster is the mask itself, as before.
        let mut m = vec![0.0f32; 128 * 128];
        m[5 * 128 + 7] = 1.0;
        let Prompt::Scribble { raster, .. } = scribble_mask(&m, true, 128, 128).unwrap() else {
            unreachable!()
        };
        assert_eq!(raster, m);
    }

    #[test]
    fn outside_points_are_rejected() {
        assert!(click(200.0, 0.0, true, 200, 100).is_err());
        assert!(click(-0.5, 0.0, true, 200, 100).is_err());
        assert!(click(f64::NAN, 0.0, true, 200, 100).is_err());
        assert!(bbox(0.0, 0.0, 201.0, 10.0, 200, 100).is_err());
        assert!(bbox(0.0, 0.0, 0.5, 10.0, 200, 100).is_err());
        assert!(polyline_mask(&[(0.0, 0.0), (10.0, 100.0)], 1.0, 200, 100).is_err());
    }
}
