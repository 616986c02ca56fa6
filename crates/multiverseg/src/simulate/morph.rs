//! Binary-mask geometry for the interaction simulators: connected components, the exact
//! Euclidean distance transform, skeletons and brush dilation.

/// A binary mask, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mask {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// `width * height` values, true = in the mask.
    pub data: Vec<bool>,
}

impl Mask {
    /// An all-false mask.
    pub fn empty(width: usize, height: usize) -> Self {
        Mask {
            width,
            height,
            data: vec![false; width * height],
        }
    }

    /// A mask from bytes (nonzero = in).
    pub fn from_u8(data: &[u8], width: usize, height: usize) -> Self {
        assert_eq!(data.len(), width * height, "Mask::from_u8: size");
        Mask {
            width,
            height,
            data: data.iter().map(|&v| v != 0).collect(),
        }
    }

    /// Number of pixels in the mask.
    pub fn count(&self) -> usize {
        self.data.iter().filter(|&&b| b).count()
    }

    /// Whether (x, y) is in the mask.
    pub fn get(&self, x: usize, y: usize) -> bool {
        self.data[y * self.width + x]
    }

    /// Pixelwise `self && !other`.
    pub fn and_not(&self, other: &Mask) -> Mask {
        self.zip(other, |a, b| a && !b)
    }

    /// Pixelwise combination of two masks of the same size.
    pub fn zip(&self, other: &Mask, f: impl Fn(bool, bool) -> bool) -> Mask {
        assert_eq!(
            (self.width, self.height),
            (other.width, other.height),
            "Mask::zip: sizes differ"
        );
        Mask {
            width: self.width,
            height: self.height,
            data: self
                .data
                .iter()
                .zip(&other.data)
                .map(|(&a, &b)| f(a, b))
                .collect(),
        }
    }

    /// The mask as 0/1 bytes.
    pub fn to_u8(&self) -> Vec<u8> {
        self.data.iter().map(|&b| b as u8).collect()
    }
}

/// 4-connected components: a label per pixel (0 outside the mask, 1..=n inside) and the
/// area of each component (index 0 unused).
pub fn components(m: &Mask) -> (Vec<u32>, Vec<usize>) {
    let (w, h) = (m.width, m.height);
    let mut label = vec![0u32; w * h];
    let mut areas = vec![0usize];
    let mut stack = Vec::new();
    for start in 0..w * h {
        if !m.data[start] || label[start] != 0 {
            continue;
        }
        let id = areas.len() as u32;
        let mut area = 0;
        label[start] = id;
        stack.push(start);
        while let Some(i) = stack.pop() {
            area += 1;
            let (x, y) = (i % w, i / w);
            let mut visit = |j: usize| {
                if m.data[j] && label[j] == 0 {
                    label[j] = id;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < w {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - w);
            }
            if y + 1 < h {
                visit(i + w);
            }
        }
        areas.push(area);
    }
    (label, areas)
}

/// The component `id` of a labelling as a mask.
pub fn component_mask(label: &[u32], id: u32, width: usize, height: usize) -> Mask {
    Mask {
        width,
        height,
        data: label.iter().map(|&l| l == id).collect(),
    }
}

// A finite stand-in for infinity keeps the parabola intersections free of inf - inf.
const FAR: f64 = 1e20;

/// Squared distance transform of a sampled function along one line (Felzenszwalb and
/// Huttenlocher 2012): d[q] = min_p (q - p)^2 + f[p].
fn dt1d(f: &[f64], d: &mut [f64], v: &mut [usize], z: &mut [f64]) {
    let n = f.len();
    let mut k = 0usize;
    v[0] = 0;
    z[0] = f64::NEG_INFINITY;
    z[1] = f64::INFINITY;
    for q in 1..n {
        let qf = q as f64;
        loop {
            let p = v[k] as f64;
            let s = ((f[q] + qf * qf) - (f[v[k]] + p * p)) / (2.0 * qf - 2.0 * p);
            if s <= z[k] && k > 0 {
                k -= 1;
                continue;
            }
            if s <= z[k] {
                // k == 0 and z[0] = -inf cannot be passed; only reachable on NaN.
                unreachable!("dt1d: NaN in the input");
            }
            k += 1;
            v[k] = q;
            z[k] = s;
            z[k + 1] = f64::INFINITY;
            break;
        }
    }
    k = 0;
    for (q, dq) in d.iter_mut().enumerate().take(n) {
        while z[k + 1] < q as f64 {
            k += 1;
        }
        let p = v[k] as f64;
        *dq = (q as f64 - p) * (q as f64 - p) + f[v[k]];
    }
}

/// Exact Euclidean distance from each pixel of the mask to the nearest pixel outside it;
/// 0 outside. Pixels beyond the image border count as outside, so a region touching the
/// border has its boundary there too.
pub fn distance_inside(m: &Mask) -> Vec<f64> {
    let (w, h) = (m.width + 2, m.height + 2);
    let mut g = vec![0.0f64; w * h];
    for y in 0..m.height {
        for x in 0..m.width {
            if m.get(x, y) {
                g[(y + 1) * w + x + 1] = FAR;
            }
        }
    }
    let n = w.max(h);
    let (mut f, mut d) = (vec![0.0; n], vec![0.0; n]);
    let (mut v, mut z) = (vec![0usize; n], vec![0.0; n + 1]);
    for x in 0..w {
        for y in 0..h {
            f[y] = g[y * w + x];
        }
        dt1d(&f[..h], &mut d[..h], &mut v, &mut z);
        for y in 0..h {
            g[y * w + x] = d[y];
        }
    }
    for y in 0..h {
        f[..w].copy_from_slice(&g[y * w..(y + 1) * w]);
        dt1d(&f[..w], &mut d[..w], &mut v, &mut z);
        g[y * w..(y + 1) * w].copy_from_slice(&d[..w]);
    }
    let mut out = vec![0.0; m.width * m.height];
    for y in 0..m.height {
        for x in 0..m.width {
            out[y * m.width + x] = g[(y + 1) * w + x + 1].sqrt();
        }
    }
    out
}

/// Zhang-Suen thinning: a one-pixel-wide skeleton inside the mask (pixels beyond the
/// border count as outside).
// The conditions are written as Zhang and Suen state them (1984).
#[allow(clippy::nonminimal_bool)]
pub fn skeleton(m: &Mask) -> Mask {
    let (w, h) = (m.width + 2, m.height + 2);
    let mut g = vec![false; w * h];
    for y in 0..m.height {
        for x in 0..m.width {
            g[(y + 1) * w + x + 1] = m.get(x, y);
        }
    }
    let mut remove = Vec::new();
    loop {
        let mut changed = false;
        for pass in 0..2 {
            remove.clear();
            for y in 1..h - 1 {
                for x in 1..w - 1 {
                    let i = y * w + x;
                    if !g[i] {
                        continue;
                    }
                    // Neighbours P2..P9, clockwise from north.
                    let p = [
                        g[i - w],
                        g[i - w + 1],
                        g[i + 1],
                        g[i + w + 1],
                        g[i + w],
                        g[i + w - 1],
                        g[i - 1],
                        g[i - w - 1],
                    ];
                    let b = p.iter().filter(|&&v| v).count();
                    if !(2..=6).contains(&b) {
                        continue;
                    }
                    let a = (0..8).filter(|&k| !p[k] && p[(k + 1) % 8]).count();
                    if a != 1 {
                        continue;
                    }
                    let (p2, p4, p6, p8) = (p[0], p[2], p[4], p[6]);
                    let ok = if pass == 0 {
                        !(p2 && p4 && p6) && !(p4 && p6 && p8)
                    } else {
                        !(p2 && p4 && p8) && !(p2 && p6 && p8)
                    };
                    if ok {
                        remove.push(i);
                    }
                }
            }
            for &i in &remove {
                g[i] = false;
            }
            changed |= !remove.is_empty();
        }
        if !changed {
            break;
        }
    }
    let mut out = Mask::empty(m.width, m.height);
    for y in 0..m.height {
        for x in 0..m.width {
            out.data[y * m.width + x] = g[(y + 1) * w + x + 1];
        }
    }
    out
}

/// Paints a disc of `radius` pixels around every pixel of `m`, keeping only pixels that
/// are also in `within` (so a brush stroke never leaves its region).
pub fn dilate_within(m: &Mask, radius: usize, within: &Mask) -> Mask {
    let (w, h) = (m.width, m.height);
    let r = radius as isize;
    let offsets: Vec<(isize, isize)> = (-r..=r)
        .flat_map(|dy| (-r..=r).map(move |dx| (dx, dy)))
        .filter(|&(dx, dy)| dx * dx + dy * dy <= r * r)
        .collect();
    let mut out = Mask::empty(w, h);
    for y in 0..h {
        for x in 0..w {
            if !m.get(x, y) {
                continue;
            }
            for &(dx, dy) in &offsets {
                let (xx, yy) = (x as isize + dx, y as isize + dy);
                if xx >= 0 && yy >= 0 && (xx as usize) < w && (yy as usize) < h {
                    let j = yy as usize * w + xx as usize;
                    if within.data[j] {
                        out.data[j] = true;
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::rng::Rng;

    fn random_mask(w: usize, h: usize, seed: u64, p: usize) -> Mask {
        let mut r = Rng::new(seed);
        Mask {
            width: w,
            height: h,
            data: (0..w * h).map(|_| r.below(100) < p).collect(),
        }
    }

    #[test]
    fn edt_matches_brute_force_on_random_odd_masks() {
        for (w, h, seed, p) in [(7, 5, 1, 70), (13, 9, 2, 85), (1, 6, 3, 90), (11, 1, 4, 60)] {
            let m = random_mask(w, h, seed, p);
            let d = distance_inside(&m);
            for y in 0..h {
                for x in 0..w {
                    let want = if !m.get(x, y) {
                        0.0
                    } else {
                        // Outside pixels: those of the image not in the mask, and the ring
                        // just beyond the border.
                        let mut best = f64::INFINITY;
                        for yy in -1..=h as isize {
                            for xx in -1..=w as isize {
                                let inside_img =
                                    xx >= 0 && yy >= 0 && (xx as usize) < w && (yy as usize) < h;
                                if inside_img && m.get(xx as usize, yy as usize) {
                                    continue;
                                }
                                let dx = xx as f64 - x as f64;
                                let dy = yy as f64 - y as f64;
                                best = best.min((dx * dx + dy * dy).sqrt());
                            }
                        }
                        best
                    };
                    let got = d[y * w + x];
                    assert!((got - want).abs() < 1e-9, "({x},{y}) {got} vs {want}");
                }
            }
        }
    }

    #[test]
    fn components_are_four_connected() {
        // Two pixels touching only at a corner are two components.
        let m = Mask::from_u8(&[1, 0, 0, 0, 1, 1, 0, 0, 1], 3, 3);
        let (label, areas) = components(&m);
        assert_eq!(areas.len(), 3, "{label:?}");
        assert_eq!(areas[1] + areas[2], 4);
        assert_eq!(label[4], label[5]);
        assert_eq!(label[5], label[8]);
        assert_ne!(label[0], label[4]);
    }

    #[test]
    fn skeleton_of_a_bar_is_its_midline_and_stays_inside() {
        let (w, h) = (15, 7);
        let mut m = Mask::empty(w, h);
        for y in 2..5 {
            for x in 2..13 {
                m.data[y * w + x] = true;
            }
        }
        let s = skeleton(&m);
        assert!(s.count() > 5, "skeleton too short: {}", s.count());
        for y in 0..h {
            for x in 0..w {
                if s.get(x, y) {
                    assert!(m.get(x, y));
                    assert_eq!(y, 3, "skeleton pixel off the midline at ({x},{y})");
                }
            }
        }
    }
}
