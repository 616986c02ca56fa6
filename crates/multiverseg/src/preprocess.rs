//! From a user's image to the network's 128x128 input, and from logits back.
//!
//! Geometry (DESIGN.md section 3): the image is zero-padded at the bottom and
//! right to a square of side max(W, H), then resized bilinearly (PyTorch's
//! `F.interpolate(mode="bilinear", align_corners=False)`, no antialiasing) to 128.
//! Intensities are rescaled to [0, 1] before padding, so padding is 0 = the minimum.

use crate::error::{Error, Result};
use crate::model::NET_SIZE;

/// Borrowed pixels of one of the supported types.
#[derive(Debug, Clone, Copy)]
pub enum Pixels<'a> {
    /// 8-bit unsigned.
    U8(&'a [u8]),
    /// 16-bit unsigned.
    U16(&'a [u16]),
    /// 16-bit signed (e.g. CT in Hounsfield units).
    I16(&'a [i16]),
    /// 32-bit float.
    F32(&'a [f32]),
}

/// A 2D single-channel image with a row stride (in pixels, >= width).
#[derive(Debug, Clone, Copy)]
pub struct ImageView<'a> {
    /// The pixel buffer; must hold `(height - 1) * stride + width` pixels.
    pub pixels: Pixels<'a>,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Distance between rows in pixels.
    pub stride: usize,
}

/// How intensities map to [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Window {
    /// The image's own minimum and maximum (a constant image becomes 0).
    #[default]
    MinMax,
    /// An explicit window [lo, hi]; values outside are clipped.
    Range(f32, f32),
}

/// Largest accepted side, to keep a typo from allocating gigabytes.
pub const MAX_SIDE: usize = 1 << 15;

impl<'a> ImageView<'a> {
    /// A tightly packed image (stride = width).
    pub fn packed(pixels: Pixels<'a>, width: usize, height: usize) -> Self {
        ImageView {
            pixels,
            width,
            height,
            stride: width,
        }
    }

    fn len(&self) -> usize {
        match self.pixels {
            Pixels::U8(p) => p.len(),
            Pixels::U16(p) => p.len(),
            Pixels::I16(p) => p.len(),
            Pixels::F32(p) => p.len(),
        }
    }

    /// Checks sizes and stride against the buffer.
    pub fn validate(&self, name: &str) -> Result<()> {
        if self.width == 0 || self.height == 0 {
            return Err(Error::arg(format!(
                "{name}: width and height must be > 0 (got {}x{})",
                self.width, self.height
            )));
        }
        if self.width > MAX_SIDE || self.height > MAX_SIDE {
            return Err(Error::arg(format!(
                "{name}: {}x{} exceeds the maximum side {MAX_SIDE}",
                self.width, self.height
            )));
        }
        if self.stride < self.width {
            return Err(Error::arg(format!(
                "{name}: stride {} is smaller than width {}",
                self.stride, self.width
            )));
        }
        let need = (self.height - 1) * self.stride + self.width;
        if self.len() < need {
            return Err(Error::arg(format!(
                "{name}: buffer holds {} pixels, {}x{} with stride {} needs {need}",
                self.len(),
                self.width,
                self.height,
                self.stride
            )));
        }
        Ok(())
    }

    /// The pixels as f64 row-major without stride; NaN/Inf are an error.
    fn to_f64(self, name: &str) -> Result<Vec<f64>> {
        self.validate(name)?;
        let mut out = Vec::with_capacity(self.width * self.height);
        for y in 0..self.height {
            let r = y * self.stride..y * self.stride + self.width;
            match self.pixels {
                Pixels::U8(p) => out.extend(p[r].iter().map(|&v| v as f64)),
                Pixels::U16(p) => out.extend(p[r].iter().map(|&v| v as f64)),
                Pixels::I16(p) => out.extend(p[r].iter().map(|&v| v as f64)),
                Pixels::F32(p) => {
                    for (x, &v) in p[r].iter().enumerate() {
                        if !v.is_finite() {
                            return Err(Error::arg(format!(
                                "{name}: pixel ({x}, {y}) is {v}; NaN and Inf are not accepted"
                            )));
                        }
                        out.push(v as f64);
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Rescales intensities to [0, 1] (row-major, no stride).
pub fn to_unit(img: &ImageView, window: Window, name: &str) -> Result<Vec<f32>> {
    let v = img.to_f64(name)?;
    let (lo, hi) = match window {
        Window::MinMax => v
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                (a.min(x), b.max(x))
            }),
        Window::Range(lo, hi) => {
            if !(lo.is_finite() && hi.is_finite() && hi > lo) {
                return Err(Error::arg(format!(
                    "window: need finite lo < hi, got [{lo}, {hi}]"
                )));
            }
            (lo as f64, hi as f64)
        }
    };
    let span = hi - lo;
    Ok(v.iter()
        .map(|&x| {
            if span > 0.0 {
                ((x - lo) / span).clamp(0.0, 1.0) as f32
            } else {
                0.0
            }
        })
        .collect())
}

/// Binary mask (nonzero = foreground) from a u8 buffer with stride.
pub fn mask_to_unit(
    mask: &[u8],
    width: usize,
    height: usize,
    stride: usize,
    name: &str,
) -> Result<Vec<f32>> {
    ImageView {
        pixels: Pixels::U8(mask),
        width,
        height,
        stride,
    }
    .validate(name)?;
    let mut out = Vec::with_capacity(width * height);
    for y in 0..height {
        out.extend(
            mask[y * stride..y * stride + width]
                .iter()
                .map(|&v| if v != 0 { 1.0 } else { 0.0 }),
        );
    }
    Ok(out)
}

/// Bilinear resize with PyTorch's align_corners=False convention (no antialiasing).
pub fn resize_bilinear(src: &[f32], sh: usize, sw: usize, dh: usize, dw: usize) -> Vec<f32> {
    let taps = |s: usize, d: usize| -> Vec<(usize, usize, f32)> {
        let scale = s as f64 / d as f64;
        (0..d)
            .map(|i| {
                let x = ((i as f64 + 0.5) * scale - 0.5).max(0.0);
                let x0 = (x.floor() as usize).min(s - 1);
                let x1 = (x0 + 1).min(s - 1);
                (x0, x1, (x - x0 as f64) as f32)
            })
            .collect()
    };
    let (ty, tx) = (taps(sh, dh), taps(sw, dw));
    let mut out = Vec::with_capacity(dh * dw);
    for &(y0, y1, ly) in &ty {
        for &(x0, x1, lx) in &tx {
            let a = src[y0 * sw + x0] * (1.0 - lx) + src[y0 * sw + x1] * lx;
            let b = src[y1 * sw + x0] * (1.0 - lx) + src[y1 * sw + x1] * lx;
            out.push(a * (1.0 - ly) + b * ly);
        }
    }
    out
}

/// Side of the padded square for a `width`x`height` image.
pub fn square_side(width: usize, height: usize) -> usize {
    width.max(height)
}

/// Zero-pads (bottom/right) to a square and resizes to the network size.
pub fn to_network(unit: &[f32], width: usize, height: usize) -> Vec<f32> {
    let side = square_side(width, height);
    let mut sq = vec![0.0f32; side * side];
    for y in 0..height {
        sq[y * side..y * side + width].copy_from_slice(&unit[y * width..(y + 1) * width]);
    }
    resize_bilinear(&sq, side, side, NET_SIZE, NET_SIZE)
}

/// A mask at the network size: padded, resized, re-binarized at 0.5.
pub fn mask_to_network(unit: &[f32], width: usize, height: usize) -> Vec<f32> {
    to_network(unit, width, height)
        .into_iter()
        .map(|v| if v > 0.5 { 1.0 } else { 0.0 })
        .collect()
}

/// Network-size logits back to the caller's `width`x`height` (resize the square, crop the padding).
pub fn logits_to_image(logits: &[f32], width: usize, height: usize) -> Vec<f32> {
    let side = square_side(width, height);
    let sq = resize_bilinear(logits, NET_SIZE, NET_SIZE, side, side);
    let mut out = Vec::with_capacity(width * height);
    for y in 0..height {
        out.extend_from_slice(&sq[y * side..y * side + width]);
    }
    out
}

/// The logistic function.
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minmax_and_window() {
        let px = [10u16, 20, 30, 40];
        let v = to_unit(
            &ImageView::packed(Pixels::U16(&px), 2, 2),
            Window::MinMax,
            "img",
        )
        .unwrap();
        assert_eq!(v, vec![0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0]);
        let px = [-1000i16, 0, 40, 2000];
        let v = to_unit(
            &ImageView::packed(Pixels::I16(&px), 4, 1),
            Window::Range(0.0, 80.0),
            "img",
        )
        .unwrap();
        assert_eq!(v, vec![0.0, 0.0, 0.5, 1.0]);
    }

    #[test]
    fn stride_skips_padding_pixels() {
        let px = [1u8, 2, 99, 3, 4, 99];
        let v = to_unit(
            &ImageView {
                pixels: Pixels::U8(&px),
                width: 2,
                height: 2,
                stride: 3,
            },
            Window::Range(0.0, 4.0),
            "img",
        )
        .unwrap();
        assert_eq!(v, vec![0.25, 0.5, 0.75, 1.0]);
    }

    #[test]
    fn nan_is_rejected_with_position() {
        let px = [0.0f32, f32::NAN];
        let e = to_unit(
            &ImageView::packed(Pixels::F32(&px), 2, 1),
            Window::MinMax,
            "image",
        )
        .unwrap_err();
        assert!(
            e.message.contains("image") && e.message.contains("(1, 0)"),
            "{}",
            e.message
        );
    }

    #[test]
    fn bad_sizes_are_rejected() {
        let px = [0u8; 4];
        assert!(ImageView::packed(Pixels::U8(&px), 0, 4)
            .validate("i")
            .is_err());
        assert!(ImageView::packed(Pixels::U8(&px), 3, 2)
            .validate("i")
            .is_err());
        assert!(ImageView {
            pixels: Pixels::U8(&px),
            width: 2,
            height: 2,
            stride: 1
        }
        .validate("i")
        .is_err());
    }

    #[test]
    fn resize_matches_hand_computed_half_pixel_bilinear() {
        // 2x2 -> 4x4 with align_corners=False: output x=1 samples source 0.25.
        let src = [0.0, 1.0, 2.0, 3.0];
        let out = resize_bilinear(&src, 2, 2, 4, 4);
        assert_eq!(&out[0..4], &[0.0, 0.25, 0.75, 1.0]);
        assert_eq!(out[5], 0.25 + 0.5); // (0.25, 0.25)
                                        // Downscale 4 -> 2 samples at 0.5 and 2.5 (no antialiasing).
        let row = [0.0, 1.0, 2.0, 3.0];
        assert_eq!(resize_bilinear(&row, 1, 4, 1, 2), vec![0.5, 2.5]);
    }

    #[test]
    fn padding_goes_bottom_right_and_back() {
        // A 256x128 (w x h) image: the square is 256, the image fills the top half.
        let unit: Vec<f32> = vec![1.0; 256 * 128];
        let net = to_network(&unit, 256, 128);
        assert_eq!(net[0], 1.0);
        assert_eq!(net[127 * 128], 0.0); // bottom row is padding
        assert_eq!(net[63 * 128 + 127], 1.0);
        let back = logits_to_image(&net, 256, 128);
        assert_eq!(back.len(), 256 * 128);
        assert!((back[0] - 1.0).abs() < 1e-6);
    }
}
