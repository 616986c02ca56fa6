//! Replays the structured fuzz target's corpus (fuzz/corpus/session_capi) and its past
//! failures (fuzz/regressions/session_capi) on stable Rust: random call sequences through
//! the C ABI, with the same checks as the fuzz target (no MVS_ERR_INTERNAL, failed calls
//! change nothing).

#![allow(dead_code)]

use multiverseg as mvs_capi;
use multiverseg_core as core_api;

include!("../../../fuzz/shared/session_ops.rs");

use arbitrary::Unstructured;

#[test]
fn session_capi_corpus() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let dir = std::env::temp_dir().join(format!("mvs-fuzz-replay-{}", std::process::id()));
    let model = tiny_model(&dir);
    let mut n = 0;
    for sub in ["corpus", "regressions"] {
        let Ok(rd) = std::fs::read_dir(root.join(sub).join("session_capi")) else {
            continue;
        };
        let mut files: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        files.sort();
        for p in files {
            let data = std::fs::read(&p).unwrap();
            let Ok(steps) = Vec::<Step>::arbitrary_take_rest(Unstructured::new(&data)) else {
                continue;
            };
            // SAFETY: `model` is the live model loaded above.
            let mut r = unsafe { Runner::new(model, dir.clone()) };
            for s in steps.iter().take(24) {
                r.step(s);
            }
            n += 1;
        }
    }
    unsafe { mvs_capi::model::mvs_model_free(model) };
    eprintln!("{n} call sequences replayed");
    assert!(n > 0, "no corpus in fuzz/corpus/session_capi");
    std::fs::remove_dir_all(&dir).ok();
}
