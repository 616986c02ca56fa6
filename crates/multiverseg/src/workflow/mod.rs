//! Working through a whole dataset rather than one image: which context entries a
//! prediction uses ([`policy`]), how unsure a prediction is ([`uncertainty`]), and the propagation of a context over a
//! series of slices ([`propagate`]), and an opt-in threshold fitted to the user's finished
//! images ([`calibration`]), opt-in flip averaging of the UNet ([`flip_average`]), and which
//! network predicts once an image has a prompt ([`after_prompt`]).

pub mod after_prompt;
pub mod calibration;
pub mod flip_average;
pub mod policy;
pub mod propagate;
pub mod uncertainty;
