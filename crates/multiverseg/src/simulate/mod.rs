//! Simulated users for the evaluation protocol (DESIGN.md section 5): center clicks and
//! centerline scribbles, computed from the ground truth and the current prediction at the
//! caller's image size. Deterministic for a given [`Rng`]; the generator only breaks ties.

pub mod morph;
pub mod rng;

pub use morph::Mask;
pub use rng::Rng;

/// How the simulated user interacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// One click per step at the center of the largest error region.
    Clicks,
    /// A positive and a negative centerline scribble, then one correction scribble per step.
    Scribbles,
}

impl Protocol {
    /// The name used in files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Clicks => "clicks",
            Protocol::Scribbles => "scribbles",
        }
    }
}

/// One simulated user action, in image pixels.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A click at pixel (x, y).
    Click {
        /// Column.
        x: usize,
        /// Row.
        y: usize,
        /// Foreground (true) or background.
        positive: bool,
    },
    /// A brush stroke.
    Scribble {
        /// The painted pixels.
        mask: Mask,
        /// Foreground (true) or background.
        positive: bool,
    },
}

/// Dice overlap of two masks; 1 when both are empty.
pub fn dice(a: &Mask, b: &Mask) -> f64 {
    dice_of(a.data.iter().zip(&b.data).map(|(&x, &y)| (x, y)))
}

/// Dice overlap of two binary masks given pixel by pixel as (a, b); 1 when both are empty.
pub fn dice_of(pixels: impl Iterator<Item = (bool, bool)>) -> f64 {
    let (mut inter, mut sa, mut sb) = (0usize, 0usize, 0usize);
    for (x, y) in pixels {
        inter += (x && y) as usize;
        sa += x as usize;
        sb += y as usize;
    }
    if sa + sb == 0 {
        1.0
    } else {
        2.0 * inter as f64 / (sa + sb) as f64
    }
}

/// The largest 4-connected component of `region` (ties broken by `rng`), or None if empty.
pub fn largest_component(region: &Mask, rng: &mut Rng) -> Option<Mask> {
    let (label, areas) = morph::components(region);
    let best = *areas.iter().skip(1).max()?;
    let ids: Vec<u32> = (1..areas.len())
        .filter(|&i| areas[i] == best)
        .map(|i| i as u32)
        .collect();
    let id = *rng.pick(&ids);
    Some(morph::component_mask(
        &label,
        id,
        region.width,
        region.height,
    ))
}

/// The pixel of `region` farthest from its boundary (maximum of the Euclidean distance
/// transform; ties broken by `rng`), or None if the region is empty.
pub fn center_point(region: &Mask, rng: &mut Rng) -> Option<(usize, usize)> {
    let d = morph::distance_inside(region);
    let best = d.iter().cloned().fold(0.0f64, f64::max);
    if best <= 0.0 {
        return None;
    }
    let ties: Vec<usize> = (0..d.len()).filter(|&i| d[i] == best).collect();
    let i = *rng.pick(&ties);
    Some((i % region.width, i / region.width))
}

/// The largest error component of `pred` against `gt`: false-negative and false-positive
/// components compete by area. Returns the component and whether it is a false negative
/// (so the correcting interaction is positive). None when the prediction is perfect.
pub fn largest_error(gt: &Mask, pred: &Mask, rng: &mut Rng) -> Option<(Mask, bool)> {
    let fn_ = gt.and_not(pred);
    let fp = pred.and_not(gt);
    let a = largest_component(&fn_, rng);
    let b = largest_component(&fp, rng);
    match (a, b) {
        (None, None) => None,
        (Some(a), None) => Some((a, true)),
        (None, Some(b)) => Some((b, false)),
        (Some(a), Some(b)) => {
            let (ca, cb) = (a.count(), b.count());
            let take_fn = ca > cb || (ca == cb && rng.below(2) == 0);
            Some(if take_fn { (a, true) } else { (b, false) })
        }
    }
}

/// A center click: on the first step (`pred` None) at the center of the largest foreground
/// component; afterwards at the center of the largest error component, its sign read from
/// the ground truth at that point. None when there is nothing to correct.
pub fn center_click(gt: &Mask, pred: Option<&Mask>, rng: &mut Rng) -> Option<Action> {
    let region = match pred {
        None => largest_component(gt, rng)?,
        Some(p) => largest_error(gt, p, rng)?.0,
    };
    let (x, y) = center_point(&region, rng)?;
    Some(Action::Click {
        x,
        y,
        positive: gt.get(x, y),
    })
}

/// Brush radius for simulated scribbles: about one network pixel at 128x128.
pub fn brush_radius(width: usize, height: usize) -> usize {
    (width.max(height) / 128).max(1)
}

/// A scribble along the skeleton of `region` (one component), painted with the brush and
/// kept inside the region.
pub fn centerline_scribble(region: &Mask, positive: bool, rng: &mut Rng) -> Option<Action> {
    let mut line = morph::skeleton(region);
    if line.count() == 0 {
        let (x, y) = center_point(region, rng)?;
        line.data[y * region.width + x] = true;
    }
    let r = brush_radius(region.width, region.height);
    Some(Action::Scribble {
        mask: morph::dilate_within(&line, r, region),
        positive,
    })
}

/// The background near the object: the background inside the foreground's bounding box
/// grown by a quarter of its size (at least 3 pixels) on each side.
fn background_near(gt: &Mask) -> Mask {
    let (w, h) = (gt.width, gt.height);
    let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
    for y in 0..h {
        for x in 0..w {
            if gt.get(x, y) {
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x);
                y1 = y1.max(y);
            }
        }
    }
    let mut out = Mask::empty(w, h);
    if x0 > x1 {
        out.data.iter_mut().for_each(|v| *v = true);
        return out;
    }
    let mx = ((x1 - x0 + 1) / 4).max(3);
    let my = ((y1 - y0 + 1) / 4).max(3);
    let (x0, y0) = (x0.saturating_sub(mx), y0.saturating_sub(my));
    let (x1, y1) = ((x1 + mx).min(w - 1), (y1 + my).min(h - 1));
    for y in y0..=y1 {
        for x in x0..=x1 {
            out.data[y * w + x] = !gt.get(x, y);
        }
    }
    out
}

/// The next step's actions of a simulated user. `step` counts from 0; `pred` is the
/// current binary prediction (None before any prediction exists). An empty result means
/// there is nothing left to correct.
pub fn next_step(
    protocol: Protocol,
    gt: &Mask,
    pred: Option<&Mask>,
    step: usize,
    rng: &mut Rng,
) -> Vec<Action> {
    match (protocol, step) {
        (Protocol::Clicks, 0) => center_click(gt, None, rng).into_iter().collect(),
        (Protocol::Clicks, _) => pred
            .and_then(|p| center_click(gt, Some(p), rng))
            .into_iter()
            .collect(),
        (Protocol::Scribbles, 0) => {
            let mut out = Vec::new();
            if let Some(fg) = largest_component(gt, rng) {
                out.extend(centerline_scribble(&fg, true, rng));
            }
            if let Some(bg) = largest_component(&background_near(gt), rng) {
                out.extend(centerline_scribble(&bg, false, rng));
            }
            out
        }
        (Protocol::Scribbles, _) => pred
            .and_then(|p| largest_error(gt, p, rng))
            .and_then(|(region, positive)| centerline_scribble(&region, positive, rng))
            .into_iter()
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(w: usize, h: usize, cx: f64, cy: f64, r: f64) -> Mask {
        let mut m = Mask::empty(w, h);
        for y in 0..h {
            for x in 0..w {
                let (dx, dy) = (x as f64 - cx, y as f64 - cy);
                m.data[y * w + x] = dx * dx + dy * dy <= r * r;
            }
        }
        m
    }

    #[test]
    fn the_first_click_is_the_center_of_a_disk() {
        let gt = disk(41, 33, 17.0, 20.0, 9.0);
        for seed in 0..5 {
            let a = center_click(&gt, None, &mut Rng::new(seed)).unwrap();
            assert_eq!(
                a,
                Action::Click {
                    x: 17,
                    y: 20,
                    positive: true
                }
            );
        }
    }

    #[test]
    fn the_first_click_goes_to_the_largest_component() {
        let small = disk(60, 30, 10.0, 15.0, 5.0);
        let big = disk(60, 30, 40.0, 15.0, 10.0);
        let gt = small.zip(&big, |a, b| a || b);
        match center_click(&gt, None, &mut Rng::new(3)).unwrap() {
            Action::Click { x, y, positive } => {
                assert_eq!((x, y, positive), (40, 15, true));
            }
            a => panic!("{a:?}"),
        }
    }

    #[test]
    fn a_perfect_prediction_needs_no_click() {
        let gt = disk(20, 20, 10.0, 10.0, 6.0);
        assert_eq!(center_click(&gt, Some(&gt), &mut Rng::new(1)), None);
        assert!(next_step(Protocol::Scribbles, &gt, Some(&gt), 1, &mut Rng::new(1)).is_empty());
    }

    #[test]
    fn a_false_negative_region_gets_a_positive_click_inside_it() {
        let gt = disk(50, 40, 25.0, 20.0, 12.0);
        // The prediction misses the right part of the disk.
        let mut pred = gt.clone();
        for y in 0..40 {
            for x in 28..50 {
                pred.data[y * 50 + x] = false;
            }
        }
        let missed = gt.and_not(&pred);
        match center_click(&gt, Some(&pred), &mut Rng::new(9)).unwrap() {
            Action::Click { x, y, positive } => {
                assert!(positive);
                assert!(
                    missed.get(x, y),
                    "click ({x},{y}) outside the missed region"
                );
            }
            a => panic!("{a:?}"),
        }
    }

    #[test]
    fn a_false_positive_region_gets_a_negative_click() {
        let gt = disk(50, 40, 15.0, 20.0, 8.0);
        let extra = disk(50, 40, 38.0, 20.0, 9.0);
        let pred = gt.zip(&extra, |a, b| a || b);
        match center_click(&gt, Some(&pred), &mut Rng::new(2)).unwrap() {
            Action::Click { x, y, positive } => {
                assert!(!positive);
                assert_eq!((x, y), (38, 20));
            }
            a => panic!("{a:?}"),
        }
    }

    fn ellipse(w: usize, h: usize, cx: f64, cy: f64, rx: f64, ry: f64) -> Mask {
        let mut m = Mask::empty(w, h);
        for y in 0..h {
            for x in 0..w {
                let (dx, dy) = ((x as f64 - cx) / rx, (y as f64 - cy) / ry);
                m.data[y * w + x] = dx * dx + dy * dy <= 1.0;
            }
        }
        m
    }

    #[test]
    fn scribbles_lie_inside_their_components() {
        // An elongated shape: its centerline is long (a disk's is a point, as with OpenCV's
        // thinning that the official simulator uses).
        let a = ellipse(64, 48, 22.0, 24.0, 17.0, 8.0);
        let b = disk(64, 48, 48.0, 24.0, 7.0);
        let gt = a.zip(&b, |p, q| p || q);
        let acts = next_step(Protocol::Scribbles, &gt, None, 0, &mut Rng::new(5));
        assert_eq!(acts.len(), 2);
        match &acts[0] {
            Action::Scribble { mask, positive } => {
                assert!(*positive);
                assert!(mask.count() > 5);
                // Inside the largest component (the disk a), nowhere else.
                assert_eq!(mask.and_not(&a).count(), 0);
            }
            x => panic!("{x:?}"),
        }
        match &acts[1] {
            Action::Scribble { mask, positive } => {
                assert!(!*positive);
                assert!(mask.count() > 5);
                assert_eq!(mask.zip(&gt, |m, g| m && g).count(), 0);
            }
            x => panic!("{x:?}"),
        }
        // A correction for a missed disk b lies inside b.
        let acts = next_step(Protocol::Scribbles, &gt, Some(&a), 1, &mut Rng::new(5));
        match &acts[..] {
            [Action::Scribble { mask, positive }] => {
                assert!(*positive);
                assert!(mask.count() > 0);
                assert_eq!(mask.and_not(&b).count(), 0);
            }
            x => panic!("{x:?}"),
        }
    }

    #[test]
    fn dice_of_known_overlaps() {
        let a = Mask::from_u8(&[1, 1, 0, 0], 2, 2);
        let b = Mask::from_u8(&[1, 0, 1, 0], 2, 2);
        assert_eq!(dice(&a, &b), 0.5);
        assert_eq!(dice(&a, &a), 1.0);
        assert_eq!(dice(&Mask::empty(2, 2), &Mask::empty(2, 2)), 1.0);
    }
}
