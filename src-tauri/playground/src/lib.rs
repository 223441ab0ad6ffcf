//! `playground`: everything Istio Playground does, with no window. The Tauri app and the CLI
//! are thin shells over this crate, so every behaviour can be tested without a display.

pub mod actions;
pub mod dashboards;
pub mod error;
pub mod kube;
pub mod lessons;
pub mod logging;
pub mod mesh;
pub mod paths;
pub mod preflight;
pub mod provision;
pub mod session;
pub mod simulated;
pub mod telemetry;
pub mod time;
pub mod traffic;
pub mod versions;

pub use error::{Error, ErrorCode, Result};
/// Typed Istio resources and host resolution (the `playground-istio` crate, which the
/// simulated cluster shares).
pub use playground_istio as istio;
pub use session::Session;

/// Name of the kind cluster the playground creates and the only one it writes to by default.
pub const CLUSTER_NAME: &str = "istio-playground";
/// kind names the kubeconfig context after the cluster.
pub const CLUSTER_CONTEXT: &str = "kind-istio-playground";
/// Field manager for every server-side apply the app makes.
pub const FIELD_MANAGER: &str = "istio-playground";
