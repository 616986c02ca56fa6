//! The library's weights file: safetensors with the official tensor names and
//! the architecture, provenance and format version in the header metadata.

use crate::arch::{MultiverSegArch, UNetArch};
use crate::checkpoint::{read_checkpoint, read_checkpoint_bytes, Checkpoint};
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Version of the weights-file layout this library writes and reads.
pub const FORMAT_VERSION: &str = "1";

/// The weights of one MultiverSegNet and, optionally, one ScribblePrompt-UNet.
#[derive(Debug, Clone)]
pub struct Weights {
    /// All tensors by official name (the two networks' names do not collide).
    pub tensors: BTreeMap<String, Tensor>,
    /// MultiverSegNet sizes, if present.
    pub multiverseg: Option<MultiverSegArch>,
    /// ScribblePrompt-UNet sizes, if present.
    pub unet: Option<UNetArch>,
    /// Header metadata as read or as it will be written.
    pub metadata: BTreeMap<String, String>,
}

impl Weights {
    /// Validates `tensors` and infers both architectures; at least one network is required.
    pub fn from_tensors(
        tensors: BTreeMap<String, Tensor>,
        metadata: BTreeMap<String, String>,
    ) -> Result<Self> {
        let multiverseg = if MultiverSegArch::present(&tensors) {
            Some(MultiverSegArch::infer(&tensors)?)
        } else {
            None
        };
        let unet = if UNetArch::present(&tensors) {
            Some(UNetArch::infer(&tensors)?)
        } else {
            None
        };
        if multiverseg.is_none() && unet.is_none() {
            return Err(Error::format(
                "no MultiverSegNet (enc_blocks.*) or ScribblePrompt-UNet (downs.*) tensors found",
            ));
        }
        for name in tensors.keys() {
            let known = [
                "enc_blocks.",
                "dec_blocks.",
                "out_conv.",
                "downs.",
                "ups.",
                "bottleneck.",
                "final_conv.",
            ];
            if !known.iter().any(|p| name.starts_with(p)) {
                return Err(Error::format(format!("unexpected tensor {name}")));
            }
        }
        for (name, t) in &tensors {
            if t.data.iter().any(|v| !v.is_finite()) {
                return Err(Error::format(format!("tensor {name} holds NaN or Inf")));
            }
        }
        Ok(Weights {
            tensors,
            multiverseg,
            unet,
            metadata,
        })
    }

    /// Builds weights from official checkpoints (MultiverSegNet and optional UNet).
    pub fn from_checkpoints(multiverseg: &Path, scribbleprompt: Option<&Path>) -> Result<Self> {
        let mvs = read_checkpoint(multiverseg)?;
        let sp = scribbleprompt
            .map(|p| (p, read_checkpoint(p)))
            .map(|(p, r)| r.map(|c| (p, c)));
        let sp = sp.transpose()?;
        Self::from_read_checkpoints(
            (multiverseg.display().to_string(), mvs),
            sp.map(|(p, c)| (p.display().to_string(), c)),
        )
    }

    /// [`Weights::from_checkpoints`] on the bytes of the checkpoint files (the official
    /// `.pt` zip archives). Errors: `Format` naming what is wrong.
    pub fn from_checkpoint_bytes(
        multiverseg: &[u8],
        scribbleprompt: Option<&[u8]>,
    ) -> Result<Self> {
        let mvs = read_checkpoint_bytes(multiverseg)?;
        let sp = scribbleprompt.map(read_checkpoint_bytes).transpose()?;
        Self::from_read_checkpoints(
            ("the MultiverSeg checkpoint".into(), mvs),
            sp.map(|c| ("the ScribblePrompt checkpoint".to_string(), c)),
        )
    }

    fn from_read_checkpoints(
        (mvs_name, mvs): (String, Checkpoint),
        sp: Option<(String, Checkpoint)>,
    ) -> Result<Self> {
        if !MultiverSegArch::present(&mvs.tensors) {
            return Err(Error::format(format!(
                "{mvs_name}: no MultiverSegNet tensors (enc_blocks.*)"
            )));
        }
        let mut metadata = BTreeMap::new();
        let mut tensors = mvs.tensors;
        metadata.insert("multiverseg.source_sha256".into(), mvs.sha256);
        if let Some((sp_name, Checkpoint { tensors: t, sha256 })) = sp {
            if !UNetArch::present(&t) || MultiverSegArch::present(&t) {
                return Err(Error::format(format!(
                    "{sp_name}: not a ScribblePrompt-UNet checkpoint (downs.*)"
                )));
            }
            metadata.insert("scribbleprompt.source_sha256".into(), sha256);
            tensors.extend(t);
        }
        let mut w = Self::from_tensors(tensors, metadata)?;
        w.fill_metadata();
        Ok(w)
    }

    fn fill_metadata(&mut self) {
        self.metadata
            .insert("format".into(), "multiverseg-weights".into());
        self.metadata
            .insert("format_version".into(), FORMAT_VERSION.into());
        if let Some(a) = &self.multiverseg {
            self.metadata
                .insert("multiverseg.architecture".into(), a.to_json());
        }
        if let Some(a) = &self.unet {
            self.metadata
                .insert("scribbleprompt.architecture".into(), a.to_json());
        }
    }

    /// Reads a weights file written by [`Weights::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(&bytes)
            .map_err(|e| Error::new(e.kind, format!("{}: {}", path.display(), e.message)))
    }

    /// Parses a weights file from memory.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (_, header) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| {
            Error::format(format!(
                "not a multiverseg weights file (safetensors header: {e})"
            ))
        })?;
        let metadata: BTreeMap<String, String> = header
            .metadata()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        match metadata.get("format_version").map(|s| s.as_str()) {
            Some(FORMAT_VERSION) => {}
            Some(v) => {
                return Err(Error::format(format!(
                "weights format_version {v} is not supported (this library reads {FORMAT_VERSION})"
            )))
            }
            None => {
                return Err(Error::format(
                    "not a multiverseg weights file (no format_version in the metadata)",
                ))
            }
        }
        let st = safetensors::SafeTensors::deserialize(bytes)
            .map_err(|e| Error::format(format!("corrupt safetensors file: {e}")))?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            if view.dtype() != safetensors::Dtype::F32 {
                return Err(Error::format(format!(
                    "tensor {name} has dtype {:?}, expected F32",
                    view.dtype()
                )));
            }
            let data: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect();
            tensors.insert(name, Tensor::new(view.shape().to_vec(), data));
        }
        let w = Self::from_tensors(tensors, metadata)?;
        if let (Some(a), Some(m)) = (&w.multiverseg, w.metadata.get("multiverseg.architecture")) {
            if a.to_json() != *m {
                return Err(Error::format(
                    "multiverseg.architecture metadata disagrees with the tensor shapes",
                ));
            }
        }
        if let (Some(a), Some(m)) = (&w.unet, w.metadata.get("scribbleprompt.architecture")) {
            if a.to_json() != *m {
                return Err(Error::format(
                    "scribbleprompt.architecture metadata disagrees with the tensor shapes",
                ));
            }
        }
        Ok(w)
    }

    /// Writes the weights as safetensors with metadata.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut w = self.clone();
        w.fill_metadata();
        let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = w
            .tensors
            .iter()
            .map(|(n, t)| {
                (
                    n.clone(),
                    t.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
                    t.shape.clone(),
                )
            })
            .collect();
        let views: Vec<(String, safetensors::tensor::TensorView)> = bytes
            .iter()
            .map(|(n, b, s)| {
                (
                    n.clone(),
                    safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                        .unwrap(),
                )
            })
            .collect();
        let meta: HashMap<String, String> = w.metadata.clone().into_iter().collect();
        let bytes = safetensors::serialize(views, Some(meta)).map_err(|e| {
            Error::new(
                crate::error::ErrorKind::Internal,
                format!("{}: serializing the weights: {e}", path.display()),
            )
        })?;
        crate::io::atomic_write(path, &bytes)
    }

    /// The tensor `name`; panics if absent (callers only ask for validated names).
    pub fn get(&self, name: &str) -> &Tensor {
        &self.tensors[name]
    }
}
