//! One module per subcommand: its arguments (clap) and its `run`.

pub mod bench;
pub mod convert;
pub mod eval;
pub mod export;
pub mod fetch;
pub mod infer;
pub mod predict;
pub mod segment;
