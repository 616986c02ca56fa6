//! `mvs predict`: segment one image with prompts and a context folder.

use crate::common::{parse_nums, write_mask_png, ModelArgs};
use multiverseg::io::png::{read_image, read_mask, MaskLabel};
use multiverseg::{Session, Window};
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `mvs predict`.
#[derive(clap::Args)]
#[command(
    after_help = "Coordinates are image pixels, x to the right and y down, continuous: the \
pixel (i, j) covers [i, i+1) x [j, j+1), so its centre is (i+0.5, j+0.5). A box's far edges are \
exclusive (the whole image is 0,0,W,H). Images: 8- or 16-bit gray PNG; colour becomes gray by \
the ITU-R 601-2 luma weights. Intensities map to [0, 1] by the image's min-max, or by --window \
in the file's units. Masks and scribbles: nonzero = foreground/painted."
)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// The image to segment (PNG).
    #[arg(long)]
    image: PathBuf,
    /// Folder with image_N.png / mask_N.png context pairs.
    #[arg(long)]
    context_dir: Option<PathBuf>,
    /// With --context-dir: the label value in the masks that is the foreground (for label
    /// maps with more than two values; default: nonzero = foreground).
    #[arg(long)]
    label: Option<u32>,
    /// Intensity window "LO,HI" in the image file's units (e.g. 0,4095 for 12-bit data in a
    /// 16-bit PNG); values outside are clipped. Default: the image's min-max.
    #[arg(long)]
    window: Option<String>,
    /// Positive click "x,y" in image pixels (repeatable).
    #[arg(long = "pos")]
    pos: Vec<String>,
    /// Negative click "x,y" in image pixels (repeatable).
    #[arg(long = "neg")]
    neg: Vec<String>,
    /// Box "x0,y0,x1,y1" in image pixels.
    #[arg(long = "box")]
    bbox: Option<String>,
    /// Positive scribble: a PNG of the image's size, nonzero = painted (repeatable).
    #[arg(long = "scribble")]
    scribble: Vec<PathBuf>,
    /// Negative scribble: a PNG of the image's size, nonzero = painted (repeatable).
    #[arg(long = "scribble-neg")]
    scribble_neg: Vec<PathBuf>,
    /// Output mask PNG (0/255, the image's size; written crash-safely).
    #[arg(short, long)]
    out: PathBuf,
}

/// `--window LO,HI` as a [`Window`].
pub fn window(spec: Option<&str>) -> Result<Window, String> {
    match spec {
        None => Ok(Window::MinMax),
        Some(s) => {
            let v = parse_nums(s, 2, "--window")?;
            if v[0] >= v[1] {
                return Err(format!("--window: LO must be below HI, got \"{s}\""));
            }
            Ok(Window::Range(v[0] as f32, v[1] as f32))
        }
    }
}

/// Segments the image and writes the mask.
pub fn run(a: Args) -> Result<(), String> {
    let e = |e: multiverseg::Error| e.message;
    let win = window(a.window.as_deref())?;
    let img = read_image(&a.image).map_err(e)?;
    let m = a.model.load()?;
    let mut s = Session::new(m);
    if let Some(d) = &a.context_dir {
        let label = a.label.map_or(MaskLabel::Nonzero, MaskLabel::Value);
        let ids = s.context_import_folder(d, label).map_err(e)?;
        println!("context: {} entries from {}", ids.len(), d.display());
    }
    s.set_image(&img.view(), win).map_err(e)?;
    for (list, positive) in [(&a.pos, true), (&a.neg, false)] {
        for p in list {
            let v = parse_nums(p, 2, if positive { "--pos" } else { "--neg" })?;
            s.add_click(v[0], v[1], positive).map_err(e)?;
        }
    }
    if let Some(b) = &a.bbox {
        let v = parse_nums(b, 4, "--box")?;
        s.add_box(v[0], v[1], v[2], v[3]).map_err(e)?;
    }
    for (list, positive) in [(&a.scribble, true), (&a.scribble_neg, false)] {
        for p in list {
            let m = read_mask(p, MaskLabel::Nonzero).map_err(e)?;
            if (m.width, m.height) != (img.width, img.height) {
                return Err(format!(
                    "{}: {}x{}, but the image is {}x{}",
                    p.display(),
                    m.width,
                    m.height,
                    img.width,
                    img.height
                ));
            }
            s.add_scribble_mask(&m.data, m.width, positive).map_err(e)?;
        }
    }
    let t = Instant::now();
    let p = s.predict().map_err(e)?;
    let mask = p.mask();
    write_mask_png(&a.out, &mask, img.width, img.height)?;
    let fg = mask.iter().filter(|&&v| v == 1).count();
    println!(
        "predicted in {:.0} ms on {}; {} of {} pixels foreground; uncertainty {:.3}; wrote {}",
        t.elapsed().as_secs_f64() * 1e3,
        s.model().backend_name(),
        fg,
        img.width * img.height,
        p.uncertainty(),
        a.out.display()
    );
    Ok(())
}
