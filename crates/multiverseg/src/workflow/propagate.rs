//! Propagation: segment every slice of a series with one context and no prompts, after the
//! slices that have masks already (seeds) join the context.

use crate::error::{Error, Result};
use crate::io::png::FileImage;
use crate::preprocess::Window;
use crate::session::Session;

/// What [`propagate`] returns per slice.
#[derive(Debug, Clone, PartialEq)]
pub struct SliceResult {
    /// The mask, width*height bytes, 1 = foreground (a seed's own mask for seeds).
    pub mask: Vec<u8>,
    /// The prediction's uncertainty in [0, 1]; None for seeds (not predicted).
    pub uncertainty: Option<f32>,
}

/// Adds each seed (slice index, mask with the slice's size, nonzero = foreground) to the
/// session's context, then predicts every other slice with the context (the session's
/// policy applies) and no prompts, in one batch. `progress(done, total)` sees the predicted
/// slices and cancels by returning false.
///
/// Errors: `InvalidArgument` naming the seed (index out of range, size mismatch, duplicate)
/// or the slice; `Cancelled`; the batch's errors. Seeds are checked before the context
/// changes; if the batch then fails, the seeds stay in the context (they are valid data).
pub fn propagate(
    session: &mut Session,
    slices: &[FileImage],
    seeds: &[(usize, Vec<u8>)],
    window: Window,
    progress: Option<crate::session::Progress>,
) -> Result<Vec<SliceResult>> {
    let n = slices.len();
    if n == 0 {
        return Err(Error::arg("slices: none to segment"));
    }
    let mut seeded = vec![false; n];
    for (k, (i, m)) in seeds.iter().enumerate() {
        let s = slices.get(*i).ok_or_else(|| {
            Error::arg(format!(
                "seeds[{k}]: slice index {i} is out of range (0..{n})"
            ))
        })?;
        if m.len() != s.width * s.height {
            return Err(Error::arg(format!(
                "seeds[{k}]: the mask of slice {i} has {} pixels, the slice is {}x{}",
                m.len(),
                s.width,
                s.height
            )));
        }
        if std::mem::replace(&mut seeded[*i], true) {
            return Err(Error::arg(format!("seeds[{k}]: slice {i} is seeded twice")));
        }
    }
    for (i, m) in seeds {
        let s = &slices[*i];
        session.context_add(&s.view(), window, m, s.width)?;
    }
    let todo: Vec<usize> = (0..n).filter(|&i| !seeded[i]).collect();
    let views: Vec<_> = todo.iter().map(|&i| slices[i].view()).collect();
    let preds = session.predict_batch(&views, window, progress)?;
    let mut out: Vec<Option<SliceResult>> = vec![None; n];
    for (i, m) in seeds {
        out[*i] = Some(SliceResult {
            mask: m.iter().map(|&v| (v != 0) as u8).collect(),
            uncertainty: None,
        });
    }
    for (&i, p) in todo.iter().zip(preds) {
        out[i] = Some(SliceResult {
            mask: p.mask(),
            uncertainty: Some(p.uncertainty()),
        });
    }
    Ok(out
        .into_iter()
        .map(|r| r.expect("every slice is a seed or predicted"))
        .collect())
}
