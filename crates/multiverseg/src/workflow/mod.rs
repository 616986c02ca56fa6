//! Working through a whole dataset rather than one image: which context entries a
//! prediction uses ([`policy`]), how unsure a prediction is ([`uncertainty`]).

pub mod policy;
pub mod uncertainty;
