//! numpy arrays to the library's image and mask views.
//!
//! Images: 2D arrays of uint8, uint16, int16 or float32. A view whose rows are
//! contiguous (column step of one element, positive row step) is read in place, with its
//! row stride; anything else (a transposed or column-strided view, a negative step) is
//! copied into a packed buffer first. Masks: 2D uint8 or bool, nonzero = foreground.

use multiverseg::{ImageView, Pixels};
use numpy::ndarray::ArrayView2;
use numpy::{
    Element, PyArrayDescrMethods, PyReadonlyArray2, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

/// Pixels of one supported type, borrowed from numpy or copied.
pub enum ImagePixels {
    /// uint8.
    U8(Vec<u8>),
    /// uint16.
    U16(Vec<u16>),
    /// int16.
    I16(Vec<i16>),
    /// float32.
    F32(Vec<f32>),
}

/// An image taken from a numpy array: owned pixels (packed) or a borrowed array.
pub enum ImageArg<'py> {
    /// The array itself (rows contiguous): read in place.
    U8(PyReadonlyArray2<'py, u8>),
    /// See [`ImageArg::U8`].
    U16(PyReadonlyArray2<'py, u16>),
    /// See [`ImageArg::U8`].
    I16(PyReadonlyArray2<'py, i16>),
    /// See [`ImageArg::U8`].
    F32(PyReadonlyArray2<'py, f32>),
    /// A copy of a view whose rows are not contiguous.
    Owned(OwnedImage),
}

/// A packed copy of an image: pixels, width, height.
pub struct OwnedImage(ImagePixels, usize, usize);

impl OwnedImage {
    /// The library's view of the copy.
    pub fn view(&self) -> ImageView<'_> {
        let pixels = match &self.0 {
            ImagePixels::U8(v) => Pixels::U8(v),
            ImagePixels::U16(v) => Pixels::U16(v),
            ImagePixels::I16(v) => Pixels::I16(v),
            ImagePixels::F32(v) => Pixels::F32(v),
        };
        ImageView::packed(pixels, self.1, self.2)
    }
}

/// Where the rows of a 2D view lie: Some(row stride in elements) when every row is
/// contiguous and rows go forward, so the view can be read in place.
fn row_stride<T>(a: &ArrayView2<T>) -> Option<usize> {
    let (h, w) = a.dim();
    let s = a.strides();
    let col_ok = w <= 1 || s[1] == 1;
    let row_ok = h <= 1 || (s[0] > 0 && s[0] as usize >= w);
    (col_ok && row_ok).then(|| if h <= 1 { w } else { s[0] as usize })
}

/// The ndarray, or TypeError/ValueError naming `name` and what is supported.
fn untyped<'a, 'py>(
    obj: &'a Bound<'py, PyAny>,
    name: &str,
) -> PyResult<&'a Bound<'py, PyUntypedArray>> {
    let a = obj.cast::<PyUntypedArray>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{name}: expected a 2D numpy array, got {}",
            obj.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    })?;
    if a.ndim() != 2 {
        return Err(PyValueError::new_err(format!(
            "{name}: expected a 2D array (height, width), got {} dimensions with shape {:?}",
            a.ndim(),
            a.shape()
        )));
    }
    Ok(a)
}

fn is<T: Element>(a: &Bound<'_, PyUntypedArray>) -> bool {
    a.dtype().is_equiv_to(&numpy::dtype::<T>(a.py()))
}

/// Reads `obj` as an image. Errors: TypeError (not an ndarray, or an unsupported dtype,
/// naming the supported ones), ValueError (not 2D).
pub fn image_arg<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<ImageArg<'py>> {
    let a = untyped(obj, name)?;
    macro_rules! take {
        ($t:ty, $var:ident, $own:ident) => {{
            let r: PyReadonlyArray2<'py, $t> = obj.extract()?;
            let v = r.as_array();
            if row_stride(&v).is_some() {
                return Ok(ImageArg::$var(r));
            }
            let (h, w) = v.dim();
            return Ok(ImageArg::Owned(OwnedImage(
                ImagePixels::$own(v.iter().copied().collect()),
                w,
                h,
            )));
        }};
    }
    if is::<u8>(a) {
        take!(u8, U8, U8)
    }
    if is::<u16>(a) {
        take!(u16, U16, U16)
    }
    if is::<i16>(a) {
        take!(i16, I16, I16)
    }
    if is::<f32>(a) {
        take!(f32, F32, F32)
    }
    Err(PyTypeError::new_err(format!(
        "{name}: dtype {} is not supported; use uint8, uint16, int16 or float32 \
         (e.g. image.astype(numpy.float32))",
        a.dtype()
    )))
}

/// A borrowed slice of a 2D view read in place: (slice from the first pixel, stride).
fn in_place<'a, T>(v: &ArrayView2<'a, T>) -> (&'a [T], usize) {
    let (h, w) = v.dim();
    let stride = row_stride(v).expect("checked by image_arg");
    let len = if h == 0 || w == 0 {
        0
    } else {
        (h - 1) * stride + w
    };
    // SAFETY: rows are contiguous and go forward (row_stride), so the `len` elements from
    // the first pixel lie inside the array's buffer; the borrow lives as long as `v`'s.
    (
        unsafe { std::slice::from_raw_parts(v.as_ptr(), len) },
        stride,
    )
}

impl ImageArg<'_> {
    /// The library's view of the image (no copy).
    pub fn view(&self) -> ImageView<'_> {
        fn mk<'a, T>(v: ArrayView2<'a, T>, f: fn(&'a [T]) -> Pixels<'a>) -> ImageView<'a> {
            let (h, w) = v.dim();
            let (s, stride) = in_place(&v);
            ImageView {
                pixels: f(s),
                width: w,
                height: h,
                stride,
            }
        }
        match self {
            ImageArg::U8(r) => mk(r.as_array(), Pixels::U8),
            ImageArg::U16(r) => mk(r.as_array(), Pixels::U16),
            ImageArg::I16(r) => mk(r.as_array(), Pixels::I16),
            ImageArg::F32(r) => mk(r.as_array(), Pixels::F32),
            ImageArg::Owned(o) => o.view(),
        }
    }

    /// A packed copy (for calls that run without the GIL, when the caller's array could
    /// change under them).
    pub fn to_owned(&self) -> OwnedImage {
        let v = self.view();
        let (w, h) = (v.width, v.height);
        fn pack<T: Copy>(p: &[T], w: usize, h: usize, s: usize) -> Vec<T> {
            (0..h)
                .flat_map(|y| p[y * s..y * s + w].iter().copied())
                .collect()
        }
        let p = match v.pixels {
            Pixels::U8(p) => ImagePixels::U8(pack(p, w, h, v.stride)),
            Pixels::U16(p) => ImagePixels::U16(pack(p, w, h, v.stride)),
            Pixels::I16(p) => ImagePixels::I16(pack(p, w, h, v.stride)),
            Pixels::F32(p) => ImagePixels::F32(pack(p, w, h, v.stride)),
        };
        OwnedImage(p, w, h)
    }
}

/// Reads `obj` as a mask: (packed bytes, width, height), nonzero = foreground. Errors:
/// TypeError (not an ndarray, or not uint8/bool), ValueError (not 2D).
pub fn mask_arg(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<(Vec<u8>, usize, usize)> {
    let a = untyped(obj, name)?;
    if is::<u8>(a) {
        let r: PyReadonlyArray2<u8> = obj.extract()?;
        let v = r.as_array();
        let (h, w) = v.dim();
        return Ok((v.iter().copied().collect(), w, h));
    }
    if is::<bool>(a) {
        let r: PyReadonlyArray2<bool> = obj.extract()?;
        let v = r.as_array();
        let (h, w) = v.dim();
        return Ok((v.iter().map(|&b| b as u8).collect(), w, h));
    }
    Err(PyTypeError::new_err(format!(
        "{name}: dtype {} is not supported for masks; use uint8 or bool (nonzero = foreground)",
        a.dtype()
    )))
}

/// A window from Python: None = the image's min-max, or (lo, hi).
pub fn window_arg(w: Option<(f32, f32)>) -> multiverseg::Window {
    match w {
        None => multiverseg::Window::MinMax,
        Some((lo, hi)) => multiverseg::Window::Range(lo, hi),
    }
}
