#![no_main]

use multiverseg as core_api;

include!("../shared/session_ops.rs");

struct Model(*mut MvsModel);
// SAFETY: an MvsModel is thread-safe (documented); the pointer is never freed.
unsafe impl Send for Model {}
unsafe impl Sync for Model {}

static MODEL: std::sync::OnceLock<(Model, PathBuf)> = std::sync::OnceLock::new();

libfuzzer_sys::fuzz_target!(|steps: Vec<Step>| {
    let (model, dir) = MODEL.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("mvs-fuzz-session-{}", std::process::id()));
        (Model(tiny_model(&dir)), dir)
    });
    // SAFETY: the model is loaded once and lives for the whole process.
    let mut r = unsafe { Runner::new(model.0, dir.clone()) };
    for s in steps.iter().take(24) {
        r.step(s);
    }
});
