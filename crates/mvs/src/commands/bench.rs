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
    /// Instead of single predictions: N images (random, 128x128) predicted with the
    /// context and no prompts, three ways: `Session::predict_batch`, a loop of
    /// set_image + predict, and (with --threads T > 1 on the CPU) T sessions on T OS
    /// threads sharing one model with 1 thread each, N/T images per session. Prints
    /// images per second for each, per context size.
    #[arg(long, value_name = "N")]
    batch: Option<usize>,
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

/// Prints one line per configuration: median, p90, min and first-call milliseconds, GFLOP,
/// and the process's peak resident memory so far.
pub fn run(a: Args) -> Result<(), String> {
    if let Some(spec) = &a.conv_kernel {
        return conv_kernel(&a, spec);
    }
    if let Some(n) = a.batch {
        return batch(&a, n);
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
            "backend={} network={} S={s} size={size} runs={} median_ms={med:.1} p90_ms={p90:.1} min_ms={:.1} first_ms={warm:.1} conv_gflop={gflop:.1} tflops={:.2} peak_rss_mib={}",
            m.backend_name().replace(' ', "_"),
            a.network.name(),
            times.len(),
            times[0],
            gflop / med,
            peak_rss_mib().map_or("unknown".into(), |v| format!("{v:.0}"))
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

/// The process's peak resident memory so far (VmHWM, Linux), MiB: weights, plans and
/// activations of every configuration run before, so run one context size per process
/// to read one size's peak.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// `--batch N`: images per second of predict_batch, a loop of single predictions and
/// (CPU, T > 1 threads) T single-threaded sessions in parallel.
fn batch(a: &Args, n: usize) -> Result<(), String> {
    use multiverseg::{ImageView, Pixels, Session, Window};
    let e = |e: multiverseg::Error| e.message;
    let m = a.model.load()?;
    let w = a.size;
    let mut seed = 0x2545f4914f6cdd1du64;
    let images: Vec<Vec<f32>> = (0..n.max(1)).map(|_| rng_fill(&mut seed, w * w)).collect();
    let views: Vec<ImageView> = images
        .iter()
        .map(|p| ImageView::packed(Pixels::F32(p), w, w))
        .collect();
    let threads = match a.model.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        t => t,
    };
    for s in parse_list(&a.context, "--context")? {
        let mut ctx = Vec::new();
        for _ in 0..s {
            let img = rng_fill(&mut seed, w * w);
            let lab: Vec<u8> = rng_fill(&mut seed, w * w)
                .into_iter()
                .map(|v| (v > 0.5) as u8)
                .collect();
            ctx.push((img, lab));
        }
        let session = |m: &multiverseg::Model| -> Result<Session, String> {
            let mut sess = Session::new(m.clone());
            for (img, lab) in &ctx {
                sess.context_add(
                    &ImageView::packed(Pixels::F32(img), w, w),
                    Window::MinMax,
                    lab,
                    w,
                )
                .map_err(e)?;
            }
            Ok(sess)
        };
        let mut sess = session(&m)?;
        // Warm-up: plans built, context uploaded.
        sess.predict_batch(&views[..1], Window::MinMax, None)
            .map_err(e)?;
        let t0 = Instant::now();
        sess.predict_batch(&views, Window::MinMax, None)
            .map_err(e)?;
        let batch_s = t0.elapsed().as_secs_f64();
        let t0 = Instant::now();
        for v in &views {
            sess.set_image(v, Window::MinMax).map_err(e)?;
            sess.predict().map_err(e)?;
        }
        let loop_s = t0.elapsed().as_secs_f64();
        let name = m.backend_name().replace(' ', "_");
        let n = views.len();
        println!(
            "batch backend={name} S={s} images={n} predict_batch_img_per_s={:.2} loop_img_per_s={:.2}",
            n as f64 / batch_s,
            n as f64 / loop_s
        );
        if m.backend_name().starts_with("cpu") && threads > 1 {
            let one = crate::common::load_model(a.model.model.as_deref(), &a.model.options(1)?)?;
            let mut sessions = (0..threads)
                .map(|_| session(&one))
                .collect::<Result<Vec<_>, _>>()?;
            for sess in &mut sessions {
                sess.predict_batch(&views[..1], Window::MinMax, None)
                    .map_err(e)?;
            }
            let per = n.div_ceil(threads);
            let t0 = Instant::now();
            std::thread::scope(|sc| -> Result<(), String> {
                let handles: Vec<_> = sessions
                    .iter_mut()
                    .zip(views.chunks(per))
                    .map(|(sess, part)| {
                        sc.spawn(move || sess.predict_batch(part, Window::MinMax, None).map(|_| ()))
                    })
                    .collect();
                for h in handles {
                    h.join()
                        .map_err(|_| "a worker panicked".to_string())?
                        .map_err(e)?;
                }
                Ok(())
            })?;
            let par_s = t0.elapsed().as_secs_f64();
            println!(
                "batch backend={name} S={s} images={n} parallel_sessions={threads}x1thread img_per_s={:.2}",
                n as f64 / par_s
            );
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
