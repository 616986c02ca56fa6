//! The kernels, and programs: a fixed list of dispatches with their bind groups and
//! parameters, built once for a shape and replayed for every prediction.

use super::device::Gpu;
use wgpu::util::DeviceExt;

/// One compute entry point of the project's WGSL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kernel {
    Conv,
    NormStats,
    NormFinalize,
    NormApply,
    MaxPool,
    Upsample,
    Mean,
    AddLeaky,
    Conv1x1Out,
}

const ALL: [Kernel; 9] = [
    Kernel::Conv,
    Kernel::NormStats,
    Kernel::NormFinalize,
    Kernel::NormApply,
    Kernel::MaxPool,
    Kernel::Upsample,
    Kernel::Mean,
    Kernel::AddLeaky,
    Kernel::Conv1x1Out,
];

/// The compiled pipelines, one per [`Kernel`].
pub(crate) struct Kernels {
    pipelines: Vec<wgpu::ComputePipeline>,
    /// The conv kernel's output block per thread (rows, columns); a workgroup's tile
    /// is 16 times that.
    pub conv_tile: (u32, u32),
}

/// The conv register blocks the kernel supports (rows, columns per thread).
#[cfg(test)]
pub(crate) const CONV_TILES: [(u32, u32); 4] = [(4, 4), (4, 8), (8, 4), (8, 8)];

/// Workgroup memory the conv kernel's two tiles take with register block `tile`
/// (mirrors conv.wgsl: [16][16*TM + 4] and [16][16*TN] floats).
pub(crate) fn conv_tile_bytes(tile: (u32, u32)) -> u32 {
    4 * (16 * (16 * tile.0 + 4) + 16 * 16 * tile.1)
}

impl Kernels {
    /// Compiles every kernel, the conv kernel with a `tile` register block per thread.
    pub fn new(device: &wgpu::Device, tile: (u32, u32)) -> Self {
        debug_assert!(ALL.iter().enumerate().all(|(i, k)| *k as usize == i));
        let module = |label: &str, src: &str| {
            device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(src.into()),
            })
        };
        let conv_src = include_str!("shaders/conv.wgsl")
            .replace("{TM}", &tile.0.to_string())
            .replace("{TN}", &tile.1.to_string());
        let conv = module("conv", &conv_src);
        let norm = module("norm", include_str!("shaders/norm.wgsl"));
        let ops = module("ops", include_str!("shaders/ops.wgsl"));
        let pipelines = ALL
            .iter()
            .map(|k| {
                let (m, entry) = match k {
                    Kernel::Conv => (&conv, "main"),
                    Kernel::NormStats => (&norm, "stats_pass"),
                    Kernel::NormFinalize => (&norm, "finalize_pass"),
                    Kernel::NormApply => (&norm, "apply_pass"),
                    Kernel::MaxPool => (&ops, "maxpool"),
                    Kernel::Upsample => (&ops, "upsample"),
                    Kernel::Mean => (&ops, "mean_entries"),
                    Kernel::AddLeaky => (&ops, "add_leaky"),
                    Kernel::Conv1x1Out => (&ops, "conv1x1_out"),
                };
                device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(entry),
                    layout: None,
                    module: m,
                    entry_point: Some(entry),
                    compilation_options: Default::default(),
                    cache: None,
                })
            })
            .collect();
        Kernels {
            pipelines,
            conv_tile: tile,
        }
    }

    fn get(&self, k: Kernel) -> &wgpu::ComputePipeline {
        // `pipelines` is built in the order of ALL, which is the declaration order.
        &self.pipelines[k as usize]
    }
}

/// A 4-d tensor [n, c, h, w] stored in (part of) a buffer laid out [n, cs, h, w]:
/// channel `co + i` of entry `e` is plane `e * cs + co + i`.
#[derive(Clone)]
pub(crate) struct View {
    pub buf: wgpu::Buffer,
    pub n: u32,
    pub c: u32,
    pub cs: u32,
    pub co: u32,
    pub h: u32,
    pub w: u32,
}

impl View {
    /// The whole of `buf`, which holds [n, c, h, w].
    pub fn whole(buf: &wgpu::Buffer, n: usize, c: usize, h: usize, w: usize) -> View {
        View {
            buf: buf.clone(),
            n: n as u32,
            c: c as u32,
            cs: c as u32,
            co: 0,
            h: h as u32,
            w: w as u32,
        }
    }

    /// Channels [co, co + c) of this view.
    pub fn channels(&self, co: usize, c: usize) -> View {
        View {
            co: self.co + co as u32,
            c: c as u32,
            ..self.clone()
        }
    }
}

/// Weights of one convolution on the device, stored [cout][tap][cin] (the conv
/// kernel's k order), and an optional bias.
pub(crate) struct ConvWeights {
    pub w: wgpu::Buffer,
    pub b: Option<wgpu::Buffer>,
    pub cin: usize,
    pub cout: usize,
    pub taps: usize,
}

impl ConvWeights {
    /// Uploads PyTorch-layout weights [cout][cin][taps], reordered for the kernel.
    pub fn new(
        gpu: &Gpu,
        label: &str,
        w: &[f32],
        cout: usize,
        cin: usize,
        taps: usize,
        bias: Option<&[f32]>,
    ) -> Self {
        assert_eq!(w.len(), cout * cin * taps);
        let mut r = vec![0.0f32; w.len()];
        for o in 0..cout {
            for c in 0..cin {
                for t in 0..taps {
                    r[(o * taps + t) * cin + c] = w[(o * cin + c) * taps + t];
                }
            }
        }
        ConvWeights {
            w: upload(gpu, label, &r),
            b: bias.map(|b| upload(gpu, label, b)),
            cin,
            cout,
            taps,
        }
    }
}

/// What follows a convolution's sum, fused into its store.
#[derive(Clone, Copy)]
pub(crate) enum Act {
    None,
    Leaky,
    PRelu(f32),
}

/// Creates a storage buffer of `len` f32 (at least one, as bindings may not be empty).
pub(crate) fn storage(gpu: &Gpu, label: &str, len: usize) -> wgpu::Buffer {
    let size = (len.max(4) * 4) as u64;
    gpu.storage_bytes
        .fetch_add(size, std::sync::atomic::Ordering::Relaxed);
    gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size,
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_DST
            | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    })
}

/// Uploads `data` into a new storage buffer.
pub(crate) fn upload(gpu: &Gpu, label: &str, data: &[f32]) -> wgpu::Buffer {
    let mut v = data.to_vec();
    v.resize(data.len().max(4), 0.0);
    gpu.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytemuck::cast_slice(&v),
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_DST
                | wgpu::BufferUsages::COPY_SRC,
        })
}

struct Step {
    kernel: Kernel,
    params: [u32; 16],
    bind: Vec<(u32, wgpu::Buffer)>,
    groups: [u32; 3],
}

/// Work groups for a grid-stride kernel over `total` items: enough to fill a GPU,
/// never more than one dimension allows.
fn stride_groups(total: usize) -> [u32; 3] {
    [total.div_ceil(256).clamp(1, 8192) as u32, 1, 1]
}

/// Records dispatches; [`ProgramBuilder::finish`] turns them into a [`Program`].
pub(crate) struct ProgramBuilder<'g> {
    gpu: &'g Gpu,
    steps: Vec<Step>,
    dummy: wgpu::Buffer,
    norm_partial: wgpu::Buffer,
    norm_stats: wgpu::Buffer,
    /// Entries the GroupNorm scratch buffers were sized for.
    norm_entries: usize,
}

/// Workgroups per entry in the GroupNorm statistics pass.
const NORM_PARTS: usize = 64;

impl<'g> ProgramBuilder<'g> {
    /// A builder whose GroupNorms normalize at most `max_entries` entries at once.
    pub fn new(gpu: &'g Gpu, max_entries: usize) -> Self {
        let e = max_entries.max(1);
        ProgramBuilder {
            gpu,
            steps: Vec::new(),
            dummy: storage(gpu, "dummy", 4),
            norm_partial: storage(gpu, "norm partial", e * NORM_PARTS * 4),
            norm_stats: storage(gpu, "norm stats", e * 4),
            norm_entries: e,
        }
    }

    fn push(
        &mut self,
        kernel: Kernel,
        params: [u32; 16],
        bind: Vec<(u32, &wgpu::Buffer)>,
        groups: [u32; 3],
    ) {
        self.steps.push(Step {
            kernel,
            params,
            bind: bind.into_iter().map(|(i, b)| (i, b.clone())).collect(),
            groups,
        });
    }

    /// `out = act(conv(input, w) + bias + add)`; `add` is one entry broadcast over all.
    pub fn conv(
        &mut self,
        input: &View,
        w: &ConvWeights,
        add: Option<&View>,
        act: Act,
        out: &View,
    ) {
        assert_eq!(input.c as usize, w.cin);
        assert_eq!(out.c as usize, w.cout);
        assert_eq!((input.n, input.h, input.w), (out.n, out.h, out.w));
        let (act_bits, slope) = match act {
            Act::None => (0, 0.0),
            Act::Leaky => (1, 0.0),
            Act::PRelu(s) => (2, s),
        };
        let flags = w.b.is_some() as u32 | (add.is_some() as u32) << 1 | act_bits << 2;
        let (add_cs, add_co) = add.map(|a| (a.cs, a.co)).unwrap_or((0, 0));
        let params = [
            input.n,
            input.c,
            input.cs,
            input.co,
            out.c,
            out.cs,
            out.co,
            out.h,
            out.w,
            flags,
            add_cs,
            add_co,
            f32::to_bits(slope),
            w.taps as u32,
            0,
            0,
        ];
        let npix = input.n as usize * (input.h * input.w) as usize;
        let (tm, tn) = self.gpu.kernels.conv_tile;
        let groups = [
            npix.div_ceil(16 * tn as usize) as u32,
            w.cout.div_ceil(16 * tm as usize) as u32,
            1,
        ];
        let bias = w.b.as_ref().unwrap_or(&self.dummy).clone();
        let addb = add.map(|a| a.buf.clone()).unwrap_or(self.dummy.clone());
        self.push(
            Kernel::Conv,
            params,
            vec![
                (1, &input.buf),
                (2, &w.w),
                (3, &bias),
                (4, &addb),
                (5, &out.buf),
            ],
            groups,
        );
    }

    /// GroupNorm(1) in place on each entry of `x`, then the per-channel affine.
    pub fn group_norm(&mut self, x: &View, gamma: &wgpu::Buffer, beta: &wgpu::Buffer) {
        assert!(x.n as usize <= self.norm_entries);
        let params = [
            x.n,
            x.c,
            x.cs,
            x.co,
            x.h * x.w,
            NORM_PARTS as u32,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
        ];
        let (part, stats) = (self.norm_partial.clone(), self.norm_stats.clone());
        self.push(
            Kernel::NormStats,
            params,
            vec![(1, &x.buf), (2, &part)],
            [NORM_PARTS as u32, x.n, 1],
        );
        self.push(
            Kernel::NormFinalize,
            params,
            vec![(2, &part), (3, &stats)],
            [x.n.div_ceil(64), 1, 1],
        );
        let total = (x.n * x.c * x.h * x.w) as usize;
        self.push(
            Kernel::NormApply,
            params,
            vec![(1, &x.buf), (3, &stats), (4, gamma), (5, beta)],
            stride_groups(total),
        );
    }

    fn ops_params(input: &View, out: &View, f0: f32, u0: u32) -> [u32; 16] {
        [
            input.n,
            input.c,
            input.cs,
            input.co,
            input.h,
            input.w,
            out.cs,
            out.co,
            f0.to_bits(),
            u0,
            0,
            0,
            0,
            0,
            0,
            0,
        ]
    }

    /// 2x2 max-pool of `input` into `out`.
    pub fn maxpool(&mut self, input: &View, out: &View) {
        assert_eq!(
            (out.h * 2, out.w * 2, out.c, out.n),
            (input.h, input.w, input.c, input.n)
        );
        self.resample(Kernel::MaxPool, input, out);
    }

    /// Bilinear 2x upsampling (align_corners=True) of `input` into `out`.
    pub fn upsample(&mut self, input: &View, out: &View) {
        assert_eq!(
            (input.h * 2, input.w * 2, out.c, out.n),
            (out.h, out.w, input.c, input.n)
        );
        self.resample(Kernel::Upsample, input, out);
    }

    /// A kernel that writes every element of `out` from `input` (pool, upsample).
    fn resample(&mut self, k: Kernel, input: &View, out: &View) {
        let total = (out.n * out.c * out.h * out.w) as usize;
        self.push(
            k,
            Self::ops_params(input, out, 0.0, 0),
            vec![(1, &input.buf), (2, &out.buf)],
            stride_groups(total),
        );
    }

    /// `out (+)= scale * sum over the entries of input`; both are plain (cs == c, co == 0).
    pub fn mean(&mut self, input: &View, out: &View, scale: f32, accumulate: bool) {
        assert!(input.cs == input.c && input.co == 0 && out.cs == out.c && out.co == 0);
        let total = (input.c * input.h * input.w) as usize;
        self.push(
            Kernel::Mean,
            Self::ops_params(input, out, scale, accumulate as u32),
            vec![(1, &input.buf), (2, &out.buf)],
            stride_groups(total),
        );
    }

    /// `out = LeakyReLU(input + add)` with `add` one entry broadcast over all; plain views.
    pub fn add_leaky(&mut self, input: &View, add: &View, out: &View) {
        assert!(input.cs == input.c && input.co == 0 && add.cs == add.c && add.co == 0);
        let total = (input.n * input.c * input.h * input.w) as usize;
        self.push(
            Kernel::AddLeaky,
            Self::ops_params(input, out, 0.0, 0),
            vec![(1, &input.buf), (2, &out.buf), (3, &add.buf)],
            stride_groups(total),
        );
    }

    /// The output 1x1 convolution to one channel of the single entry `input`.
    pub fn conv1x1_out(&mut self, input: &View, w: &wgpu::Buffer, bias: f32, out: &wgpu::Buffer) {
        assert_eq!(input.n, 1);
        let total = (input.h * input.w) as usize;
        let o = View::whole(out, 1, 1, input.h as usize, input.w as usize);
        self.push(
            Kernel::Conv1x1Out,
            Self::ops_params(input, &o, bias, 0),
            vec![(1, &input.buf), (2, out), (3, w)],
            stride_groups(total),
        );
    }

    /// Uploads the parameters and creates every bind group.
    pub fn finish(self) -> Program {
        let gpu = self.gpu;
        let slot = (gpu.limits.min_uniform_buffer_offset_alignment as usize).max(64);
        let mut bytes = vec![0u8; slot * self.steps.len().max(1)];
        for (i, s) in self.steps.iter().enumerate() {
            bytes[i * slot..i * slot + 64].copy_from_slice(bytemuck::cast_slice(&s.params));
        }
        let params = gpu
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("params"),
                contents: &bytes,
                usage: wgpu::BufferUsages::UNIFORM,
            });
        let steps = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let pipeline = gpu.kernels.get(s.kernel);
                let mut entries = vec![wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: &params,
                        offset: (i * slot) as u64,
                        size: wgpu::BufferSize::new(64),
                    }),
                }];
                for (b, buf) in &s.bind {
                    entries.push(wgpu::BindGroupEntry {
                        binding: *b,
                        resource: buf.as_entire_binding(),
                    });
                }
                let bg = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: None,
                    layout: &pipeline.get_bind_group_layout(0),
                    entries: &entries,
                });
                (s.kernel, bg, s.groups)
            })
            .collect();
        Program {
            steps,
            _params: params,
        }
    }
}

/// Dispatches recorded once and replayed.
pub(crate) struct Program {
    steps: Vec<(Kernel, wgpu::BindGroup, [u32; 3])>,
    _params: wgpu::Buffer,
}

impl Program {
    /// Records every dispatch into one compute pass of `enc`.
    pub fn encode(&self, gpu: &Gpu, enc: &mut wgpu::CommandEncoder) {
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: None,
            timestamp_writes: None,
        });
        for (k, bg, g) in &self.steps {
            pass.set_pipeline(gpu.kernels.get(*k));
            pass.set_bind_group(0, bg, &[]);
            pass.dispatch_workgroups(g[0], g[1], g[2]);
        }
    }
}
