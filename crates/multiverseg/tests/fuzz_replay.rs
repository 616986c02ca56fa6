//! Replays the fuzz corpora (fuzz/corpus/<target>) and every input that ever made a fuzz
//! target fail (fuzz/regressions/<target>) through the same functions the fuzz targets call,
//! on stable Rust: none may panic. The fuzzing itself (nightly, cargo-fuzz) is in fuzz/.

#![allow(dead_code)]

include!("../../../fuzz/shared/parsers.rs");

use std::path::Path;

fn replay(target: &str, f: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut n = 0;
    for dir in ["corpus", "regressions"] {
        let Ok(rd) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        let mut files: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        files.sort();
        for p in files {
            let data = std::fs::read(&p).unwrap();
            let r = std::panic::catch_unwind(|| f(&data));
            assert!(r.is_ok(), "{} made {target} panic", p.display());
            n += 1;
        }
    }
    assert!(n > 0, "no corpus for {target} in fuzz/corpus/{target}");
    n
}

#[test]
fn pt_checkpoint_corpus() {
    eprintln!("{} inputs", replay("pt_checkpoint", pt_checkpoint));
}

#[test]
fn safetensors_weights_corpus() {
    eprintln!(
        "{} inputs",
        replay("safetensors_weights", safetensors_weights)
    );
}

#[test]
fn context_file_corpus() {
    eprintln!("{} inputs", replay("context_file", context_file));
}

#[test]
fn npy_corpus() {
    eprintln!("{} inputs", replay("npy", npy));
}

#[test]
fn png_masks_corpus() {
    eprintln!("{} inputs", replay("png_masks", png_masks));
}

/// Files that declare a huge tensor or array (10^12 elements) are refused before anything
/// that size is allocated (the allocation itself would abort the process).
#[test]
fn huge_declarations_fail_before_allocating() {
    // .npy declaring 10^6 x 10^6 float32 with 16 bytes of data.
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    let mut header =
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }".to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    npy.extend((header.len() as u16).to_le_bytes());
    npy.extend(header.as_bytes());
    npy.extend([0u8; 16]);
    let e = multiverseg::io::npy::parse(&npy).unwrap_err();
    assert!(e.message.contains("1000000"), "{}", e.message);
    // A context file declaring 2^32 - 1 entries.
    let mut ctx = b"MVSCTX\0\0".to_vec();
    ctx.extend(1u32.to_le_bytes());
    ctx.extend(128u32.to_le_bytes());
    ctx.extend(1u64.to_le_bytes());
    ctx.extend(u32::MAX.to_le_bytes());
    let e = multiverseg::io::context_file::decode(&ctx).unwrap_err();
    assert!(e.message.contains("declares"), "{}", e.message);
    // safetensors whose header declares a [10^6, 10^6] tensor over 8 bytes of data.
    let header = r#"{"__metadata__":{"format_version":"1"},"downs.0.conv.0.weight":{"dtype":"F32","shape":[1000000,1000000],"data_offsets":[0,4000000000000]}}"#;
    let mut st = (header.len() as u64).to_le_bytes().to_vec();
    st.extend(header.as_bytes());
    st.extend([0u8; 8]);
    assert!(multiverseg::Weights::from_bytes(&st).is_err());
}
