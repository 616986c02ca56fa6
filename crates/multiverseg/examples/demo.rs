//! The whole MultiverSeg loop on the default model, with data this program makes itself:
//! a procedurally generated set of related images (a textured cell-like blob among smaller
//! distractors, different in every image). A simulated user clicks (center clicks, as in the
//! evaluation protocol) until each image reaches 90% Dice; each finished image joins the
//! context, so later images need fewer clicks. The same images are also segmented without
//! context (ScribblePrompt-UNet alone) for comparison.
//!
//! `cargo run --release --example demo [-- --model M.safetensors] [--out DIR] [--images N] [--seed S]
//! [--after-prompt multiverseg|unet|mean|mean-for-clicks]` writes DIR/mask_NN.png and DIR/montage.png (default
//! DIR: demo_out). `--after-prompt` sets `Session::set_after_prompt` for the images segmented
//! with a context (default `multiverseg`, the paper).

use std::path::PathBuf;

use multiverseg::eval::{segment_image, InteractiveConfig, Segmenter, TaskImage, Timing};
use multiverseg::simulate::{Mask, Protocol, Rng};
use multiverseg::{AfterPrompt, Model, ModelOptions, Session};

const SIZE: usize = 128;

fn uniform(r: &mut Rng) -> f64 {
    (r.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// One image of the generated task: a large textured ellipse (the target structure) and a
/// few small round distractors on a smoothly varying, noisy background.
fn generate(i: usize, seed: u64) -> TaskImage {
    let mut r = Rng::derive(seed, &[i as u64]);
    let n = SIZE;
    let cx = 40.0 + 48.0 * uniform(&mut r);
    let cy = 40.0 + 48.0 * uniform(&mut r);
    let (ra, rb) = (16.0 + 12.0 * uniform(&mut r), 11.0 + 8.0 * uniform(&mut r));
    let th = std::f64::consts::PI * uniform(&mut r);
    let (c, s) = (th.cos(), th.sin());
    let distractors: Vec<(f64, f64, f64)> = (0..3)
        .map(|_| {
            (
                8.0 + 112.0 * uniform(&mut r),
                8.0 + 112.0 * uniform(&mut r),
                4.0 + 4.0 * uniform(&mut r),
            )
        })
        .collect();
    // 6.28, not TAU: the README's click counts come from the images this draws.
    #[allow(clippy::approx_constant)]
    let (fx, fy, ph) = (
        0.03 + 0.04 * uniform(&mut r),
        0.03 + 0.04 * uniform(&mut r),
        6.28 * uniform(&mut r),
    );
    let mut pixels = vec![0u8; n * n];
    let mut mask = Mask::empty(n, n);
    for y in 0..n {
        for x in 0..n {
            let (dx, dy) = (x as f64 - cx, y as f64 - cy);
            let (u, v) = (c * dx + s * dy, -s * dx + c * dy);
            let inside = (u / ra).powi(2) + (v / rb).powi(2) <= 1.0;
            let mut val = 0.25 + 0.08 * ((x as f64 * fx + ph).sin() + (y as f64 * fy).cos());
            for &(qx, qy, qr) in &distractors {
                if (x as f64 - qx).powi(2) + (y as f64 - qy).powi(2) <= qr * qr {
                    val = 0.55;
                }
            }
            if inside {
                // A darker nucleus-like core inside a bright body.
                let core = (u / (0.45 * ra)).powi(2) + (v / (0.45 * rb)).powi(2) <= 1.0;
                val = if core { 0.6 } else { 0.85 };
            }
            val += 0.06 * (uniform(&mut r) - 0.5);
            pixels[y * n + x] = (val.clamp(0.0, 1.0) * 255.0) as u8;
            mask.data[y * n + x] = inside;
        }
    }
    TaskImage {
        id: format!("{i:02}"),
        pixels,
        width: n,
        height: n,
        mask,
    }
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let out = PathBuf::from(arg(&args, "--out").unwrap_or_else(|| "demo_out".into()));
    let n: usize = arg(&args, "--images").map_or(Ok(10), |v| v.parse())?;
    let seed: u64 = arg(&args, "--seed").map_or(Ok(0), |v| v.parse())?;
    let model = match arg(&args, "--model") {
        Some(p) => Model::load_with(p.as_ref(), &ModelOptions::default())?,
        None => Model::load_default(&ModelOptions::default())?,
    };
    std::fs::create_dir_all(&out)?;
    let images: Vec<TaskImage> = (0..n).map(|i| generate(i, seed)).collect();
    let cfg = InteractiveConfig::paper(Protocol::Clicks, n, 1);
    let after_prompt = match arg(&args, "--after-prompt") {
        None => AfterPrompt::MultiverSeg,
        Some(v) => AfterPrompt::from_name(&v).map_err(|e| format!("--after-prompt: {e}"))?,
    };
    let mut with_ctx = Session::new(model.clone());
    with_ctx.set_after_prompt(after_prompt);
    let mut no_ctx = Session::new(model);
    let mut timing = Timing::default();
    let (mut total_ctx, mut total_none) = (0, 0);
    let mut montage = image::RgbImage::new((SIZE * 5) as u32, (SIZE * n.div_ceil(5)) as u32);
    println!("image  context  clicks (with context)  clicks (no context)  Dice");
    for (i, item) in images.iter().enumerate() {
        let ctx = with_ctx.context_count();
        let (k, d) = segment_image(
            &mut with_ctx,
            item,
            &cfg,
            &mut Rng::new(i as u64),
            &mut timing,
        )?;
        let pred = with_ctx
            .last_prediction()
            .expect("segment_image predicts")
            .mask();
        Segmenter::commit(&mut with_ctx)?;
        let (kb, _) = segment_image(
            &mut no_ctx,
            item,
            &cfg,
            &mut Rng::new(i as u64),
            &mut timing,
        )?;
        total_ctx += k;
        total_none += kb;
        println!("{i:>5}  {ctx:>7}  {k:>21}  {kb:>19}  {d:.3}");
        image::GrayImage::from_raw(
            SIZE as u32,
            SIZE as u32,
            pred.iter().map(|&v| v * 255).collect(),
        )
        .expect("mask size")
        .save(out.join(format!("mask_{i:02}.png")))?;
        let (ox, oy) = ((i % 5) * SIZE, (i / 5) * SIZE);
        for y in 0..SIZE {
            for x in 0..SIZE {
                let g = item.pixels[y * SIZE + x];
                let px = if pred[y * SIZE + x] == 1 {
                    [g / 2 + 127, g / 2, g / 2]
                } else {
                    [g, g, g]
                };
                montage.put_pixel((ox + x) as u32, (oy + y) as u32, image::Rgb(px));
            }
        }
    }
    montage.save(out.join("montage.png"))?;
    println!(
        "total clicks: {total_ctx} with a growing context, {total_none} without ({:.0}% fewer); {} predictions in {:.1} s; wrote {}",
        100.0 * (total_none as f64 - total_ctx as f64) / (total_none.max(1) as f64),
        timing.predictions,
        timing.model.as_secs_f64(),
        out.display()
    );
    Ok(())
}
