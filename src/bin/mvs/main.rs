//! `mvs`: convert checkpoints, segment PNGs, run raw tensors, export ONNX, benchmark,
//! evaluate.

mod eval;

use clap::{Parser, Subcommand, ValueEnum};
use multiverseg::backend::BackendState;
use multiverseg::context_io::read_png_gray;
use multiverseg::gpu::{GpuBackend, GpuOptions};
use multiverseg::graph::{multiverseg_graph, to_onnx_bytes, unet_graph, GraphFlavor};
use multiverseg::{
    npy, BackendKind, ImageView, Model, ModelOptions, NetworkChoice, Pixels, Session, Weights,
    Window,
};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "mvs",
    version,
    about = "MultiverSeg: in-context interactive segmentation"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum Net {
    Auto,
    Multiverseg,
    Scribbleprompt,
}

#[derive(Clone, Copy, ValueEnum)]
enum ProtocolArg {
    Clicks,
    Scribbles,
}

#[derive(Clone, Copy, ValueEnum)]
enum Backend {
    /// A hardware GPU if there is one, else the CPU.
    Auto,
    Cpu,
    /// wgpu on the best adapter (software ones such as lavapipe included).
    Gpu,
}

impl Net {
    fn choice(self) -> NetworkChoice {
        match self {
            Net::Auto => NetworkChoice::Auto,
            Net::Multiverseg => NetworkChoice::MultiverSeg,
            Net::Scribbleprompt => NetworkChoice::ScribblePrompt,
        }
    }
}

fn opts(b: Backend, threads: usize) -> ModelOptions {
    ModelOptions {
        backend: match b {
            Backend::Auto => BackendKind::Auto,
            Backend::Cpu => BackendKind::Cpu,
            Backend::Gpu => BackendKind::Gpu,
        },
        threads,
        ..Default::default()
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Convert official PyTorch checkpoints to the library's safetensors file (no Python).
    Convert {
        #[arg(long)]
        multiverseg: PathBuf,
        #[arg(long)]
        scribbleprompt: Option<PathBuf>,
        #[arg(short, long)]
        out: PathBuf,
    },
    /// Segment a PNG: context from --context-dir (image_N.png/mask_N.png), clicks as x,y.
    Predict {
        /// Weights file (default: the model shipped in the library, or $MVS_MODEL).
        #[arg(long)]
        model: Option<PathBuf>,
        #[arg(long)]
        image: PathBuf,
        /// Folder with image_N.png / mask_N.png context pairs.
        #[arg(long)]
        context_dir: Option<PathBuf>,
        /// Positive click "x,y" in image pixels (repeatable).
        #[arg(long = "pos")]
        pos: Vec<String>,
        /// Negative click "x,y" in image pixels (repeatable).
        #[arg(long = "neg")]
        neg: Vec<String>,
        /// Box "x0,y0,x1,y1" in image pixels.
        #[arg(long = "box")]
        bbox: Option<String>,
        #[arg(short, long)]
        out: PathBuf,
        /// Where to run the networks.
        #[arg(long, value_enum, default_value = "auto")]
        backend: Backend,
        #[arg(long, default_value_t = 0)]
        threads: usize,
    },
    /// Raw tensor mode: .npy in, logits .npy out, no preprocessing.
    Infer {
        /// Weights file (default: the model shipped in the library, or $MVS_MODEL).
        #[arg(long)]
        model: Option<PathBuf>,
        #[arg(long)]
        target: PathBuf,
        #[arg(long)]
        context_images: Option<PathBuf>,
        #[arg(long)]
        context_labels: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "auto")]
        network: Net,
        #[arg(long, value_enum, default_value = "auto")]
        backend: Backend,
        #[arg(long, default_value_t = 1)]
        min_context: usize,
        #[arg(long, default_value_t = 0)]
        threads: usize,
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a network as ONNX (standard operators, context size S dynamic).
    ExportOnnx {
        /// Weights file (default: the model shipped in the library, or $MVS_MODEL).
        #[arg(long)]
        model: Option<PathBuf>,
        #[arg(long, value_enum)]
        network: Net,
        #[arg(short, long)]
        out: PathBuf,
    },
    /// The evaluation protocol: simulated users on task folders (images/, masks/); writes
    /// results.csv, plots, and with --all a summary.md.
    Eval {
        /// Weights file (default: the model shipped in the library, or $MVS_MODEL).
        #[arg(long)]
        model: Option<PathBuf>,
        /// One task folder (images/<id>.png, masks/<id>.png).
        #[arg(long, conflicts_with = "all", required_unless_present = "all")]
        task: Option<PathBuf>,
        /// Run every task folder directly under this folder.
        #[arg(long)]
        all: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "clicks")]
        protocol: ProtocolArg,
        /// Images segmented after the one that seeds the context.
        #[arg(long, default_value_t = 18)]
        n: usize,
        /// Number of seeds (0..K-1); each gives its own image order.
        #[arg(long, default_value_t = 1)]
        seeds: u64,
        /// Keep only the most recent k context entries.
        #[arg(long)]
        context_cap: Option<usize>,
        /// Interactions allowed per image (default: 20 clicks or 10 scribble steps).
        #[arg(long)]
        max_interactions: Option<usize>,
        /// Where to run the networks.
        #[arg(long, value_enum, default_value = "auto")]
        backend: Backend,
        /// Instead of the interactive experiment: Dice with no prompts vs context size.
        #[arg(long)]
        in_context: bool,
        /// Context sizes for --in-context, comma-separated.
        #[arg(long, default_value = "1,2,4,8,16")]
        k: String,
        #[arg(long, default_value_t = 0)]
        threads: usize,
        #[arg(short, long)]
        out: PathBuf,
    },
    /// Time predictions on random inputs; prints median_ms per configuration.
    Bench {
        /// Weights file (default: the model shipped in the library, or $MVS_MODEL).
        #[arg(long)]
        model: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "cpu")]
        backend: Backend,
        #[arg(long, value_enum, default_value = "multiverseg")]
        network: Net,
        /// Context sizes, comma-separated.
        #[arg(long, default_value = "1")]
        context: String,
        #[arg(long, default_value_t = 5)]
        runs: usize,
        #[arg(long, default_value_t = 0)]
        threads: usize,
        #[arg(long, default_value_t = 128)]
        size: usize,
        /// GPU only: time the 3x3 conv kernel alone ("N,CIN,COUT", e.g. 8,256,256 for
        /// eight context entries of a full-size 256->256 layer at --size) instead of
        /// the network.
        #[arg(long)]
        conv_kernel: Option<String>,
    },
}

/// The model at `path`, or the default model when no path is given.
fn load_model(path: Option<&std::path::Path>, o: &ModelOptions) -> multiverseg::Result<Model> {
    match path {
        Some(p) => Model::load_with(p, o),
        None => Model::load_default(o),
    }
}

fn parse_nums(s: &str, n: usize, what: &str) -> Result<Vec<f64>, String> {
    let v: Vec<f64> = s
        .split(',')
        .map(|x| x.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{what}: cannot parse \"{s}\""))?;
    if v.len() != n {
        return Err(format!(
            "{what}: expected {n} comma-separated numbers, got \"{s}\""
        ));
    }
    Ok(v)
}

fn rng_fill(seed: &mut u64, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            (*seed >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect()
}

fn run(cli: Cli) -> Result<(), String> {
    let e = |e: multiverseg::Error| e.message;
    match cli.cmd {
        Cmd::Convert {
            multiverseg,
            scribbleprompt,
            out,
        } => {
            let w =
                Weights::from_checkpoints(&multiverseg, scribbleprompt.as_deref()).map_err(e)?;
            w.save(&out).map_err(e)?;
            println!("wrote {} ({} tensors)", out.display(), w.tensors.len());
            for (k, v) in &w.metadata {
                println!("  {k}: {v}");
            }
        }
        Cmd::Predict {
            model,
            image,
            context_dir,
            pos,
            neg,
            bbox,
            out,
            backend,
            threads,
        } => {
            let m = load_model(model.as_deref(), &opts(backend, threads)).map_err(e)?;
            let mut s = Session::new(m);
            if let Some(d) = context_dir {
                let ids = multiverseg::context_io::import_folder(&mut s, &d).map_err(e)?;
                println!("context: {} entries from {}", ids.len(), d.display());
            }
            let (px, w, h) = read_png_gray(&image).map_err(e)?;
            s.set_image(&ImageView::packed(Pixels::F32(&px), w, h), Window::MinMax)
                .map_err(e)?;
            for (list, positive) in [(&pos, true), (&neg, false)] {
                for p in list {
                    let v = parse_nums(p, 2, "click")?;
                    s.add_click(v[0], v[1], positive).map_err(e)?;
                }
            }
            if let Some(b) = bbox {
                let v = parse_nums(&b, 4, "box")?;
                s.add_box(v[0], v[1], v[2], v[3]).map_err(e)?;
            }
            let t = Instant::now();
            let p = s.predict().map_err(e)?;
            let mask: Vec<u8> = p.mask().into_iter().map(|v| v * 255).collect();
            image::GrayImage::from_raw(w as u32, h as u32, mask)
                .ok_or("mask size")?
                .save(&out)
                .map_err(|err| format!("{}: {err}", out.display()))?;
            let fg = p.mask().iter().filter(|&&v| v == 1).count();
            println!(
                "predicted in {:.0} ms on {}; {} of {} pixels foreground; wrote {}",
                t.elapsed().as_secs_f64() * 1e3,
                s.model().backend_name(),
                fg,
                w * h,
                out.display()
            );
        }
        Cmd::Infer {
            model,
            target,
            context_images,
            context_labels,
            network,
            backend,
            min_context,
            threads,
            out,
        } => {
            let m = load_model(model.as_deref(), &opts(backend, threads)).map_err(e)?;
            let t = npy::read(&target).map_err(e)?;
            if t.shape.len() != 4 || t.shape[1] != 5 {
                return Err(format!(
                    "--target: shape {:?}, expected [B, 5, H, W]",
                    t.shape
                ));
            }
            let (b, h, w) = (t.shape[0], t.shape[2], t.shape[3]);
            let (ci, cl) = match (context_images, context_labels) {
                (Some(a), Some(c)) => (
                    Some(npy::read(&a).map_err(e)?),
                    Some(npy::read(&c).map_err(e)?),
                ),
                (None, None) => (None, None),
                _ => return Err("--context-images and --context-labels go together".into()),
            };
            let s = match &ci {
                Some(x) => {
                    if x.shape.len() != 5
                        || x.shape[0] != b
                        || x.shape[2] != 1
                        || x.shape[3] != h
                        || x.shape[4] != w
                    {
                        return Err(format!(
                            "--context-images: shape {:?}, expected [{b}, S, 1, {h}, {w}]",
                            x.shape
                        ));
                    }
                    if cl.as_ref().unwrap().shape != x.shape {
                        return Err(
                            "--context-labels must have the shape of --context-images".into()
                        );
                    }
                    x.shape[1]
                }
                None => 0,
            };
            let px = h * w;
            let mut logits = Vec::with_capacity(b * px);
            for i in 0..b {
                let tt = &t.data[i * 5 * px..(i + 1) * 5 * px];
                let (a, c) = match (&ci, &cl) {
                    (Some(a), Some(c)) => (
                        &a.data[i * s * px..(i + 1) * s * px],
                        &c.data[i * s * px..(i + 1) * s * px],
                    ),
                    _ => (&[][..], &[][..]),
                };
                logits.extend(
                    m.infer(network.choice(), min_context, tt, a, c, h, w)
                        .map_err(e)?,
                );
            }
            npy::write(&out, &[b, 1, h, w], &logits).map_err(e)?;
            println!("wrote {} [{b}, 1, {h}, {w}]", out.display());
        }
        Cmd::ExportOnnx {
            model,
            network,
            out,
        } => {
            let w = match &model {
                Some(p) => Weights::load(p),
                None => multiverseg::default_model::weights(),
            }
            .map_err(e)?;
            let proto = match network {
                Net::Scribbleprompt => unet_graph(
                    &w,
                    w.unet
                        .as_ref()
                        .ok_or("the model has no ScribblePrompt-UNet")?,
                    128,
                    128,
                    GraphFlavor::Standard,
                ),
                _ => multiverseg_graph(
                    &w,
                    w.multiverseg
                        .as_ref()
                        .ok_or("the model has no MultiverSegNet")?,
                    128,
                    128,
                    GraphFlavor::Standard,
                ),
            };
            std::fs::write(&out, to_onnx_bytes(&proto))
                .map_err(|err| format!("{}: {err}", out.display()))?;
            println!("wrote {}", out.display());
        }
        Cmd::Eval {
            model,
            task,
            all,
            protocol,
            n,
            seeds,
            context_cap,
            max_interactions,
            in_context,
            k,
            backend,
            threads,
            out,
        } => {
            if seeds == 0 {
                return Err("--seeds must be at least 1".into());
            }
            if n == 0 {
                return Err("--n must be at least 1".into());
            }
            let m = load_model(model.as_deref(), &opts(backend, threads)).map_err(e)?;
            let (tasks, is_all) = match (task, all) {
                (Some(t), None) => (vec![t], false),
                (None, Some(d)) => (multiverseg::eval::task_dirs(&d).map_err(e)?, true),
                _ => return Err("give exactly one of --task and --all".into()),
            };
            let in_context = if in_context {
                let ks: Vec<usize> = k
                    .split(',')
                    .map(|x| x.trim().parse())
                    .collect::<Result<_, _>>()
                    .map_err(|_| {
                        format!("--k: cannot parse \"{k}\" as comma-separated integers")
                    })?;
                if ks.is_empty() || ks.contains(&0) {
                    return Err("--k: context sizes must be at least 1".into());
                }
                Some(ks)
            } else {
                None
            };
            eval::run(eval::EvalArgs {
                model: m,
                tasks,
                all: is_all,
                protocol: match protocol {
                    ProtocolArg::Clicks => multiverseg::simulate::Protocol::Clicks,
                    ProtocolArg::Scribbles => multiverseg::simulate::Protocol::Scribbles,
                },
                n,
                seeds,
                context_cap,
                max_interactions,
                in_context,
                out,
            })?;
        }
        Cmd::Bench {
            model,
            backend,
            network,
            context,
            runs,
            threads,
            size,
            conv_kernel,
        } => {
            if let Some(spec) = conv_kernel {
                let v = parse_nums(&spec, 3, "--conv-kernel")?;
                let (n, cin, cout) = (v[0] as usize, v[1] as usize, v[2] as usize);
                let w = Arc::new(match model.as_deref() {
                    Some(p) => Weights::load(p).map_err(e)?,
                    None => multiverseg::default_model::weights().map_err(e)?,
                });
                let g = GpuBackend::new(
                    w,
                    threads,
                    &GpuOptions {
                        allow_software: true,
                        ..Default::default()
                    },
                )
                .map_err(e)?;
                let (tm, tn) = g.conv_tile();
                for _ in 0..runs.max(1) {
                    let (ms, tflops) = g.bench_conv(n, cin, cout, size, size, 10).map_err(e)?;
                    println!(
                        "kernel=conv3x3 adapter={} tile={}x{} n={n} cin={cin} cout={cout} size={size} ms={ms:.3} gflops={:.1} tflops={tflops:.2}",
                        g.adapter().replace(' ', "_"),
                        16 * tm,
                        16 * tn,
                        tflops * 1e3
                    );
                }
                return Ok(());
            }
            let m = load_model(model.as_deref(), &opts(backend, threads)).map_err(e)?;
            let sizes: Vec<usize> = context
                .split(',')
                .map(|x| x.trim().parse())
                .collect::<Result<_, _>>()
                .map_err(|_| "--context: comma-separated integers")?;
            let px = size * size;
            let mut seed = 0x9e3779b97f4a7c15u64;
            for s in sizes {
                let t = rng_fill(&mut seed, 5 * px);
                let ci = rng_fill(&mut seed, s * px);
                let cl: Vec<f32> = rng_fill(&mut seed, s * px)
                    .into_iter()
                    .map(|v| (v > 0.5) as u8 as f32)
                    .collect();
                // As in a session: the context stays put (on a GPU it stays on the
                // device) and each run is one click's prediction.
                let mut state = BackendState::default();
                let mut predict = || {
                    m.infer_in(
                        &mut state,
                        Some(1),
                        network.choice(),
                        1,
                        &t,
                        &ci,
                        &cl,
                        size,
                        size,
                    )
                    .map_err(e)
                };
                let t0 = Instant::now();
                predict()?; // warm-up (builds the plan, uploads the context)
                let warm = t0.elapsed().as_secs_f64() * 1e3;
                let mut times = Vec::new();
                for _ in 0..runs.max(1) {
                    let t0 = Instant::now();
                    predict()?;
                    times.push(t0.elapsed().as_secs_f64() * 1e3);
                }
                times.sort_by(|a, b| a.partial_cmp(b).unwrap());
                let w = m.weights();
                let gflop = match m.resolve(network.choice(), s, 1).map_err(e)? {
                    NetworkChoice::ScribblePrompt => w.unet.as_ref().map(|a| a.flops(size, size)),
                    _ => w
                        .multiverseg
                        .as_ref()
                        .map(|a| a.flops(size, size, s.max(1))),
                }
                .unwrap_or(0.0)
                    / 1e9;
                let med = times[times.len() / 2];
                println!(
                    "backend={} network={} S={s} size={size} runs={} median_ms={:.1} min_ms={:.1} first_ms={:.1} conv_gflop={:.1} tflops={:.2}",
                    m.backend_name().replace(' ', "_"),
                    match network { Net::Auto => "auto", Net::Multiverseg => "multiverseg", Net::Scribbleprompt => "scribbleprompt" },
                    times.len(),
                    med,
                    times[0],
                    warm,
                    gflop,
                    gflop / med
                );
            }
        }
    }
    Ok(())
}

fn main() {
    if let Err(msg) = run(Cli::parse()) {
        eprintln!("mvs: error: {msg}");
        std::process::exit(1);
    }
}
