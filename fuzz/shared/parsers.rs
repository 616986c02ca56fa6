// One function per parsing fuzz target, shared by the fuzz targets and by the stable replay
// test (crates/multiverseg/tests/fuzz_replay.rs includes this file). Each must return for
// any input (an Ok or an Err), never panic, abort, hang or allocate beyond its input's
// declared-and-present size.

/// `.pt` checkpoints (zip + pickle): both as MultiverSeg and as ScribblePrompt file.
pub fn pt_checkpoint(data: &[u8]) {
    let _ = multiverseg::Weights::from_checkpoint_bytes(data, None);
    let _ = multiverseg::Weights::from_checkpoint_bytes(data, Some(data));
}

/// safetensors weights with their metadata.
pub fn safetensors_weights(data: &[u8]) {
    let _ = multiverseg::Weights::from_bytes(data);
}

/// Saved context files (any version).
pub fn context_file(data: &[u8]) {
    if let Ok(entries) = multiverseg::io::context_file::decode(data) {
        // What decodes must encode and decode to the same entries.
        let again = multiverseg::io::context_file::decode(&multiverseg::io::context_file::encode(&entries));
        assert_eq!(again.ok().as_ref(), Some(&entries), "context file round trip");
    }
}

/// `.npy` arrays.
pub fn npy(data: &[u8]) {
    if let Ok(t) = multiverseg::io::npy::parse(data) {
        assert_eq!(t.shape.iter().product::<usize>(), t.data.len());
    }
}

/// Image and mask files (PNG and the other formats the image crate is built with): the
/// first byte picks the reader.
pub fn png_masks(data: &[u8]) {
    use multiverseg::io::png::{decode_image, decode_mask, MaskLabel};
    let Some((&sel, rest)) = data.split_first() else { return };
    match sel % 3 {
        0 => {
            let _ = decode_image(rest);
        }
        1 => {
            let _ = decode_mask(rest, MaskLabel::Nonzero);
        }
        _ => {
            let _ = decode_mask(rest, MaskLabel::Value(u32::from(sel)));
        }
    }
}
