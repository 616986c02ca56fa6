//! Context selection: with hundreds of finished images, using all of them makes every
//! prediction slower (the cost grows linearly with the context size S). A policy caps S at
//! `k` and picks which entries to use for each target.
//!
//! `Similar` ranks entries by the cosine similarity of a cheap descriptor: the network-size
//! image mean-pooled to 16x16, centred and scaled to unit length. It needs no network pass
//! (pooled first-layer features would cost a convolution per entry and per target), it
//! ignores brightness and contrast (already min-max normalized), and it keeps the coarse
//! layout that tells, e.g., an apical from a basal slice or a cell at the border from one in
//! the middle. The chosen entries keep their insertion order, so a prediction does not
//! depend on how ties are broken.

use crate::error::{Error, Result};
use crate::session::ContextEntry;
use crate::NET_SIZE;

/// Which entries fill a capped context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Select {
    /// The most recently added `k` entries.
    #[default]
    Latest,
    /// The `k` entries whose images are most similar to the target's (see the module docs).
    Similar,
}

/// Which context entries a prediction uses: all of them (no cap), or at most `cap` chosen
/// by `select`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ContextPolicy {
    /// Most entries per prediction; None = all.
    pub cap: Option<usize>,
    /// How to choose when there are more than `cap`.
    pub select: Select,
}

impl ContextPolicy {
    /// All entries (the default).
    pub fn all() -> Self {
        Self::default()
    }

    /// At most `k` entries chosen by `select`.
    pub fn capped(k: usize, select: Select) -> Self {
        ContextPolicy {
            cap: Some(k),
            select,
        }
    }

    /// Errors: `InvalidArgument` for a cap of 0.
    pub fn validate(&self) -> Result<()> {
        if self.cap == Some(0) {
            return Err(Error::arg(
                "cap: must be at least 1 (or none for all entries)",
            ));
        }
        Ok(())
    }
}

/// Side of the pooled descriptor.
const D: usize = 16;

/// The descriptor of a 128x128 image (see the module docs); all zeros for a flat image.
pub fn descriptor(image: &[f32]) -> [f32; D * D] {
    let b = NET_SIZE / D;
    let mut d = [0.0f32; D * D];
    for (y, row) in image.chunks_exact(NET_SIZE).enumerate() {
        for (x, &v) in row.iter().enumerate() {
            d[(y / b) * D + x / b] += v;
        }
    }
    let mean = d.iter().sum::<f32>() / (D * D) as f32;
    d.iter_mut().for_each(|v| *v -= mean);
    let norm = d.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        d.iter_mut().for_each(|v| *v /= norm);
    }
    d
}

/// Indices into `context` of the entries `policy` picks for a target whose network-size
/// image is `target` (128*128), in insertion order.
pub fn select(policy: &ContextPolicy, context: &[ContextEntry], target: &[f32]) -> Vec<usize> {
    let n = context.len();
    let k = match policy.cap {
        Some(k) if k < n => k,
        _ => return (0..n).collect(),
    };
    let mut chosen: Vec<usize> = match policy.select {
        Select::Latest => (n - k..n).collect(),
        Select::Similar => {
            let t = descriptor(target);
            let mut scored: Vec<(f32, usize)> = context
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    let d = descriptor(&e.image);
                    (t.iter().zip(&d).map(|(a, b)| a * b).sum::<f32>(), i)
                })
                .collect();
            // Most similar first; among equals the more recent.
            scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
            scored.into_iter().take(k).map(|(_, i)| i).collect()
        }
    };
    chosen.sort_unstable();
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u64, f: impl Fn(usize, usize) -> f32) -> ContextEntry {
        let image = (0..NET_SIZE * NET_SIZE)
            .map(|i| f(i % NET_SIZE, i / NET_SIZE))
            .collect();
        ContextEntry {
            id,
            image,
            label: vec![0.0; NET_SIZE * NET_SIZE],
        }
    }

    #[test]
    fn latest_keeps_the_newest_and_similar_the_closest() {
        // Entries: bright left half, bright right half, bright top, bright left half again.
        let ctx = vec![
            entry(1, |x, _| (x < 64) as u8 as f32),
            entry(2, |x, _| (x >= 64) as u8 as f32),
            entry(3, |_, y| (y < 64) as u8 as f32),
            entry(4, |x, _| (x < 60) as u8 as f32),
        ];
        let all = ContextPolicy::all();
        assert_eq!(select(&all, &ctx, &ctx[0].image), vec![0, 1, 2, 3]);
        let latest = ContextPolicy::capped(2, Select::Latest);
        assert_eq!(select(&latest, &ctx, &ctx[0].image), vec![2, 3]);
        let similar = ContextPolicy::capped(2, Select::Similar);
        let target = entry(9, |x, _| (x < 62) as u8 as f32).image;
        assert_eq!(select(&similar, &ctx, &target), vec![0, 3]);
        // A cap above the size keeps everything.
        assert_eq!(
            select(&ContextPolicy::capped(9, Select::Similar), &ctx, &target).len(),
            4
        );
        assert!(ContextPolicy::capped(0, Select::Latest).validate().is_err());
    }

    #[test]
    fn the_descriptor_ignores_brightness_and_contrast() {
        let a = entry(1, |x, y| ((x * 3 + y) % 17) as f32 / 17.0).image;
        let b: Vec<f32> = a.iter().map(|v| 0.2 + 0.5 * v).collect();
        let (da, db) = (descriptor(&a), descriptor(&b));
        let cos: f32 = da.iter().zip(&db).map(|(x, y)| x * y).sum();
        assert!((cos - 1.0).abs() < 1e-5, "{cos}");
    }
}
