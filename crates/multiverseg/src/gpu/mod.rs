//! GPU backend on wgpu (Vulkan, Metal, DX12) with the project's own WGSL kernels:
//! implicit-GEMM 3x3 convolution batched over the context, GroupNorm with compensated
//! and pairwise accumulation, max-pool, bilinear upsampling, entry means.
//!
//! Weights go to the device once per model. Each session keeps its buffers, its
//! context and the first CrossConv's context halves on the device
//! ([`BackendState`]), so a click uploads only the 5-channel target. A prediction is
//! one command buffer; the logits are the only read-back. A batch of targets with one
//! context (`Session::predict_batch`) is one command buffer per chunk of up to 16 targets
//! (one upload, the network replayed per target, one read-back). A context whose buffers
//! would exceed the device's storage-binding limit is processed in chunks of entries.
//! A lost device or a failed allocation falls back to the CPU backend.

mod device;
mod nets;
mod program;
#[cfg(test)]
mod tests;

use crate::backend::{Backend, BackendState, CancelToken, NetInput};
use crate::cpu::CpuBackend;
use crate::error::{Error, ErrorKind, Result};
use crate::weights::Weights;
use device::Gpu;
use nets::{MvsState, MvsWeights, UNetState, UNetWeights};
use std::sync::{Arc, OnceLock};

#[cfg(test)]
pub(crate) use program::CONV_TILES;

/// GPU options (see [`crate::ModelOptions`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct GpuOptions {
    /// Admit software adapters (lavapipe); `auto` does not, since tract is faster.
    pub allow_software: bool,
    /// Only adapters whose name contains this (case-insensitive).
    pub adapter: Option<String>,
    /// The conv kernel's register block (rows, columns), one of [`CONV_TILES`]; None: by device.
    pub conv_tile: Option<(u32, u32)>,
    /// Most context entries per chunk (0 = as many as the device's limits allow).
    pub max_chunk: usize,
    /// Most targets of a batch per command buffer (0 = [`nets::TARGETS_PER_SUBMISSION`]).
    pub batch_targets: usize,
    /// Most bytes of activations one session may allocate (0 = no limit). A prediction
    /// that needs more runs on the CPU instead.
    pub memory_limit: u64,
    /// The CPU fallback's convolutions.
    pub cpu_conv: crate::CpuConv,
}

/// The wgpu backend. `Send + Sync`: sessions on several threads share its device
/// and weights; each keeps its own buffers.
pub(crate) struct GpuBackend {
    gpu: Gpu,
    mvs: Option<MvsWeights>,
    unet: Option<UNetWeights>,
    weights: Arc<Weights>,
    threads: usize,
    memory_limit: u64,
    cpu: OnceLock<CpuBackend>,
    opts: GpuOptions,
}

#[derive(Default)]
struct GpuSession {
    mvs: Option<MvsState>,
    unet: Option<UNetState>,
}

impl GpuBackend {
    /// Opens the best adapter and uploads the weights. `threads` is for the CPU fallback.
    /// `memory_limit` is the CPU fallback's (see [`crate::ModelOptions::memory_limit`]).
    pub(crate) fn new(
        weights: Arc<Weights>,
        threads: usize,
        memory_limit: u64,
        opts: &GpuOptions,
    ) -> Result<Self> {
        let gpu = Gpu::open(opts.allow_software, opts.adapter.as_deref(), opts.conv_tile)?;
        let (mvs, unet) = gpu.scoped("weight upload", || {
            let mvs = match &weights.multiverseg {
                Some(a) => Some(MvsWeights::upload(&gpu, &weights, a)?),
                None => None,
            };
            let unet = match &weights.unet {
                Some(a) => Some(UNetWeights::upload(&gpu, &weights, a)?),
                None => None,
            };
            Ok((mvs, unet))
        })?;
        Ok(GpuBackend {
            gpu,
            mvs,
            unet,
            weights,
            threads,
            memory_limit,
            cpu: OnceLock::new(),
            opts: opts.clone(),
        })
    }

    /// The adapter's name and graphics API, e.g. "NVIDIA H100 80GB HBM3 (Vulkan)".
    pub fn adapter(&self) -> String {
        self.gpu.describe()
    }

    /// The conv kernel's register block per thread (rows x columns).
    pub fn conv_tile(&self) -> (u32, u32) {
        self.gpu.kernels.conv_tile
    }

    /// Times the 3x3 conv kernel alone: `n` entries of `cin` -> `cout` channels at
    /// `h`x`w` (bias and LeakyReLU fused, as in the network), `reps` dispatches in one
    /// submission after a warm-up. Returns milliseconds per convolution and TFLOP/s.
    pub fn bench_conv(
        &self,
        n: usize,
        cin: usize,
        cout: usize,
        h: usize,
        w: usize,
        reps: usize,
    ) -> Result<(f64, f64)> {
        use program::{storage, Act, ConvWeights, ProgramBuilder, View};
        let gpu = &self.gpu;
        let prog = gpu.scoped("conv benchmark", || {
            let wt: Vec<f32> = (0..cout * cin * 9)
                .map(|i| ((i % 7) as f32 - 3.0) * 0.01)
                .collect();
            let cw = ConvWeights::new(gpu, "bench", &wt, cout, cin, 9, Some(&vec![0.1; cout]));
            let x = storage(gpu, "bench in", n * cin * h * w);
            let y = storage(gpu, "bench out", n * cout * h * w);
            let mut b = ProgramBuilder::new(gpu, 1);
            for _ in 0..reps.max(1) {
                b.conv(
                    &View::whole(&x, n, cin, h, w),
                    &cw,
                    None,
                    Act::Leaky,
                    &View::whole(&y, n, cout, h, w),
                );
            }
            Ok(b.finish())
        })?;
        let submit = || -> Result<f64> {
            let t0 = std::time::Instant::now();
            let mut enc = gpu.device.create_command_encoder(&Default::default());
            prog.encode(gpu, &mut enc);
            gpu.queue.submit([enc.finish()]);
            gpu.device
                .poll(wgpu::PollType::wait_indefinitely())
                .map_err(|e| Error::backend(format!("waiting for the GPU: {e}")))?;
            Ok(t0.elapsed().as_secs_f64())
        };
        submit()?;
        let secs = submit()? / reps.max(1) as f64;
        let flop = 2.0 * 9.0 * (n * cin * cout * h * w) as f64;
        Ok((secs * 1e3, flop / secs / 1e12))
    }

    fn cpu(&self) -> &CpuBackend {
        self.cpu.get_or_init(|| {
            CpuBackend::new(
                self.weights.clone(),
                self.threads,
                self.memory_limit,
                self.opts.cpu_conv,
            )
        })
    }

    /// Entries per chunk for a context of `s` at `h`x`w`: as few chunks as the binding
    /// and dispatch limits allow, balanced.
    fn chunks(&self, mw: &MvsWeights, s: usize, h: usize, w: usize) -> Result<Vec<usize>> {
        let per = mw.entry_bytes(h, w);
        let by_binding = (self.gpu.max_binding() / per) as usize;
        // The convolution's grid has one workgroup per 16*TN output pixels in x.
        let per_group = 16 * self.gpu.kernels.conv_tile.1 as usize;
        let by_dispatch =
            self.gpu.limits.max_compute_workgroups_per_dimension as usize * per_group / (h * w);
        let mut cap = by_binding.min(by_dispatch);
        if self.opts.max_chunk > 0 {
            cap = cap.min(self.opts.max_chunk);
        }
        if cap == 0 {
            return Err(Error::backend(format!(
                "one context entry at {h}x{w} needs {per} bytes in one buffer; the GPU allows {}",
                self.gpu.max_binding()
            )));
        }
        let n = s.div_ceil(cap);
        let chunks: Vec<usize> = (0..n).map(|i| s / n + (i < s % n) as usize).collect();
        let need = mw.state_bytes(h, w, &chunks);
        if self.opts.memory_limit > 0 && need > self.opts.memory_limit {
            return Err(Error::backend(format!(
                "a context of {s} at {h}x{w} needs {} MiB of GPU memory, above the limit of {} MiB",
                need >> 20,
                self.opts.memory_limit >> 20
            )));
        }
        Ok(chunks)
    }

    /// Targets per command buffer in a batch at `h`x`w`: at most the option (default
    /// [`nets::TARGETS_PER_SUBMISSION`]), and as many as one upload buffer can hold.
    fn targets_per_submission(&self, h: usize, w: usize) -> usize {
        let per = (crate::arch::TARGET_CHANNELS * h * w * 4) as u64;
        let fit = (self.gpu.device.limits().max_buffer_size / per.max(1)).max(1) as usize;
        let want = match self.opts.batch_targets {
            0 => nets::TARGETS_PER_SUBMISSION,
            n => n,
        };
        fit.min(want)
    }

    /// MultiverSegNet on `inputs`, which share one context (checked: same S, H, W), in
    /// one submission.
    fn mvs_gpu(&self, st: &mut GpuSession, inputs: &[NetInput]) -> Result<Vec<Vec<f32>>> {
        let c = inputs[0].context()?;
        let (s, h, w) = (c.s, inputs[0].h, inputs[0].w);
        same_shape(inputs)?;
        let mw = self
            .mvs
            .as_ref()
            .ok_or_else(|| Error::state("the model has no MultiverSegNet"))?;
        self.gpu.scoped("prediction", || {
            // The chunk layout follows from (S, H, W) alone: work it out (and check the
            // memory limit) only when the state must be rebuilt, not per click.
            if !st
                .mvs
                .as_ref()
                .is_some_and(|m| m.h == h && m.w == w && m.entries() == s)
            {
                let chunks = self.chunks(mw, s, h, w)?;
                drop(st.mvs.take()); // free the old buffers before allocating new ones
                st.mvs = Some(MvsState::new(&self.gpu, mw, h, w, chunks));
            }
            let m = st.mvs.as_mut().unwrap();
            if c.version.is_none() || m.version != c.version {
                m.set_context(&self.gpu, c.images, c.labels);
                m.version = c.version;
            }
            let targets: Vec<&[f32]> = inputs.iter().map(|x| x.target).collect();
            m.predict_many(&self.gpu, &targets)
        })
    }

    /// ScribblePrompt-UNet on `inputs` (same H, W) in one submission.
    fn unet_gpu(&self, st: &mut GpuSession, inputs: &[NetInput]) -> Result<Vec<Vec<f32>>> {
        let (h, w) = (inputs[0].h, inputs[0].w);
        same_shape(inputs)?;
        let uw = self
            .unet
            .as_ref()
            .ok_or_else(|| Error::state("the model has no ScribblePrompt-UNet"))?;
        self.gpu.scoped("prediction", || {
            if !st.unet.as_ref().is_some_and(|u| u.h == h && u.w == w) {
                drop(st.unet.take());
                st.unet = Some(UNetState::new(&self.gpu, uw, h, w));
            }
            let targets: Vec<&[f32]> = inputs.iter().map(|x| x.target).collect();
            st.unet.as_ref().unwrap().predict_many(&self.gpu, &targets)
        })
    }

    /// Runs a batch in chunks of [`GpuBackend::targets_per_submission`] targets, one
    /// submission each, reporting to `done` and checking `cancel` between chunks. A chunk
    /// the GPU fails runs on the CPU, one target after another.
    fn batched(
        &self,
        state: &mut BackendState,
        inputs: &[NetInput],
        cancel: &CancelToken,
        done: &mut dyn FnMut(usize) -> bool,
        gpu: impl Fn(&mut GpuSession, &[NetInput]) -> Result<Vec<Vec<f32>>>,
        cpu: impl Fn(&CpuBackend, &mut BackendState, &NetInput) -> Result<Vec<f32>>,
    ) -> Result<Vec<Vec<f32>>> {
        let Some(first) = inputs.first() else {
            return Ok(Vec::new());
        };
        let per = self.targets_per_submission(first.h, first.w);
        let mut out = Vec::with_capacity(inputs.len());
        for chunk in inputs.chunks(per) {
            cancel.check()?;
            let r = self.gpu_or_cpu(
                state,
                |st| gpu(st, chunk),
                |c, st| chunk.iter().map(|x| cpu(c, st, x)).collect(),
            )?;
            out.extend(r);
            if !done(out.len()) {
                return Err(Error::cancelled());
            }
        }
        Ok(out)
    }

    /// Runs `gpu` on the session's device state; where the GPU is lost or fails with a
    /// backend error, runs `cpu` instead.
    fn gpu_or_cpu<T>(
        &self,
        state: &mut BackendState,
        gpu: impl FnOnce(&mut GpuSession) -> Result<T>,
        cpu: impl FnOnce(&CpuBackend, &mut BackendState) -> Result<T>,
    ) -> Result<T> {
        if self.gpu.lost().is_none() {
            // wgpu panics on some driver failures; a panic must not reach the caller
            // (nor cross the C boundary as an internal error) while the CPU can answer.
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                gpu(state.get::<GpuSession>())
            }))
            .unwrap_or_else(|p| {
                let what = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "unknown panic".into());
                let why = format!("panicked: {what}");
                self.gpu.mark_lost(why.clone());
                Err(Error::backend(why))
            });
            match r {
                Ok(v) => return Ok(v),
                Err(e) if e.kind == ErrorKind::Backend => {
                    let why = self.note_failure(state, &e);
                    return cpu(self.cpu(), state)
                        .map_err(|c| Error::backend(format!("{} (after the {why})", c.message)));
                }
                Err(e) => return Err(e),
            }
        }
        cpu(self.cpu(), state)
    }

    /// After a GPU failure: logs it, drops the session's device buffers, marks a lost
    /// device for good, and says what the CPU run must mention if it fails too.
    fn note_failure(&self, state: &mut BackendState, e: &Error) -> String {
        state.clear();
        let msg = format!("GPU {} failed: {}", self.adapter(), e.message);
        if let Some(l) = self.gpu.failure() {
            self.gpu.mark_lost(l);
        }
        log::warn!("{msg}; running this prediction on the CPU");
        msg
    }
}

/// The one result of a one-target batch.
fn first(mut v: Vec<Vec<f32>>) -> Vec<f32> {
    v.swap_remove(0)
}

/// A batch shares one shape (and, for MultiverSegNet, one context: the caller's promise).
fn same_shape(inputs: &[NetInput]) -> Result<()> {
    let (h, w) = (inputs[0].h, inputs[0].w);
    let s = inputs[0].context.map(|c| c.s);
    if inputs
        .iter()
        .any(|x| x.h != h || x.w != w || x.context.map(|c| c.s) != s)
    {
        return Err(Error::new(
            ErrorKind::Internal,
            "a GPU batch mixes input sizes or context sizes",
        ));
    }
    Ok(())
}

impl Backend for GpuBackend {
    fn describe(&self) -> String {
        match self.gpu.lost() {
            Some(why) => format!(
                "{} [GPU {} unusable: {why}]",
                self.cpu().describe(),
                self.adapter()
            ),
            None => format!("gpu (wgpu: {})", self.adapter()),
        }
    }

    fn check_memory(&self, s: usize, h: usize, w: usize) -> Result<()> {
        // The GPU checks its own limit per session; once it is unusable the CPU runs.
        match self.gpu.lost() {
            Some(_) => self.cpu().check_memory(s, h, w),
            None => Ok(()),
        }
    }

    fn multiverseg(
        &self,
        state: &mut BackendState,
        input: &NetInput,
        cancel: &CancelToken,
    ) -> Result<Vec<f32>> {
        input.context()?;
        cancel.check()?;
        self.gpu_or_cpu(
            state,
            |st| self.mvs_gpu(st, std::slice::from_ref(input)).map(first),
            |cpu, st| cpu.multiverseg(st, input, cancel),
        )
    }

    fn multiverseg_batch(
        &self,
        state: &mut BackendState,
        inputs: &[NetInput],
        cancel: &CancelToken,
        done: &mut dyn FnMut(usize) -> bool,
    ) -> Result<Vec<Vec<f32>>> {
        for x in inputs {
            x.context()?;
        }
        self.batched(
            state,
            inputs,
            cancel,
            done,
            |st, chunk| self.mvs_gpu(st, chunk),
            |cpu, st, x| cpu.multiverseg(st, x, cancel),
        )
    }

    fn scribbleprompt_batch(
        &self,
        state: &mut BackendState,
        inputs: &[NetInput],
        cancel: &CancelToken,
        done: &mut dyn FnMut(usize) -> bool,
    ) -> Result<Vec<Vec<f32>>> {
        self.batched(
            state,
            inputs,
            cancel,
            done,
            |st, chunk| self.unet_gpu(st, chunk),
            |cpu, st, x| cpu.scribbleprompt(st, x, cancel),
        )
    }

    fn scribbleprompt(
        &self,
        state: &mut BackendState,
        input: &NetInput,
        cancel: &CancelToken,
    ) -> Result<Vec<f32>> {
        cancel.check()?;
        self.gpu_or_cpu(
            state,
            |st| self.unet_gpu(st, std::slice::from_ref(input)).map(first),
            |cpu, st| cpu.scribbleprompt(st, input, cancel),
        )
    }
}
