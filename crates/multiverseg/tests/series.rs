//! Image series (io::series) and propagation (workflow::propagate) on the small test model:
//! NIfTI and TIFF round trips keep what they must, a volume stored with its x axis flipped
//! gives the flipped mask, and each kind of bad input is a clear error with nothing written.

mod common;

use multiverseg::io::png::FilePixels;
use multiverseg::io::series::{read_series, write_masks, Axis, Series, SeriesForm};
use multiverseg::workflow::propagate::propagate;
use multiverseg::{ErrorKind, Session, Window};
use std::path::{Path, PathBuf};

const NX: usize = 40;
const NY: usize = 34;
const NZ: usize = 6;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mvs-series-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A bright ellipsoid in a textured background, as i16 (x, y, z), and its mask.
fn phantom() -> (ndarray::Array3<i16>, ndarray::Array3<u8>) {
    let mut v = ndarray::Array3::<i16>::zeros((NX, NY, NZ));
    let mut m = ndarray::Array3::<u8>::zeros((NX, NY, NZ));
    for ((x, y, z), val) in v.indexed_iter_mut() {
        let (u, w, t) = (
            (x as f64 - 15.0) / 9.0,
            (y as f64 - 17.0) / 7.0,
            (z as f64 - 2.5) / 4.0,
        );
        let inside = u * u + w * w + t * t <= 1.0;
        m[[x, y, z]] = inside as u8;
        *val = if inside { 800 } else { -200 } + ((x * 7 + y * 3 + z) % 13) as i16 * 10;
    }
    (v, m)
}

fn header(flip_x: bool) -> nifti::NiftiHeader {
    nifti::NiftiHeader {
        pixdim: [1.0, 0.8, 0.9, 2.5, 1.0, 1.0, 1.0, 1.0],
        sform_code: 2,
        qform_code: 1,
        quatern_b: 0.0,
        quatern_c: 0.0,
        quatern_d: 0.0,
        xyzt_units: 2,
        srow_x: if flip_x {
            [-0.8, 0.0, 0.0, 0.8 * (NX - 1) as f32 - 10.0]
        } else {
            [0.8, 0.0, 0.0, -10.0]
        },
        srow_y: [0.0, 0.9, 0.0, -12.0],
        srow_z: [0.0, 0.0, 2.5, 30.0],
        ..Default::default()
    }
}

fn write_volume(path: &Path, v: &ndarray::Array3<i16>, h: &nifti::NiftiHeader) {
    nifti::writer::WriterOptions::new(path)
        .reference_header(h)
        .write_nifti(v)
        .unwrap();
}

/// Seed masks for slices 0 and NZ-1 along z from a mask volume, in the series' slice order.
fn seeds(series: &Series, mask: &ndarray::Array3<u8>, flip_x: bool) -> Vec<(usize, Vec<u8>)> {
    [0, NZ - 1]
        .iter()
        .map(|&z| {
            // Slices are in canonical orientation: a flipped x axis is read right to left.
            let s = &series.slices[z];
            let mut out = Vec::with_capacity(s.width * s.height);
            for y in 0..NY {
                for x in 0..NX {
                    let xs = if flip_x { NX - 1 - x } else { x };
                    out.push(mask[[xs, y, z]]);
                }
            }
            (z, out)
        })
        .collect()
}

fn read_mask_volume(path: &Path) -> (nifti::NiftiHeader, ndarray::ArrayD<u8>) {
    use nifti::{IntoNdArray, NiftiObject};
    let o = nifti::ReaderOptions::new().read_file(path).unwrap();
    let h = o.header().clone();
    (h, o.into_volume().into_ndarray::<u8>().unwrap())
}

#[test]
fn nifti_keeps_its_header_and_a_flipped_x_axis_gives_the_flipped_mask() {
    let dir = tmp("nifti");
    let (v, m) = phantom();
    let mut results = Vec::new();
    for flip in [false, true] {
        // The flipped file stores the same anatomy with x reversed, and says so in its affine.
        let data = if flip {
            v.slice(ndarray::s![..;-1, .., ..]).to_owned()
        } else {
            v.clone()
        };
        let mask = if flip {
            m.slice(ndarray::s![..;-1, .., ..]).to_owned()
        } else {
            m.clone()
        };
        let input = dir.join(format!("vol_{flip}.nii.gz"));
        write_volume(&input, &data, &header(flip));
        let series = read_series(&input, Axis::Z).unwrap();
        assert_eq!(series.len(), NZ);
        assert_eq!((series.slices[0].width, series.slices[0].height), (NX, NY));
        let mut s = Session::new(common::small_cpu_model());
        let r = propagate(
            &mut s,
            &series.slices,
            &seeds(&series, &mask, flip),
            Window::Range(-300.0, 1000.0),
            None,
        )
        .unwrap();
        assert_eq!(r.len(), NZ);
        assert!(r[0].uncertainty.is_none() && r[2].uncertainty.is_some());
        let out = dir.join(format!("mask_{flip}.nii.gz"));
        write_masks(
            &series,
            &r.iter().map(|x| x.mask.clone()).collect::<Vec<_>>(),
            &out,
        )
        .unwrap();
        let (h, vol) = read_mask_volume(&out);
        let hin = header(flip);
        assert_eq!(&h.dim[..4], &[3, NX as u16, NY as u16, NZ as u16]);
        assert_eq!(h.pixdim[1..4], hin.pixdim[1..4]);
        assert_eq!(
            (h.srow_x, h.srow_y, h.srow_z),
            (hin.srow_x, hin.srow_y, hin.srow_z)
        );
        assert_eq!(
            (h.sform_code, h.qform_code, h.xyzt_units),
            (hin.sform_code, hin.qform_code, hin.xyzt_units)
        );
        assert_eq!(h.datatype, 2, "uint8 labels");
        assert!(vol.iter().all(|&x| x <= 1));
        // Seeds come back exactly.
        for (z, seed_mask) in seeds(&series, &mask, flip) {
            for y in 0..NY {
                for x in 0..NX {
                    let xs = if flip { NX - 1 - x } else { x };
                    assert_eq!(vol[[xs, y, z]], seed_mask[y * NX + x]);
                }
            }
        }
        results.push(vol);
    }
    // The flipped volume's mask is the flip of the other's, voxel for voxel.
    let flipped_back = results[1].slice(ndarray::s![..;-1, .., ..]).to_owned();
    assert_eq!(results[0], flipped_back.into_dyn());
    assert!(results[0].iter().filter(|&&x| x == 1).count() > 0);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_4d_volume_is_refused() {
    let dir = tmp("4d");
    let v = ndarray::Array4::<i16>::zeros((8, 8, 3, 2));
    let p = dir.join("v.nii");
    nifti::writer::WriterOptions::new(&p)
        .write_nifti(&v)
        .unwrap();
    let e = read_series(&p, Axis::Z).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Format);
    assert!(e.message.contains("4D"), "{}", e.message);
    std::fs::remove_dir_all(&dir).ok();
}

fn write_tiff(path: &Path, pages: &[(u32, u32, Vec<u16>)]) {
    let f = std::fs::File::create(path).unwrap();
    let mut enc = tiff::encoder::TiffEncoder::new(f).unwrap();
    for (w, h, d) in pages {
        enc.write_image::<tiff::encoder::colortype::Gray16>(*w, *h, d)
            .unwrap();
    }
}

#[test]
fn tiff_stacks_round_trip_and_need_one_size() {
    let dir = tmp("tiff");
    let page = |k: u16| {
        (
            30u32,
            20u32,
            (0..600u16).map(|i| i * 3 + k * 100).collect::<Vec<_>>(),
        )
    };
    let p = dir.join("stack.tif");
    write_tiff(&p, &[page(0), page(1), page(2)]);
    let s = read_series(&p, Axis::Z).unwrap();
    assert!(matches!(s.form, SeriesForm::Tiff));
    assert_eq!(s.len(), 3);
    assert!(matches!(&s.slices[1].pixels, FilePixels::U16(v) if v[5] == 115));
    let masks: Vec<Vec<u8>> = (0..3)
        .map(|k| (0..600).map(|i| ((i + k) % 5 == 0) as u8).collect())
        .collect();
    let out = dir.join("masks.tif");
    write_masks(&s, &masks, &out).unwrap();
    let back = multiverseg::io::series::read_tiff(&out).unwrap();
    assert_eq!(back.len(), 3);
    for (b, m) in back.iter().zip(&masks) {
        let FilePixels::U8(v) = &b.pixels else {
            panic!("8-bit masks expected")
        };
        assert_eq!(v.iter().map(|&x| (x == 255) as u8).collect::<Vec<_>>(), *m);
    }
    // Pages of different sizes: an error naming the page.
    let bad = dir.join("bad.tif");
    write_tiff(&bad, &[page(0), (10, 10, vec![0; 100])]);
    let e = read_series(&bad, Axis::Z).unwrap_err();
    assert!(e.message.contains("page 1"), "{}", e.message);
    // Masks that do not match the slices: an error, and nothing written.
    let out2 = dir.join("never.tif");
    assert!(write_masks(&s, &masks[..2], &out2).is_err());
    assert!(!out2.exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn folders_rgb_images_and_bad_seeds() {
    let dir = tmp("folder");
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let e = read_series(&empty, Axis::Z).unwrap_err();
    assert!(e.message.contains("no .png"), "{}", e.message);
    // An RGB PNG becomes gray by the luma weights.
    let imgs = dir.join("imgs");
    std::fs::create_dir_all(&imgs).unwrap();
    image::RgbImage::from_fn(16, 12, |x, _| image::Rgb([200, (x * 10) as u8, 40]))
        .save(imgs.join("a.png"))
        .unwrap();
    image::GrayImage::from_fn(20, 12, |x, y| image::Luma([(x + y) as u8]))
        .save(imgs.join("b.png"))
        .unwrap();
    let s = read_series(&imgs, Axis::Z).unwrap();
    assert_eq!(s.slice_name(0), "a.png");
    let FilePixels::U8(a) = &s.slices[0].pixels else {
        panic!("8-bit")
    };
    let want = (0.299f64 * 200.0 + 0.587 * 30.0 + 0.114 * 40.0).round() as u8;
    assert!((a[3] as i32 - want as i32).abs() <= 1, "{} vs {want}", a[3]);
    // Seeds: out of range, wrong size, twice.
    let mut sess = Session::new(common::small_cpu_model());
    let e = propagate(
        &mut sess,
        &s.slices,
        &[(5, vec![0; 10])],
        Window::MinMax,
        None,
    )
    .unwrap_err();
    assert!(e.message.contains("out of range"), "{}", e.message);
    let e = propagate(
        &mut sess,
        &s.slices,
        &[(1, vec![0; 10])],
        Window::MinMax,
        None,
    )
    .unwrap_err();
    assert!(e.message.contains("20x12"), "{}", e.message);
    let m = vec![1u8; 16 * 12];
    let e = propagate(
        &mut sess,
        &s.slices,
        &[(0, m.clone()), (0, m.clone())],
        Window::MinMax,
        None,
    )
    .unwrap_err();
    assert!(e.message.contains("twice"), "{}", e.message);
    assert_eq!(sess.context_count(), 0, "bad seeds added nothing");
    // A folder output replaces an existing folder as a whole.
    let r = propagate(&mut sess, &s.slices, &[(0, m)], Window::MinMax, None).unwrap();
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("stale.png"), b"old").unwrap();
    write_masks(
        &s,
        &r.iter().map(|x| x.mask.clone()).collect::<Vec<_>>(),
        &out,
    )
    .unwrap();
    assert!(out.join("a.png").exists() && out.join("b.png").exists());
    assert!(!out.join("stale.png").exists());
    std::fs::remove_dir_all(&dir).ok();
}
