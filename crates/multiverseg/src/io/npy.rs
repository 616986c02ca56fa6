//! Reads and writes the `.npy` files of raw tensor mode (little-endian f32/f64, C order).
//! A header that declares more data than the file holds is an error before any allocation.

use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::path::Path;

/// Reads a little-endian float32 or float64 `.npy` file as f32.
pub fn read(path: &Path) -> Result<Tensor> {
    let b = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse(&b).map_err(|e| Error::format(format!("{}: {}", path.display(), e.message)))
}

/// Parses `.npy` bytes (versions 1-3).
pub fn parse(b: &[u8]) -> Result<Tensor> {
    if b.len() < 10 || &b[..6] != b"\x93NUMPY" {
        return Err(Error::format("not a .npy file"));
    }
    let (hlen, start) = match b[6] {
        1 => (u16::from_le_bytes([b[8], b[9]]) as usize, 10),
        2 | 3 if b.len() >= 12 => (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12),
        _ => return Err(Error::format("unsupported .npy version")),
    };
    let header = b
        .get(start..start + hlen)
        .ok_or_else(|| Error::format(".npy header truncated"))?;
    let header = String::from_utf8_lossy(header);
    let field = |key: &str| -> Option<String> {
        let i = header.find(&format!("'{key}'"))? + key.len() + 2;
        let rest = header[i..].trim_start().strip_prefix(':')?.trim_start();
        Some(rest.to_string())
    };
    let descr = field("descr").ok_or_else(|| Error::format(".npy header has no descr"))?;
    let width = if descr.starts_with("'<f4'") {
        4
    } else if descr.starts_with("'<f8'") {
        8
    } else {
        return Err(Error::format(format!(
            ".npy dtype {} is not supported (float32 or float64 little-endian)",
            descr.split(',').next().unwrap_or("")
        )));
    };
    if field("fortran_order")
        .map(|f| f.starts_with("True"))
        .unwrap_or(false)
    {
        return Err(Error::format(".npy in Fortran order is not supported"));
    }
    let shape_s = field("shape").ok_or_else(|| Error::format(".npy header has no shape"))?;
    let inner = shape_s.trim_start_matches('(');
    let inner = &inner[..inner
        .find(')')
        .ok_or_else(|| Error::format("bad .npy shape"))?];
    let shape: Vec<usize> = inner
        .split(',')
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| Error::format("bad .npy shape")))
        .collect::<Result<_>>()?;
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .and_then(|n| n.checked_mul(width))
        .ok_or_else(|| Error::format(format!(".npy shape {shape:?} is too large")))?
        / width;
    let data = &b[start + hlen..];
    if data.len() != n * width {
        return Err(Error::format(format!(
            ".npy holds {} data bytes, shape {:?} needs {}",
            data.len(),
            shape,
            n * width
        )));
    }
    let v: Vec<f32> = if width == 4 {
        data.chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    } else {
        data.chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32)
            .collect()
    };
    Ok(Tensor::new(shape, v))
}

/// Reads a float64 `.npy` file without rounding (for comparisons with references).
pub fn read_f64(path: &Path) -> Result<(Vec<usize>, Vec<f64>)> {
    let b = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let t = parse(&b)?;
    let start = b.len() - t.data.len() * 8;
    if !String::from_utf8_lossy(&b[..start.min(b.len())]).contains("<f8") {
        return Ok((t.shape, t.data.iter().map(|&v| v as f64).collect()));
    }
    Ok((
        t.shape,
        b[start..]
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect(),
    ))
}

/// Writes a float32 `.npy` file.
pub fn write(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_s = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_s}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    super::atomic_write(path, &out)
}
