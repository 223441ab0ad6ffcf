//! The observability dashboards (Kiali, Grafana, Jaeger, Prometheus) through port-forwards
//! over the Kubernetes API, like `istioctl dashboard` does: a listener on 127.0.0.1 (the
//! usual port when it is free, another one when not), and for every connection a fresh
//! port-forward to a ready pod of the addon's Service, looked up again each time so the
//! forward follows the pod when it restarts.

use std::net::{Ipv4Addr, SocketAddr};

use ::kube::api::{Api, ListParams};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use ts_rs::TS;

/// Where the addons live.
pub const ADDONS_NAMESPACE: &str = "istio-system";

/// The four dashboards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum Dashboard {
    Kiali,
    Grafana,
    Jaeger,
    Prometheus,
}

impl Dashboard {
    pub const ALL: [Dashboard; 4] = [
        Dashboard::Kiali,
        Dashboard::Grafana,
        Dashboard::Jaeger,
        Dashboard::Prometheus,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Dashboard::Kiali => "Kiali",
            Dashboard::Grafana => "Grafana",
            Dashboard::Jaeger => "Jaeger",
            Dashboard::Prometheus => "Prometheus",
        }
    }

    /// The addon's Service in istio-system.
    pub fn service(self) -> &'static str {
        match self {
            Dashboard::Kiali => "kiali",
            Dashboard::Grafana => "grafana",
            Dashboard::Jaeger => "tracing",
            Dashboard::Prometheus => "prometheus",
        }
    }

    /// The Service port the UI is on.
    pub fn service_port(self) -> u16 {
        match self {
            Dashboard::Kiali => 20001,
            Dashboard::Grafana => 3000,
            Dashboard::Jaeger => 80,
            Dashboard::Prometheus => 9090,
        }
    }

    /// The local port `istioctl dashboard` uses, tried first.
    pub fn usual_local_port(self) -> u16 {
        match self {
            Dashboard::Kiali => 20001,
            Dashboard::Grafana => 3000,
            Dashboard::Jaeger => 16686,
            Dashboard::Prometheus => 9090,
        }
    }

    /// The page to open: Kiali's web root, Grafana's Istio mesh dashboard.
    pub fn path(self) -> &'static str {
        match self {
            Dashboard::Kiali => "/kiali",
            Dashboard::Grafana => "/d/1a9a8ea49444aae205c7737573e894f9",
            Dashboard::Jaeger => "/",
            Dashboard::Prometheus => "/",
        }
    }

    /// Other pages worth a link (Grafana's control-plane dashboard).
    pub fn extra_paths(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Dashboard::Grafana => &[("Istio control plane", "/d/1813f692a8e4ac77155348d4c7d2fba8")],
            _ => &[],
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|d| d.title().eq_ignore_ascii_case(s) || d.service() == s)
    }
}

/// Why a dashboard could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DashboardError {
    /// The simulated cluster has no pods to forward to.
    #[error(
        "{0} needs a real cluster: the simulated playground has no real pods to port-forward to"
    )]
    Simulated(&'static str),
    /// The addon is not installed.
    #[error("{dashboard} is not installed: there is no Service {service} in istio-system")]
    NotInstalled {
        dashboard: &'static str,
        service: &'static str,
    },
    /// The addon has no ready pod.
    #[error("{0} has no ready pod yet")]
    NoReadyPod(&'static str),
    /// No local port could be opened.
    #[error("could not listen on 127.0.0.1: {0}")]
    Bind(std::io::Error),
    /// Reading the cluster failed.
    #[error("reading {what} failed: {source}")]
    Kube {
        what: String,
        #[source]
        source: ::kube::Error,
    },
    #[error("unknown dashboard {0:?} (known: kiali, grafana, jaeger, prometheus)")]
    Unknown(String),
}

impl DashboardError {
    pub fn code(&self) -> crate::ErrorCode {
        match self {
            DashboardError::Simulated(_) => crate::ErrorCode::DashboardNeedsRealCluster,
            DashboardError::NotInstalled { .. } => crate::ErrorCode::DashboardNotInstalled,
            DashboardError::NoReadyPod(_) => crate::ErrorCode::DashboardNotReady,
            DashboardError::Bind(_) => crate::ErrorCode::DashboardBind,
            DashboardError::Kube { .. } => crate::ErrorCode::Kube,
            DashboardError::Unknown(_) => crate::ErrorCode::InvalidInput,
        }
    }

    pub fn hint(&self) -> Option<String> {
        Some(match self {
            DashboardError::Simulated(_) => {
                "Set up the real playground (Setup screen, needs Docker) to use the dashboards; traffic and weights work here too.".into()
            }
            DashboardError::NotInstalled { .. } => {
                "The addons are installed by Set up; run it again to finish the addons step.".into()
            }
            DashboardError::NoReadyPod(_) => {
                "Wait a minute for the addon to start (see istio-system on the Mesh screen), then try again.".into()
            }
            DashboardError::Bind(_) => "Close other programs that hold many local ports, then try again.".into(),
            DashboardError::Kube { .. } => {
                "Check that the playground cluster is running (Setup screen).".into()
            }
            DashboardError::Unknown(_) => "Use kiali, grafana, jaeger or prometheus.".into(),
        })
    }
}

/// An open dashboard, as the UI shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DashboardLink {
    pub dashboard: Dashboard,
    pub title: String,
    /// The page to open, e.g. `http://127.0.0.1:20001/kiali`.
    pub url: String,
    pub local_port: u16,
    /// False when the usual port was taken and another one is used.
    pub usual_port: bool,
    /// Other useful pages on the same forward: (label, url).
    pub extra: Vec<(String, String)>,
    /// The command that does the same by hand.
    pub command: String,
}

/// A running port-forward; dropping it closes the listener.
pub struct PortForward {
    pub link: DashboardLink,
    task: JoinHandle<()>,
}

impl Drop for PortForward {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds 127.0.0.1 on `preferred` when free, else on a port the OS picks.
pub async fn bind_local(preferred: u16) -> Result<(TcpListener, bool), DashboardError> {
    match TcpListener::bind((Ipv4Addr::LOCALHOST, preferred)).await {
        Ok(l) => Ok((l, true)),
        Err(_) => TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map(|l| (l, false))
            .map_err(DashboardError::Bind),
    }
}

/// The Service's selector and the pod port behind `service_port` (a number, or a name to
/// look up on the pod).
async fn resolve_service(
    client: &::kube::Client,
    dashboard: Dashboard,
) -> Result<(String, IntOrString), DashboardError> {
    let services: Api<Service> = Api::namespaced(client.clone(), ADDONS_NAMESPACE);
    let svc = services
        .get_opt(dashboard.service())
        .await
        .map_err(|source| DashboardError::Kube {
            what: format!("Service {}", dashboard.service()),
            source,
        })?
        .ok_or(DashboardError::NotInstalled {
            dashboard: dashboard.title(),
            service: dashboard.service(),
        })?;
    let spec = svc.spec.unwrap_or_default();
    let selector = spec
        .selector
        .unwrap_or_default()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let target = spec
        .ports
        .unwrap_or_default()
        .into_iter()
        .find(|p| p.port == i32::from(dashboard.service_port()))
        .and_then(|p| p.target_port)
        .unwrap_or(IntOrString::Int(i32::from(dashboard.service_port())));
    Ok((selector, target))
}

/// A ready pod of the Service and the container port to forward to.
#[tracing::instrument(skip(client))]
pub async fn ready_pod(
    client: &::kube::Client,
    dashboard: Dashboard,
) -> Result<(String, u16), DashboardError> {
    let (selector, target) = resolve_service(client, dashboard).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), ADDONS_NAMESPACE);
    let list = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|source| DashboardError::Kube {
            what: format!("pods of {}", dashboard.service()),
            source,
        })?;
    let pod = list
        .into_iter()
        .find(|p| {
            p.metadata.deletion_timestamp.is_none()
                && p.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .ok_or(DashboardError::NoReadyPod(dashboard.title()))?;
    let port = match target {
        IntOrString::Int(n) => n,
        IntOrString::String(name) => pod
            .spec
            .as_ref()
            .into_iter()
            .flat_map(|s| s.containers.iter())
            .flat_map(|c| c.ports.iter().flatten())
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .map(|p| p.container_port)
            .unwrap_or(i32::from(dashboard.service_port())),
    };
    Ok((
        pod.metadata.name.unwrap_or_default(),
        u16::try_from(port).unwrap_or(dashboard.service_port()),
    ))
}

/// Opens a port-forward for a dashboard. `simulated` refuses plainly: the simulated cluster
/// has no real pods, and faking a dashboard would teach the wrong thing.
#[tracing::instrument(skip(client))]
pub async fn open(
    client: ::kube::Client,
    dashboard: Dashboard,
    simulated: bool,
) -> Result<PortForward, DashboardError> {
    if simulated {
        return Err(DashboardError::Simulated(dashboard.title()));
    }
    // Fail now, with a reason, when the addon is missing or not ready.
    ready_pod(&client, dashboard).await?;
    let (listener, usual_port) = bind_local(dashboard.usual_local_port()).await?;
    let local_port = listener.local_addr().map_err(DashboardError::Bind)?.port();
    let base = format!("http://127.0.0.1:{local_port}");
    let link = DashboardLink {
        dashboard,
        title: dashboard.title().into(),
        url: format!("{base}{}", dashboard.path()),
        local_port,
        usual_port,
        extra: dashboard
            .extra_paths()
            .iter()
            .map(|(label, path)| ((*label).to_string(), format!("{base}{path}")))
            .collect(),
        command: format!(
            "kubectl port-forward -n {ADDONS_NAMESPACE} svc/{} {local_port}:{}",
            dashboard.service(),
            dashboard.service_port()
        ),
    };
    let task = tokio::spawn(accept_loop(client, dashboard, listener));
    tracing::info!(url = %link.url, "dashboard forwarded");
    Ok(PortForward { link, task })
}

async fn accept_loop(client: ::kube::Client, dashboard: Dashboard, listener: TcpListener) {
    loop {
        let Ok((conn, peer)) = listener.accept().await else {
            continue;
        };
        let client = client.clone();
        tokio::spawn(async move {
            if let Err(e) = forward_one(&client, dashboard, conn, peer).await {
                tracing::warn!(dashboard = dashboard.title(), error = %e, "forwarded connection failed");
            }
        });
    }
}

#[tracing::instrument(skip(client, conn))]
async fn forward_one(
    client: &::kube::Client,
    dashboard: Dashboard,
    mut conn: TcpStream,
    peer: SocketAddr,
) -> Result<(), String> {
    // Looked up for every connection: after a restart the next connection finds the new pod.
    let (pod, port) = ready_pod(client, dashboard)
        .await
        .map_err(|e| e.to_string())?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), ADDONS_NAMESPACE);
    let mut forwarder = pods
        .portforward(&pod, &[port])
        .await
        .map_err(|e| e.to_string())?;
    let mut upstream = forwarder
        .take_stream(port)
        .ok_or("the port-forward has no stream")?;
    let _ = tokio::io::copy_bidirectional(&mut conn, &mut upstream).await;
    drop(upstream);
    let _ = forwarder.join().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dashboards_use_the_addons_ports_and_grafana_opens_the_istio_mesh_dashboard() {
        assert_eq!(Dashboard::parse("jaeger"), Some(Dashboard::Jaeger));
        assert_eq!(Dashboard::parse("tracing"), Some(Dashboard::Jaeger));
        assert_eq!(Dashboard::Jaeger.usual_local_port(), 16686);
        assert_eq!(Dashboard::Jaeger.service_port(), 80);
        assert_eq!(Dashboard::Kiali.path(), "/kiali");
        assert!(
            Dashboard::Grafana
                .path()
                .ends_with("1a9a8ea49444aae205c7737573e894f9")
        );
        assert_eq!(Dashboard::parse("loki"), None);
    }

    #[tokio::test]
    async fn a_taken_usual_port_falls_back_to_another_on_loopback() {
        let (first, usual) = bind_local(0).await.unwrap();
        assert!(usual);
        let taken = first.local_addr().unwrap().port();
        let (second, usual) = bind_local(taken).await.unwrap();
        assert!(!usual);
        let addr = second.local_addr().unwrap();
        assert_ne!(addr.port(), taken);
        assert!(addr.ip().is_loopback());
    }
}
