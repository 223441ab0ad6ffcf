//! The mesh model: what runs in the cluster and how a request travels through it, as a typed
//! graph (`build`), kept current change by change (`live`), its differences over time
//! (`diff`), the watchers that feed it (`watch`), and observed traffic laid onto it
//! (`traffic`).

pub mod build;
pub mod diff;
pub mod graph;
pub mod inputs;
pub mod live;
pub mod model;
pub mod samples;
pub mod traffic;
pub mod watch;

pub use build::build;
pub use graph::MeshGraph;
pub use inputs::MeshInputs;
pub use live::MeshModel;
pub use model::*;
pub use traffic::{NodeTraffic, SplitSeen, TrafficLink, TrafficOverlay, TrafficState};

#[cfg(test)]
mod tests;
