//! The paper's interactive experiment (DESIGN.md section 5) and its in-context experiment,
//! run against anything that implements [`Segmenter`] (a [`Session`] in practice; an oracle
//! in the tests).

use std::time::{Duration, Instant};

use crate::error::Result;
use crate::eval::task::{Task, TaskImage};
use crate::preprocess::{ImageView, Pixels, Window};
use crate::session::Session;
use crate::simulate::{self, Action, Mask, Protocol, Rng};
use crate::workflow::calibration::ThresholdCalibration;
use crate::workflow::policy::ContextPolicy;

/// What the protocol needs from a segmentation session.
pub trait Segmenter {
    /// Makes `item` the current image (clears prompts and previous logits).
    fn set_image(&mut self, item: &TaskImage) -> Result<()>;
    /// Applies one simulated action.
    fn apply(&mut self, action: &Action) -> Result<()>;
    /// Predicts with everything so far and returns the binary mask at image size.
    fn predict(&mut self) -> Result<Mask>;
    /// Adds the current image with its binarized last prediction to the context.
    fn commit(&mut self) -> Result<()>;
    /// Adds a ground-truth example to the context.
    fn add_context(&mut self, item: &TaskImage) -> Result<()>;
    /// Number of context entries.
    fn context_len(&self) -> usize;
    /// Sets which context entries each prediction uses (the entries themselves stay).
    fn set_context_policy(&mut self, policy: ContextPolicy) -> Result<()>;
    /// Turns the threshold calibration on or off (see
    /// [`Session::set_threshold_calibration`]). By default only off is accepted: `Some` is
    /// an `InvalidArgument` error, so a segmenter that cannot calibrate never runs an
    /// experiment as if it had.
    fn set_threshold_calibration(&mut self, c: Option<ThresholdCalibration>) -> Result<()> {
        match c {
            None => Ok(()),
            Some(_) => Err(crate::error::Error::arg(
                "calibration: this segmenter has no threshold calibration",
            )),
        }
    }
}

fn view(item: &TaskImage) -> ImageView<'_> {
    ImageView::packed(Pixels::U8(&item.pixels), item.width, item.height)
}

impl Segmenter for Session {
    fn set_image(&mut self, item: &TaskImage) -> Result<()> {
        Session::set_image(self, &view(item), Window::MinMax)
    }
    fn apply(&mut self, action: &Action) -> Result<()> {
        match action {
            Action::Click { x, y, positive } => self.add_click(*x as f64, *y as f64, *positive),
            Action::Scribble { mask, positive } => {
                self.add_scribble_mask(&mask.to_u8(), mask.width, *positive)
            }
        }
    }
    fn predict(&mut self) -> Result<Mask> {
        let p = Session::predict(self)?;
        Ok(Mask::from_u8(&p.mask(), p.width, p.height))
    }
    fn commit(&mut self) -> Result<()> {
        Session::commit(self).map(|_| ())
    }
    fn add_context(&mut self, item: &TaskImage) -> Result<()> {
        self.context_add(&view(item), Window::MinMax, &item.mask.to_u8(), item.width)
            .map(|_| ())
    }
    fn context_len(&self) -> usize {
        self.context_count()
    }
    fn set_context_policy(&mut self, policy: ContextPolicy) -> Result<()> {
        Session::set_context_policy(self, policy)
    }
    fn set_threshold_calibration(&mut self, c: Option<ThresholdCalibration>) -> Result<()> {
        Session::set_threshold_calibration(self, c)
    }
}

/// Settings of the interactive experiment.
#[derive(Debug, Clone)]
pub struct InteractiveConfig {
    /// Clicks or scribbles.
    pub protocol: Protocol,
    /// Images segmented after the one that seeds the context (capped by the task's size).
    pub n: usize,
    /// The seeds; each gives its own image order and tie-breaking.
    pub seeds: Vec<u64>,
    /// Which context entries each prediction uses (default: all). With a cap, the session
    /// still keeps every entry and the policy picks per prediction (latest or similar).
    pub context_policy: ContextPolicy,
    /// Interactions allowed per image (20 clicks or 10 scribble steps in the paper).
    pub max_interactions: usize,
    /// Dice at which an image counts as done.
    pub target_dice: f64,
    /// The MultiverSeg arm's threshold calibration (None in the paper; an experiment of issue
    /// 14, see [`crate::workflow::calibration`]). The baseline arm never uses MultiverSegNet.
    pub calibration: Option<ThresholdCalibration>,
}

impl InteractiveConfig {
    /// The paper's settings for `protocol` with `n` images and seeds 0..`seeds`.
    pub fn paper(protocol: Protocol, n: usize, seeds: u64) -> Self {
        InteractiveConfig {
            protocol,
            n,
            seeds: (0..seeds).collect(),
            context_policy: ContextPolicy::all(),
            max_interactions: match protocol {
                Protocol::Clicks => 20,
                Protocol::Scribbles => 10,
            },
            target_dice: 0.9,
            calibration: None,
        }
    }
}

/// Which arm of the experiment a row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The context grows with every finished image.
    MultiverSeg,
    /// No context: ScribblePrompt-UNet alone (or the dummy context without a UNet).
    Baseline,
}

impl Method {
    /// The name written to the CSV.
    pub fn name(self) -> &'static str {
        match self {
            Method::MultiverSeg => "multiverseg",
            Method::Baseline => "baseline",
        }
    }
}

/// One row of results.csv: one image segmented by one method.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Task name.
    pub task: String,
    /// Seed.
    pub seed: u64,
    /// 0 = the image that seeds the context, 1..=n the sequence.
    pub position: usize,
    /// Which arm.
    pub method: Method,
    /// Interactions used (the cap when Dice never reached the target).
    pub interactions: usize,
    /// Dice after the last interaction.
    pub dice: f64,
    /// The image's id.
    pub image: String,
}

/// Where the time went: in the model, and in the harness around it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timing {
    /// Inside `Segmenter::predict`.
    pub model: Duration,
    /// Simulation, distance transforms, Dice, bookkeeping.
    pub harness: Duration,
    /// Predictions made.
    pub predictions: usize,
}

impl Timing {
    /// Adds another timing.
    pub fn add(&mut self, o: &Timing) {
        self.model += o.model;
        self.harness += o.harness;
        self.predictions += o.predictions;
    }
}

fn timed_predict(s: &mut dyn Segmenter, t: &mut Timing) -> Result<Mask> {
    let t0 = Instant::now();
    let m = s.predict();
    t.model += t0.elapsed();
    t.predictions += 1;
    m
}

/// Segments one image interactively until Dice reaches the target or the interactions run
/// out. The prediction without prompts counts too (zero interactions when it is good
/// enough). Returns (interactions, final Dice).
pub fn segment_image(
    s: &mut dyn Segmenter,
    item: &TaskImage,
    cfg: &InteractiveConfig,
    rng: &mut Rng,
    timing: &mut Timing,
) -> Result<(usize, f64)> {
    let start = Instant::now();
    let model_before = timing.model;
    s.set_image(item)?;
    let mut pred = timed_predict(s, timing)?;
    let mut d = simulate::dice(&item.mask, &pred);
    let mut k = 0;
    while d < cfg.target_dice && k < cfg.max_interactions {
        let acts = simulate::next_step(cfg.protocol, &item.mask, Some(&pred), k, rng);
        if acts.is_empty() {
            break;
        }
        for a in &acts {
            s.apply(a)?;
        }
        k += 1;
        pred = timed_predict(s, timing)?;
        d = simulate::dice(&item.mask, &pred);
    }
    timing.harness += start.elapsed() - (timing.model - model_before);
    Ok((k, d))
}

/// Runs the interactive experiment on one task: for each seed, an image chosen by the seed
/// is segmented without context and committed, then `n` further images are segmented in
/// sequence, each committed (binarized) after it is done; the baseline segments the same
/// images with the same tie-breaking and no context. `new_segmenter` makes a fresh empty
/// session; `progress` is called once per image.
pub fn run_interactive(
    task: &Task,
    cfg: &InteractiveConfig,
    new_segmenter: &dyn Fn() -> Result<Box<dyn Segmenter>>,
    progress: &mut dyn FnMut(),
) -> Result<(Vec<Record>, Timing)> {
    let mut out = Vec::new();
    let mut timing = Timing::default();
    let n = cfg.n.min(task.images.len() - 1);
    for &seed in &cfg.seeds {
        let mut order: Vec<usize> = (0..task.images.len()).collect();
        Rng::derive(seed, &[0]).shuffle(&mut order);
        let rec = |position: usize, method: Method, k: usize, d: f64| Record {
            task: task.name.clone(),
            seed,
            position,
            method,
            interactions: k,
            dice: d,
            image: task.images[order[position]].id.clone(),
        };

        let mut s = new_segmenter()?;
        s.set_context_policy(cfg.context_policy)?;
        s.set_threshold_calibration(cfg.calibration)?;
        let item = &task.images[order[0]];
        let (k, d) = segment_image(
            s.as_mut(),
            item,
            cfg,
            &mut Rng::derive(seed, &[1, 0]),
            &mut timing,
        )?;
        s.commit()?;
        // Without context both arms do the same thing on the seeding image.
        out.push(rec(0, Method::MultiverSeg, k, d));
        out.push(rec(0, Method::Baseline, k, d));
        progress();
        for (p, &i) in order.iter().enumerate().take(n + 1).skip(1) {
            let item = &task.images[i];
            let mut rng = Rng::derive(seed, &[1, p as u64]);
            let (k, d) = segment_image(s.as_mut(), item, cfg, &mut rng, &mut timing)?;
            out.push(rec(p, Method::MultiverSeg, k, d));
            s.commit()?;
            progress();
        }

        let mut b = new_segmenter()?;
        for (p, &i) in order.iter().enumerate().take(n + 1).skip(1) {
            let item = &task.images[i];
            let mut rng = Rng::derive(seed, &[1, p as u64]);
            let (k, d) = segment_image(b.as_mut(), item, cfg, &mut rng, &mut timing)?;
            out.push(rec(p, Method::Baseline, k, d));
            progress();
        }
    }
    Ok((out, timing))
}

/// One row of the in-context experiment: Dice without prompts given `k` ground-truth
/// context examples.
#[derive(Debug, Clone, PartialEq)]
pub struct InContextRecord {
    /// Task name.
    pub task: String,
    /// Seed.
    pub seed: u64,
    /// Context size.
    pub k: usize,
    /// Dice of the prediction with no prompts.
    pub dice: f64,
}

/// The in-context experiment (the paper's Experiment 2): for each seed and each k, a random
/// target and k other random images with their ground truth as context, no prompts. Sizes
/// k the task cannot supply (k + 1 > images) are skipped.
pub fn run_in_context(
    task: &Task,
    ks: &[usize],
    seeds: &[u64],
    new_segmenter: &dyn Fn() -> Result<Box<dyn Segmenter>>,
    progress: &mut dyn FnMut(),
) -> Result<Vec<InContextRecord>> {
    let mut out = Vec::new();
    for &seed in seeds {
        for &k in ks {
            if k + 1 > task.images.len() {
                continue;
            }
            let mut order: Vec<usize> = (0..task.images.len()).collect();
            Rng::derive(seed, &[2, k as u64]).shuffle(&mut order);
            let mut s = new_segmenter()?;
            for &i in &order[1..=k] {
                s.add_context(&task.images[i])?;
            }
            let target = &task.images[order[0]];
            s.set_image(target)?;
            let pred = s.predict()?;
            out.push(InContextRecord {
                task: task.name.clone(),
                seed,
                k,
                dice: simulate::dice(&target.mask, &pred),
            });
            progress();
        }
    }
    Ok(out)
}

/// One point of a Dice-per-interaction curve.
#[derive(Debug, Clone, PartialEq)]
pub struct CurveRecord {
    /// Task name.
    pub task: String,
    /// Seed.
    pub seed: u64,
    /// Ground-truth context entries (0 = none: the ScribblePrompt-UNet).
    pub k: usize,
    /// The target image's id.
    pub image: String,
    /// Interactions so far (0 = the prediction without prompts).
    pub step: usize,
    /// Dice after that many interactions.
    pub dice: f64,
}

/// Dice after each of `cfg.max_interactions` interactions, continuing past the target Dice
/// (which the interactive experiment stops at), for the first `cfg.n` images of each seed's
/// order, with `k` ground-truth context entries for each k in `ks` (the k images after the
/// target in that order; 0 = no context). It shows whether clicks keep improving a mask
/// and where a model stalls. A step where the simulated user has nothing left to correct
/// repeats the Dice. Sizes the task cannot supply (k + 1 > images) are skipped.
pub fn run_click_curves(
    task: &Task,
    cfg: &InteractiveConfig,
    ks: &[usize],
    new_segmenter: &dyn Fn() -> Result<Box<dyn Segmenter>>,
    progress: &mut dyn FnMut(),
) -> Result<Vec<CurveRecord>> {
    let mut out = Vec::new();
    let len = task.images.len();
    for &seed in &cfg.seeds {
        let mut order: Vec<usize> = (0..len).collect();
        Rng::derive(seed, &[3]).shuffle(&mut order);
        for j in 0..cfg.n.min(len) {
            let target = &task.images[order[j]];
            for &k in ks {
                if k + 1 > len {
                    continue;
                }
                let mut s = new_segmenter()?;
                for c in 1..=k {
                    s.add_context(&task.images[order[(j + c) % len]])?;
                }
                let mut rng = Rng::derive(seed, &[4, j as u64]);
                s.set_image(target)?;
                let mut pred = s.predict()?;
                let mut d = simulate::dice(&target.mask, &pred);
                let rec = |step: usize, dice: f64| CurveRecord {
                    task: task.name.clone(),
                    seed,
                    k,
                    image: target.id.clone(),
                    step,
                    dice,
                };
                out.push(rec(0, d));
                for step in 1..=cfg.max_interactions {
                    let acts = simulate::next_step(
                        cfg.protocol,
                        &target.mask,
                        Some(&pred),
                        step - 1,
                        &mut rng,
                    );
                    if !acts.is_empty() {
                        for a in &acts {
                            s.apply(a)?;
                        }
                        pred = s.predict()?;
                        d = simulate::dice(&target.mask, &pred);
                    }
                    out.push(rec(step, d));
                }
                progress();
            }
        }
    }
    Ok(out)
}
