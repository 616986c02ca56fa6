//! PNG images and masks.
//!
//! Images: 8- or 16-bit, gray or colour. Colour is converted to one channel with the
//! ITU-R 601-2 luma weights (0.299 R + 0.587 G + 0.114 B, as PIL's `convert("L")`); alpha
//! is ignored. Values come back as f32 in [0, 1] (value / full scale); the session then
//! rescales intensities by its window (min-max by default).
//!
//! Masks: one rule everywhere in the library: **nonzero = foreground**. A mask holding more
//! than two distinct values is ambiguous (a label map): reading it is an error naming the
//! file and its values, unless the caller picks the label to segment.

use crate::error::{Error, ErrorKind, Result};
use std::path::Path;

/// A decoded single-channel image: row-major values in [0, 1], `width * height` of them.
#[derive(Debug, Clone, PartialEq)]
pub struct GrayImage {
    /// Row-major pixel values in [0, 1] (value / full scale of the file's bit depth).
    pub pixels: Vec<f32>,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
}

/// Largest image side decoded (as [`crate::MAX_SIDE`]); larger files are refused before
/// their pixels are allocated.
const MAX_DECODE_SIDE: u32 = crate::MAX_SIDE as u32;

fn open(path: &Path) -> Result<image::DynamicImage> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode(&bytes).map_err(|e| Error::new(e.kind, format!("{}: {}", path.display(), e.message)))
}

/// Decodes an image file's bytes (PNG, or another format the `image` crate is built for),
/// refusing sides above 32768 pixels and more than 1 GiB of pixels before allocating them.
pub(crate) fn decode(bytes: &[u8]) -> Result<image::DynamicImage> {
    let mut r = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::format(format!("unreadable image: {e}")))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_DECODE_SIDE);
    limits.max_image_height = Some(MAX_DECODE_SIDE);
    limits.max_alloc = Some(1 << 30);
    r.limits(limits);
    r.decode()
        .map_err(|e| Error::new(ErrorKind::Format, format!("not a readable image: {e}")))
}

/// Reads a PNG (or another format the `image` crate decodes) as one gray channel in [0, 1].
///
/// Errors: [`ErrorKind::Io`] when the file cannot be read, [`ErrorKind::Format`] when it
/// does not decode; the message names the path.
pub fn read_gray(path: &Path) -> Result<GrayImage> {
    let img = open(path)?;
    let (width, height) = (img.width() as usize, img.height() as usize);
    let pixels = match gray_pixels(img) {
        FilePixels::U8(v) => v.into_iter().map(|x| x as f32 / 255.0).collect(),
        FilePixels::U16(v) => v.into_iter().map(|x| x as f32 / 65535.0).collect(),
        FilePixels::I16(v) => v
            .into_iter()
            .map(|x| (x as f32 + 32768.0) / 65535.0)
            .collect(),
        FilePixels::F32(v) => v,
    };
    Ok(GrayImage {
        pixels,
        width,
        height,
    })
}

/// An image's pixels in the file's own units (8 or 16 bit; colour converted to luma), so
/// that an intensity window given in those units applies.
#[derive(Debug, Clone, PartialEq)]
pub enum FilePixels {
    /// 8-bit values.
    U8(Vec<u8>),
    /// 16-bit values.
    U16(Vec<u16>),
    /// Signed 16-bit values (e.g. CT in Hounsfield units, from TIFF or NIfTI).
    I16(Vec<i16>),
    /// Floating-point values (32-bit float files).
    F32(Vec<f32>),
}

/// A decoded image in its file units, see [`FilePixels`].
#[derive(Debug, Clone, PartialEq)]
pub struct FileImage {
    /// Row-major pixels.
    pub pixels: FilePixels,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
}

impl FileImage {
    /// A view for [`crate::Session::set_image`] and friends.
    pub fn view(&self) -> crate::ImageView<'_> {
        let pixels = match &self.pixels {
            FilePixels::U8(v) => crate::Pixels::U8(v),
            FilePixels::U16(v) => crate::Pixels::U16(v),
            FilePixels::I16(v) => crate::Pixels::I16(v),
            FilePixels::F32(v) => crate::Pixels::F32(v),
        };
        crate::ImageView::packed(pixels, self.width, self.height)
    }
}

/// One channel in the file's units: gray stays as it is; colour becomes luma by the ITU-R
/// 601-2 weights (0.299 R + 0.587 G + 0.114 B, PIL's `convert("L")`; the `image` crate's own
/// conversion uses the Rec. 709 weights), rounded at 8/16 bit; alpha is dropped.
fn gray_pixels(img: image::DynamicImage) -> FilePixels {
    let c = img.color();
    let luma = |r: f64, g: f64, b: f64| 0.299 * r + 0.587 * g + 0.114 * b;
    match img {
        image::DynamicImage::ImageLuma8(b) => FilePixels::U8(b.into_raw()),
        image::DynamicImage::ImageLuma16(b) => FilePixels::U16(b.into_raw()),
        image::DynamicImage::ImageLumaA8(_) => FilePixels::U8(img.to_luma8().into_raw()),
        image::DynamicImage::ImageLumaA16(_) => FilePixels::U16(img.to_luma16().into_raw()),
        other => match c.bytes_per_pixel() / c.channel_count() {
            1 => FilePixels::U8(
                other
                    .to_rgb8()
                    .pixels()
                    .map(|p| luma(p[0] as f64, p[1] as f64, p[2] as f64).round() as u8)
                    .collect(),
            ),
            2 => FilePixels::U16(
                other
                    .to_rgb16()
                    .pixels()
                    .map(|p| luma(p[0] as f64, p[1] as f64, p[2] as f64).round() as u16)
                    .collect(),
            ),
            _ => FilePixels::F32(
                other
                    .to_rgb32f()
                    .pixels()
                    .map(|p| luma(p[0] as f64, p[1] as f64, p[2] as f64) as f32)
                    .collect(),
            ),
        },
    }
}

/// Reads an image in its own units: 8-bit files as u8, 16-bit as u16, float as f32; colour
/// becomes luma (ITU-R 601-2) at the same depth, alpha is ignored.
///
/// Errors: as [`read_gray`].
pub fn read_image(path: &Path) -> Result<FileImage> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_image(&bytes)
        .map_err(|e| Error::new(e.kind, format!("{}: {}", path.display(), e.message)))
}

/// [`read_image`] on a file's bytes.
pub fn decode_image(bytes: &[u8]) -> Result<FileImage> {
    let img = decode(bytes)?;
    let (width, height) = (img.width() as usize, img.height() as usize);
    let pixels = gray_pixels(img);
    Ok(FileImage {
        pixels,
        width,
        height,
    })
}

/// Which label value of a mask file is the foreground.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MaskLabel {
    /// Nonzero = foreground; a file with more than two distinct values is an error.
    #[default]
    Nonzero,
    /// Pixels equal to this value (in the file's own units, e.g. 0..65535 for 16-bit) are
    /// the foreground, everything else background.
    Value(u32),
}

/// A decoded mask: `width * height` bytes, 1 = foreground, 0 = background.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskImage {
    /// Row-major 0/1 values.
    pub data: Vec<u8>,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
}

/// Reads a mask file by [`MaskLabel`]: 8- or 16-bit gray (labels 0/1, 0/255, 0/65535, or
/// any other pair with 0) or colour (converted to gray first).
///
/// Errors: as [`read_gray`]; [`ErrorKind::InvalidArgument`] naming the file and its values
/// when `label` is `Nonzero` and the file holds more than two distinct values, or when
/// `Value(v)` does not occur in it.
pub fn read_mask(path: &Path, label: MaskLabel) -> Result<MaskImage> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_mask(&bytes, label)
        .map_err(|e| Error::new(e.kind, format!("{}: {}", path.display(), e.message)))
}

/// [`read_mask`] on a file's bytes.
pub fn decode_mask(bytes: &[u8], label: MaskLabel) -> Result<MaskImage> {
    let img = decode(bytes)?;
    let (width, height) = (img.width() as usize, img.height() as usize);
    // The file's own integer values (8 or 16 bit), so a label means what the file says.
    let values: Vec<u32> = match gray_pixels(img) {
        FilePixels::U8(v) => v.into_iter().map(u32::from).collect(),
        FilePixels::U16(v) => v.into_iter().map(u32::from).collect(),
        FilePixels::I16(v) => v.into_iter().map(|x| (x as i32 + 32768) as u32).collect(),
        FilePixels::F32(v) => v
            .into_iter()
            .map(|x| (x.clamp(0.0, 1.0) * 65535.0).round() as u32)
            .collect(),
    };
    let data = mask_from_values(&values, label).map_err(Error::arg)?;
    Ok(MaskImage {
        data,
        width,
        height,
    })
}

/// Applies the mask rule to integer label values; the error text names the values found.
pub(crate) fn mask_from_values(
    values: &[u32],
    label: MaskLabel,
) -> std::result::Result<Vec<u8>, String> {
    match label {
        MaskLabel::Nonzero => {
            let mut distinct: Vec<u32> = Vec::new();
            for &v in values {
                if !distinct.contains(&v) {
                    distinct.push(v);
                    if distinct.len() > 2 {
                        distinct.sort_unstable();
                        return Err(format!(
                            "the mask holds more than two values ({}, ...): it looks like a label map; \
                             pick the label to segment (--label VALUE in the CLI, MaskLabel::Value in the API)",
                            distinct.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")
                        ));
                    }
                }
            }
            if distinct.len() == 2 && !distinct.contains(&0) {
                distinct.sort_unstable();
                return Err(format!(
                    "the mask holds the values {} and {}, neither of them 0: nonzero = foreground \
                     would make every pixel foreground; pick the label to segment",
                    distinct[0], distinct[1]
                ));
            }
            Ok(values.iter().map(|&v| (v != 0) as u8).collect())
        }
        MaskLabel::Value(l) => {
            if !values.contains(&l) {
                let mut d: Vec<u32> = values.to_vec();
                d.sort_unstable();
                d.dedup();
                d.truncate(8);
                return Err(format!(
                    "label {l} does not occur in the mask (values: {})",
                    d.iter()
                        .map(|v| v.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            Ok(values.iter().map(|&v| (v == l) as u8).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonzero_is_foreground_for_any_binary_encoding() {
        for hi in [1u32, 255, 65535, 7] {
            assert_eq!(
                mask_from_values(&[0, hi, hi, 0], MaskLabel::Nonzero).unwrap(),
                vec![0, 1, 1, 0]
            );
        }
        // All background is a valid (empty) mask.
        assert_eq!(
            mask_from_values(&[0, 0], MaskLabel::Nonzero).unwrap(),
            vec![0, 0]
        );
    }

    #[test]
    fn label_maps_need_a_chosen_label() {
        let e = mask_from_values(&[0, 1, 2, 1], MaskLabel::Nonzero).unwrap_err();
        assert!(e.contains("0, 1, 2") && e.contains("label"), "{e}");
        assert_eq!(
            mask_from_values(&[0, 1, 2, 1], MaskLabel::Value(2)).unwrap(),
            vec![0, 0, 1, 0]
        );
        let e = mask_from_values(&[0, 1, 2], MaskLabel::Value(5)).unwrap_err();
        assert!(e.contains("label 5") && e.contains("0, 1, 2"), "{e}");
        let e = mask_from_values(&[3, 4], MaskLabel::Nonzero).unwrap_err();
        assert!(e.contains("3 and 4"), "{e}");
    }
}
