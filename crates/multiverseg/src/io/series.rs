//! Image series: a folder of 2D images, a multi-page TIFF stack, or a NIfTI volume, read as
//! 2D slices and written back, as masks, in the same form. `mvs segment` and the bindings
//! use it; the segmentation itself is [`crate::workflow::propagate`].
//!
//! * **Folder**: every `.png`, `.tif` or `.tiff` file directly in it, in name order (one
//!   page each); images may differ in size. Masks are written as 8-bit PNGs (0/255) with the
//!   same names (a TIFF input's mask is written as `.png` too).
//! * **TIFF stack**: every page of a multi-page TIFF (gray 8/16-bit unsigned, 16-bit signed,
//!   float; RGB(A) becomes luma), all pages the same size. Masks: a multi-page 8-bit TIFF,
//!   0/255.
//! * **NIfTI** (`.nii`, `.nii.gz`): a 3D volume (a 4D one with more than one volume is an
//!   error), values scaled by `scl_slope`/`scl_inter`. Slices are taken across the chosen
//!   voxel axis (`x`, `y`, `z` = the first, second, third array axis). Before slicing, each
//!   voxel axis whose direction in the affine (sform, else qform) points mostly along a
//!   negative world axis is flipped, so that the same anatomy gives the same slices whatever
//!   the storage order (a volume stored right-to-left segments like its left-to-right
//!   copy); the masks are flipped back. Masks: a uint8 label volume (0/1) with the input's
//!   header: dimensions, pixdim, qform, sform and units.
//!
//! Colour in any form becomes one channel by the ITU-R 601-2 luma weights. Every output is
//! written crash-safely (temporary name, then rename; a folder is written as a whole).

use super::png::{read_image, FileImage, FilePixels};
use crate::error::{Error, ErrorKind, Result};
use std::path::{Path, PathBuf};

/// A voxel axis of a volume (the first, second, third array axis).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Axis {
    /// The first axis (i): slices are (j, k) planes.
    X,
    /// The second axis (j): slices are (i, k) planes.
    Y,
    /// The third axis (k): slices are (i, j) planes (the usual axial slices).
    #[default]
    Z,
}

/// Where the slices came from, to write masks in the same form.
#[derive(Debug, Clone)]
pub enum SeriesForm {
    /// A folder; the file name of each slice.
    Folder(Vec<String>),
    /// A multi-page TIFF.
    Tiff,
    /// A NIfTI volume.
    Nifti(Box<NiftiLayout>),
}

/// How a NIfTI volume was sliced.
#[derive(Debug, Clone)]
pub struct NiftiLayout {
    /// The input's header (written back with the masks).
    pub header: nifti::NiftiHeader,
    /// Array dimensions (x, y, z).
    pub dims: [usize; 3],
    /// The slicing axis.
    pub axis: Axis,
    /// Which voxel axes were flipped to point along positive world axes.
    pub flips: [bool; 3],
}

/// 2D slices of an image series and the form they came in.
#[derive(Debug, Clone)]
pub struct Series {
    /// The slices, in order, each in its file's units.
    pub slices: Vec<FileImage>,
    /// Where they came from.
    pub form: SeriesForm,
}

impl Series {
    /// Number of slices.
    pub fn len(&self) -> usize {
        self.slices.len()
    }

    /// Whether there are no slices (never true for a series that was read).
    pub fn is_empty(&self) -> bool {
        self.slices.is_empty()
    }

    /// The name of slice `i`: its file name for a folder, `slice_<i>` otherwise. Seed masks
    /// are looked up by this name (`<name>` or `<name>.png`).
    pub fn slice_name(&self, i: usize) -> String {
        match &self.form {
            SeriesForm::Folder(names) => names[i].clone(),
            _ => format!("slice_{i}"),
        }
    }
}

fn is_tiff(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("tif") || e.eq_ignore_ascii_case("tiff"))
}

fn is_nifti(p: &Path) -> bool {
    let n = p
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_lowercase();
    n.ends_with(".nii") || n.ends_with(".nii.gz")
}

/// Reads a folder, a TIFF stack or a NIfTI volume (see the module docs); `axis` matters for
/// NIfTI only.
///
/// Errors: `Io`; `Format` (unreadable files, 4D volumes, unsupported sample types);
/// `InvalidArgument` (an empty folder, TIFF pages of different sizes), each naming the file.
pub fn read_series(input: &Path, axis: Axis) -> Result<Series> {
    if input.is_dir() {
        read_folder(input)
    } else if is_nifti(input) {
        read_nifti(input, axis)
    } else if is_tiff(input) {
        let slices = read_tiff(input)?;
        if let Some((i, s)) = slices
            .iter()
            .enumerate()
            .find(|(_, s)| (s.width, s.height) != (slices[0].width, slices[0].height))
        {
            return Err(Error::arg(format!(
                "{}: page {i} is {}x{}, page 0 is {}x{}; a stack needs one size",
                input.display(),
                s.width,
                s.height,
                slices[0].width,
                slices[0].height
            )));
        }
        Ok(Series {
            slices,
            form: SeriesForm::Tiff,
        })
    } else if input.exists() {
        Err(Error::arg(format!(
            "{}: not a folder, a .tif/.tiff stack or a .nii/.nii.gz volume",
            input.display()
        )))
    } else {
        Err(Error::io(
            input,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
        ))
    }
}

fn read_folder(dir: &Path) -> Result<Series> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && (is_tiff(p)
                    || p.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| e.eq_ignore_ascii_case("png")))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::arg(format!(
            "{}: no .png, .tif or .tiff images in the folder",
            dir.display()
        )));
    }
    let mut slices = Vec::with_capacity(files.len());
    let mut names = Vec::with_capacity(files.len());
    for f in &files {
        let img = if is_tiff(f) {
            read_tiff(f)?
                .into_iter()
                .next()
                .ok_or_else(|| Error::format(format!("{}: a TIFF without pages", f.display())))?
        } else {
            read_image(f)?
        };
        slices.push(img);
        names.push(f.file_name().unwrap().to_string_lossy().into_owned());
    }
    Ok(Series {
        slices,
        form: SeriesForm::Folder(names),
    })
}

/// Luma of interleaved RGB(A) samples with `c` channels.
fn luma<T: Copy + Into<f64>>(v: &[T], c: usize) -> Vec<f64> {
    v.chunks_exact(c)
        .map(|p| 0.299 * p[0].into() + 0.587 * p[1].into() + 0.114 * p[2].into())
        .collect()
}

/// Every page of a TIFF as one-channel images.
pub fn read_tiff(path: &Path) -> Result<Vec<FileImage>> {
    use tiff::decoder::{Decoder, DecodingResult as D};
    use tiff::ColorType;
    let fmt =
        |e: tiff::TiffError| Error::new(ErrorKind::Format, format!("{}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut dec = Decoder::new(std::io::BufReader::new(file)).map_err(fmt)?;
    let mut pages = Vec::new();
    loop {
        let (w, h) = dec.dimensions().map_err(fmt)?;
        let (w, h) = (w as usize, h as usize);
        if w == 0 || h == 0 || w > crate::MAX_SIDE || h > crate::MAX_SIDE {
            return Err(Error::format(format!(
                "{}: page {} is {w}x{h}, outside 1..={}",
                path.display(),
                pages.len(),
                crate::MAX_SIDE
            )));
        }
        let ct = dec.colortype().map_err(fmt)?;
        let channels = match ct {
            ColorType::Gray(_) => 1,
            ColorType::RGB(_) => 3,
            ColorType::RGBA(_) => 4,
            other => {
                return Err(Error::format(format!(
                    "{}: page {}: colour type {other:?} is not supported (gray or RGB)",
                    path.display(),
                    pages.len()
                )))
            }
        };
        let data = dec.read_image().map_err(fmt)?;
        let to_f32 = |v: Vec<f64>| FilePixels::F32(v.into_iter().map(|x| x as f32).collect());
        let pixels = match (data, channels) {
            (D::U8(v), 1) => FilePixels::U8(v),
            (D::U16(v), 1) => FilePixels::U16(v),
            (D::I16(v), 1) => FilePixels::I16(v),
            (D::F32(v), 1) => FilePixels::F32(v),
            (D::U8(v), c) => {
                FilePixels::U8(luma(&v, c).into_iter().map(|x| x.round() as u8).collect())
            }
            (D::U16(v), c) => {
                FilePixels::U16(luma(&v, c).into_iter().map(|x| x.round() as u16).collect())
            }
            (D::F32(v), c) => to_f32(luma(&v, c)),
            (D::F64(v), c) => to_f32(if c == 1 { v } else { luma(&v, c) }),
            (D::I8(v), 1) => to_f32(v.into_iter().map(f64::from).collect()),
            (D::U32(v), 1) => to_f32(v.into_iter().map(f64::from).collect()),
            (D::I32(v), 1) => to_f32(v.into_iter().map(f64::from).collect()),
            _ => {
                return Err(Error::format(format!(
                    "{}: page {}: this sample type is not supported",
                    path.display(),
                    pages.len()
                )))
            }
        };
        let n = match &pixels {
            FilePixels::U8(v) => v.len(),
            FilePixels::U16(v) => v.len(),
            FilePixels::I16(v) => v.len(),
            FilePixels::F32(v) => v.len(),
        };
        if n != w * h {
            return Err(Error::format(format!(
                "{}: page {} decodes to {n} samples, {w}x{h} expected",
                path.display(),
                pages.len()
            )));
        }
        pages.push(FileImage {
            pixels,
            width: w,
            height: h,
        });
        if !dec.more_images() {
            break;
        }
        dec.next_image().map_err(fmt)?;
    }
    Ok(pages)
}

/// The direction of each voxel axis in world space: the columns of the sform (if set),
/// else of the qform rotation (with its handedness), else the identity.
fn axis_directions(h: &nifti::NiftiHeader) -> [[f64; 3]; 3] {
    if h.sform_code > 0 {
        let r = [h.srow_x, h.srow_y, h.srow_z];
        return [0, 1, 2].map(|i| [0, 1, 2].map(|k| r[k][i] as f64));
    }
    if h.qform_code > 0 {
        let (b, c, d) = (h.quatern_b as f64, h.quatern_c as f64, h.quatern_d as f64);
        let a = (1.0 - (b * b + c * c + d * d)).max(0.0).sqrt();
        let r = [
            [
                a * a + b * b - c * c - d * d,
                2.0 * (b * c - a * d),
                2.0 * (b * d + a * c),
            ],
            [
                2.0 * (b * c + a * d),
                a * a + c * c - b * b - d * d,
                2.0 * (c * d - a * b),
            ],
            [
                2.0 * (b * d - a * c),
                2.0 * (c * d + a * b),
                a * a + d * d - c * c - b * b,
            ],
        ];
        let qfac = if h.pixdim[0] < 0.0 { -1.0 } else { 1.0 };
        return [0, 1, 2].map(|i| [0, 1, 2].map(|k| r[k][i] * if i == 2 { qfac } else { 1.0 }));
    }
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
}

/// Which voxel axes point mostly along a negative world axis.
fn flips_of(h: &nifti::NiftiHeader) -> [bool; 3] {
    axis_directions(h).map(|v| {
        let k = (0..3)
            .max_by(|&a, &b| v[a].abs().total_cmp(&v[b].abs()))
            .unwrap();
        v[k] < 0.0
    })
}

/// Index into the (x, y, z) array of slice `s`, pixel (u, v) (u across, v down), in the
/// canonical (flipped) orientation.
fn voxel(l: &NiftiLayout, s: usize, u: usize, v: usize) -> [usize; 3] {
    let c = match l.axis {
        Axis::X => [s, u, v],
        Axis::Y => [u, s, v],
        Axis::Z => [u, v, s],
    };
    [0, 1, 2].map(|i| {
        if l.flips[i] {
            l.dims[i] - 1 - c[i]
        } else {
            c[i]
        }
    })
}

/// (slices, width, height) of a layout.
fn slice_shape(l: &NiftiLayout) -> (usize, usize, usize) {
    let [x, y, z] = l.dims;
    match l.axis {
        Axis::X => (x, y, z),
        Axis::Y => (y, x, z),
        Axis::Z => (z, x, y),
    }
}

fn read_nifti(path: &Path, axis: Axis) -> Result<Series> {
    use nifti::{IntoNdArray, NiftiObject, ReaderOptions};
    let fmt =
        |e: nifti::NiftiError| Error::new(ErrorKind::Format, format!("{}: {e}", path.display()));
    let obj = ReaderOptions::new().read_file(path).map_err(fmt)?;
    let header = obj.header().clone();
    let d = header.dim;
    let rank = d[0] as usize;
    if !(2..=7).contains(&rank) {
        return Err(Error::format(format!(
            "{}: dim[0] = {rank} is not a valid rank",
            path.display()
        )));
    }
    if d[4..=rank.max(3)].iter().any(|&n| n > 1) && rank > 3 {
        return Err(Error::format(format!(
            "{}: a {rank}D volume ({:?}); only 3D volumes (or 4D with one volume) are supported",
            path.display(),
            &d[1..=rank]
        )));
    }
    let dims = [
        d[1] as usize,
        d[2].max(1) as usize,
        if rank >= 3 { d[3].max(1) as usize } else { 1 },
    ];
    let total = dims.iter().product::<usize>();
    if dims.contains(&0) || total > 1 << 31 {
        return Err(Error::format(format!(
            "{}: dimensions {dims:?} are not supported",
            path.display()
        )));
    }
    let arr = obj.into_volume().into_ndarray::<f32>().map_err(fmt)?;
    if arr.shape().iter().product::<usize>() != total || arr.ndim() < 2 {
        return Err(Error::format(format!(
            "{}: the data has shape {:?}, the header says {dims:?}",
            path.display(),
            arr.shape()
        )));
    }
    let nd = arr.ndim();
    // The array may have trailing axes of size 1 (a 4D file with one volume) or only two.
    let at = |c: [usize; 3]| -> f32 {
        let mut idx = [0usize; 7];
        idx[..3].copy_from_slice(&c);
        arr[&idx[..nd]]
    };
    if let Some(v) = arr.iter().find(|v| !v.is_finite()) {
        return Err(Error::format(format!(
            "{}: the volume holds {v}",
            path.display()
        )));
    }
    let layout = NiftiLayout {
        flips: flips_of(&header),
        header,
        dims,
        axis,
    };
    let (n, w, h) = slice_shape(&layout);
    let slices = (0..n)
        .map(|s| {
            let mut px = Vec::with_capacity(w * h);
            for v in 0..h {
                for u in 0..w {
                    px.push(at(voxel(&layout, s, u, v)));
                }
            }
            FileImage {
                pixels: FilePixels::F32(px),
                width: w,
                height: h,
            }
        })
        .collect();
    Ok(Series {
        slices,
        form: SeriesForm::Nifti(Box::new(layout)),
    })
}

/// A temporary path in `out`'s folder whose name ends like `out`'s (writers that choose the
/// format by the extension see the same one).
fn temp_like(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    out.with_file_name(format!(".mvs-tmp-{}-{name}", std::process::id()))
}

/// Syncs a written file, then renames it over `out`.
fn commit_file(tmp: &Path, out: &Path) -> Result<()> {
    let synced = std::fs::File::open(tmp).and_then(|f| f.sync_all());
    if let Err(e) = synced.and_then(|_| std::fs::rename(tmp, out)) {
        let _ = std::fs::remove_file(tmp);
        return Err(Error::io(out, e));
    }
    Ok(())
}

/// Writes `masks` (one per slice, its width*height bytes, nonzero = foreground) to `out` in
/// the series' form (see the module docs). Nothing half-written: a file goes to a
/// temporary name first; a folder is filled under a temporary name and renamed into place
/// (an existing folder at `out` is replaced).
///
/// Errors: `InvalidArgument` when the masks do not match the slices; `Io` naming the path.
pub fn write_masks(series: &Series, masks: &[Vec<u8>], out: &Path) -> Result<()> {
    if masks.len() != series.len() {
        return Err(Error::arg(format!(
            "masks: {} for {} slices",
            masks.len(),
            series.len()
        )));
    }
    for (i, (m, s)) in masks.iter().zip(&series.slices).enumerate() {
        if m.len() != s.width * s.height {
            return Err(Error::arg(format!(
                "masks[{i}]: {} values for a {}x{} slice",
                m.len(),
                s.width,
                s.height
            )));
        }
    }
    match &series.form {
        SeriesForm::Folder(names) => write_folder(series, names, masks, out),
        SeriesForm::Tiff => {
            let tmp = temp_like(out);
            let r = (|| -> Result<()> {
                let f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
                let io = |e: tiff::TiffError| {
                    Error::new(ErrorKind::Io, format!("{}: {e}", out.display()))
                };
                let mut enc =
                    tiff::encoder::TiffEncoder::new(std::io::BufWriter::new(f)).map_err(io)?;
                for (m, s) in masks.iter().zip(&series.slices) {
                    let v: Vec<u8> = m.iter().map(|&x| if x != 0 { 255 } else { 0 }).collect();
                    enc.write_image::<tiff::encoder::colortype::Gray8>(
                        s.width as u32,
                        s.height as u32,
                        &v,
                    )
                    .map_err(io)?;
                }
                Ok(())
            })();
            if let Err(e) = r {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            commit_file(&tmp, out)
        }
        SeriesForm::Nifti(l) => {
            let mut vol = ndarray::Array3::<u8>::zeros((l.dims[0], l.dims[1], l.dims[2]));
            let (_, w, h) = slice_shape(l);
            for (s, m) in masks.iter().enumerate() {
                for v in 0..h {
                    for u in 0..w {
                        let [x, y, z] = voxel(l, s, u, v);
                        vol[[x, y, z]] = (m[v * w + u] != 0) as u8;
                    }
                }
            }
            let tmp = temp_like(out);
            let mut header = l.header.clone();
            // A label volume: no intensity scaling, no calibration range of the input.
            header.cal_min = 0.0;
            header.cal_max = 0.0;
            let r = nifti::writer::WriterOptions::new(&tmp)
                .reference_header(&header)
                .write_nifti(&vol)
                .map_err(|e| Error::new(ErrorKind::Io, format!("{}: {e}", out.display())));
            if let Err(e) = r {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            commit_file(&tmp, out)
        }
    }
}

fn write_folder(series: &Series, names: &[String], masks: &[Vec<u8>], out: &Path) -> Result<()> {
    let tmp = temp_like(out);
    let _ = std::fs::remove_dir_all(&tmp);
    let r = (|| -> Result<()> {
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        for ((m, s), name) in masks.iter().zip(&series.slices).zip(names) {
            let v: Vec<u8> = m.iter().map(|&x| if x != 0 { 255 } else { 0 }).collect();
            let img = image::GrayImage::from_raw(s.width as u32, s.height as u32, v)
                .ok_or_else(|| Error::new(ErrorKind::Internal, "mask size"))?;
            let mut bytes = Vec::new();
            img.write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )
            .map_err(|e| Error::new(ErrorKind::Internal, format!("encoding {name}: {e}")))?;
            let stem = Path::new(name).with_extension("png");
            super::atomic_write(&tmp.join(stem), &bytes)?;
        }
        Ok(())
    })();
    if let Err(e) = r {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    // Swap the new folder in; an old one is removed only after the new one is in place.
    let old = out.with_file_name(format!(
        ".mvs-old-{}-{}",
        std::process::id(),
        out.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let had_old = out.exists();
    if had_old {
        std::fs::rename(out, &old).map_err(|e| Error::io(out, e))?;
    }
    if let Err(e) = std::fs::rename(&tmp, out) {
        if had_old {
            let _ = std::fs::rename(&old, out);
        }
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(Error::io(out, e));
    }
    if had_old {
        let _ = std::fs::remove_dir_all(&old);
    }
    Ok(())
}
