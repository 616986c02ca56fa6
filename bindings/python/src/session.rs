//! `multiverseg.Session` and `multiverseg.Prediction`: one task's interactive state over
//! the Rust `Session`.

use crate::errors::IntoPy;
use crate::image::{image_arg, mask_arg, window_arg, OwnedImage};
use crate::model::PyModel;
use multiverseg::io::png::MaskLabel;
use multiverseg::{AfterPrompt, CancelToken, ContextPolicy, Prediction, Select, Session};
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

/// The result of a prediction at the image's size.
#[pyclass(name = "Prediction", module = "multiverseg", frozen)]
pub struct PyPrediction {
    /// float32 (height, width) probabilities in [0, 1].
    #[pyo3(get)]
    probabilities: Py<PyArray2<f32>>,
    /// uint8 (height, width), 1 where the probability is above 0.5.
    #[pyo3(get)]
    mask: Py<PyArray2<u8>>,
    /// The prediction's uncertainty in [0, 1] (see the README).
    #[pyo3(get)]
    uncertainty: f32,
}

impl PyPrediction {
    fn new(py: Python<'_>, p: &Prediction) -> PyResult<Self> {
        Ok(PyPrediction {
            probabilities: image_array(py, p, p.probabilities())?,
            mask: image_array(py, p, p.mask())?,
            uncertainty: p.uncertainty(),
        })
    }
}

/// `v` (one value per pixel of `p`'s image, row-major) as a (height, width) numpy array.
fn image_array<T: numpy::Element>(
    py: Python<'_>,
    p: &Prediction,
    v: Vec<T>,
) -> PyResult<Py<PyArray2<T>>> {
    let a = Array2::from_shape_vec((p.height, p.width), v)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(a.into_pyarray(py).unbind())
}

#[pymethods]
impl PyPrediction {
    fn __repr__(&self, py: Python<'_>) -> String {
        let s = self.mask.bind(py).shape().to_vec();
        format!(
            "multiverseg.Prediction(shape={s:?}, uncertainty={:.4})",
            self.uncertainty
        )
    }
}

/// One segmentation task: a context set of finished images with their masks, the image
/// being segmented and its prompts. Methods lock the session, so a session used from two
/// threads serializes them; use one session per thread for parallel work (they may share
/// a Model).
#[pyclass(name = "Session", module = "multiverseg", frozen)]
pub struct PySession {
    inner: Mutex<Session>,
    cancel: CancelToken,
}

impl PySession {
    fn lock(&self) -> MutexGuard<'_, Session> {
        // A panic cannot leave a Session half-changed (its methods change state last), so
        // a poisoned lock still holds a valid session.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[pymethods]
impl PySession {
    /// A new, empty session on `model`.
    #[new]
    fn new(model: &PyModel) -> Self {
        let s = Session::new(model.inner.clone());
        let cancel = s.cancel_token();
        PySession {
            inner: Mutex::new(s),
            cancel,
        }
    }

    // ---- the image and its prompts ----

    /// Sets the image to segment (2D uint8/uint16/int16/float32 array, any strides);
    /// clears the prompts. `window`: (lo, hi) intensities mapped to [0, 1], or None for the
    /// image's own min and max. Raises TypeError/ValueError (array), InvalidArgumentError
    /// (sizes, NaN pixels, a bad window).
    #[pyo3(signature = (image, window=None))]
    fn set_image(&self, image: &Bound<'_, PyAny>, window: Option<(f32, f32)>) -> PyResult<()> {
        let img = image_arg(image, "image")?;
        self.lock()
            .set_image(&img.view(), window_arg(window))
            .py_err()
    }

    /// (width, height) of the current image, or None.
    #[getter]
    fn image_size(&self) -> Option<(usize, usize)> {
        self.lock().target_size()
    }

    /// A click at (x, y) in pixels (x right, y down; 10.5 is the centre of pixel 10).
    /// Raises StateError (no image), InvalidArgumentError (outside the image).
    #[pyo3(signature = (x, y, positive=true))]
    fn add_click(&self, x: f64, y: f64, positive: bool) -> PyResult<()> {
        self.lock().add_click(x, y, positive).py_err()
    }

    /// A box with corners (x0, y0), (x1, y1) in pixels; far edges exclusive.
    fn add_box(&self, x0: f64, y0: f64, x1: f64, y1: f64) -> PyResult<()> {
        self.lock().add_box(x0, y0, x1, y1).py_err()
    }

    /// A scribble as a brush mask (2D uint8/bool at the image's size, nonzero = painted).
    #[pyo3(signature = (mask, positive=true))]
    fn add_scribble(&self, mask: &Bound<'_, PyAny>, positive: bool) -> PyResult<()> {
        let (m, w, _) = mask_arg(mask, "mask")?;
        self.lock().add_scribble_mask(&m, w, positive).py_err()
    }

    /// A scribble as a polyline of (x, y) points in pixels, painted with a round brush of
    /// `radius` pixels (0: the pixels the line passes through).
    #[pyo3(signature = (points, radius=0.0, positive=true))]
    fn add_scribble_polyline(
        &self,
        points: Vec<(f64, f64)>,
        radius: f64,
        positive: bool,
    ) -> PyResult<()> {
        self.lock()
            .add_scribble_polyline(&points, radius, positive)
            .py_err()
    }

    /// Removes the last prompt (and restores the mask input from before it). Raises
    /// StateError when there is none.
    fn undo(&self) -> PyResult<()> {
        self.lock().undo().py_err()
    }

    /// Removes every prompt of the current image.
    fn clear_prompts(&self) {
        self.lock().clear_prompts()
    }

    /// Number of prompts on the current image.
    #[getter]
    fn prompt_count(&self) -> usize {
        self.lock().prompt_count()
    }

    /// Predicts the current image from its prompts and the context. The GIL is released
    /// while the network runs. A pure function of the session's state: calling it twice
    /// gives the same result. Raises StateError (no image), CancelledError (cancel()),
    /// OutOfMemoryError, BackendError.
    fn predict(&self, py: Python<'_>) -> PyResult<PyPrediction> {
        let p = py.detach(|| self.lock().predict()).py_err()?;
        PyPrediction::new(py, &p)
    }

    /// Predicts each image of `images` (a sequence of 2D arrays) with the context and no
    /// prompts; the session does not change. Images are copied before the GIL is released.
    /// `progress(done, total)` is called as images finish (after each image on the CPU,
    /// each chunk of up to 16 on the GPU); returning False (or raising) cancels the call, which then raises CancelledError (or the callback's exception).
    #[pyo3(signature = (images, window=None, progress=None))]
    fn predict_batch(
        &self,
        py: Python<'_>,
        images: Vec<Bound<'_, PyAny>>,
        window: Option<(f32, f32)>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Vec<PyPrediction>> {
        let owned: Vec<OwnedImage> = images
            .iter()
            .enumerate()
            .map(|(i, a)| image_arg(a, &format!("images[{i}]")).map(|x| x.to_owned()))
            .collect::<PyResult<_>>()?;
        let mut raised: Option<PyErr> = None;
        let r = py.detach(|| {
            let views: Vec<_> = owned.iter().map(|a| a.view()).collect();
            let mut cb = |done: usize, total: usize| -> bool {
                let Some(f) = &progress else { return true };
                Python::attach(|py| match f.call1(py, (done, total)) {
                    Ok(v) => !v.bind(py).is(&*pyo3::types::PyBool::new(py, false)),
                    Err(e) => {
                        raised = Some(e);
                        false
                    }
                })
            };
            self.lock()
                .predict_batch(&views, window_arg(window), Some(&mut cb))
        });
        if let Some(e) = raised {
            return Err(e);
        }
        r.py_err()?
            .iter()
            .map(|p| PyPrediction::new(py, p))
            .collect()
    }

    /// Cancels a predict or predict_batch running in another thread (it raises
    /// CancelledError and changes nothing). Safe to call at any time.
    fn cancel(&self) {
        self.cancel.cancel()
    }

    /// Adds the current image with the binarized last prediction to the context; returns
    /// the entry's id. Raises StateError (no image or no prediction).
    fn commit(&self) -> PyResult<u64> {
        self.lock().commit().py_err()
    }

    /// Adds the current image with `mask` (2D uint8/bool, nonzero = foreground) to the
    /// context, e.g. after correcting the prediction by hand; returns the id.
    fn commit_mask(&self, mask: &Bound<'_, PyAny>) -> PyResult<u64> {
        let (m, w, _) = mask_arg(mask, "mask")?;
        self.lock().commit_mask(&m, w).py_err()
    }

    // ---- the context set ----

    /// Adds an image and its mask (same size; nonzero = foreground) to the context;
    /// returns the new entry's id. The current image and prompts are not touched.
    #[pyo3(signature = (image, mask, window=None))]
    fn context_add(
        &self,
        image: &Bound<'_, PyAny>,
        mask: &Bound<'_, PyAny>,
        window: Option<(f32, f32)>,
    ) -> PyResult<u64> {
        let img = image_arg(image, "image")?;
        let (m, w, h) = mask_arg(mask, "mask")?;
        let v = img.view();
        if (w, h) != (v.width, v.height) {
            return Err(crate::errors::to_py(multiverseg::Error::arg(format!(
                "mask: shape ({h}, {w}) differs from the image's ({}, {})",
                v.height, v.width
            ))));
        }
        self.lock()
            .context_add(&v, window_arg(window), &m, w)
            .py_err()
    }

    /// Removes the entry `id`. Raises NotFoundError.
    fn context_remove(&self, id: u64) -> PyResult<()> {
        self.lock().context_remove(id).py_err()
    }

    /// The ids of the context entries, oldest first.
    fn context_ids(&self) -> Vec<u64> {
        self.lock().context_ids()
    }

    /// Number of context entries.
    #[getter]
    fn context_count(&self) -> usize {
        self.lock().context_count()
    }

    /// Removes every context entry.
    fn context_clear(&self) {
        self.lock().context_clear()
    }

    /// Saves the context set to `path` (written to a temporary name, then renamed).
    fn context_save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| self.lock().context_save(&path)).py_err()
    }

    /// Replaces the context set with the one saved in `path` (all or nothing). Raises
    /// IoError, FormatError (damaged file: checksum, sizes).
    fn context_load(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| self.lock().context_load(&path)).py_err()
    }

    /// Adds every image_N.png / mask_N.png pair of a folder (as SlicerMultiverSeg writes
    /// them). `label`: None = nonzero is foreground (label maps are refused); a value =
    /// pixels equal to it. Returns the new ids; all or nothing.
    #[pyo3(signature = (path, label=None))]
    fn context_import_folder(
        &self,
        py: Python<'_>,
        path: PathBuf,
        label: Option<u32>,
    ) -> PyResult<Vec<u64>> {
        let label = label.map_or(MaskLabel::Nonzero, MaskLabel::Value);
        py.detach(|| self.lock().context_import_folder(&path, label))
            .py_err()
    }

    /// Which entries a prediction uses: `cap` None = all; otherwise at most `cap`, the
    /// "latest" added or the "similar" ones (cosine similarity of 16x16 pooled images).
    #[pyo3(signature = (cap=None, select="latest"))]
    fn set_context_policy(&self, cap: Option<usize>, select: &str) -> PyResult<()> {
        let select = match select {
            "latest" => Select::Latest,
            "similar" => Select::Similar,
            other => {
                return Err(PyValueError::new_err(format!(
                    "select: '{other}' is not one of 'latest', 'similar'"
                )))
            }
        };
        self.lock()
            .set_context_policy(ContextPolicy { cap, select })
            .py_err()
    }

    /// Which network predicts an image once it has a prompt, while the context is not
    /// empty: "multiverseg" (the paper, the default), "unet", "mean" (the mean of both
    /// networks' logits) or "mean-for-clicks" (the mean while every prompt is a click).
    /// The prediction before any prompt and predict_batch are not affected by it.
    /// Raises ValueError naming the value; the setting is then unchanged.
    fn set_after_prompt(&self, after_prompt: &str) -> PyResult<()> {
        let a = AfterPrompt::from_name(after_prompt).py_err()?;
        self.lock().set_after_prompt(a);
        Ok(())
    }

    /// The after-prompt setting's name (see set_after_prompt).
    #[getter]
    fn after_prompt(&self) -> &'static str {
        self.lock().after_prompt().name()
    }

    /// Flip averaging of ScribblePrompt-UNet (default False: one pass, the official code's
    /// output). True: every UNet prediction is the mean of its logits over the four flips of
    /// its input (four passes); MultiverSegNet's predictions do not change.
    #[getter]
    fn unet_flip_average(&self) -> bool {
        self.lock().unet_flip_average()
    }

    #[setter]
    fn set_unet_flip_average(&self, on: bool) {
        self.lock().set_unet_flip_average(on);
    }

    fn __repr__(&self) -> String {
        let s = self.lock();
        format!(
            "multiverseg.Session(context_count={}, image_size={:?}, prompt_count={})",
            s.context_count(),
            s.target_size(),
            s.prompt_count()
        )
    }
}
