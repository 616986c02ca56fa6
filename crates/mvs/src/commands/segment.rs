//! `mvs segment`: propagate a context over a folder, a TIFF stack or a NIfTI volume.

use crate::commands::predict::window;
use crate::common::ModelArgs;
use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};
use multiverseg::io::png::{read_mask, MaskLabel};
use multiverseg::io::series::{read_series, write_masks, Axis};
use multiverseg::workflow::propagate::propagate;
use multiverseg::{ContextPolicy, Select, Session};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// `--axis`.
#[derive(Clone, Copy, ValueEnum)]
pub enum AxisArg {
    /// The first voxel axis (i).
    X,
    /// The second voxel axis (j).
    Y,
    /// The third voxel axis (k): axial slices in most volumes.
    Z,
}

/// `--select`.
#[derive(Clone, Copy, ValueEnum)]
pub enum SelectArg {
    /// The latest entries.
    Latest,
    /// The entries most similar to each slice.
    Similar,
}

impl From<SelectArg> for Select {
    fn from(a: SelectArg) -> Select {
        match a {
            SelectArg::Latest => Select::Latest,
            SelectArg::Similar => Select::Similar,
        }
    }
}

/// Arguments of `mvs segment`.
#[derive(clap::Args)]
#[command(
    after_help = "INPUT is a folder of PNG/TIFF images, a multi-page TIFF stack, or a \
NIfTI volume (.nii, .nii.gz). The output has the input's form: a folder of mask PNGs (0/255, \
same names), a multi-page TIFF (0/255), or a uint8 NIfTI label volume (0/1) with the input's \
dimensions, pixdim, qform/sform and affine. Seed masks (--seed-masks) are named like the images \
of a folder (PNG), or slice_N.png for stacks and volumes (N from 0 along --axis); they join the \
context first and are copied to the output. Uncertainty scores (mean binary entropy around the \
predicted object, in [0, 1]) go to OUTPUT/uncertainty.csv for a folder, else to \
<OUTPUT without extension>_uncertainty.csv, most uncertain first. Colour becomes gray by the \
ITU-R 601-2 luma weights; masks: nonzero = foreground."
)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// Folder, .tif/.tiff stack, or .nii/.nii.gz volume.
    input: PathBuf,
    /// Output folder or file (same form as the input).
    #[arg(long)]
    out: PathBuf,
    /// Folder with image_N.png / mask_N.png context pairs.
    #[arg(long, conflicts_with = "context")]
    context_dir: Option<PathBuf>,
    /// A context file saved by a session (mvs_session_context_save).
    #[arg(long)]
    context: Option<PathBuf>,
    /// Masks for some of the slices (see below).
    #[arg(long)]
    seed_masks: Option<PathBuf>,
    /// The label value that is foreground in the context and seed masks (label maps).
    #[arg(long)]
    label: Option<u32>,
    /// NIfTI only: the voxel axis across which slices are taken.
    #[arg(long, value_enum, default_value = "z")]
    axis: AxisArg,
    /// Intensity window "LO,HI" in the input's units (e.g. -160,240 for a CT abdomen).
    #[arg(long)]
    window: Option<String>,
    /// Use at most this many context entries per slice.
    #[arg(long)]
    context_cap: Option<usize>,
    /// With --context-cap: which entries.
    #[arg(long, value_enum, default_value = "latest")]
    select: SelectArg,
}

/// `OUTPUT/uncertainty.csv` for a folder, else `<stem>_uncertainty.csv` beside the file.
pub fn uncertainty_path(out: &Path, folder: bool) -> PathBuf {
    if folder {
        return out.join("uncertainty.csv");
    }
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = ["nii.gz", "nii", "tiff", "tif"]
        .iter()
        .find_map(|e| name.strip_suffix(&format!(".{e}")))
        .unwrap_or(&name)
        .to_string();
    out.with_file_name(format!("{stem}_uncertainty.csv"))
}

/// Reads, propagates, writes.
pub fn run(a: Args) -> Result<(), String> {
    let e = |e: multiverseg::Error| e.message;
    let win = window(a.window.as_deref())?;
    let axis = match a.axis {
        AxisArg::X => Axis::X,
        AxisArg::Y => Axis::Y,
        AxisArg::Z => Axis::Z,
    };
    let series = read_series(&a.input, axis).map_err(e)?;
    let label = a.label.map_or(MaskLabel::Nonzero, MaskLabel::Value);
    // Seeds: every mask file named like a slice.
    let mut seeds = Vec::new();
    if let Some(dir) = &a.seed_masks {
        if !dir.is_dir() {
            return Err(format!("--seed-masks {}: not a folder", dir.display()));
        }
        let names: Vec<String> = (0..series.len()).map(|i| series.slice_name(i)).collect();
        for entry in std::fs::read_dir(dir).map_err(|err| format!("{}: {err}", dir.display()))? {
            let p = entry
                .map_err(|err| format!("{}: {err}", dir.display()))?
                .path();
            let file = p.file_name().unwrap().to_string_lossy().into_owned();
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            let Some(i) = names.iter().position(|n| {
                *n == file
                    || *n == stem
                    || Path::new(n)
                        .file_stem()
                        .is_some_and(|s| s.to_string_lossy() == stem)
            }) else {
                if let Some(k) = stem
                    .strip_prefix("slice_")
                    .and_then(|k| k.parse::<usize>().ok())
                {
                    return Err(format!(
                        "{}: slice {k} is out of range (the input has {} slices, 0..{})",
                        p.display(),
                        series.len(),
                        series.len()
                    ));
                }
                continue;
            };
            let m = read_mask(&p, label).map_err(e)?;
            let s = &series.slices[i];
            if (m.width, m.height) != (s.width, s.height) {
                return Err(format!(
                    "{}: {}x{}, but slice {} ({}) is {}x{}",
                    p.display(),
                    m.width,
                    m.height,
                    i,
                    names[i],
                    s.width,
                    s.height
                ));
            }
            seeds.push((i, m.data));
        }
        seeds.sort_by_key(|s| s.0);
    }
    let m = a.model.load()?;
    let mut s = Session::new(m);
    if let Some(k) = a.context_cap {
        s.set_context_policy(ContextPolicy::capped(k, a.select.into()))
            .map_err(e)?;
    }
    if let Some(d) = &a.context_dir {
        s.context_import_folder(d, label).map_err(e)?;
    }
    if let Some(f) = &a.context {
        s.context_load(f).map_err(e)?;
    }
    if s.context_count() + seeds.len() == 0 {
        return Err(
            "no context: give --context-dir, --context or --seed-masks (propagation needs examples)"
                .into(),
        );
    }
    let todo = series.len() - seeds.len();
    let pb = ProgressBar::new(todo as u64);
    pb.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} slices, {elapsed} (eta {eta})")
            .map_err(|err| err.to_string())?
            .progress_chars("=> "),
    );
    pb.set_message("segmenting");
    let t = Instant::now();
    let mut progress = |done: usize, _: usize| {
        pb.set_position(done as u64);
        true
    };
    let results = propagate(&mut s, &series.slices, &seeds, win, Some(&mut progress)).map_err(e)?;
    pb.finish_and_clear();
    let secs = t.elapsed().as_secs_f64();
    let masks: Vec<Vec<u8>> = results.iter().map(|r| r.mask.clone()).collect();
    write_masks(&series, &masks, &a.out).map_err(e)?;
    let mut rows: Vec<(usize, f32)> = results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.uncertainty.map(|u| (i, u)))
        .collect();
    rows.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
    let mut csv = String::from("index,name,uncertainty\n");
    for (i, u) in &rows {
        writeln!(csv, "{i},{},{u:.4}", series.slice_name(*i)).unwrap();
    }
    let folder = matches!(series.form, multiverseg::io::series::SeriesForm::Folder(_));
    let upath = uncertainty_path(&a.out, folder);
    multiverseg::io::atomic_write(&upath, csv.as_bytes()).map_err(e)?;
    println!(
        "segmented {todo} of {} slices ({} seeds, context {} entries) in {secs:.1} s ({:.2} slices/s) on {}; wrote {} and {}",
        series.len(),
        seeds.len(),
        s.context_count(),
        todo as f64 / secs.max(1e-9),
        s.model().backend_name(),
        a.out.display(),
        upath.display()
    );
    Ok(())
}
