//! Measurements of the backends' parts, for tuning and benchmarks (`mvs bench`).

use crate::error::Result;
use crate::model::ModelOptions;
use std::sync::Arc;

/// One timing of the GPU's 3x3 convolution kernel.
#[derive(Debug, Clone)]
pub struct ConvKernelTiming {
    /// The adapter's name and graphics API.
    pub adapter: String,
    /// The register block per thread (rows, columns); a workgroup's tile is 16x that.
    pub tile: (u32, u32),
    /// Milliseconds per convolution.
    pub ms: f64,
    /// Achieved TFLOP/s (2 * 9 * n * cin * cout * h * w per convolution).
    pub tflops: f64,
}

/// Times the GPU's 3x3 conv kernel alone: `n` entries of `cin` -> `cout` channels at
/// `size`x`size` (bias and LeakyReLU fused, as in the network), `reps` dispatches in one
/// submission after a warm-up, `runs` times. Software adapters are allowed;
/// `opts.gpu_adapter` and `opts.gpu_conv_tile` apply.
///
/// Errors: `Backend` when no adapter opens or the kernel fails.
pub fn gpu_conv_kernel(
    opts: &ModelOptions,
    shape: [usize; 4],
    reps: usize,
    runs: usize,
) -> Result<Vec<ConvKernelTiming>> {
    let [n, cin, cout, size] = shape;
    let weights = Arc::new(crate::default_model::weights()?);
    let g = crate::gpu::GpuBackend::new(
        weights,
        opts.threads,
        u64::MAX,
        &crate::gpu::GpuOptions {
            allow_software: true,
            adapter: opts.gpu_adapter.clone(),
            conv_tile: opts.gpu_conv_tile,
            ..Default::default()
        },
    )?;
    (0..runs.max(1))
        .map(|_| {
            let (ms, tflops) = g.bench_conv(n, cin, cout, size, size, reps)?;
            Ok(ConvKernelTiming {
                adapter: g.adapter(),
                tile: g.conv_tile(),
                ms,
                tflops,
            })
        })
        .collect()
}
