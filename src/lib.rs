//! MultiverSeg in Rust: in-context interactive segmentation of 2D images, with a C ABI.
//!
//! Layers, from the bottom: [`arch`], [`weights`] and [`checkpoint`] describe and
//! load the networks; [`graph`] builds them; [`backend`] is the trait the
//! [`cpu`] (tract) and [`gpu`] (wgpu) backends implement; [`preprocess`] and [`prompts`] turn a user's image
//! and clicks into network input; [`session`] holds one task's state; [`ffi`]
//! is the C ABI over all of it.

pub mod arch;
pub mod backend;
pub mod checkpoint;
pub mod context_io;
pub mod cpu;
pub mod default_model;
pub mod error;
pub mod eval;
pub mod ffi;
pub mod gpu;
pub mod graph;
pub mod model;
pub mod npy;
pub mod pickle;
pub mod preprocess;
pub mod prompts;
pub mod session;
pub mod simulate;
pub mod tensor;
pub mod weights;

pub use error::{Error, ErrorKind, Result};
pub use model::{BackendKind, Model, ModelOptions, NetworkChoice, NET_SIZE};
pub use preprocess::{ImageView, Pixels, Window};
pub use session::{Prediction, Session};
pub use weights::Weights;
