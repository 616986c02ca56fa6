//! The evaluation protocol as a library: task folders, the interactive and in-context
//! experiments, their tables and plots. `mvs eval` is a thin front end over this.

pub mod protocol;
pub mod report;
pub mod task;

pub use protocol::{
    run_click_curves, run_in_context, run_interactive, segment_image, CurveRecord, InContextRecord,
    InteractiveConfig, Method, Record, Segmenter, Timing,
};
pub use report::{summarize, Stat, TaskSummary};
pub use task::{load_task, task_dirs, Task, TaskImage};
