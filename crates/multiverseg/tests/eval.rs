//! The evaluation protocol: the loop against scripted segmenters with known answers.
//! (`mvs eval` end to end is tested in crates/mvs/tests/eval_cli.rs.)

use multiverseg::eval::{
    report::per_position, run_interactive, segment_image, summarize, InteractiveConfig, Method,
    Segmenter, Task, TaskImage,
};
use multiverseg::simulate::{Action, Mask, Protocol, Rng};
use multiverseg::{ContextPolicy, Result, Select, ThresholdCalibration};

fn disk_task(n: usize) -> Task {
    let (w, h) = (37, 29);
    let images = (0..n)
        .map(|i| {
            let (cx, cy, r) = (12.0 + i as f64, 14.0, 6.0 + (i % 3) as f64);
            let mut mask = Mask::empty(w, h);
            let mut pixels = vec![0u8; w * h];
            for y in 0..h {
                for x in 0..w {
                    let inside = (x as f64 - cx).powi(2) + (y as f64 - cy).powi(2) <= r * r;
                    mask.data[y * w + x] = inside;
                    pixels[y * w + x] = if inside { 200 } else { 30 + (x % 7) as u8 };
                }
            }
            TaskImage {
                id: format!("img{i}"),
                pixels,
                width: w,
                height: h,
                mask,
            }
        })
        .collect();
    Task {
        name: "disks".into(),
        images,
    }
}

/// Predicts the ground truth once it has seen `need - context` actions on the image, and
/// an empty mask before; commits grow its context. Records the clicks it receives.
struct Scripted {
    need: usize,
    context: usize,
    actions: usize,
    gt: Mask,
    clicks: Vec<(usize, usize, bool)>,
    cap: Option<usize>,
    calibration: Option<ThresholdCalibration>,
}

impl Segmenter for Scripted {
    fn set_image(&mut self, item: &TaskImage) -> Result<()> {
        self.gt = item.mask.clone();
        self.actions = 0;
        Ok(())
    }
    fn apply(&mut self, a: &Action) -> Result<()> {
        if let Action::Click { x, y, positive } = a {
            self.clicks.push((*x, *y, *positive));
        }
        self.actions += 1;
        Ok(())
    }
    fn predict(&mut self) -> Result<Mask> {
        // A cap limits the entries a prediction sees, not the entries kept.
        let used = self.cap.map_or(self.context, |c| self.context.min(c));
        // Calibration (only ever set on the MultiverSeg arm) saves one more action.
        let calibrated = self.calibration.is_some() as usize;
        if self.actions + used + calibrated >= self.need {
            Ok(self.gt.clone())
        } else {
            Ok(Mask::empty(self.gt.width, self.gt.height))
        }
    }
    fn commit(&mut self) -> Result<()> {
        self.context += 1;
        Ok(())
    }
    fn add_context(&mut self, _: &TaskImage) -> Result<()> {
        self.context += 1;
        Ok(())
    }
    fn context_len(&self) -> usize {
        self.context
    }
    fn set_context_policy(&mut self, policy: ContextPolicy) -> Result<()> {
        self.cap = policy.cap;
        Ok(())
    }
    fn set_threshold_calibration(&mut self, c: Option<ThresholdCalibration>) -> Result<()> {
        self.calibration = c;
        Ok(())
    }
}

fn scripted(need: usize) -> Scripted {
    Scripted {
        need,
        context: 0,
        actions: 0,
        gt: Mask::empty(1, 1),
        clicks: Vec::new(),
        cap: None,
        calibration: None,
    }
}

#[test]
fn a_perfect_prediction_needs_no_interaction() {
    let task = disk_task(2);
    let cfg = InteractiveConfig::paper(Protocol::Clicks, 1, 1);
    let mut s = scripted(0);
    let mut t = Default::default();
    let (k, d) = segment_image(&mut s, &task.images[0], &cfg, &mut Rng::new(0), &mut t).unwrap();
    assert_eq!((k, d), (0, 1.0));
    assert!(s.clicks.is_empty());
}

#[test]
fn clicks_stop_at_the_target_and_the_first_is_the_disk_center() {
    let task = disk_task(2);
    let cfg = InteractiveConfig::paper(Protocol::Clicks, 1, 1);
    let mut s = scripted(3);
    let mut t = Default::default();
    let (k, d) = segment_image(&mut s, &task.images[0], &cfg, &mut Rng::new(0), &mut t).unwrap();
    assert_eq!((k, d), (3, 1.0));
    // Disk 0 is centred at (12, 14); every click is on the missed (empty prediction) disk.
    assert_eq!(s.clicks[0], (12, 14, true));
    assert!(s.clicks.iter().all(|c| c.2));
    assert_eq!(t.predictions, 4);
}

#[test]
fn the_cap_ends_an_image_that_never_reaches_the_target() {
    let task = disk_task(2);
    let mut cfg = InteractiveConfig::paper(Protocol::Scribbles, 1, 1);
    cfg.max_interactions = 4;
    let mut s = scripted(100);
    let mut t = Default::default();
    let (k, d) = segment_image(&mut s, &task.images[1], &cfg, &mut Rng::new(0), &mut t).unwrap();
    assert_eq!((k, d), (4, 0.0));
}

#[test]
fn a_growing_context_lowers_the_interactions_and_the_baseline_stays_flat() {
    let task = disk_task(6);
    let cfg = InteractiveConfig::paper(Protocol::Clicks, 4, 3);
    let make = || -> Result<Box<dyn Segmenter>> { Ok(Box::new(scripted(3))) };
    let mut calls = 0;
    let (recs, _) = run_interactive(&task, &cfg, &make, &mut || calls += 1).unwrap();
    assert_eq!(calls, 3 * (1 + 4 + 4));
    let mvs: Vec<f64> = per_position(&recs, Method::MultiverSeg)
        .iter()
        .map(|p| p.1.mean)
        .collect();
    let base: Vec<f64> = per_position(&recs, Method::Baseline)
        .iter()
        .map(|p| p.1.mean)
        .collect();
    assert_eq!(mvs, vec![3.0, 2.0, 1.0, 0.0, 0.0]);
    assert_eq!(base, vec![3.0, 3.0, 3.0, 3.0, 3.0]);
    let s = summarize(&recs).unwrap();
    assert_eq!((s.total_mvs, s.total_baseline), (3.0, 12.0));
    assert_eq!(s.reduction_pct(), 75.0);

    let mut capped = cfg.clone();
    capped.context_policy = ContextPolicy::capped(1, Select::Latest);
    let (recs, _) = run_interactive(&task, &capped, &make, &mut || ()).unwrap();
    let mvs: Vec<f64> = per_position(&recs, Method::MultiverSeg)
        .iter()
        .map(|p| p.1.mean)
        .collect();
    assert_eq!(mvs, vec![3.0, 2.0, 2.0, 2.0, 2.0]);

    // The threshold calibration reaches the MultiverSeg arm's segmenter (from the seeding
    // image on: the scripted one saves an action whenever it is set) and not the baseline's.
    let mut calibrated = cfg.clone();
    calibrated.calibration = Some(ThresholdCalibration::default());
    let (recs, _) = run_interactive(&task, &calibrated, &make, &mut || ()).unwrap();
    let arm = |m| -> Vec<f64> { per_position(&recs, m).iter().map(|p| p.1.mean).collect() };
    assert_eq!(arm(Method::MultiverSeg), vec![2.0, 1.0, 0.0, 0.0, 0.0]);
    assert_eq!(arm(Method::Baseline), vec![2.0, 3.0, 3.0, 3.0, 3.0]);
}

/// Dice-per-click curves go on past the target: with `need` = 3 and k context entries, the
/// scripted segmenter is right from step 3 - k on, and every later step stays at Dice 1
/// (the simulated user has nothing left to correct). Context sizes the task cannot supply
/// are skipped.
#[test]
fn click_curves_run_every_step_per_context_size() {
    use multiverseg::eval::{report::per_step, run_click_curves};
    let task = disk_task(5);
    let mut cfg = InteractiveConfig::paper(Protocol::Clicks, 2, 2);
    cfg.max_interactions = 6;
    let make = || -> Result<Box<dyn Segmenter>> { Ok(Box::new(scripted(3))) };
    let mut calls = 0;
    let recs = run_click_curves(&task, &cfg, &[0, 2, 9], &make, &mut || calls += 1).unwrap();
    assert_eq!(calls, 2 * 2 * 2, "seeds x images x the two sizes that fit");
    assert_eq!(recs.len(), 2 * 2 * 2 * 7, "steps 0..=6 each");
    let curve = |k| -> Vec<f64> { per_step(&recs, k).iter().map(|p| p.1.mean).collect() };
    assert_eq!(curve(0), vec![0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
    assert_eq!(curve(2), vec![0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
    assert!(per_step(&recs, 9).is_empty());
}
