//! `Session`: one segmentation task — its context set, the current target, its
//! prompts and the previous logits. Every method either fully succeeds or
//! leaves the session exactly as it was.

use crate::backend::BackendState;
use crate::error::{Error, ErrorKind, Result};
use crate::model::{Model, NetworkChoice, NET_SIZE};
use crate::preprocess::{
    logits_to_image, mask_to_network, mask_to_unit, sigmoid, to_network, to_unit, ImageView, Window,
};
use crate::prompts::{self, Prompt};

const PX: usize = NET_SIZE * NET_SIZE;

/// One context entry at the network size.
#[derive(Debug, Clone, PartialEq)]
pub struct ContextEntry {
    /// Stable id, unique within the session.
    pub id: u64,
    /// Image in [0, 1], 128*128.
    pub image: Vec<f32>,
    /// Binary label {0, 1}, 128*128.
    pub label: Vec<f32>,
}

#[derive(Debug, Clone)]
struct Target {
    image: Vec<f32>,
    width: usize,
    height: usize,
}

/// A prediction: logits at the network size plus the caller's image size.
#[derive(Debug, Clone)]
pub struct Prediction {
    /// Logits at 128x128.
    pub logits: Vec<f32>,
    /// Caller's image width.
    pub width: usize,
    /// Caller's image height.
    pub height: usize,
}

impl Prediction {
    /// Foreground probabilities at the caller's size (row-major, width*height).
    pub fn probabilities(&self) -> Vec<f32> {
        logits_to_image(&self.logits, self.width, self.height)
            .into_iter()
            .map(sigmoid)
            .collect()
    }

    /// Binary mask (probability > 0.5) at the caller's size, 0 or 1.
    pub fn mask(&self) -> Vec<u8> {
        logits_to_image(&self.logits, self.width, self.height)
            .into_iter()
            .map(|l| (l > 0.0) as u8)
            .collect()
    }
}

/// One task's interactive state.
pub struct Session {
    model: Model,
    min_context: usize,
    context: Vec<ContextEntry>,
    next_id: u64,
    target: Option<Target>,
    // Each prompt with the logits that were current before it was added, for undo.
    prompts: Vec<(Prompt, Option<Vec<f32>>)>,
    prev_logits: Option<Vec<f32>>,
    last: Option<Prediction>,
    /// What the backend keeps for this session (on the GPU: buffers and the context).
    backend_state: BackendState,
    /// Bumped on every change of the context, so the backend knows when to re-upload it.
    context_version: u64,
}

impl Session {
    /// A session on `model` with `min_context` = 1.
    pub fn new(model: Model) -> Self {
        Session {
            model,
            min_context: 1,
            context: Vec::new(),
            next_id: 1,
            target: None,
            prompts: Vec::new(),
            prev_logits: None,
            last: None,
            backend_state: BackendState::default(),
            context_version: 0,
        }
    }

    /// The model this session runs.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Uses ScribblePrompt-UNet while the context has fewer than `n` entries.
    pub fn set_min_context(&mut self, n: usize) {
        self.min_context = n;
    }

    /// The current `min_context`.
    pub fn min_context(&self) -> usize {
        self.min_context
    }

    // ---- context set ----

    /// Adds an image and its mask (nonzero = foreground, same size, own stride) to the context.
    pub fn context_add(
        &mut self,
        image: &ImageView,
        window: Window,
        mask: &[u8],
        mask_stride: usize,
    ) -> Result<u64> {
        let unit = to_unit(image, window, "image")?;
        let m = mask_to_unit(mask, image.width, image.height, mask_stride, "mask")?;
        Ok(self.context_add_network(
            to_network(&unit, image.width, image.height),
            mask_to_network(&m, image.width, image.height),
        ))
    }

    /// Adds an entry already at the network size (image in [0,1], label binarized at 0.5).
    pub fn context_add_network(&mut self, image: Vec<f32>, label: Vec<f32>) -> u64 {
        assert_eq!(image.len(), PX);
        assert_eq!(label.len(), PX);
        let id = self.next_id;
        self.next_id += 1;
        let label = label
            .into_iter()
            .map(|v| if v > 0.5 { 1.0 } else { 0.0 })
            .collect();
        self.context.push(ContextEntry { id, image, label });
        self.context_version += 1;
        id
    }

    /// Removes the entry `id`.
    pub fn context_remove(&mut self, id: u64) -> Result<()> {
        let i = self
            .context
            .iter()
            .position(|e| e.id == id)
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("id: no context entry {id}")))?;
        self.context.remove(i);
        self.context_version += 1;
        Ok(())
    }

    /// Number of entries.
    pub fn context_count(&self) -> usize {
        self.context.len()
    }

    /// Ids in insertion order.
    pub fn context_ids(&self) -> Vec<u64> {
        self.context.iter().map(|e| e.id).collect()
    }

    /// The entries.
    pub fn context(&self) -> &[ContextEntry] {
        &self.context
    }

    /// Removes every entry.
    pub fn context_clear(&mut self) {
        self.context.clear();
        self.context_version += 1;
    }

    /// Replaces the context set (used by loading); ids continue after the largest.
    pub fn context_replace(&mut self, entries: Vec<ContextEntry>) {
        let max = entries.iter().map(|e| e.id).max().unwrap_or(0);
        self.next_id = self.next_id.max(max + 1);
        self.context = entries;
        self.context_version += 1;
    }

    // ---- target and prompts ----

    /// Sets the image to segment; clears prompts and previous logits.
    pub fn set_image(&mut self, image: &ImageView, window: Window) -> Result<()> {
        let unit = to_unit(image, window, "image")?;
        self.target = Some(Target {
            image: to_network(&unit, image.width, image.height),
            width: image.width,
            height: image.height,
        });
        self.prompts.clear();
        self.prev_logits = None;
        self.last = None;
        Ok(())
    }

    /// Width and height of the current image, if one is set.
    pub fn target_size(&self) -> Option<(usize, usize)> {
        self.target.as_ref().map(|t| (t.width, t.height))
    }

    fn target(&self) -> Result<&Target> {
        self.target
            .as_ref()
            .ok_or_else(|| Error::state("no image is set: call set_image first"))
    }

    fn push(&mut self, p: Prompt) {
        self.prompts.push((p, self.prev_logits.clone()));
    }

    /// A click at (x, y) in image pixels.
    pub fn add_click(&mut self, x: f64, y: f64, positive: bool) -> Result<()> {
        let t = self.target()?;
        let p = prompts::click(x, y, positive, t.width, t.height)?;
        self.push(p);
        Ok(())
    }

    /// A box with corners in image pixels.
    pub fn add_box(&mut self, x0: f64, y0: f64, x1: f64, y1: f64) -> Result<()> {
        let t = self.target()?;
        let p = prompts::bbox(x0, y0, x1, y1, t.width, t.height)?;
        self.push(p);
        Ok(())
    }

    /// A scribble as a brush mask at image size (nonzero = painted) with its own stride.
    pub fn add_scribble_mask(&mut self, mask: &[u8], stride: usize, positive: bool) -> Result<()> {
        let t = self.target()?;
        let m = mask_to_unit(mask, t.width, t.height, stride, "scribble")?;
        let p = prompts::scribble_mask(&m, positive, t.width, t.height)?;
        self.push(p);
        Ok(())
    }

    /// A scribble as a polyline (image pixels) painted with a round brush of `radius`.
    pub fn add_scribble_polyline(
        &mut self,
        points: &[(f64, f64)],
        radius: f64,
        positive: bool,
    ) -> Result<()> {
        let t = self.target()?;
        let m = prompts::polyline_mask(points, radius, t.width, t.height)?;
        let p = prompts::scribble_mask(&m, positive, t.width, t.height)?;
        self.push(p);
        Ok(())
    }

    /// Removes the last prompt and restores the logits that preceded it.
    pub fn undo(&mut self) -> Result<()> {
        let (_, logits) = self
            .prompts
            .pop()
            .ok_or_else(|| Error::state("no prompt to undo"))?;
        self.prev_logits = logits;
        Ok(())
    }

    /// Removes all prompts and the previous logits.
    pub fn clear_prompts(&mut self) {
        self.prompts.clear();
        self.prev_logits = None;
        self.last = None;
    }

    /// Number of prompts on the current image.
    pub fn prompt_count(&self) -> usize {
        self.prompts.len()
    }

    /// The [5, 128, 128] network input for the current state.
    pub fn network_input(&self) -> Result<Vec<f32>> {
        let t = self.target()?;
        let mut x = vec![0.0f32; 5 * PX];
        x[..PX].copy_from_slice(&t.image);
        let ps: Vec<Prompt> = self.prompts.iter().map(|(p, _)| p.clone()).collect();
        prompts::rasterize(&ps, &mut x);
        if let Some(l) = &self.prev_logits {
            x[4 * PX..].copy_from_slice(l);
        }
        Ok(x)
    }

    /// Predicts with the current prompts and context; the logits become the next step's input.
    pub fn predict(&mut self) -> Result<Prediction> {
        let x = self.network_input()?;
        let t = self.target()?;
        let (w, h) = (t.width, t.height);
        let mut ci = Vec::with_capacity(self.context.len() * PX);
        let mut cl = Vec::with_capacity(self.context.len() * PX);
        for e in &self.context {
            ci.extend_from_slice(&e.image);
            cl.extend_from_slice(&e.label);
        }
        let logits = self.model.infer_in(
            &mut self.backend_state,
            Some(self.context_version),
            NetworkChoice::Auto,
            self.min_context,
            &x,
            &ci,
            &cl,
            NET_SIZE,
            NET_SIZE,
        )?;
        let pred = Prediction {
            logits: logits.clone(),
            width: w,
            height: h,
        };
        self.prev_logits = Some(logits);
        self.last = Some(pred.clone());
        Ok(pred)
    }

    /// The last prediction on the current image, if any.
    pub fn last_prediction(&self) -> Option<&Prediction> {
        self.last.as_ref()
    }

    /// Adds the current image with the binarized last prediction to the context and
    /// clears the target. Returns the new entry's id.
    pub fn commit(&mut self) -> Result<u64> {
        self.target()?;
        let pred = self
            .last
            .as_ref()
            .ok_or_else(|| Error::state("nothing to commit: call predict first"))?;
        let label: Vec<f32> = pred
            .logits
            .iter()
            .map(|&l| if l > 0.0 { 1.0 } else { 0.0 })
            .collect();
        Ok(self.commit_label(label))
    }

    /// Moves the target into the context with `label` and resets the per-image state.
    fn commit_label(&mut self, label: Vec<f32>) -> u64 {
        let image = self.target.take().expect("caller checked the target").image;
        let id = self.context_add_network(image, label);
        self.prompts.clear();
        self.prev_logits = None;
        self.last = None;
        id
    }

    /// Adds the current image with a caller-given mask (image size, nonzero = foreground)
    /// to the context and clears the target.
    pub fn commit_mask(&mut self, mask: &[u8], stride: usize) -> Result<u64> {
        let t = self.target()?;
        let m = mask_to_unit(mask, t.width, t.height, stride, "mask")?;
        let label = mask_to_network(&m, t.width, t.height);
        Ok(self.commit_label(label))
    }
}
