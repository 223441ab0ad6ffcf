//! The mesh model: what runs in the cluster and how a request travels through it, as a typed
//! graph (`build`), kept current change by change (`live`), its differences over time
//! (`diff`), and the watchers that feed it (`watch`).

pub mod build;
pub mod diff;
pub mod graph;
pub mod inputs;
pub mod live;
pub mod model;
pub mod samples;
pub mod watch;

pub use build::build;
pub use graph::MeshGraph;
pub use inputs::MeshInputs;
pub use live::MeshModel;
pub use model::*;

#[cfg(test)]
mod tests;
