//! Pinned versions of everything the playground installs (see README, "What gets installed").

/// kind release used to create the cluster.
pub const KIND: &str = "v0.32.0";
/// Istio release: istioctl, the demo profile, the addons and Bookinfo all come from it.
pub const ISTIO: &str = "1.30.3";
/// MetalLB release whose native manifest is applied.
pub const METALLB: &str = "v0.16.1";

/// Host ports the playground binds on 127.0.0.1 and what they are for.
pub mod ports {
    /// The ingress gateway's HTTP port, mapped from the kind node's fixed NodePort. Open
    /// `http://localhost:9080/productpage` (9080 is also Bookinfo's own service port).
    pub const INGRESS_HTTP: u16 = 9080;
    /// The ingress gateway's HTTPS port.
    pub const INGRESS_HTTPS: u16 = 9443;
    /// NodePorts the kind config maps to the two host ports above.
    pub const INGRESS_HTTP_NODE_PORT: u16 = 30080;
    pub const INGRESS_HTTPS_NODE_PORT: u16 = 30443;
    /// Usual local ports of the dashboards (the ones `istioctl dashboard` uses). Another free
    /// port is taken when one of these is busy.
    pub const KIALI: u16 = 20001;
    pub const GRAFANA: u16 = 3000;
    pub const JAEGER: u16 = 16686;
    pub const PROMETHEUS: u16 = 9090;
}
