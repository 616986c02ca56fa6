//! The saved context set of a session.
//!
//! Layout (little-endian), version 2:
//! `b"MVSCTX\0\0"`, u32 version, u32 side (128), u64 next id hint, u32 count, then per
//! entry u64 id, side*side f32 image, side*side u8 label (0/1); then the SHA-256 of every
//! byte before it (32 bytes). Version 1 (the same without the checksum) still loads.
//!
//! Files are written crash-safely ([`super::atomic_write`]): a reader sees the old file or
//! the new one, never a mix, and a truncated or corrupted file is a
//! [`crate::ErrorKind::Format`] error that names what is wrong.

use crate::error::{Error, Result};
use crate::session::ContextEntry;
use crate::NET_SIZE;
use sha2::{Digest, Sha256};
use std::path::Path;

const MAGIC: &[u8; 8] = b"MVSCTX\0\0";
/// Version of the context file this library writes (it also reads version 1).
pub const VERSION: u32 = 2;
const HEADER: usize = 8 + 4 + 4 + 8 + 4;
const CHECKSUM: usize = 32;

/// The bytes of a context file holding `entries` (each 128x128, see [`ContextEntry`]).
pub fn encode(entries: &[ContextEntry]) -> Vec<u8> {
    let px = NET_SIZE * NET_SIZE;
    let mut b = Vec::with_capacity(HEADER + entries.len() * (8 + 5 * px) + CHECKSUM);
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&VERSION.to_le_bytes());
    b.extend_from_slice(&(NET_SIZE as u32).to_le_bytes());
    let next = entries.iter().map(|e| e.id).max().map_or(1, |m| m + 1);
    b.extend_from_slice(&next.to_le_bytes());
    b.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for e in entries {
        b.extend_from_slice(&e.id.to_le_bytes());
        for v in &e.image {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend(e.label.iter().map(|&v| (v > 0.5) as u8));
    }
    let sum = Sha256::digest(&b);
    b.extend_from_slice(&sum);
    b
}

/// Writes `entries` to `path` crash-safely (temporary file, sync, rename).
///
/// Errors: [`crate::ErrorKind::Io`] naming the path; the old file, if any, is untouched.
pub fn write(path: &Path, entries: &[ContextEntry]) -> Result<()> {
    super::atomic_write(path, &encode(entries))
}

/// Reads and checks a context file. Errors: `Io` when it cannot be read, `Format` (with
/// the path and what is wrong) when it is not a complete, intact context file.
pub fn read(path: &Path) -> Result<Vec<ContextEntry>> {
    let b = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode(&b).map_err(|e| Error::new(e.kind, format!("{}: {}", path.display(), e.message)))
}

/// Parses the bytes of a context file (any supported version). Never allocates more than
/// the input's size before checking that the bytes are there.
pub fn decode(b: &[u8]) -> Result<Vec<ContextEntry>> {
    let mut r = Reader { b, pos: 0 };
    if r.take(8)? != MAGIC {
        return Err(Error::format(
            "not a multiverseg context file (bad magic bytes)",
        ));
    }
    let version = r.u32()?;
    let body_end = match version {
        1 => b.len(),
        2 => {
            if b.len() < HEADER + CHECKSUM {
                return Err(Error::format(
                    "context file is truncated (no room for its checksum)",
                ));
            }
            let end = b.len() - CHECKSUM;
            if Sha256::digest(&b[..end]).as_slice() != &b[end..] {
                return Err(Error::format(
                    "context file is corrupt: its SHA-256 checksum does not match (truncated or damaged)",
                ));
            }
            end
        }
        v => {
            return Err(Error::format(format!(
                "context file version {v} is not supported (this library reads 1 and {VERSION})"
            )))
        }
    };
    let side = r.u32()? as usize;
    if side != NET_SIZE {
        return Err(Error::format(format!(
            "context file is at {side}x{side}, expected {NET_SIZE}"
        )));
    }
    let _next = r.u64()?;
    let count = r.u32()? as usize;
    let px = side * side;
    let entry = 8 + 5 * px;
    let have = body_end.saturating_sub(r.pos);
    if count.checked_mul(entry).is_none_or(|n| n != have) {
        return Err(Error::format(format!(
            "context file declares {count} entries ({} bytes), but {have} bytes follow the header",
            count.saturating_mul(entry)
        )));
    }
    let mut out: Vec<ContextEntry> = Vec::with_capacity(count);
    for _ in 0..count {
        let id = r.u64()?;
        let image: Vec<f32> = r
            .take(4 * px)?
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if let Some(i) = image
            .iter()
            .position(|v| !v.is_finite() || !(0.0..=1.0).contains(v))
        {
            return Err(Error::format(format!(
                "context entry {id}: image value {} at index {i} is outside [0, 1]",
                image[i]
            )));
        }
        let label: Vec<f32> = r.take(px)?.iter().map(|&v| (v != 0) as u8 as f32).collect();
        if out.iter().any(|e| e.id == id) {
            return Err(Error::format(format!(
                "context entry id {id} appears twice"
            )));
        }
        out.push(ContextEntry { id, image, label });
    }
    Ok(out)
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let s = self
            .pos
            .checked_add(n)
            .and_then(|end| self.b.get(self.pos..end))
            .ok_or_else(|| Error::format("context file is truncated"))?;
        self.pos += n;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self) -> Result<u64> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(n: usize) -> Vec<ContextEntry> {
        let px = NET_SIZE * NET_SIZE;
        (0..n)
            .map(|i| ContextEntry {
                id: 3 + i as u64,
                image: (0..px)
                    .map(|k| ((k * 7 + i) % 101) as f32 / 100.0)
                    .collect(),
                label: (0..px).map(|k| ((k + i) % 3 == 0) as u8 as f32).collect(),
            })
            .collect()
    }

    #[test]
    fn round_trip_and_every_truncation_is_a_format_error() {
        let e = entries(2);
        let b = encode(&e);
        assert_eq!(decode(&b).unwrap(), e);
        for cut in [
            0,
            7,
            8,
            20,
            HEADER,
            HEADER + 100,
            b.len() - CHECKSUM,
            b.len() - 1,
        ] {
            let err = decode(&b[..cut]).unwrap_err();
            assert_eq!(
                err.kind,
                crate::ErrorKind::Format,
                "cut {cut}: {}",
                err.message
            );
        }
    }

    #[test]
    fn a_flipped_byte_is_caught_by_the_checksum() {
        let mut b = encode(&entries(1));
        b[HEADER + 8 + 1000] ^= 0x40;
        let err = decode(&b).unwrap_err();
        assert!(err.message.contains("checksum"), "{}", err.message);
    }

    #[test]
    fn version_1_files_still_load() {
        let e = entries(2);
        let mut b = encode(&e);
        b.truncate(b.len() - CHECKSUM);
        b[8..12].copy_from_slice(&1u32.to_le_bytes());
        assert_eq!(decode(&b).unwrap(), e);
    }

    #[test]
    fn a_huge_declared_count_fails_before_allocating() {
        let mut b = encode(&[]);
        b.truncate(HEADER);
        b[8..12].copy_from_slice(&1u32.to_le_bytes());
        b[HEADER - 4..HEADER].copy_from_slice(&u32::MAX.to_le_bytes());
        let err = decode(&b).unwrap_err();
        assert!(err.message.contains("declares"), "{}", err.message);
    }
}
