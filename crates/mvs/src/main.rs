//! `mvs`: the multiverseg command line. Convert checkpoints, segment PNGs, run raw tensors,
//! export ONNX, benchmark, evaluate. Each subcommand lives in `commands/`; this file only
//! parses the command line and dispatches.
//!
//! Environment overrides: `MVS_MODEL` (the default model file or name), `MVS_CACHE_DIR`
//! (where named models live; read by the library), `MVS_GPU_ADAPTER` (an adapter name substring), `MVS_GPU_CONV_TILE` (e.g. 4x8).
//! Log messages go to stderr (`MVS_LOG=debug` for more).

mod commands;
mod common;
mod plot;

use clap::{Parser, Subcommand};
use commands::{bench, convert, eval, export, fetch, infer, predict, segment};

#[derive(Parser)]
#[command(
    name = "mvs",
    version,
    about = "MultiverSeg: in-context interactive segmentation of 2D biomedical images"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Convert official PyTorch checkpoints to the library's safetensors file (no Python).
    Convert(convert::Args),
    /// Download the official weights by name (official-v1, official-v0) into the user cache
    /// folder, check and convert them; then `--model official-v1` works everywhere.
    Fetch(fetch::Args),
    /// Segment one image: context from a folder, clicks, a box, scribbles, a window.
    Predict(predict::Args),
    /// Segment every slice of a folder, TIFF stack or NIfTI volume with a context (seed masks,
    /// a context folder or file); writes masks in the input's form and uncertainty scores.
    Segment(segment::Args),
    /// Raw tensor mode: .npy in, logits .npy out, no preprocessing.
    Infer(infer::Args),
    /// Write a network as ONNX (standard operators, batch B and context size S dynamic).
    ExportOnnx(export::Args),
    /// The evaluation protocol: simulated users on task folders (images/, masks/); writes
    /// results.csv, plots, and with --all a summary.md.
    Eval(eval::Args),
    /// Time predictions on random inputs; prints median_ms per configuration.
    Bench(bench::Args),
}

fn main() {
    common::init_logging();
    let r = match Cli::parse().cmd {
        Cmd::Convert(a) => convert::run(a),
        Cmd::Fetch(a) => fetch::run(a),
        Cmd::Predict(a) => predict::run(a),
        Cmd::Segment(a) => segment::run(a),
        Cmd::Infer(a) => infer::run(a),
        Cmd::ExportOnnx(a) => export::run(a),
        Cmd::Eval(a) => eval::run(a),
        Cmd::Bench(a) => bench::run(a),
    };
    if let Err(msg) = r {
        eprintln!("mvs: error: {msg}");
        std::process::exit(1);
    }
}
