//! `mvs eval`: the evaluation protocol on task folders (DESIGN.md section 5).

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::common::{parse_list, ModelArgs};
use crate::plot::{line_plot, Series};
use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};
use multiverseg::eval::report::{
    per_k, per_position, per_step, reached_target, summary_markdown, write_curves_csv,
    write_in_context_csv, write_results_csv,
};
use multiverseg::eval::{
    load_task, run_click_curves, run_in_context, run_interactive, summarize, InteractiveConfig,
    Method, Segmenter, Timing,
};
use multiverseg::simulate::Protocol;
use multiverseg::{AfterPrompt, ContextPolicy, Model, Session};

/// `--protocol`.
#[derive(Clone, Copy, ValueEnum)]
pub enum ProtocolArg {
    /// Center clicks: at the deepest point of the largest error component.
    Clicks,
    /// Centerline scribbles.
    Scribbles,
}

/// `--after-prompt`: the names of multiverseg::AfterPrompt (`AfterPrompt::name`), listed in
/// --help and in the error for any other value.
fn after_prompt_parser() -> impl clap::builder::TypedValueParser<Value = AfterPrompt> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(AfterPrompt::ALL.map(AfterPrompt::name))
        .map(|name| AfterPrompt::from_name(&name).expect("one of the listed names"))
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
    /// The MultiverSeg arm fits its threshold to the finished images (an experiment of issue
    /// 14 that departs from the paper: the offset of multiverseg::workflow::calibration, with
    /// its defaults of 8 latest images and at least 2). Interactive experiment only.
    #[arg(long, conflicts_with_all = ["in_context", "curves"])]
    calibrate_threshold: bool,
    /// Every UNet prediction (both arms, and the curves' k = 0) averages the UNet over the four
    /// flips of its input (an experiment of issue 14 that departs from the paper: four passes;
    /// multiverseg::workflow::flip_average). Not with --in-context (no UNet there).
    #[arg(long, conflicts_with = "in_context")]
    unet_flip_average: bool,
    /// Which network predicts an image once it has a prompt (a click or scribble step), with a
    /// context: `multiverseg` (MultiverSegNet, the paper), `unet` (the UNet), `mean` (the mean
    /// of both networks' logits), or `mean-for-clicks` (the mean only while the image's
    /// prompts are all clicks); the
    /// prediction before the first prompt is always MultiverSegNet's (experiments of issue 14
    /// that depart from the paper; multiverseg::workflow::after_prompt). With --curves it
    /// applies to k > 0. Not with --in-context (no prompts there).
    #[arg(
        long,
        value_parser = after_prompt_parser(),
        default_value = "multiverseg",
        conflicts_with = "in_context"
    )]
    after_prompt: AfterPrompt,
    /// Instead of the interactive experiment: Dice with no prompts vs context size.
    #[arg(long)]
    in_context: bool,
    /// Context sizes for --in-context, comma-separated.
    #[arg(long, default_value = "1,2,4,8,16")]
    k: String,
    /// Instead of the interactive experiment: Dice after each of --max-interactions clicks
    /// (or scribble steps), not stopping at 90%, for the first --n images of each seed's
    /// order, with the ground-truth context sizes of --curve-k (0 = the UNet alone).
    /// Writes curves.csv, one plot per task and a table of Dice at 0/1/3/5/10/20 steps.
    #[arg(long, conflicts_with = "in_context")]
    curves: bool,
    /// Context sizes for --curves, comma-separated (0 = no context).
    #[arg(long, default_value = "0,8")]
    curve_k: String,
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
    let curves = if a.curves {
        Some(parse_list(&a.curve_k, "--curve-k")?)
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
        calibrate_threshold: a.calibrate_threshold,
        unet_flip_average: a.unet_flip_average,
        after_prompt: a.after_prompt,
        in_context,
        curves,
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
    calibrate_threshold: bool,
    unet_flip_average: bool,
    after_prompt: AfterPrompt,
    in_context: Option<Vec<usize>>,
    curves: Option<Vec<usize>>,
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
    let flip = a.unet_flip_average;
    let after_prompt = a.after_prompt;
    let new_session = move || -> multiverseg::Result<Box<dyn Segmenter>> {
        let mut s = Session::new(model.clone());
        s.set_unet_flip_average(flip);
        s.set_after_prompt(after_prompt);
        Ok(Box::new(s))
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
    if a.calibrate_threshold {
        cfg.calibration = Some(multiverseg::ThresholdCalibration::default());
    }
    if let Some(ks) = &a.curves {
        return click_curves(&a, &cfg, ks, &new_session, t_all);
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
        }
        all.extend(recs);
        if a.all {
            // The summary too, over the tasks done so far.
            let md = summary_text(&summaries, &all, &cfg, a.protocol.name(), &option_notes(&a));
            multiverseg::io::atomic_write(&a.out.join("summary.md"), md.as_bytes())
                .map_err(|e| e.message)?;
        }
    }
    write_results_csv(&a.out.join("results.csv"), &all).map_err(s)?;
    if a.all {
        println!(
            "{}",
            summary_text(&summaries, &all, &cfg, a.protocol.name(), &option_notes(&a))
        );
    }
    report_timing(&timing, t_all.elapsed().as_secs_f64(), &a.out);
    Ok(())
}

/// The lines summary.md and curves.md end with for the options that depart from the paper
/// (`--unet-flip-average`, `--after-prompt`); empty without them.
fn option_notes(a: &EvalArgs) -> String {
    let mut md = String::new();
    if a.unet_flip_average {
        md += "\nThe UNet averaged over the four flips of its input (departs from the paper).\n";
    }
    match a.after_prompt {
        AfterPrompt::MultiverSeg => {}
        AfterPrompt::Unet => md += "\nAfter a prompt, with a context: the UNet (MultiverSegNet predicts each image before its first prompt; departs from the paper).\n",
        AfterPrompt::Mean => md += "\nAfter a prompt, with a context: the mean of MultiverSegNet's and the UNet's logits (MultiverSegNet alone before the first prompt; departs from the paper).\n",
        AfterPrompt::MeanForClicks => md += "\nAfter a prompt, with a context: the mean of MultiverSegNet's and the UNet's logits while the image's prompts are all clicks, MultiverSegNet alone otherwise (departs from the paper).\n",
    }
    md
}

/// summary.md of `--all`: the table, then how often each arm reached the target Dice.
fn summary_text(
    summaries: &[multiverseg::eval::TaskSummary],
    records: &[multiverseg::eval::Record],
    cfg: &InteractiveConfig,
    protocol: &str,
    notes: &str,
) -> String {
    let mut md = summary_markdown(summaries, protocol);
    for (label, m) in [
        ("baseline (no context)", Method::Baseline),
        ("MultiverSeg", Method::MultiverSeg),
    ] {
        let (hit, n) = reached_target(records, m, cfg.target_dice);
        md.push_str(&format!(
            "\n{label}: Dice >= {} within {} {protocol} on {hit} of {n} images ({:.1}%; positions 1..n, all seeds).\n",
            cfg.target_dice,
            cfg.max_interactions,
            100.0 * hit as f64 / n.max(1) as f64
        ));
    }
    md.push_str(notes);
    if let Some(c) = cfg.calibration {
        md.push_str(&format!(
            "\nMultiverSeg arm: threshold calibrated on the context (latest {} committed images, at least {}; departs from the paper).\n",
            c.latest, c.min_pairs
        ));
    }
    md
}

/// `--curves`: Dice per step for each context size, per task and over all tasks.
fn click_curves(
    a: &EvalArgs,
    cfg: &InteractiveConfig,
    ks: &[usize],
    new_session: &dyn Fn() -> multiverseg::Result<Box<dyn Segmenter>>,
    t_all: Instant,
) -> Result<(), String> {
    let mut all = Vec::new();
    let steps = [0usize, 1, 3, 5, 10, 20];
    let shown: Vec<usize> = steps
        .iter()
        .copied()
        .filter(|&x| x <= cfg.max_interactions)
        .collect();
    let mut md = format!(
        "| task | k | images | {} | reach 90% |\n|---|---|---|{}---|\n",
        shown
            .iter()
            .map(|x| format!("Dice@{x}"))
            .collect::<Vec<_>>()
            .join(" | "),
        "---|".repeat(shown.len())
    );
    for dir in &a.tasks {
        let task = load_task(dir).map_err(s)?;
        let pb = bar(
            (cfg.seeds.len() * cfg.n.min(task.images.len()) * ks.len()) as u64,
            &task.name,
        );
        let recs = run_click_curves(&task, cfg, ks, new_session, &mut || pb.inc(1)).map_err(s)?;
        pb.finish_and_clear();
        let mut series_pts = Vec::new();
        for &k in ks {
            let pts = per_step(&recs, k);
            if pts.is_empty() {
                continue;
            }
            md += &curve_row(&task.name, k, &recs, &pts, &shown);
            series_pts.push((format!("k = {k}"), pts));
        }
        let series: Vec<Series> = series_pts
            .iter()
            .enumerate()
            .map(|(i, (label, pts))| Series {
                label,
                color: COLORS[i % COLORS.len()],
                points: pts,
            })
            .collect();
        let unit = match cfg.protocol {
            Protocol::Clicks => "clicks",
            Protocol::Scribbles => "scribble steps",
        };
        line_plot(
            &a.out.join(format!("{}_curves.png", task.name)),
            &format!(
                "{}: Dice after each of {} {unit}",
                task.name, cfg.max_interactions
            ),
            unit,
            "Dice (mean, 95% interval)",
            &series,
        )
        .map_err(s)?;
        all.extend(recs);
    }
    // Over all tasks: each task weighs the same (mean of the task means).
    for &k in ks {
        let per_task: Vec<Vec<(usize, multiverseg::eval::Stat)>> = a
            .tasks
            .iter()
            .filter_map(|d| {
                let name = d.file_name()?.to_string_lossy().into_owned();
                let r: Vec<_> = all.iter().filter(|r| r.task == name).cloned().collect();
                let pts = per_step(&r, k);
                (!pts.is_empty()).then_some(pts)
            })
            .collect();
        if per_task.is_empty() {
            continue;
        }
        let cells: Vec<String> = shown
            .iter()
            .map(|&x| {
                let v: Vec<f64> = per_task
                    .iter()
                    .filter_map(|p| p.iter().find(|(st, _)| *st == x).map(|(_, s)| s.mean))
                    .collect();
                format!("{:.3}", v.iter().sum::<f64>() / v.len() as f64)
            })
            .collect();
        let reach: Vec<f64> = a
            .tasks
            .iter()
            .filter_map(|d| {
                let name = d.file_name()?.to_string_lossy().into_owned();
                reach_share(&all, &name, k)
            })
            .collect();
        md += &format!(
            "| **mean over {} tasks** | {k} | | {} | {:.0}% |\n",
            per_task.len(),
            cells.join(" | "),
            100.0 * reach.iter().sum::<f64>() / reach.len().max(1) as f64
        );
    }
    md += &option_notes(a);
    write_curves_csv(&a.out.join("curves.csv"), &all).map_err(s)?;
    multiverseg::io::atomic_write(&a.out.join("curves.md"), md.as_bytes())
        .map_err(|e| e.message)?;
    println!("{md}");
    println!(
        "wrote {} and {} in {:.1} s",
        a.out.join("curves.csv").display(),
        a.out.join("curves.md").display(),
        t_all.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Share of (seed, image) runs of `task` with context `k` that reach Dice 0.9 at some step.
fn reach_share(all: &[multiverseg::eval::CurveRecord], task: &str, k: usize) -> Option<f64> {
    let mut runs: Vec<(u64, &str)> = all
        .iter()
        .filter(|r| r.task == task && r.k == k)
        .map(|r| (r.seed, r.image.as_str()))
        .collect();
    runs.sort_unstable();
    runs.dedup();
    if runs.is_empty() {
        return None;
    }
    let hit = runs
        .iter()
        .filter(|(seed, img)| {
            all.iter().any(|r| {
                r.task == task && r.k == k && r.seed == *seed && r.image == *img && r.dice >= 0.9
            })
        })
        .count();
    Some(hit as f64 / runs.len() as f64)
}

/// One markdown row of the curves table.
fn curve_row(
    task: &str,
    k: usize,
    recs: &[multiverseg::eval::CurveRecord],
    pts: &[(usize, multiverseg::eval::Stat)],
    shown: &[usize],
) -> String {
    let cells: Vec<String> = shown
        .iter()
        .map(|&x| {
            pts.iter()
                .find(|(st, _)| *st == x)
                .map_or("-".into(), |(_, s)| format!("{:.3}", s.mean))
        })
        .collect();
    format!(
        "| {task} | {k} | {} | {} | {:.0}% |\n",
        pts[0].1.n,
        cells.join(" | "),
        100.0 * reach_share(recs, task, k).unwrap_or(0.0)
    )
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
