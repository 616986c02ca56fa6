//! `mvs eval`: the evaluation protocol on task folders (DESIGN.md section 5).

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::common::{parse_list, ModelArgs};
use crate::plot::{line_plot, Series};
use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};
use multiverseg::eval::report::{
    per_k, per_position, summary_markdown, write_in_context_csv, write_results_csv,
};
use multiverseg::eval::{
    load_task, run_in_context, run_interactive, summarize, InteractiveConfig, Method, Segmenter,
    Timing,
};
use multiverseg::simulate::Protocol;
use multiverseg::{ContextPolicy, Model, Session};

/// `--protocol`.
#[derive(Clone, Copy, ValueEnum)]
pub enum ProtocolArg {
    /// Center clicks: at the deepest point of the largest error component.
    Clicks,
    /// Centerline scribbles.
    Scribbles,
}

/// Arguments of `mvs eval`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
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
    /// Each prediction uses at most k context entries (all are kept), chosen by --select.
    #[arg(long)]
    context_cap: Option<usize>,
    /// With --context-cap: the latest entries, or those most similar to the image.
    #[arg(long, value_enum, default_value = "latest")]
    select: super::segment::SelectArg,
    /// Interactions allowed per image (default: 20 clicks or 10 scribble steps).
    #[arg(long)]
    max_interactions: Option<usize>,
    /// Instead of the interactive experiment: Dice with no prompts vs context size.
    #[arg(long)]
    in_context: bool,
    /// Context sizes for --in-context, comma-separated.
    #[arg(long, default_value = "1,2,4,8,16")]
    k: String,
    #[arg(short, long)]
    out: PathBuf,
}

/// Checks the arguments and runs the experiment.
pub fn run(a: Args) -> Result<(), String> {
    if a.seeds == 0 {
        return Err("--seeds must be at least 1".into());
    }
    if a.n == 0 {
        return Err("--n must be at least 1".into());
    }
    let (tasks, all) = match (&a.task, &a.all) {
        (Some(t), None) => (vec![t.clone()], false),
        (None, Some(d)) => (
            multiverseg::eval::task_dirs(d).map_err(|e| e.message)?,
            true,
        ),
        _ => return Err("give exactly one of --task and --all".into()),
    };
    let in_context = if a.in_context {
        let ks = parse_list(&a.k, "--k")?;
        if ks.is_empty() || ks.contains(&0) {
            return Err("--k: context sizes must be at least 1".into());
        }
        Some(ks)
    } else {
        None
    };
    let model = a.model.load()?;
    run_eval(EvalArgs {
        model,
        tasks,
        all,
        protocol: match a.protocol {
            ProtocolArg::Clicks => Protocol::Clicks,
            ProtocolArg::Scribbles => Protocol::Scribbles,
        },
        n: a.n,
        seeds: a.seeds,
        context_cap: a.context_cap,
        select: a.select,
        max_interactions: a.max_interactions,
        in_context,
        out: a.out,
    })
}

/// Everything `mvs eval` was asked to do.
struct EvalArgs {
    model: Model,
    tasks: Vec<PathBuf>,
    all: bool,
    protocol: Protocol,
    n: usize,
    seeds: u64,
    context_cap: Option<usize>,
    select: super::segment::SelectArg,
    max_interactions: Option<usize>,
    in_context: Option<Vec<usize>>,
    out: PathBuf,
}

const COLORS: [(u8, u8, u8); 12] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
    (0, 0, 0),
    (255, 187, 120),
];

fn bar(total: u64, what: &str) -> ProgressBar {
    // indicatif draws to stderr only when it is a terminal, so logs stay clean.
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template(
            "{msg:>28} [{bar:30}] {pos}/{len} images, {elapsed} (eta {eta})",
        )
        .unwrap()
        .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

fn s(e: multiverseg::Error) -> String {
    e.message
}

fn run_eval(a: EvalArgs) -> Result<(), String> {
    std::fs::create_dir_all(&a.out).map_err(|e| format!("{}: {e}", a.out.display()))?;
    let model = a.model.clone();
    let new_session = move || -> multiverseg::Result<Box<dyn Segmenter>> {
        Ok(Box::new(Session::new(model.clone())))
    };
    let seeds: Vec<u64> = (0..a.seeds).collect();
    let t_all = Instant::now();

    if let Some(ks) = &a.in_context {
        let mut all = Vec::new();
        let mut series_pts = Vec::new();
        for dir in &a.tasks {
            let task = load_task(dir).map_err(s)?;
            let pb = bar((ks.len() * seeds.len()) as u64, &task.name);
            let recs =
                run_in_context(&task, ks, &seeds, &new_session, &mut || pb.inc(1)).map_err(s)?;
            pb.finish_and_clear();
            let pts = per_k(&recs);
            for (k, st) in &pts {
                println!(
                    "{}: k={k} dice={:.3} ± {:.3} (n={})",
                    task.name, st.mean, st.half, st.n
                );
            }
            series_pts.push((task.name.clone(), pts));
            all.extend(recs);
        }
        write_in_context_csv(&a.out.join("in_context.csv"), &all).map_err(s)?;
        let series: Vec<Series> = series_pts
            .iter()
            .enumerate()
            .map(|(i, (name, pts))| Series {
                label: name,
                color: COLORS[i % COLORS.len()],
                points: pts,
            })
            .collect();
        line_plot(
            &a.out.join("in_context.png"),
            "In-context Dice without prompts",
            "context size k",
            "Dice (mean, 95% interval)",
            &series,
        )
        .map_err(s)?;
        println!(
            "wrote {} and {} in {:.1} s",
            a.out.join("in_context.csv").display(),
            a.out.join("in_context.png").display(),
            t_all.elapsed().as_secs_f64()
        );
        return Ok(());
    }

    let mut cfg = InteractiveConfig::paper(a.protocol, a.n, a.seeds);
    if let Some(k) = a.context_cap {
        cfg.context_policy = ContextPolicy::capped(k, a.select.into());
    }
    if let Some(m) = a.max_interactions {
        cfg.max_interactions = m;
    }
    let mut all = Vec::new();
    let mut summaries = Vec::new();
    let mut timing = Timing::default();
    for dir in &a.tasks {
        let task = load_task(dir).map_err(s)?;
        let n = cfg.n.min(task.images.len() - 1);
        let pb = bar((seeds.len() * (2 * n + 1)) as u64, &task.name);
        let (recs, t) = run_interactive(&task, &cfg, &new_session, &mut || pb.inc(1)).map_err(s)?;
        pb.finish_and_clear();
        timing.add(&t);
        let mvs = per_position(&recs, Method::MultiverSeg);
        let base = per_position(&recs, Method::Baseline);
        let plot_path = if a.all {
            a.out.join(format!("{}_noi90.png", task.name))
        } else {
            a.out.join("noi90.png")
        };
        let unit = match a.protocol {
            Protocol::Clicks => "clicks",
            Protocol::Scribbles => "scribble steps",
        };
        line_plot(
            &plot_path,
            &format!("{}: {unit} to 90% Dice", task.name),
            "position in the sequence (0 = seeds the context)",
            &format!("{unit} (mean, 95% interval)"),
            &[
                Series {
                    label: "MultiverSeg (growing context)",
                    color: COLORS[0],
                    points: &mvs,
                },
                Series {
                    label: "baseline (no context)",
                    color: COLORS[1],
                    points: &base,
                },
            ],
        )
        .map_err(s)?;
        let sm = summarize(&recs).ok_or("no results")?;
        println!(
            "{}: {} images x {} seeds; total {unit} MultiverSeg {:.1}, baseline {:.1} ({:.1}% fewer); NoI90 first {:.2} last {:.2}; final Dice {:.3}",
            sm.task,
            sm.images,
            sm.seeds,
            sm.total_mvs,
            sm.total_baseline,
            sm.reduction_pct(),
            sm.first,
            sm.last,
            sm.final_dice
        );
        summaries.push(sm);
        if a.all {
            // Written task by task, so a long --all run that is stopped keeps what it did.
            write_results_csv(&a.out.join(format!("{}_results.csv", task.name)), &recs)
                .map_err(s)?;
            let md = summary_markdown(&summaries, a.protocol.name());
            std::fs::write(a.out.join("summary.md"), &md).map_err(|e| e.to_string())?;
        }
        all.extend(recs);
    }
    write_results_csv(&a.out.join("results.csv"), &all).map_err(s)?;
    if a.all {
        let md = summary_markdown(&summaries, a.protocol.name());
        std::fs::write(a.out.join("summary.md"), &md).map_err(|e| e.to_string())?;
        println!("{md}");
    }
    report_timing(&timing, t_all.elapsed().as_secs_f64(), &a.out);
    Ok(())
}

fn report_timing(t: &Timing, wall: f64, out: &Path) {
    let model = t.model.as_secs_f64();
    let harness = t.harness.as_secs_f64();
    println!(
        "wall {:.1} s; {} predictions, model {:.1} s ({:.1} ms each), harness {:.2} s ({:.1}% of model time); wrote {}",
        wall,
        t.predictions,
        model,
        1e3 * model / t.predictions.max(1) as f64,
        harness,
        100.0 * harness / model.max(1e-9),
        out.display()
    );
}
