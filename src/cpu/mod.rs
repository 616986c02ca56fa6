//! CPU backend on tract: the graph from [`crate::graph`], optimized once per
//! resolution with a symbolic context size, so S may change between calls for free.

use crate::backend::{check_dims, Backend, BackendState};
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

/// ONNX op type of the fused Winograd 3x3 convolution that the tract graphs use.
pub use conv_op::OP_TYPE as CONV3X3_OP;
/// ONNX op type of the f64-accurate GroupNorm that the tract graphs use.
pub use group_norm::OP_TYPE as GROUP_NORM_OP;
/// ONNX op types of the parallel mean over entries and 2x upsampling the tract graphs use.
pub use plane_ops::{MEAN_ENTRIES_OP, UPSAMPLE_OP};

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::tract_linalg::multithread::{
    multithread_tract_scope, Executor,
};

type Plan = Arc<TypedRunnableModel>;

/// The tract backend. Plans are built lazily per (network, H, W) and shared.
pub struct CpuBackend {
    weights: Arc<Weights>,
    plans: Mutex<HashMap<(Network, usize, usize), Plan>>,
    executor: Executor,
    /// Runs our ops' parallel loops (conv, GroupNorm, plane ops), so they use `threads`
    /// threads, not rayon's global pool of all cores.
    pool: Arc<rayon::ThreadPool>,
    threads: usize,
}

impl CpuBackend {
    /// A backend using `threads` threads (0 = all cores) for tract's matrix products and
    /// our ops' parallel loops.
    pub fn new(weights: Arc<Weights>, threads: usize) -> Self {
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
        let plan = onnx_with_ops()
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

    fn run(&self, plan: &Plan, inputs: TVec<TValue>) -> Result<Vec<f32>> {
        // The plan runs on the calling thread; only our ops' loops enter the pool. (Running
        // the whole plan inside the pool let a worker that waited on tract's matmul
        // executor pick up another session's plan and re-enter tract's thread-local
        // scratch: a panic, caught by tests/session.rs.)
        let _pool = OpsPoolGuard::set(self.pool.clone());
        let out = multithread_tract_scope(self.executor.clone(), || plan.run(inputs))
            .map_err(|e| Error::backend(format!("CPU inference failed: {e:#}")))?;
        let v = out[0]
            .to_plain_array_view::<f32>()
            .map_err(|e| Error::backend(format!("{e}")))?
            .iter()
            .copied()
            .collect();
        Ok(v)
    }
}

thread_local! {
    /// The pool of the backend whose plan runs on this thread (set by `CpuBackend::run`).
    static OPS_POOL: RefCell<Option<Arc<rayon::ThreadPool>>> = const { RefCell::new(None) };
}

/// Sets this thread's ops pool for a plan run; restores the previous one when dropped,
/// also on a panic.
struct OpsPoolGuard(Option<Arc<rayon::ThreadPool>>);

impl OpsPoolGuard {
    fn set(pool: Arc<rayon::ThreadPool>) -> Self {
        OpsPoolGuard(OPS_POOL.with(|p| p.borrow_mut().replace(pool)))
    }
}

impl Drop for OpsPoolGuard {
    fn drop(&mut self) {
        let previous = self.0.take();
        OPS_POOL.with(|p| *p.borrow_mut() = previous);
    }
}

/// Runs `f` (a parallel loop of one of our ops) on the pool of the backend whose plan runs
/// on this thread, or on rayon's global pool outside a plan run (unit tests).
pub(crate) fn in_ops_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    match OPS_POOL.with(|p| p.borrow().clone()) {
        Some(pool) => pool.install(f),
        None => f(),
    }
}

/// The ONNX loader with our ops registered: the f64-accurate GroupNorm, the fused
/// Winograd 3x3 convolution, the mean over entries and the upsampling.
fn onnx_with_ops() -> tract_onnx::Onnx {
    use tract_onnx::tract_hir::internal::expand;
    let mut onnx = tract_onnx::onnx();
    onnx.op_register.insert(GROUP_NORM_OP, |_ctx, node| {
        let eps: f32 = node.get_attr_opt("epsilon")?.unwrap_or(1e-5);
        Ok((expand(group_norm::GroupNorm1Expansion { eps }), vec![]))
    });
    onnx.op_register.insert(CONV3X3_OP, |_ctx, node| {
        let leaky: Option<f32> = node.get_attr_opt("leaky")?;
        let parts: i64 = node.get_attr_opt("parts")?.unwrap_or(1);
        let parts = usize::try_from(parts).map_err(|_| {
            tract_onnx::prelude::tract_data::internal::format_err!("{CONV3X3_OP}: parts = {parts}")
        })?;
        Ok((expand(conv_op::Conv3x3Expansion { leaky, parts }), vec![]))
    });
    onnx.op_register.insert(MEAN_ENTRIES_OP, |_ctx, _node| {
        let op = plane_ops::PlaneOp::MeanEntries;
        Ok((expand(plane_ops::PlaneOpExpansion(op)), vec![]))
    });
    onnx.op_register.insert(UPSAMPLE_OP, |_ctx, _node| {
        let op = plane_ops::PlaneOp::Upsample2x;
        Ok((expand(plane_ops::PlaneOpExpansion(op)), vec![]))
    });
    onnx
}

fn tensor(shape: &[usize], data: &[f32]) -> Result<TValue> {
    Ok(tract_ndarray::ArrayD::from_shape_vec(shape, data.to_vec())
        .map_err(|e| Error::arg(format!("tensor shape {shape:?}: {e}")))?
        .into_tvalue())
}

impl Backend for CpuBackend {
    fn describe(&self) -> String {
        format!("cpu (tract, {} threads)", self.threads)
    }

    fn multiverseg(
        &self,
        _state: &mut BackendState,
        _context_version: Option<u64>,
        target: &[f32],
        ci: &[f32],
        cl: &[f32],
        s: usize,
        h: usize,
        w: usize,
    ) -> Result<Vec<f32>> {
        check_dims(h, w)?;
        if s == 0 {
            return Err(Error::arg(
                "context size must be >= 1 (use the 0.5 dummy entry for none)",
            ));
        }
        let plan = self.plan(Network::MultiverSeg, h, w)?;
        let inputs = tvec![
            tensor(&[1, 5, h, w], target)?,
            tensor(&[1, s, 1, h, w], ci)?,
            tensor(&[1, s, 1, h, w], cl)?
        ];
        self.run(&plan, inputs)
    }

    fn scribbleprompt(
        &self,
        _state: &mut BackendState,
        target: &[f32],
        h: usize,
        w: usize,
    ) -> Result<Vec<f32>> {
        check_dims(h, w)?;
        let plan = self.plan(Network::ScribblePrompt, h, w)?;
        self.run(&plan, tvec![tensor(&[1, 5, h, w], target)?])
    }
}
