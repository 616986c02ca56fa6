//! `Session`: one segmentation task: its context set, the current target, its prompts and
//! the mask input. Every method either fully succeeds or leaves the session exactly as it
//! was (a failed or cancelled call changes nothing).
//!
//! The interactive protocol (DESIGN.md section 3, the official code's loop): channel 4 of
//! the network input, the *mask input*, is the logits of the last prediction made before
//! the most recent prompt was added (zeros when there is none). So [`Session::predict`] is
//! a pure function of (image, window, prompts, context, mask input): calling it twice with
//! nothing in between gives bit-identical results. Adding a prompt after a prediction makes
//! that prediction the mask input; [`Session::undo`] restores the state from before the
//! prompt, mask input included.

use crate::backend::{BackendState, CancelToken};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{Model, NetworkChoice, RawInput, NET_SIZE};
use crate::preprocess::{
    logits_to_image, mask_to_network, mask_to_unit, sigmoid, to_network, to_unit, ImageView,
    Pixels, Window,
};
use crate::prompts::{self, Prompt};
use crate::workflow::after_prompt::{self, AfterPrompt};
use crate::workflow::calibration::{self, ThresholdCalibration};
use crate::workflow::flip_average;
use crate::workflow::policy::{self, ContextPolicy};
use crate::workflow::uncertainty;
use std::path::Path;

const PX: usize = NET_SIZE * NET_SIZE;

/// One context entry at the network size.
#[derive(Debug, Clone, PartialEq)]
pub struct ContextEntry {
    /// Stable id, unique within the session (never reused).
    pub id: u64,
    /// Image in [0, 1], 128*128 row-major (padded to a square at the bottom/right, resized).
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

/// A prediction: the logits at the network size plus the caller's image size.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Logits at 128x128, row-major (the padded square, see [`crate::ImageView`]).
    pub logits: Vec<f32>,
    /// Caller's image width in pixels.
    pub width: usize,
    /// Caller's image height in pixels.
    pub height: usize,
}

impl Prediction {
    /// Foreground probabilities at the caller's size (row-major, width*height, in [0, 1]):
    /// the logits resized bilinearly to the padded square, cropped, then the sigmoid.
    pub fn probabilities(&self) -> Vec<f32> {
        logits_to_image(&self.logits, self.width, self.height)
            .into_iter()
            .map(sigmoid)
            .collect()
    }

    /// Binary mask (probability > 0.5) at the caller's size, values 0 or 1.
    pub fn mask(&self) -> Vec<u8> {
        logits_to_image(&self.logits, self.width, self.height)
            .into_iter()
            .map(|l| (l > 0.0) as u8)
            .collect()
    }

    /// How unsure the prediction is, in [0, 1] (0: every probability is 0 or 1; 1: all
    /// are 0.5): the mean binary entropy (bits) of the probabilities over the predicted
    /// object's bounding box, grown by a quarter of its size (at least 2 pixels) on every
    /// side, at the network grid within the image (padding excluded); over the whole image
    /// when nothing is predicted. See [`crate::workflow::uncertainty`].
    pub fn uncertainty(&self) -> f32 {
        uncertainty::score(&self.logits, self.width, self.height)
    }
}

/// The state a prompt changed, for undo.
#[derive(Debug, Clone)]
struct PromptStep {
    prompt: Prompt,
    mask_input_before: Option<Vec<f32>>,
    last_before: Option<Prediction>,
}

/// Progress of a long call: `(done, total)`; return `false` to cancel it.
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize) -> bool;

/// One task's interactive state. Not `Sync`: use a session from one thread at a time (move
/// it between threads freely); the [`Model`] it runs is shared.
pub struct Session {
    model: Model,
    min_context: usize,
    context: Vec<ContextEntry>,
    next_id: u64,
    target: Option<Target>,
    prompts: Vec<PromptStep>,
    /// Channel 4 of the next prediction (None: zeros).
    mask_input: Option<Vec<f32>>,
    last: Option<Prediction>,
    policy: ContextPolicy,
    /// What the backend keeps for this session (on the GPU: buffers and the context).
    backend_state: BackendState,
    /// Bumped on every change of the context (and of the selected subset), so the backend
    /// knows when to re-upload it.
    context_version: u64,
    /// The ids of the context entries of the last MultiverSegNet run, with the version they
    /// were given (UNet runs read no context and leave it alone).
    selection: (Vec<u64>, u64),
    cancel: CancelToken,
    /// Opt-in threshold calibration (None: the paper's threshold).
    calibration: Option<ThresholdCalibration>,
    /// The current image's prompt-free MultiverSegNet logits, before any offset (kept only
    /// while calibration is on).
    first_logits: Option<Vec<f32>>,
    /// (entry id, its image's prompt-free logits) of the latest committed images, oldest
    /// first, at most `calibration.latest`.
    calibration_pairs: Vec<(u64, Vec<f32>)>,
    /// Opt-in flip averaging of the UNet (false: one pass, as in the paper).
    unet_flip_average: bool,
    /// Which network predicts an image with a prompt when the context is large enough
    /// (default: MultiverSegNet, as in the paper).
    after_prompt: AfterPrompt,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("context", &self.context.len())
            .field("target", &self.target_size())
            .field("prompts", &self.prompts.len())
            .field("policy", &self.policy)
            .finish()
    }
}

impl Session {
    /// A session on `model` with `min_context` = 1 and no context policy (all entries).
    pub fn new(model: Model) -> Self {
        Session {
            model,
            min_context: 1,
            context: Vec::new(),
            next_id: 1,
            target: None,
            prompts: Vec::new(),
            mask_input: None,
            last: None,
            policy: ContextPolicy::default(),
            backend_state: BackendState::default(),
            context_version: 0,
            selection: (Vec::new(), 0),
            cancel: CancelToken::new(),
            calibration: None,
            first_logits: None,
            calibration_pairs: Vec::new(),
            unet_flip_average: false,
            after_prompt: AfterPrompt::MultiverSeg,
        }
    }

    /// The model this session runs.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Uses ScribblePrompt-UNet while the context has fewer than `n` entries (default 1).
    pub fn set_min_context(&mut self, n: usize) {
        self.min_context = n;
    }

    /// The current `min_context`.
    pub fn min_context(&self) -> usize {
        self.min_context
    }

    /// Sets which context entries a prediction uses (default: all). With a cap, latency
    /// stays bounded as the context grows; see [`ContextPolicy`].
    /// Errors: `InvalidArgument` for a cap of 0.
    pub fn set_context_policy(&mut self, policy: ContextPolicy) -> Result<()> {
        policy.validate()?;
        self.policy = policy;
        Ok(())
    }

    /// The current context policy.
    pub fn context_policy(&self) -> ContextPolicy {
        self.policy
    }

    /// Turns the threshold calibration on (`Some`) or off (`None`, the default: the paper's
    /// threshold, logits > 0). See [`crate::workflow::calibration`]: while it is on, each
    /// image's MultiverSegNet prediction without prompts (the latest, if it was predicted
    /// without prompts more than once) is kept, and committing the image ([`Session::commit`]
    /// or [`Session::commit_mask`]) pairs it with the committed mask. The latest `latest`
    /// pairs are kept; removing an entry drops its pair (an older one does not come back),
    /// and clearing or replacing the context (also [`Session::context_load`]) drops them all.
    /// Every MultiverSegNet prediction (also in [`Session::predict_batch`]) then adds
    /// [`Session::threshold_offset`] to its logits (so probabilities, masks, the next
    /// prediction's mask input and committed masks all follow it). ScribblePrompt-UNet's logits
    /// never change: with [`AfterPrompt::Unet`] a prediction after a prompt carries no offset,
    /// with [`AfterPrompt::Mean`] half of it (it goes on MultiverSegNet's logits before the
    /// mean). Turning it off forgets the pairs; turning it on again starts without any.
    /// Departs from the paper (an experiment of issue 14), and measured worse than the paper's
    /// threshold on issue 14's training tasks: see the module's docs before using it.
    ///
    /// Errors: `InvalidArgument` naming `latest` or `min_pairs`; nothing changes then.
    pub fn set_threshold_calibration(&mut self, c: Option<ThresholdCalibration>) -> Result<()> {
        if let Some(c) = &c {
            c.validate()?;
        }
        if c.is_none() {
            self.first_logits = None;
        }
        self.calibration = c;
        // Off keeps none: that forgets the pairs.
        self.trim_calibration_pairs();
        Ok(())
    }

    /// Turns flip averaging of ScribblePrompt-UNet on or off (default off: one pass, the
    /// official code's output). On, every UNet prediction is the mean of the UNet's logits over
    /// the input as it is and flipped left-right, up-down and both (image, prompts and mask
    /// input flipped together), each flipped back: four passes, and no directional bias in the
    /// network's padded 128 x 128 square (see [`crate::workflow::flip_average`]; for a
    /// non-square image the padding moves with each flip). MultiverSegNet's predictions never
    /// change. Departs from the paper (an experiment of issue 14). C:
    /// `mvs_session_set_unet_flip_average`; the bindings mirror it; `mvs eval
    /// --unet-flip-average`.
    pub fn set_unet_flip_average(&mut self, on: bool) {
        self.unet_flip_average = on;
    }

    /// Whether flip averaging of the UNet is on.
    pub fn unet_flip_average(&self) -> bool {
        self.unet_flip_average
    }

    /// Sets which network predicts an image once it has a prompt (click, box or scribble)
    /// while the context has at least `min_context` entries (default
    /// [`AfterPrompt::MultiverSeg`], the paper). With [`AfterPrompt::Unet`] the UNet predicts
    /// from the same 5-channel input (its mask-input channel holds the previous prediction: at
    /// the first prompt, MultiverSegNet's prompt-free logits if the image was predicted before
    /// it); with [`AfterPrompt::Mean`] (or [`AfterPrompt::MeanForClicks`] while every prompt
    /// of the image is a click) both
    /// networks run on it and the prediction is the mean of their logits. The prediction of an
    /// image without a prompt is always MultiverSegNet's, and so is [`Session::predict_batch`];
    /// a model without a UNet keeps MultiverSegNet. With threshold calibration on, its offset
    /// goes on MultiverSegNet's logits (before a mean); with flip averaging on, the UNet's
    /// logits are flip-averaged. The other values depart from the paper (experiments of issue
    /// 14, see [`crate::workflow::after_prompt`]). C: `mvs_session_set_after_prompt`; the
    /// bindings mirror it; names for command lines: [`AfterPrompt::name`].
    pub fn set_after_prompt(&mut self, a: AfterPrompt) {
        self.after_prompt = a;
    }

    /// Which network predicts an image once it has a prompt (see
    /// [`Session::set_after_prompt`]).
    pub fn after_prompt(&self) -> AfterPrompt {
        self.after_prompt
    }

    /// The current threshold calibration (None: off).
    pub fn threshold_calibration(&self) -> Option<ThresholdCalibration> {
        self.calibration
    }

    /// The offset, in logits, that the next MultiverSegNet prediction adds to its logits: 0
    /// when calibration is off or fewer than `min_pairs` of the kept pairs belong to entries
    /// still in the context; otherwise [`calibration::best_offset`] over those pairs (one of
    /// [`calibration::OFFSETS`], -2 to +2).
    pub fn threshold_offset(&self) -> f32 {
        let Some(c) = self.calibration else {
            return 0.0;
        };
        let pairs = self.calibration_pairs_in_context();
        let d = if pairs.len() < c.min_pairs {
            0.0
        } else {
            calibration::best_offset(&pairs)
        };
        log::debug!(
            "threshold calibration: offset {d:+} from {} pairs",
            pairs.len()
        );
        d
    }

    /// How many pairs the offset is fitted to now (0 when calibration is off); below
    /// `min_pairs` the offset is 0.
    pub fn threshold_calibration_pairs(&self) -> usize {
        self.calibration_pairs_in_context().len()
    }

    /// (prompt-free logits, committed mask) of each kept pair. Every kept pair's entry is in
    /// the context (remove, clear and replace drop pairs); the lookup finds its mask.
    fn calibration_pairs_in_context(&self) -> Vec<(&[f32], &[f32])> {
        self.calibration_pairs
            .iter()
            .filter_map(|(id, l)| {
                let e = self.context.iter().find(|e| e.id == *id)?;
                Some((l.as_slice(), e.label.as_slice()))
            })
            .collect()
    }

    /// Keeps at most `latest` pairs (the newest).
    fn trim_calibration_pairs(&mut self) {
        let keep = self.calibration.map_or(0, |c| c.latest);
        let n = self.calibration_pairs.len();
        if n > keep {
            self.calibration_pairs.drain(..n - keep);
        }
    }

    /// A token that cancels this session's running call from another thread (the call
    /// then fails with `Cancelled` and changes nothing). Each call clears it when it
    /// starts, so a cancel only reaches the call that runs at that moment.
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }

    // ---- context set ----

    /// Adds an image and its mask (nonzero = foreground; same width and height as the
    /// image, its own row stride in bytes) to the context. Returns the new entry's id.
    ///
    /// Errors: `InvalidArgument` naming `image` or `mask` (sizes, strides, NaN pixels).
    pub fn context_add(
        &mut self,
        image: &ImageView,
        window: Window,
        mask: &[u8],
        mask_stride: usize,
    ) -> Result<u64> {
        let unit = to_unit(image, window, "image")?;
        let m = mask_to_unit(mask, image.width, image.height, mask_stride, "mask")?;
        self.context_add_network(
            to_network(&unit, image.width, image.height),
            mask_to_network(&m, image.width, image.height),
        )
    }

    /// Adds an entry already at the network size: image 128*128 in [0, 1], label 128*128
    /// (binarized at 0.5). Errors: `InvalidArgument` for other lengths or values.
    pub fn context_add_network(&mut self, image: Vec<f32>, label: Vec<f32>) -> Result<u64> {
        if image.len() != PX || label.len() != PX {
            return Err(Error::arg(format!(
                "image and label: need {PX} values each (128x128), got {} and {}",
                image.len(),
                label.len()
            )));
        }
        if let Some(i) = image.iter().position(|v| !(0.0..=1.0).contains(v)) {
            return Err(Error::arg(format!(
                "image: value {} at index {i} is outside [0, 1]",
                image[i]
            )));
        }
        let label = label
            .into_iter()
            .map(|v| if v > 0.5 { 1.0 } else { 0.0 })
            .collect();
        let id = self.next_id;
        self.next_id += 1;
        self.context.push(ContextEntry { id, image, label });
        self.context_version += 1;
        Ok(id)
    }

    /// Removes the entry `id`. Errors: `NotFound`.
    pub fn context_remove(&mut self, id: u64) -> Result<()> {
        let i = self
            .context
            .iter()
            .position(|e| e.id == id)
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("id: no context entry {id}")))?;
        self.context.remove(i);
        self.calibration_pairs.retain(|(p, _)| *p != id);
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

    /// The entries, in insertion order.
    pub fn context(&self) -> &[ContextEntry] {
        &self.context
    }

    /// Removes every entry.
    pub fn context_clear(&mut self) {
        self.context.clear();
        self.calibration_pairs.clear();
        self.context_version += 1;
    }

    /// Replaces the context set with `entries` (each checked as by
    /// [`Session::context_add_network`]; ids must be unique); later ids continue after
    /// the largest. Errors: `InvalidArgument`; nothing changes then.
    pub fn context_replace(&mut self, entries: Vec<ContextEntry>) -> Result<()> {
        for (i, e) in entries.iter().enumerate() {
            if e.image.len() != PX || e.label.len() != PX {
                return Err(Error::arg(format!("entries[{i}]: not 128x128")));
            }
            if entries[..i].iter().any(|o| o.id == e.id) {
                return Err(Error::arg(format!(
                    "entries[{i}]: id {} appears twice",
                    e.id
                )));
            }
        }
        let max = entries.iter().map(|e| e.id).max().unwrap_or(0);
        self.next_id = self.next_id.max(max + 1);
        self.context = entries;
        // New entries may reuse old ids (a loaded file numbers from 1): no pair may match them.
        self.calibration_pairs.clear();
        self.context_version += 1;
        Ok(())
    }

    /// Saves the context set to `path` crash-safely (see [`crate::io::context_file`]).
    /// Errors: `Io` naming the path; an existing file is then untouched.
    pub fn context_save(&self, path: &Path) -> Result<()> {
        crate::io::context_file::write(path, &self.context)
    }

    /// Replaces the context set with the one saved in `path`. Errors: `Io`, `Format`
    /// naming the path and the problem; the session is then unchanged.
    pub fn context_load(&mut self, path: &Path) -> Result<()> {
        let entries = crate::io::context_file::read(path)?;
        self.context_replace(entries)
    }

    /// Adds every `image_N.png` / `mask_N.png` pair of `dir` (as SlicerMultiverSeg writes
    /// them), in N order; masks by `label` (see [`crate::io::png::read_mask`]). All or
    /// nothing. Returns the new ids.
    ///
    /// Errors: `InvalidArgument` (no pairs, a mask's size differs from its image's, an
    /// ambiguous label map), `Io`, `Format`, each naming the file.
    pub fn context_import_folder(
        &mut self,
        dir: &Path,
        label: crate::io::png::MaskLabel,
    ) -> Result<Vec<u64>> {
        let staged = crate::io::folder::read_context_pairs(dir, label)?;
        let mut prepared = Vec::with_capacity(staged.len());
        for (img, mask, name) in staged {
            let (w, h) = (img.width, img.height);
            let unit = to_unit(
                &ImageView::packed(Pixels::F32(&img.pixels), w, h),
                Window::MinMax,
                &name,
            )?;
            let mu = mask_to_unit(&mask.data, w, h, w, &name)?;
            prepared.push((to_network(&unit, w, h), mask_to_network(&mu, w, h)));
        }
        prepared
            .into_iter()
            .map(|(i, l)| self.context_add_network(i, l))
            .collect()
    }

    // ---- target and prompts ----

    /// Sets the image to segment; clears the prompts, the mask input and the last
    /// prediction. Errors: `InvalidArgument` naming `image` or `window`.
    pub fn set_image(&mut self, image: &ImageView, window: Window) -> Result<()> {
        let unit = to_unit(image, window, "image")?;
        self.target = Some(Target {
            image: to_network(&unit, image.width, image.height),
            width: image.width,
            height: image.height,
        });
        self.prompts.clear();
        self.mask_input = None;
        self.last = None;
        self.first_logits = None;
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

    /// Adds a prompt: a prediction made since the previous prompt becomes the mask input.
    fn push(&mut self, prompt: Prompt) {
        let step = PromptStep {
            prompt,
            mask_input_before: self.mask_input.clone(),
            last_before: self.last.clone(),
        };
        if let Some(p) = &self.last {
            self.mask_input = Some(p.logits.clone());
        }
        self.prompts.push(step);
    }

    /// A click at (x, y) in image pixels (x to the right, y down; integer coordinates are
    /// pixel corners: the pixel (i, j) covers [i, i+1) x [j, j+1), so 10.5 is its centre).
    /// Errors: `InvalidArgument` for a point outside the image, `State` without an image.
    pub fn add_click(&mut self, x: f64, y: f64, positive: bool) -> Result<()> {
        let t = self.target()?;
        let p = prompts::click(x, y, positive, t.width, t.height)?;
        self.push(p);
        Ok(())
    }

    /// A box with corners (x0, y0) and (x1, y1) in image pixels, in any order; the far
    /// edges are exclusive (a box over the whole image is (0, 0, width, height)).
    pub fn add_box(&mut self, x0: f64, y0: f64, x1: f64, y1: f64) -> Result<()> {
        let t = self.target()?;
        let p = prompts::bbox(x0, y0, x1, y1, t.width, t.height)?;
        self.push(p);
        Ok(())
    }

    /// A scribble as a brush mask at image size (nonzero = painted) with its own stride in
    /// bytes. Every painted pixel reaches the network (see [`crate::prompts`]).
    pub fn add_scribble_mask(&mut self, mask: &[u8], stride: usize, positive: bool) -> Result<()> {
        let t = self.target()?;
        let m = mask_to_unit(mask, t.width, t.height, stride, "scribble")?;
        let p = prompts::scribble_mask(&m, positive, t.width, t.height)?;
        self.push(p);
        Ok(())
    }

    /// A scribble as a polyline (image pixels, as clicks) painted with a round brush of
    /// `radius` pixels (0: the pixels the line passes through).
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

    /// Removes the last prompt and restores the mask input and last prediction from before
    /// it was added. Errors: `State` when there is no prompt.
    pub fn undo(&mut self) -> Result<()> {
        let step = self
            .prompts
            .pop()
            .ok_or_else(|| Error::state("no prompt to undo"))?;
        self.mask_input = step.mask_input_before;
        self.last = step.last_before;
        Ok(())
    }

    /// Removes all prompts, the mask input and the last prediction of the current image.
    pub fn clear_prompts(&mut self) {
        self.prompts.clear();
        self.mask_input = None;
        self.last = None;
    }

    /// Number of prompts on the current image.
    pub fn prompt_count(&self) -> usize {
        self.prompts.len()
    }

    /// The [5, 128, 128] network input for the current state (image, box, positive,
    /// negative, mask input). Errors: `State` without an image.
    pub fn network_input(&self) -> Result<Vec<f32>> {
        let t = self.target()?;
        let mut x = vec![0.0f32; 5 * PX];
        x[..PX].copy_from_slice(&t.image);
        prompts::rasterize(self.prompts.iter().map(|s| &s.prompt), &mut x);
        if let Some(l) = &self.mask_input {
            x[4 * PX..].copy_from_slice(l);
        }
        Ok(x)
    }

    /// Predicts the current image with its prompts and the context (as selected by the
    /// policy; once the image has a prompt, with the network [`Session::set_after_prompt`]
    /// chose). A pure function of the session's state: it changes only what
    /// [`Session::last_prediction`] returns (and, with threshold calibration on, keeps the
    /// image's prompt-free logits for [`Session::commit`]).
    ///
    /// Errors: `State` (no image), `OutOfMemory`, `Cancelled` (from [`Session::cancel_token`]),
    /// `Backend`; the session is unchanged then.
    pub fn predict(&mut self) -> Result<Prediction> {
        self.cancel.reset();
        let x = self.network_input()?;
        let (w, h) = self.target_size().expect("network_input checked the image");
        let network = self.network()?;
        let after = self.after_prompt_now(network);
        let unet = NetworkChoice::ScribblePrompt;
        let logits = if after == AfterPrompt::Unet {
            self.run_with(unet, &[], &[&x], &mut |_| true)?
                .swap_remove(0)
        } else {
            let chosen = self.chosen_for(network, &x);
            let mut logits = self
                .run_with(network, &chosen, &[&x], &mut |_| true)?
                .swap_remove(0);
            if self.calibration.is_some() && network == NetworkChoice::MultiverSeg {
                if self.prompts.is_empty() && self.mask_input.is_none() {
                    self.first_logits = Some(logits.clone());
                }
                add_offset(&mut logits, self.threshold_offset());
            }
            if after == AfterPrompt::Mean {
                let u = self.run_with(unet, &[], &[&x], &mut |_| true)?;
                after_prompt::mean_into(&mut logits, &u[0]);
            }
            logits
        };
        let pred = Prediction {
            logits,
            width: w,
            height: h,
        };
        self.last = Some(pred.clone());
        Ok(pred)
    }

    /// The network the context's size and `min_context` call for (before any prompt).
    fn network(&self) -> Result<NetworkChoice> {
        self.model
            .resolve(NetworkChoice::Auto, self.context.len(), self.min_context)
    }

    /// What [`Session::set_after_prompt`] means for the current image when `network` would
    /// predict it: MultiverSeg unless MultiverSegNet would run on a prompted image and the
    /// model has a UNet; `MeanForClicks` becomes `Mean` or `MultiverSeg` by the prompts' kind.
    fn after_prompt_now(&self, network: NetworkChoice) -> AfterPrompt {
        if network != NetworkChoice::MultiverSeg
            || self.prompts.is_empty()
            || !self.model.has_unet()
        {
            return AfterPrompt::MultiverSeg;
        }
        match self.after_prompt {
            AfterPrompt::MeanForClicks
                if self
                    .prompts
                    .iter()
                    .all(|p| matches!(p.prompt, Prompt::Click { .. })) =>
            {
                AfterPrompt::Mean
            }
            AfterPrompt::MeanForClicks => AfterPrompt::MultiverSeg,
            a => a,
        }
    }

    /// The context entries (indices, insertion order) the policy picks for `network` on a
    /// [5, 128, 128] input (it looks at the image, channel 0); none for the UNet.
    fn chosen_for(&self, network: NetworkChoice, x: &[f32]) -> Vec<usize> {
        if network == NetworkChoice::ScribblePrompt {
            Vec::new()
        } else {
            policy::select(&self.policy, &self.context, &x[..PX])
        }
    }

    /// Runs `network` on each of `xs` with the context entries `chosen`, as one batch
    /// (`done(k)` after the first k; `false` cancels).
    fn run_with(
        &mut self,
        network: NetworkChoice,
        chosen: &[usize],
        xs: &[&[f32]],
        done: &mut dyn FnMut(usize) -> bool,
    ) -> Result<Vec<Vec<f32>>> {
        // The UNet reads no context: leave the selection alone, so that MultiverSegNet's
        // context stays cached when the two networks alternate (AfterPrompt).
        if network != NetworkChoice::ScribblePrompt {
            let ids: Vec<u64> = chosen.iter().map(|&i| self.context[i].id).collect();
            if ids != self.selection.0 || self.selection.1 != self.context_version {
                // A new subset is a new context for the backend's cache.
                self.context_version += 1;
                self.selection = (ids, self.context_version);
            }
        }
        let s = chosen.len();
        self.model.check_memory(NET_SIZE, NET_SIZE, s.max(1))?;
        let mut ci = Vec::with_capacity(s * PX);
        let mut cl = Vec::with_capacity(s * PX);
        for &i in chosen {
            ci.extend_from_slice(&self.context[i].image);
            cl.extend_from_slice(&self.context[i].label);
        }
        let input = RawInput {
            target: xs[0],
            context_images: &ci,
            context_labels: &cl,
            height: NET_SIZE,
            width: NET_SIZE,
        };
        // Flip averaging runs each input as its four flips, a few inputs a call so that the
        // flipped copies stay small, and `done` hears of an input once all its flips are done.
        // Otherwise one call runs every input once.
        const FLIP_CHUNK: usize = 4;
        let average = self.unet_flip_average && network == NetworkChoice::ScribblePrompt;
        let (k, per_call) = if average {
            (flip_average::FLIPS.len(), FLIP_CHUNK)
        } else {
            (1, xs.len().max(1))
        };
        let mut out = Vec::with_capacity(xs.len());
        for (c, part) in xs.chunks(per_call).enumerate() {
            let flipped: Vec<Vec<f32>> = if average {
                part.iter()
                    .flat_map(|x| flip_average::flipped_inputs(x))
                    .collect()
            } else {
                Vec::new()
            };
            let runs: Vec<&[f32]> = if average {
                flipped.iter().map(Vec::as_slice).collect()
            } else {
                part.to_vec()
            };
            let before = c * per_call;
            let mut done_inputs = |n: usize| !n.is_multiple_of(k) || done(before + n / k);
            // Already resolved: the subset may be smaller than min_context under a cap.
            let r = self.model.infer_batch_in(
                &mut self.backend_state,
                Some(self.context_version),
                network,
                0,
                &input,
                &runs,
                &self.cancel,
                &mut done_inputs,
            );
            if self.cancel.is_cancelled() {
                return Err(Error::cancelled());
            }
            if average {
                out.extend(r?.chunks(k).map(flip_average::average_back));
            } else {
                out.extend(r?);
            }
        }
        Ok(out)
    }

    /// Predicts each of `images` with the context and no prompts (each as a fresh image
    /// given to [`Session::set_image`] and predicted at once), without changing the
    /// session. `progress(done, total)` is called as images finish (after each image on
    /// the CPU, after each submitted chunk on the GPU); returning `false` cancels the call.
    /// Consecutive images for which the context policy picks the same entries (all of
    /// them, unless `select similar` is capped) run as one batch: on the GPU, one command
    /// buffer per chunk of up to 16 images. Results equal single predictions bit for bit
    /// on the CPU, and on the GPU to rounding (the same kernels run; measured equal).
    /// With UNet flip averaging on, UNet predictions run four inputs (sixteen passes) at a
    /// time. With threshold calibration on, MultiverSegNet's logits carry the current
    /// [`Session::threshold_offset`]; no pairs are recorded.
    ///
    /// Errors: `InvalidArgument` naming `images[i]`, `Cancelled` (progress or the cancel
    /// token), `OutOfMemory`, `Backend`; the session is unchanged either way.
    pub fn predict_batch(
        &mut self,
        images: &[ImageView],
        window: Window,
        progress: Option<Progress>,
    ) -> Result<Vec<Prediction>> {
        self.cancel.reset();
        let mut progress = progress;
        // Check and preprocess everything first, so bad input fails before any work.
        let mut inputs = Vec::with_capacity(images.len());
        for (i, img) in images.iter().enumerate() {
            let unit = to_unit(img, window, &format!("images[{i}]"))?;
            let mut x = vec![0.0f32; 5 * PX];
            x[..PX].copy_from_slice(&to_network(&unit, img.width, img.height));
            inputs.push(x);
        }
        let total = inputs.len();
        let mut out = Vec::with_capacity(total);
        // One network for the call (the context does not change during it), and each image's
        // pick once (with `similar`, a descriptor per context entry).
        let network = self.network()?;
        let picks: Vec<Vec<usize>> = inputs.iter().map(|x| self.chosen_for(network, x)).collect();
        // One fit for the whole call: the context and the pairs do not change during it.
        let offset = self.threshold_offset();
        let mut first = 0;
        while first < total {
            // The longest run of images that share the policy's pick.
            let chosen = &picks[first];
            let end = first
                + picks[first..]
                    .iter()
                    .take_while(|p| *p == &picks[first])
                    .count();
            let xs: Vec<&[f32]> = inputs[first..end].iter().map(|x| x.as_slice()).collect();
            let mut done = |k: usize| progress.as_mut().is_none_or(|p| p(first + k, total));
            let logits = self.run_with(network, chosen, &xs, &mut done)?;
            for (mut l, img) in logits.into_iter().zip(&images[first..end]) {
                if network == NetworkChoice::MultiverSeg {
                    add_offset(&mut l, offset);
                }
                out.push(Prediction {
                    logits: l,
                    width: img.width,
                    height: img.height,
                });
            }
            first = end;
        }
        Ok(out)
    }

    /// The last prediction on the current image, if any.
    pub fn last_prediction(&self) -> Option<&Prediction> {
        self.last.as_ref()
    }

    /// Adds the current image with the binarized last prediction to the context and
    /// clears the target. Returns the new entry's id. With threshold calibration on, the
    /// image's prompt-free prediction, if it had one, pairs with the committed mask (see
    /// [`Session::set_threshold_calibration`]). Errors: `State` (no image, or no
    /// prediction yet).
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
        self.commit_label(label)
    }

    /// Moves the target into the context with `label` and resets the per-image state.
    fn commit_label(&mut self, label: Vec<f32>) -> Result<u64> {
        let image = self.target()?.image.clone();
        let id = self.context_add_network(image, label)?;
        if let Some(l) = self.first_logits.take() {
            self.calibration_pairs.push((id, l));
            self.trim_calibration_pairs();
        }
        self.target = None;
        self.clear_prompts();
        Ok(id)
    }

    /// Adds the current image with a caller-given mask (image size, nonzero = foreground,
    /// row stride in bytes) to the context and clears the target, e.g. after the user
    /// corrected the prediction by hand. Pairs for threshold calibration as
    /// [`Session::commit`] does. Errors: `State` (no image), `InvalidArgument`.
    pub fn commit_mask(&mut self, mask: &[u8], stride: usize) -> Result<u64> {
        let t = self.target()?;
        let m = mask_to_unit(mask, t.width, t.height, stride, "mask")?;
        let label = mask_to_network(&m, t.width, t.height);
        self.commit_label(label)
    }
}

/// Adds a threshold offset to every logit (nothing for 0).
fn add_offset(logits: &mut [f32], d: f32) {
    if d != 0.0 {
        logits.iter_mut().for_each(|l| *l += d);
    }
}
