//! `mvs bench`: time predictions on random inputs.

use crate::common::{options, parse_list, parse_nums, Backend, ModelArgs};
use clap::ValueEnum;
use multiverseg::{BackendState, CancelToken, NetworkChoice, RawInput};
use std::time::Instant;

/// `--network`.
#[derive(Clone, Copy, ValueEnum)]
pub enum Net {
    /// MultiverSegNet with the context, the UNet without.
    Auto,
    /// MultiverSegNet.
    Multiverseg,
    /// ScribblePrompt-UNet.
    Scribbleprompt,
}

impl Net {
    fn choice(self) -> NetworkChoice {
        match self {
            Net::Auto => NetworkChoice::Auto,
            Net::Multiverseg => NetworkChoice::MultiverSeg,
            Net::Scribbleprompt => NetworkChoice::ScribblePrompt,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Net::Auto => "auto",
            Net::Multiverseg => "multiverseg",
            Net::Scribbleprompt => "scribbleprompt",
        }
    }
}

/// Arguments of `mvs bench`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    #[arg(long, value_enum, default_value = "multiverseg")]
    network: Net,
    /// Context sizes, comma-separated.
    #[arg(long, default_value = "1")]
    context: String,
    #[arg(long, default_value_t = 5)]
    runs: usize,
    #[arg(long, default_value_t = 128)]
    size: usize,
    /// GPU only: time the 3x3 conv kernel alone ("N,CIN,COUT", e.g. 8,256,256 for eight
    /// context entries of a full-size 256->256 layer at --size) instead of the network.
    #[arg(long)]
    conv_kernel: Option<String>,
    /// Also measure cancellation: `runs` more predictions, each cancelled from another
    /// thread at a point spread over the prediction's time; prints the time from the
    /// cancel to the call's return (median and max).
    #[arg(long)]
    cancel_latency: bool,
}

fn rng_fill(seed: &mut u64, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            (*seed >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect()
}

/// Prints one line per configuration: median, min and first-call milliseconds, GFLOP.
pub fn run(a: Args) -> Result<(), String> {
    if let Some(spec) = &a.conv_kernel {
        return conv_kernel(&a, spec);
    }
    let e = |e: multiverseg::Error| e.message;
    let m = a.model.load()?;
    let size = a.size;
    let px = size * size;
    let mut seed = 0x9e3779b97f4a7c15u64;
    for s in parse_list(&a.context, "--context")? {
        let t = rng_fill(&mut seed, 5 * px);
        let ci = rng_fill(&mut seed, s * px);
        let cl: Vec<f32> = rng_fill(&mut seed, s * px)
            .into_iter()
            .map(|v| (v > 0.5) as u8 as f32)
            .collect();
        let input = RawInput {
            target: &t,
            context_images: &ci,
            context_labels: &cl,
            height: size,
            width: size,
        };
        // As in a session: the context stays put (on a GPU it stays on the device) and
        // each run is one click's prediction.
        let mut state = BackendState::default();
        let cancel = CancelToken::new();
        let mut predict = || {
            m.infer_in(&mut state, Some(1), a.network.choice(), 1, &input, &cancel)
                .map_err(e)
        };
        let t0 = Instant::now();
        predict()?; // warm-up (builds the plan, uploads the context)
        let warm = t0.elapsed().as_secs_f64() * 1e3;
        let mut times = Vec::new();
        for _ in 0..a.runs.max(1) {
            let t0 = Instant::now();
            predict()?;
            times.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        let w = m.weights();
        let gflop = match m.resolve(a.network.choice(), s, 1).map_err(e)? {
            NetworkChoice::ScribblePrompt => w.unet.as_ref().map(|u| u.flops(size, size)),
            _ => w
                .multiverseg
                .as_ref()
                .map(|v| v.flops(size, size, s.max(1))),
        }
        .unwrap_or(0.0)
            / 1e9;
        let med = times[times.len() / 2];
        let p90 = times[(times.len() * 9 / 10).min(times.len() - 1)];
        println!(
            "backend={} network={} S={s} size={size} runs={} median_ms={med:.1} p90_ms={p90:.1} min_ms={:.1} first_ms={warm:.1} conv_gflop={gflop:.1} tflops={:.2}",
            m.backend_name().replace(' ', "_"),
            a.network.name(),
            times.len(),
            times[0],
            gflop / med
        );
        if a.cancel_latency {
            let (lat, finished) = cancel_latency(med, a.runs.max(1), &cancel, &mut predict);
            if let (Some(m50), Some(max)) = (lat.get(lat.len() / 2), lat.last()) {
                println!(
                    "cancel S={s} size={size} cancelled={} finished_first={finished} latency_median_ms={m50:.1} latency_max_ms={max:.1}",
                    lat.len()
                );
            }
        }
    }
    Ok(())
}

/// Cancels `runs` predictions from another thread at `k/(runs+1)` of `median_ms`; returns
/// the sorted latencies (cancel to return, ms) of those cancelled and how many finished
/// before the cancel arrived.
fn cancel_latency(
    median_ms: f64,
    runs: usize,
    cancel: &CancelToken,
    predict: &mut dyn FnMut() -> Result<Vec<f32>, String>,
) -> (Vec<f64>, usize) {
    let mut lat = Vec::new();
    let mut finished = 0;
    for k in 1..=runs {
        cancel.reset();
        let delay =
            std::time::Duration::from_secs_f64(median_ms * k as f64 / (runs + 1) as f64 / 1e3);
        let (r, cancelled_at, returned) = std::thread::scope(|sc| {
            let t = sc.spawn(move || {
                std::thread::sleep(delay);
                cancel.cancel();
                Instant::now()
            });
            let r = predict();
            let returned = Instant::now();
            (r, t.join().expect("the cancelling thread"), returned)
        });
        match r {
            Ok(_) => finished += 1,
            Err(_) => lat.push(
                returned
                    .saturating_duration_since(cancelled_at)
                    .as_secs_f64()
                    * 1e3,
            ),
        }
    }
    cancel.reset();
    lat.sort_by(f64::total_cmp);
    (lat, finished)
}

#[cfg(feature = "gpu")]
fn conv_kernel(a: &Args, spec: &str) -> Result<(), String> {
    let v = parse_nums(spec, 3, "--conv-kernel")?;
    let o = options(Backend::Gpu, a.model.threads)?;
    let shape = [v[0] as usize, v[1] as usize, v[2] as usize, a.size];
    let timings =
        multiverseg::diagnostics::gpu_conv_kernel(&o, shape, 10, a.runs).map_err(|e| e.message)?;
    for t in timings {
        println!(
            "kernel=conv3x3 adapter={} tile={}x{} n={} cin={} cout={} size={} ms={:.3} gflops={:.1} tflops={:.2}",
            t.adapter.replace(' ', "_"),
            16 * t.tile.0,
            16 * t.tile.1,
            shape[0],
            shape[1],
            shape[2],
            shape[3],
            t.ms,
            t.tflops * 1e3,
            t.tflops
        );
    }
    Ok(())
}

#[cfg(not(feature = "gpu"))]
fn conv_kernel(_: &Args, _: &str) -> Result<(), String> {
    let _ = (options, parse_nums, Backend::Gpu);
    Err("--conv-kernel: this mvs was built without the `gpu` feature".into())
}
