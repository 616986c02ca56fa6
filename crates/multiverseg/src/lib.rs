//! MultiverSeg in Rust: in-context interactive segmentation of 2D images (Wong et al.,
//! "MultiverSeg: Scalable Interactive Segmentation of Biomedical Imaging Datasets with
//! In-Context Guidance", ICCV 2025), on the CPU or any wgpu GPU, without Python.
//!
//! A user segments one structure across many images. A [`Session`] holds the task: its
//! *context set* of finished (image, mask) pairs, the current image, its prompts (clicks,
//! boxes, scribbles). [`Session::predict`] runs MultiverSegNet on the image, its prompts and
//! the context (ScribblePrompt-UNet while the context is empty); [`Session::commit`] adds
//! the finished image to the context, so later images need fewer prompts. A [`Model`]
//! (the loaded weights and a backend) is immutable and shared by any number of sessions
//! and threads.
//!
//! ```no_run
//! use multiverseg::{ImageView, Model, ModelOptions, Pixels, Session, Window};
//! # fn main() -> multiverseg::Result<()> {
//! let model = Model::load_default(&ModelOptions::default())?;
//! let mut session = Session::new(model);
//! let pixels = vec![0u8; 256 * 200];
//! session.set_image(&ImageView::packed(Pixels::U8(&pixels), 256, 200), Window::MinMax)?;
//! session.add_click(120.5, 80.5, true)?;
//! let mask: Vec<u8> = session.predict()?.mask(); // 256*200 values, 0 or 1
//! session.commit()?; // the image and its mask join the context
//! # Ok(()) }
//! ```
//!
//! Layers (docs/ARCHITECTURE.md): the numerics (architectures, weights, preprocessing,
//! prompt rasterization, the two backends) know nothing of files or FFI; [`io`] holds the
//! file formats; [`Session`] is the one place that holds a task's state; [`workflow`]
//! works through datasets; [`eval`] and [`simulate`] are the paper's evaluation protocol.
//! The C ABI is the `multiverseg-capi` crate.

#![warn(missing_docs)]

mod arch;
mod backend;
mod checkpoint;
mod cpu;
pub mod default_model;
#[cfg(feature = "gpu")]
pub mod diagnostics;
mod error;
pub mod eval;
pub mod export;
#[cfg(feature = "gpu")]
mod gpu;
mod graph;
pub mod io;
mod model;
pub mod named;
mod pickle;
mod preprocess;
mod prompts;
mod session;
pub mod simulate;
mod tensor;
mod weights;
pub mod workflow;

pub use arch::{BlockSpec, MultiverSegArch, UNetArch};
pub use backend::{BackendState, CancelToken};
pub use error::{Error, ErrorKind, Result};
pub use model::{BackendKind, CpuConv, Model, ModelOptions, NetworkChoice, RawInput, NET_SIZE};
pub use preprocess::{ImageView, Pixels, Window, MAX_SIDE};
pub use session::{ContextEntry, Prediction, Progress, Session};
pub use tensor::Tensor;
pub use weights::Weights;
pub use workflow::after_prompt::AfterPrompt;
pub use workflow::calibration::ThresholdCalibration;
pub use workflow::policy::{ContextPolicy, Select};
