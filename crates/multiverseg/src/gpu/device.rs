//! Opening a wgpu device: adapter choice, limits, error capture, and the compiled kernels.

use super::program::Kernels;
use crate::error::{Error, Result};
use std::sync::{Arc, Mutex};

/// An open device with its queue and the project's compiled kernels.
pub(crate) struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub kernels: Kernels,
    /// Bytes of activation buffers ever created with `program::storage` (for tests of
    /// the memory accounting behind `gpu_memory_limit`).
    pub storage_bytes: std::sync::atomic::AtomicU64,
    /// Set when the device is lost (or the GPU path panicked); it never comes back.
    lost: Arc<Mutex<Option<String>>>,
    /// Errors outside any error scope (wgpu's default handler would panic on them).
    uncaptured: Arc<Mutex<Vec<String>>>,
}

/// The graphics APIs the backend uses (wgpu's GL backend is not built: Vulkan covers the
/// devices it would add, with larger storage-buffer limits).
const BACKENDS: wgpu::Backends = wgpu::Backends::VULKAN
    .union(wgpu::Backends::METAL)
    .union(wgpu::Backends::DX12);

fn type_rank(t: wgpu::DeviceType) -> u32 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

/// The adapters wgpu finds, best first. Software adapters (lavapipe, WARP) are listed
/// only when `allow_software`: `auto` must not pick one over tract, which is faster.
/// `adapter`, if given, keeps only adapters whose name contains it (case-insensitive).
fn adapters(allow_software: bool, adapter: Option<&str>) -> Vec<wgpu::Adapter> {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = BACKENDS;
    let instance = wgpu::Instance::new(desc);
    let filter = adapter.map(|s| s.to_lowercase());
    let mut list: Vec<wgpu::Adapter> = pollster::block_on(instance.enumerate_adapters(BACKENDS))
        .into_iter()
        .filter(|a| {
            let info = a.get_info();
            (allow_software || info.device_type != wgpu::DeviceType::Cpu)
                && filter
                    .as_ref()
                    .is_none_or(|f| info.name.to_lowercase().contains(f))
        })
        .collect();
    list.sort_by_key(|a| type_rank(a.get_info().device_type));
    list
}

impl Gpu {
    /// Opens the best adapter: `allow_software` admits CPU adapters such as lavapipe,
    /// `adapter` keeps only names containing it, `tile` forces the conv register block.
    pub fn open(
        allow_software: bool,
        adapter: Option<&str>,
        tile: Option<(u32, u32)>,
    ) -> Result<Gpu> {
        let list = adapters(allow_software, adapter);
        let adapter = list.into_iter().next().ok_or_else(|| {
            let which = adapter.map(|a| format!(" whose name contains \"{a}\"")).unwrap_or_default();
            Error::backend(if allow_software {
                format!("no GPU adapter{which} found (wgpu found no Vulkan, Metal or DX12 device)")
            } else {
                format!("no hardware GPU adapter{which} found (wgpu found no Vulkan, Metal or DX12 GPU)")
            })
        })?;
        let info = adapter.get_info();
        // Everything the adapter offers: large storage bindings let a big context run
        // in few chunks.
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("multiverseg"),
            required_features: wgpu::Features::empty(),
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| Error::backend(format!("opening GPU {}: {e}", info.name)))?;
        let lost = Arc::new(Mutex::new(None));
        let l2 = lost.clone();
        device.set_device_lost_callback(move |reason, msg| {
            *l2.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(format!("device lost ({reason:?}): {msg}"));
        });
        let uncaptured = Arc::new(Mutex::new(Vec::new()));
        let u2 = uncaptured.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            u2.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(e.to_string());
        }));
        // 8x8 outputs per thread (128x128 per workgroup) is the usual register blocking
        // for fp32 GEMM on GPUs; software rasterizers run the smaller 4x4 faster.
        let default_tile = if info.device_type == wgpu::DeviceType::Cpu {
            (4, 4)
        } else {
            (8, 8)
        };
        let mut tile = tile.unwrap_or(default_tile);
        // The tiles must fit the device's workgroup memory (WebGPU guarantees only 16 KiB;
        // 8x8 needs 16.3 KiB): fall back to 4x4 (9.2 KiB) where they do not.
        if super::program::conv_tile_bytes(tile) > limits.max_compute_workgroup_storage_size {
            tile = (4, 4);
        }
        let kernels = Kernels::new(&device, tile);
        Ok(Gpu {
            device,
            queue,
            info,
            limits,
            kernels,
            storage_bytes: Default::default(),
            lost,
            uncaptured,
        })
    }

    /// "NVIDIA H100 (Vulkan)".
    pub fn describe(&self) -> String {
        format!("{} ({:?})", self.info.name, self.info.backend)
    }

    /// Why the device is unusable for good (lost, or marked by [`Gpu::mark_lost`]).
    pub fn lost(&self) -> Option<String> {
        self.lost.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Marks the device unusable for good.
    pub fn mark_lost(&self, why: String) {
        *self.lost.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
    }

    /// The reason the device is unusable, or errors raised outside any error scope
    /// since the last call (which this takes).
    pub fn failure(&self) -> Option<String> {
        if let Some(l) = self.lost() {
            return Some(l);
        }
        let mut u = self.uncaptured.lock().unwrap_or_else(|e| e.into_inner());
        if u.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut *u).join("; "))
        }
    }

    /// Runs `f` inside out-of-memory and validation error scopes; an error in either
    /// becomes an `Err` (a failed allocation must not go unnoticed).
    pub fn scoped<T>(&self, what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let val = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let r = f();
        let v = pollster::block_on(val.pop());
        let o = pollster::block_on(oom.pop());
        if let Some(e) = o.or(v) {
            return Err(Error::backend(format!("GPU {what}: {e}")));
        }
        if let Some(e) = self.failure() {
            return Err(Error::backend(format!("GPU {what}: {e}")));
        }
        r
    }

    /// The largest buffer the device lets one storage binding see.
    pub fn max_binding(&self) -> u64 {
        self.limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size)
    }
}
