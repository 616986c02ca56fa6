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
    let mut pkl = Vec::new();
    zip.by_name(&pkl_name)
        .and_then(|mut f| f.read_to_end(&mut pkl).map_err(Into::into))
        .map_err(|e| Error::format(format!("cannot read {pkl_name}: {e}")))?;
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
            let numel = pid[4]
                .as_int()
                .ok_or_else(|| Error::format("storage size is not an int"))?
                as usize;
            let offset = args[1]
                .as_int()
                .ok_or_else(|| Error::format("storage offset is not an int"))?
                as usize;
            let size: Vec<usize> = ints(&args[2])?;
            let stride: Vec<usize> = ints(&args[3])?;
            if size.len() != stride.len() {
                return Err(Error::format("size and stride lengths differ"));
            }
            let mut raw = Vec::new();
            let entry = format!("{root}data/{key}");
            zip.by_name(&entry)
                .and_then(|mut f| f.read_to_end(&mut raw).map_err(Into::into))
                .map_err(|e| Error::format(format!("storage {entry} unreadable: {e}")))?;
            let storage: Vec<f32> = match elem {
                "FloatStorage" => {
                    check_len(&raw, numel, 4)?;
                    raw.chunks_exact(4)
                        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                        .collect()
                }
                "DoubleStorage" => {
                    check_len(&raw, numel, 8)?;
                    raw.chunks_exact(8)
                        .map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32)
                        .collect()
                }
                other => {
                    return Err(Error::format(format!(
                        "storage type {other} is not supported (only float32/float64)"
                    )))
                }
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
    v.items()
        .ok_or_else(|| Error::format("expected a tuple of ints"))?
        .iter()
        .map(|x| {
            x.as_int()
                .filter(|i| *i >= 0)
                .map(|i| i as usize)
                .ok_or_else(|| Error::format("expected a non-negative int"))
        })
        .collect()
}

/// Copies a strided view out of a storage into a contiguous tensor.
fn gather(storage: &[f32], offset: usize, size: &[usize], stride: &[usize]) -> Result<Tensor> {
    let n: usize = size.iter().product();
    let mut data = Vec::with_capacity(n);
    if n > 0 {
        let max_index = offset
            + size
                .iter()
                .zip(stride)
                .map(|(s, st)| (s - 1) * st)
                .sum::<usize>();
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
