//! Reads official PyTorch checkpoints (`torch.save` zip archives) without Python.
//!
//! A checkpoint is a zip with `<root>/data.pkl` (a pickle whose tensors refer to
//! storages by persistent id) and `<root>/data/<key>` (raw little-endian storage bytes).
//! Accepted top levels: a bare state_dict, or `{"model": state_dict, ...}`.

use crate::error::{Error, Result};
use crate::pickle::{self, Value};
use crate::tensor::Tensor;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// A state dict read from a checkpoint, with the SHA-256 of the file it came from.
pub struct Checkpoint {
    /// Tensor name -> tensor, float32.
    pub tensors: BTreeMap<String, Tensor>,
    /// Hex SHA-256 of the checkpoint file.
    pub sha256: String,
}

/// Reads the checkpoint at `path`.
pub fn read_checkpoint(path: &Path) -> Result<Checkpoint> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    read_checkpoint_bytes(&bytes)
        .map_err(|e| Error::new(e.kind, format!("{}: {}", path.display(), e.message)))
}

/// Reads a checkpoint from its bytes.
pub fn read_checkpoint_bytes(bytes: &[u8]) -> Result<Checkpoint> {
    use sha2::Digest;
    let sha256 = hex(&sha2::Sha256::digest(bytes));
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| {
        Error::format(format!("not a PyTorch checkpoint (zip archive unreadable: {e}); legacy non-zip torch.save files are not supported"))
    })?;
    let pkl_name = (0..zip.len())
        .filter_map(|i| {
            zip.name_for_index(i)
                .and_then(|r| r.ok())
                .map(|s| s.to_string())
        })
        .find(|n| n.ends_with("/data.pkl") || n == "data.pkl")
        .ok_or_else(|| Error::format("not a PyTorch checkpoint: the zip has no data.pkl"))?;
    let root = pkl_name.trim_end_matches("data.pkl").to_string();
    let pkl = read_entry(&mut zip, &pkl_name, MAX_PICKLE)?;
    let top = pickle::parse(&pkl)?;
    let state = match &top {
        Value::Dict(items) => {
            let model = items
                .iter()
                .find(|(k, _)| k.as_str() == Some("model"))
                .map(|(_, v)| v);
            match model {
                Some(m @ Value::Dict(_)) => m,
                Some(_) => {
                    return Err(Error::format(
                        "checkpoint key \"model\" is not a state dict",
                    ))
                }
                None => &top,
            }
        }
        _ => return Err(Error::format(
            "checkpoint does not hold a dict (expected a state_dict or {\"model\": state_dict})",
        )),
    };
    let Value::Dict(items) = state else {
        unreachable!()
    };
    let mut tensors = BTreeMap::new();
    for (k, v) in items {
        let name = k
            .as_str()
            .ok_or_else(|| Error::format("state dict key is not a string"))?;
        let t = rebuild_tensor(v, &mut zip, &root)
            .map_err(|e| Error::format(format!("tensor {name}: {}", e.message)))?;
        tensors.insert(name.to_string(), t);
    }
    if tensors.is_empty() {
        return Err(Error::format("checkpoint holds no tensors"));
    }
    Ok(Checkpoint { tensors, sha256 })
}

/// Largest data.pkl accepted (a state dict's pickle is a few hundred kB).
const MAX_PICKLE: u64 = 64 << 20;
/// Most elements of one tensor (the official checkpoints' largest has 1.2M): a file that
/// declares more is refused before anything is allocated.
const MAX_ELEMENTS: u64 = 1 << 30;

/// Reads a zip entry of at most `limit` bytes (checked against what the entry declares and
/// again while inflating, so a forged size cannot make it allocate more).
fn read_entry(
    zip: &mut zip::ZipArchive<std::io::Cursor<&[u8]>>,
    name: &str,
    limit: u64,
) -> Result<Vec<u8>> {
    let f = zip
        .by_name(name)
        .map_err(|e| Error::format(format!("{name} unreadable: {e}")))?;
    if f.size() > limit {
        return Err(Error::format(format!(
            "{name} declares {} bytes, more than the {limit} expected",
            f.size()
        )));
    }
    let mut out = Vec::new();
    f.take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::format(format!("{name} unreadable: {e}")))?;
    if out.len() as u64 > limit {
        return Err(Error::format(format!(
            "{name} holds more than {limit} bytes"
        )));
    }
    Ok(out)
}

fn rebuild_tensor(
    v: &Value,
    zip: &mut zip::ZipArchive<std::io::Cursor<&[u8]>>,
    root: &str,
) -> Result<Tensor> {
    let Value::Call(func, args) = v else {
        return Err(Error::format("not a tensor"));
    };
    let Value::Global(m, n) = func.as_ref() else {
        return Err(Error::format("not a tensor"));
    };
    match (m.as_str(), n.as_str()) {
        ("torch._utils", "_rebuild_parameter")
        | ("torch._utils", "_rebuild_parameter_with_state") => {
            let inner = args
                .first()
                .ok_or_else(|| Error::format("empty _rebuild_parameter"))?;
            rebuild_tensor(inner, zip, root)
        }
        ("torch._utils", "_rebuild_tensor_v2") | ("torch._utils", "_rebuild_tensor") => {
            if args.len() < 4 {
                return Err(Error::format("_rebuild_tensor_v2 with too few arguments"));
            }
            let Value::Persistent(pid) = &args[0] else {
                return Err(Error::format("tensor storage is not a persistent id"));
            };
            let pid = pid
                .items()
                .ok_or_else(|| Error::format("storage id is not a tuple"))?;
            // ('storage', torch.FloatStorage, key, location, numel)
            if pid.len() < 5 || pid[0].as_str() != Some("storage") {
                return Err(Error::format("unexpected storage id"));
            }
            let elem = match &pid[1] {
                Value::Global(_, s) => s.as_str(),
                _ => return Err(Error::format("storage type is not a global")),
            };
            let key = pid[2]
                .as_str()
                .ok_or_else(|| Error::format("storage key is not a string"))?;
            let count = |v: &Value, what: &str| {
                v.as_int()
                    .and_then(|i| u64::try_from(i).ok())
                    .filter(|&i| i <= MAX_ELEMENTS)
                    .map(|i| i as usize)
                    .ok_or_else(|| {
                        Error::format(format!("{what} is not an int in 0..={MAX_ELEMENTS}"))
                    })
            };
            let numel = count(&pid[4], "storage size")?;
            let offset = count(&args[1], "storage offset")?;
            let size: Vec<usize> = ints(&args[2])?;
            let stride: Vec<usize> = ints(&args[3])?;
            if size.len() != stride.len() {
                return Err(Error::format("size and stride lengths differ"));
            }
            let width = match elem {
                "FloatStorage" => 4,
                "DoubleStorage" => 8,
                other => {
                    return Err(Error::format(format!(
                        "storage type {other} is not supported (only float32/float64)"
                    )))
                }
            };
            let entry = format!("{root}data/{key}");
            let raw = read_entry(zip, &entry, (numel * width) as u64)?;
            check_len(&raw, numel, width)?;
            let storage: Vec<f32> = if width == 4 {
                raw.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect()
            } else {
                raw.chunks_exact(8)
                    .map(|c| {
                        let mut a = [0u8; 8];
                        a.copy_from_slice(c);
                        f64::from_le_bytes(a) as f32
                    })
                    .collect()
            };
            gather(&storage, offset, &size, &stride)
        }
        _ => Err(Error::format(format!(
            "{m}.{n} is not a tensor constructor"
        ))),
    }
}

fn check_len(raw: &[u8], numel: usize, width: usize) -> Result<()> {
    if raw.len() < numel * width {
        return Err(Error::format(format!(
            "storage holds {} bytes, expected {}",
            raw.len(),
            numel * width
        )));
    }
    Ok(())
}

fn ints(v: &Value) -> Result<Vec<usize>> {
    let items = v
        .items()
        .ok_or_else(|| Error::format("expected a tuple of ints"))?;
    if items.len() > 8 {
        return Err(Error::format(format!(
            "a tensor of rank {} is not supported",
            items.len()
        )));
    }
    items
        .iter()
        .map(|x| {
            x.as_int()
                .and_then(|i| u64::try_from(i).ok())
                .filter(|&i| i <= MAX_ELEMENTS)
                .map(|i| i as usize)
                .ok_or_else(|| Error::format(format!("expected an int in 0..={MAX_ELEMENTS}")))
        })
        .collect()
}

/// Copies a strided view out of a storage into a contiguous tensor.
fn gather(storage: &[f32], offset: usize, size: &[usize], stride: &[usize]) -> Result<Tensor> {
    // Each size and stride is at most 2^30 and the rank at most 8 (`ints`): these products
    // and sums are checked anyway, and a view may not hold more elements than its storage
    // (checkpoints never broadcast), so nothing large is allocated from declared sizes.
    let n = size
        .iter()
        .try_fold(1usize, |a, &s| a.checked_mul(s))
        .filter(|&n| n <= storage.len())
        .ok_or_else(|| Error::format("tensor view holds more elements than its storage"))?;
    let mut data = Vec::with_capacity(n);
    if n > 0 {
        let max_index = size
            .iter()
            .zip(stride)
            .try_fold(offset, |a, (s, st)| {
                (s - 1).checked_mul(*st).and_then(|x| a.checked_add(x))
            })
            .ok_or_else(|| Error::format("tensor view exceeds its storage"))?;
        if max_index >= storage.len() {
            return Err(Error::format("tensor view exceeds its storage"));
        }
        let mut idx = vec![0usize; size.len()];
        for _ in 0..n {
            let pos = offset + idx.iter().zip(stride).map(|(i, s)| i * s).sum::<usize>();
            data.push(storage[pos]);
            for d in (0..size.len()).rev() {
                idx[d] += 1;
                if idx[d] < size[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
    }
    Ok(Tensor::new(size.to_vec(), data))
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
