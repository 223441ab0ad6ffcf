//! Host ports the playground will bind on 127.0.0.1 must be free.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use serde::Serialize;

use super::{CheckId, CheckResult, CheckStatus};
use crate::versions::ports;

/// A host port the playground plans to use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedPort {
    pub port: u16,
    pub purpose: &'static str,
    /// Required ports are fixed by the cluster's port mappings; the others are only the
    /// usual choice and another free port is taken when they are busy.
    pub required: bool,
}

pub fn planned() -> Vec<PlannedPort> {
    let p = |port, purpose, required| PlannedPort {
        port,
        purpose,
        required,
    };
    vec![
        p(ports::INGRESS_HTTP, "the ingress gateway (HTTP)", true),
        p(ports::INGRESS_HTTPS, "the ingress gateway (HTTPS)", true),
        p(ports::KIALI, "Kiali", false),
        p(ports::GRAFANA, "Grafana", false),
        p(ports::JAEGER, "Jaeger", false),
        p(ports::PROMETHEUS, "Prometheus", false),
    ]
}

const WHY: &str = "The playground's ingress answers on fixed ports of this machine, and the dashboards use their usual ports when free.";

/// A port is busy when binding 127.0.0.1 fails or something already answers there (the
/// second catches listeners on 0.0.0.0 where the OS lets a more specific bind succeed).
pub fn is_busy(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    if TcpListener::bind(addr).is_err() {
        return true;
    }
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

pub(super) async fn check(planned: &[PlannedPort], ours: &[u16]) -> CheckResult {
    let planned = planned.to_vec();
    let ours = ours.to_vec();
    tokio::task::spawn_blocking(move || grade(&planned, &ours, is_busy))
        .await
        .unwrap_or_else(|e| CheckResult {
            id: CheckId::Ports,
            title: "Free ports".into(),
            status: CheckStatus::Warn,
            summary: format!("The port check did not finish: {e}"),
            why: WHY.into(),
            fix: None,
            elapsed_ms: 0,
        })
}

fn grade(planned: &[PlannedPort], ours: &[u16], busy: impl Fn(u16) -> bool) -> CheckResult {
    let mut blocked = Vec::new();
    let mut moved = Vec::new();
    let mut reused = Vec::new();
    for p in planned {
        if !busy(p.port) {
            continue;
        }
        if ours.contains(&p.port) {
            reused.push(p);
        } else if p.required {
            blocked.push(p);
        } else {
            moved.push(p);
        }
    }
    let list = |ps: &[&PlannedPort]| {
        ps.iter()
            .map(|p| format!("{} ({})", p.port, p.purpose))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let all = planned
        .iter()
        .map(|p| p.port.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let (status, mut summary, fix) = if !blocked.is_empty() {
        (
            CheckStatus::Fail,
            format!("Port {} is used by another program.", list(&blocked)),
            Some(format!(
                "Stop the program that uses port {} (find it with `lsof -i :{}` on Linux and macOS, `netstat -ano | findstr :{}` on Windows), then press Check again.",
                blocked[0].port, blocked[0].port, blocked[0].port
            )),
        )
    } else if !moved.is_empty() {
        (
            CheckStatus::Warn,
            format!(
                "Port {} is busy; that dashboard will open on another free port.",
                list(&moved)
            ),
            None,
        )
    } else {
        (CheckStatus::Pass, format!("Ports {all} are free."), None)
    };
    if !reused.is_empty() {
        summary.push_str(&format!(
            " {} already belong to the playground's running cluster.",
            list(&reused)
        ));
    }
    CheckResult {
        id: CheckId::Ports,
        title: "Free ports".into(),
        status,
        summary,
        why: WHY.into(),
        fix,
        elapsed_ms: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_ingress_port_fails_and_names_the_port() {
        let row = grade(&planned(), &[], |p| p == ports::INGRESS_HTTP);
        assert_eq!(row.status, CheckStatus::Fail);
        assert!(row.summary.contains("9080"), "{}", row.summary);
        assert!(row.fix.unwrap().contains("lsof -i :9080"));
    }

    #[test]
    fn a_busy_dashboard_port_only_warns() {
        let row = grade(&planned(), &[], |p| p == ports::GRAFANA);
        assert_eq!(row.status, CheckStatus::Warn);
        assert!(row.summary.contains("3000 (Grafana)"));
    }

    #[test]
    fn ports_held_by_the_playgrounds_own_cluster_pass() {
        let row = grade(&planned(), &[ports::INGRESS_HTTP], |p| {
            p == ports::INGRESS_HTTP
        });
        assert_eq!(row.status, CheckStatus::Pass);
        assert!(row.summary.contains("belong to the playground"));
    }

    #[test]
    fn a_port_this_test_listens_on_is_busy() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(is_busy(port));
        drop(listener);
        assert!(!is_busy(port));
    }
}
