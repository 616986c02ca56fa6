//! CPU backend on tract: the graph from [`crate::graph`], optimized once per
//! resolution with a symbolic context size, so S may change between calls for free.

use crate::backend::{Backend, BackendState, CancelToken, NetInput};
use crate::error::{Error, Result};
use crate::graph::{multiverseg_graph, unet_graph, GraphFlavor, Network};
use crate::weights::Weights;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
mod conv_op;
mod group_norm;
mod plane_ops;
#[cfg(test)]
mod test_rng;
mod winograd;
mod winograd_f4;

/// ONNX op type of the fused Winograd 3x3 convolution that the tract graphs use.
pub(crate) use conv_op::OP_TYPE as CONV3X3_OP;
/// ONNX op type of the f64-accurate GroupNorm that the tract graphs use.
pub(crate) use group_norm::OP_TYPE as GROUP_NORM_OP;
/// ONNX op types of the parallel mean over entries and 2x upsampling the tract graphs use.
pub(crate) use plane_ops::{MAX_POOL_OP, MEAN_ENTRIES_OP, UPSAMPLE_OP};

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::tract_linalg::multithread::{
    multithread_tract_scope, Executor,
};

type Plan = Arc<TypedRunnableModel>;

/// The tract backend. Plans are built lazily per (network, H, W) and shared.
pub(crate) struct CpuBackend {
    weights: Arc<Weights>,
    plans: Mutex<HashMap<(Network, usize, usize), Plan>>,
    executor: Executor,
    /// Runs our ops' parallel loops (conv, GroupNorm, plane ops), so they use `threads`
    /// threads, not rayon's global pool of all cores.
    pool: Arc<rayon::ThreadPool>,
    threads: usize,
    /// See [`crate::ModelOptions::memory_limit`] (resolved to bytes).
    memory_limit: u64,
    /// See [`crate::ModelOptions::cpu_conv`].
    conv: crate::CpuConv,
}

/// Bytes the CPU plan needs at its peak for MultiverSegNet at `h`x`w` with `s` entries:
/// about twice the lower bound of the activations that must coexist (tract allocates each
/// op's output before the input is freed). Measured in BENCHMARKS.md.
pub(crate) fn estimated_peak_bytes(
    a: &crate::arch::MultiverSegArch,
    h: usize,
    w: usize,
    s: usize,
) -> u64 {
    2 * a.activation_lower_bound(h, w, s)
}

impl CpuBackend {
    /// A backend using `threads` threads (0 = all cores) for tract's matrix products and
    /// our ops' parallel loops, `conv` for the 3x3 convolutions; predictions estimated
    /// above `memory_limit` bytes fail.
    pub fn new(
        weights: Arc<Weights>,
        threads: usize,
        memory_limit: u64,
        conv: crate::CpuConv,
    ) -> Self {
        let threads = if threads == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        } else {
            threads
        };
        let executor = if threads > 1 {
            Executor::multithread_with_name(threads, "mvs-cpu")
        } else {
            Executor::SingleThread
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("mvs-cpu-ops-{i}"))
            .build()
            .or_else(|_| rayon::ThreadPoolBuilder::new().num_threads(1).build())
            // Only a process out of threads gets here; tract's executor above fails alike.
            .expect("a one-thread pool");
        let pool = Arc::new(pool);
        CpuBackend {
            weights,
            plans: Mutex::new(HashMap::new()),
            executor,
            pool,
            threads,
            memory_limit,
            conv,
        }
    }

    fn plan(&self, net: Network, h: usize, w: usize) -> Result<Plan> {
        if let Some(p) = self
            .plans
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(net, h, w))
        {
            return Ok(p.clone());
        }
        // Built outside the lock: optimizing takes seconds and other sizes may be in use.
        let proto = match net {
            Network::MultiverSeg => {
                let arch = self
                    .weights
                    .multiverseg
                    .as_ref()
                    .ok_or_else(|| Error::state("the model has no MultiverSegNet"))?;
                multiverseg_graph(&self.weights, arch, h, w, GraphFlavor::Tract)
            }
            Network::ScribblePrompt => {
                let arch = self
                    .weights
                    .unet
                    .as_ref()
                    .ok_or_else(|| Error::state("the model has no ScribblePrompt-UNet"))?;
                unet_graph(&self.weights, arch, h, w, GraphFlavor::Tract)
            }
        };
        let plan = onnx_with_ops(self.conv)
            .model_for_proto_model(&proto)
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| {
                Error::backend(format!(
                    "building the CPU plan for {net:?} at {h}x{w}: {e:#}"
                ))
            })?;
        self.plans
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((net, h, w), plan.clone());
        Ok(plan)
    }

    fn run(&self, plan: &Plan, inputs: TVec<TValue>, cancel: &CancelToken) -> Result<Vec<f32>> {
        // The plan runs on the calling thread; only our ops' loops enter the pool. (Running
        // the whole plan inside the pool let a worker that waited on tract's matmul
        // executor pick up another session's plan and re-enter tract's thread-local
        // scratch: a panic, caught by tests/session.rs.)
        cancel.check()?;
        let _run = RunGuard::set(self.pool.clone(), cancel.clone());
        let out =
            multithread_tract_scope(self.executor.clone(), || plan.run(inputs)).map_err(|e| {
                if cancel.is_cancelled() {
                    Error::cancelled()
                } else {
                    Error::backend(format!("CPU inference failed: {e:#}"))
                }
            })?;
        let v = out[0]
            .to_plain_array_view::<f32>()
            .map_err(|e| Error::backend(format!("{e}")))?
            .iter()
            .copied()
            .collect();
        Ok(v)
    }
}

/// What our ops need to know about the plan run on their thread: the backend's pool for
/// their parallel loops, and the run's cancel token.
#[derive(Clone)]
struct RunScope {
    pool: Arc<rayon::ThreadPool>,
    cancel: CancelToken,
}

thread_local! {
    /// The plan run on this thread (set by `CpuBackend::run`); tract calls our ops' `eval`
    /// on the thread that runs the plan, so they find it here.
    static RUN: RefCell<Option<RunScope>> = const { RefCell::new(None) };
}

/// Sets this thread's run scope for a plan run; restores the previous one when dropped,
/// also on a panic.
struct RunGuard(Option<RunScope>);

impl RunGuard {
    fn set(pool: Arc<rayon::ThreadPool>, cancel: CancelToken) -> Self {
        RunGuard(RUN.with(|r| r.borrow_mut().replace(RunScope { pool, cancel })))
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        let previous = self.0.take();
        RUN.with(|r| *r.borrow_mut() = previous);
    }
}

/// Runs `f` (a parallel loop of one of our ops) on the pool of the backend whose plan runs
/// on this thread, or on rayon's global pool outside a plan run (unit tests).
pub(crate) fn in_ops_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    match RUN.with(|r| r.borrow().as_ref().map(|s| s.pool.clone())) {
        Some(pool) => pool.install(f),
        None => f(),
    }
}

/// The cancel token of the plan run on this thread (None outside a run).
pub(crate) fn run_cancel_token() -> Option<CancelToken> {
    RUN.with(|r| r.borrow().as_ref().map(|s| s.cancel.clone()))
}

/// Stops the plan (an error tract passes up) when the run was cancelled: our ops call
/// this before and after their work, so a cancel takes effect between layers.
pub(crate) fn check_cancel(cancel: Option<&CancelToken>) -> TractResult<()> {
    if cancel.is_some_and(|c| c.is_cancelled()) {
        tract_onnx::tract_core::internal::bail!("cancelled");
    }
    Ok(())
}

/// The ONNX loader with our ops registered: the f64-accurate GroupNorm, the fused
/// Winograd 3x3 convolution, the mean over entries, the upsampling and the max-pool.
fn onnx_with_ops(conv: crate::CpuConv) -> tract_onnx::Onnx {
    use tract_onnx::tract_hir::internal::expand;
    let mut onnx = tract_onnx::onnx();
    onnx.op_register.insert(GROUP_NORM_OP, |_ctx, node| {
        let eps: f32 = node.get_attr_opt("epsilon")?.unwrap_or(1e-5);
        Ok((expand(group_norm::GroupNorm1Expansion { eps }), vec![]))
    });
    // The registry takes plain functions, so one per tile.
    match conv {
        crate::CpuConv::Winograd4x4 => onnx
            .op_register
            .insert(CONV3X3_OP, |_c, n| conv3x3_op(n, winograd::Tile::F4)),
        crate::CpuConv::Winograd2x2 => onnx
            .op_register
            .insert(CONV3X3_OP, |_c, n| conv3x3_op(n, winograd::Tile::F2)),
    }
    onnx.op_register.insert(MEAN_ENTRIES_OP, |_ctx, _node| {
        let op = plane_ops::PlaneOp::MeanEntries;
        Ok((expand(plane_ops::PlaneOpExpansion(op)), vec![]))
    });
    onnx.op_register.insert(UPSAMPLE_OP, |_ctx, _node| {
        let op = plane_ops::PlaneOp::Upsample2x;
        Ok((expand(plane_ops::PlaneOpExpansion(op)), vec![]))
    });
    onnx.op_register.insert(MAX_POOL_OP, |_ctx, _node| {
        let op = plane_ops::PlaneOp::MaxPool2x2;
        Ok((expand(plane_ops::PlaneOpExpansion(op)), vec![]))
    });
    onnx
}

/// The fused conv of an ONNX node, running `tile`.
fn conv3x3_op(
    node: &tract_onnx::pb::NodeProto,
    tile: winograd::Tile,
) -> TractResult<(
    Box<dyn tract_onnx::tract_hir::infer::InferenceOp>,
    Vec<String>,
)> {
    use tract_onnx::tract_hir::internal::expand;
    let leaky: Option<f32> = node.get_attr_opt("leaky")?;
    let parts: i64 = node.get_attr_opt("parts")?.unwrap_or(1);
    let parts = usize::try_from(parts).map_err(|_| {
        tract_onnx::prelude::tract_data::internal::format_err!("{CONV3X3_OP}: parts = {parts}")
    })?;
    let op = conv_op::Conv3x3Expansion { leaky, parts, tile };
    Ok((expand(op), vec![]))
}

fn tensor(shape: &[usize], data: &[f32]) -> Result<TValue> {
    Ok(tract_ndarray::ArrayD::from_shape_vec(shape, data.to_vec())
        .map_err(|e| Error::arg(format!("tensor shape {shape:?}: {e}")))?
        .into_tvalue())
}

impl Backend for CpuBackend {
    fn describe(&self) -> String {
        let conv = match self.conv {
            crate::CpuConv::Winograd4x4 => "winograd 4x4",
            crate::CpuConv::Winograd2x2 => "winograd 2x2",
        };
        format!("cpu (tract, {} threads, {conv})", self.threads)
    }

    fn check_memory(&self, s: usize, h: usize, w: usize) -> Result<()> {
        if let Some(a) = &self.weights.multiverseg {
            let need = estimated_peak_bytes(a, h, w, s);
            if need > self.memory_limit {
                return Err(Error::new(
                    crate::error::ErrorKind::OutOfMemory,
                    format!(
                        "a context of S = {s} entries at {h}x{w} needs about {} MiB of activations, \
                         above the memory limit of {} MiB (ModelOptions::memory_limit); use fewer \
                         context entries (e.g. a context policy with a cap)",
                        need >> 20,
                        self.memory_limit >> 20
                    ),
                ));
            }
        }
        Ok(())
    }

    fn multiverseg(
        &self,
        _state: &mut BackendState,
        input: &NetInput,
        cancel: &CancelToken,
    ) -> Result<Vec<f32>> {
        let c = input.context()?;
        let (h, w) = (input.h, input.w);
        self.check_memory(c.s, h, w)?;
        let plan = self.plan(Network::MultiverSeg, h, w)?;
        let inputs = tvec![
            tensor(&[1, 5, h, w], input.target)?,
            tensor(&[1, c.s, 1, h, w], c.images)?,
            tensor(&[1, c.s, 1, h, w], c.labels)?
        ];
        self.run(&plan, inputs, cancel)
    }

    fn scribbleprompt(
        &self,
        _state: &mut BackendState,
        input: &NetInput,
        cancel: &CancelToken,
    ) -> Result<Vec<f32>> {
        let plan = self.plan(Network::ScribblePrompt, input.h, input.w)?;
        self.run(
            &plan,
            tvec![tensor(&[1, 5, input.h, input.w], input.target)?],
            cancel,
        )
    }
}
