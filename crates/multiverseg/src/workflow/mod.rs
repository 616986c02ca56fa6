//! Working through a whole dataset rather than one image: which context entries a
//! prediction uses ([`policy`]), how unsure a prediction is ([`uncertainty`]), and the propagation of a context over a
//! series of slices ([`propagate`]), and an opt-in threshold fitted to the user's finished
//! images ([`calibration`]).

pub mod calibration;
pub mod flip_average;
pub mod policy;
pub mod propagate;
pub mod uncertainty;
