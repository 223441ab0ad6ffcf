//! Two `curl` clients for the mutual-TLS lesson (Istio's "mutual TLS migration" task): one
//! in a namespace without sidecar injection, outside the mesh, and one in the mesh. The app
//! deploys them when first asked, then runs curl in each through the Kubernetes exec API
//! (the websocket protocol kubectl uses) and returns both results side by side: under STRICT
//! the outside client's plain-text request is reset (`curl: (56) ...`, HTTP 000) while the
//! inside one, whose sidecar speaks mutual TLS, keeps getting 200.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use kube::api::{Api, AttachParams, ListParams};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;
use ts_rs::TS;

use super::{ActionError, shell_word};
use crate::kube::apply::Applier;

type Result<T, E = ActionError> = std::result::Result<T, E>;

/// The namespace of the client outside the mesh (Istio's task calls it `legacy`).
pub const OUTSIDE_NAMESPACE: &str = "outside-mesh";
/// The namespace of the client inside the mesh: Bookinfo's, which has injection on.
pub const INSIDE_NAMESPACE: &str = "default";
/// The clients' Deployment, app label and container.
pub const CLIENT: &str = "curl-client";
const CONTAINER: &str = "curl";
/// curl's own image, kept running with `sleep` so the app can exec into it.
pub const CLIENT_IMAGE: &str = "curlimages/curl:8.16.0";
/// How long curl may take: a STRICT refusal is immediate, a wrong address is not.
const CURL_MAX_SECS: u32 = 5;
/// How long the first run waits for the client pods to start (the image is pulled once).
const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// Which client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum ClientPlace {
    /// In a namespace without injection: no sidecar, plain text.
    Outside,
    /// In Bookinfo's namespace, with a sidecar.
    Inside,
}

/// What to call from both clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ClientProbe {
    pub service: String,
    pub namespace: String,
    /// The path to request (`/productpage`); `/` when not given.
    pub path: Option<String>,
}

/// One client's curl.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ProbeResult {
    pub place: ClientPlace,
    pub namespace: String,
    pub pod: String,
    /// Whether the pod has an Istio sidecar (the reason the results differ).
    pub sidecar: bool,
    /// The same run by hand.
    pub kubectl: String,
    /// curl's exit code (0 success, 56 connection reset, 28 timeout...).
    pub exit_code: i32,
    /// The HTTP status; None when no answer came (curl prints 000).
    pub status: Option<u16>,
    /// What curl wrote on stderr (`curl: (56) Recv failure: Connection reset by peer`).
    pub error: String,
}

/// Both clients' results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ProbeReport {
    pub url: String,
    pub outside: ProbeResult,
    pub inside: ProbeResult,
    /// The objects this run created (namespace, Deployments); empty when they existed.
    pub created: Vec<String>,
}

/// The clients' objects as YAML (one namespace and two Deployments), written by the app.
pub fn manifests() -> String {
    let deployment = |namespace: &str| {
        format!(
            "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {CLIENT}
  namespace: {namespace}
  labels:
    app: {CLIENT}
    app.kubernetes.io/managed-by: {manager}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: {CLIENT}
  template:
    metadata:
      labels:
        app: {CLIENT}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: {CONTAINER}
        image: {CLIENT_IMAGE}
        command: [\"sleep\", \"infinity\"]
",
            manager = crate::FIELD_MANAGER
        )
    };
    format!(
        "apiVersion: v1
kind: Namespace
metadata:
  name: {OUTSIDE_NAMESPACE}
  labels:
    app.kubernetes.io/managed-by: {manager}
---
{}---
{}",
        deployment(OUTSIDE_NAMESPACE),
        deployment(INSIDE_NAMESPACE),
        manager = crate::FIELD_MANAGER
    )
}

/// The URL both clients request, after checking the Service exists.
#[tracing::instrument(skip(client))]
async fn target_url(client: &::kube::Client, probe: &ClientProbe) -> Result<String> {
    let svc = Api::<Service>::namespaced(client.clone(), &probe.namespace)
        .get_opt(&probe.service)
        .await
        .map_err(|source| ActionError::Read {
            what: format!("Service {}/{}", probe.namespace, probe.service),
            source,
        })?
        .ok_or_else(|| ActionError::UnknownService {
            service: probe.service.clone(),
            namespace: probe.namespace.clone(),
        })?;
    let port = svc
        .spec
        .and_then(|s| s.ports)
        .and_then(|p| p.first().map(|p| p.port))
        .unwrap_or(80);
    let path = probe.path.as_deref().unwrap_or("/");
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    Ok(format!(
        "http://{}.{}:{port}{path}",
        probe.service, probe.namespace
    ))
}

/// Creates the clients when they are missing; returns what it created.
#[tracing::instrument(skip(client))]
async fn ensure_clients(client: &::kube::Client) -> Result<Vec<String>> {
    let mut missing = Vec::new();
    if Api::<Namespace>::all(client.clone())
        .get_opt(OUTSIDE_NAMESPACE)
        .await
        .map_err(|source| ActionError::Read {
            what: format!("namespace {OUTSIDE_NAMESPACE}"),
            source,
        })?
        .is_none()
    {
        missing.push(format!("Namespace {OUTSIDE_NAMESPACE}"));
    }
    for ns in [OUTSIDE_NAMESPACE, INSIDE_NAMESPACE] {
        let exists = Api::<Deployment>::namespaced(client.clone(), ns)
            .get_opt(CLIENT)
            .await
            .map_err(|source| ActionError::Read {
                what: format!("Deployment {ns}/{CLIENT}"),
                source,
            })?
            .is_some();
        if !exists {
            missing.push(format!("Deployment {ns}/{CLIENT}"));
        }
    }
    if !missing.is_empty() {
        // Server-side apply of all three is idempotent: existing ones are left as they are.
        Applier::new(client.clone())
            .apply_yaml("curl clients", &manifests(), INSIDE_NAMESPACE)
            .await?;
    }
    Ok(missing)
}

/// The client's running pod, once there is one (the image may still be pulled).
#[tracing::instrument(skip(client))]
async fn running_pod(client: &::kube::Client, namespace: &str) -> Result<Pod> {
    let pods = Api::<Pod>::namespaced(client.clone(), namespace);
    let params = ListParams::default().labels(&format!("app={CLIENT}"));
    let ready = |p: &Pod| {
        p.metadata.deletion_timestamp.is_none()
            && p.status.as_ref().is_some_and(|s| {
                s.phase.as_deref() == Some("Running")
                    && s.container_statuses
                        .as_ref()
                        .is_some_and(|cs| cs.iter().all(|c| c.ready))
            })
    };
    // A poll rather than a watch: the pod that will run does not exist yet when this
    // starts (the Deployment makes it), and it is a few reads over seconds.
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    loop {
        let list = pods
            .list(&params)
            .await
            .map_err(|source| ActionError::Read {
                what: format!("pods of {namespace}/{CLIENT}"),
                source,
            })?;
        if let Some(p) = list.items.into_iter().find(ready) {
            return Ok(p);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ActionError::ClientNotReady {
                namespace: namespace.into(),
                waited_secs: READY_TIMEOUT.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The curl command both clients run: only the status on stdout, errors on stderr.
fn curl_command(url: &str) -> Vec<String> {
    [
        "curl",
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--max-time",
        &CURL_MAX_SECS.to_string(),
        url,
    ]
    .map(String::from)
    .to_vec()
}

/// Runs curl in the pod through the exec API and reads what it printed and its exit code.
#[tracing::instrument(skip(client, pod), fields(pod = pod.metadata.name.as_deref()))]
async fn run_curl(
    client: &::kube::Client,
    place: ClientPlace,
    pod: &Pod,
    url: &str,
) -> Result<ProbeResult> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let command = curl_command(url);
    let exec_err = |source| ActionError::Read {
        what: format!("curl in pod {namespace}/{name}"),
        source,
    };
    let mut attached = Api::<Pod>::namespaced(client.clone(), &namespace)
        .exec(
            &name,
            command.clone(),
            &AttachParams::default()
                .container(CONTAINER)
                .stdout(true)
                .stderr(true),
        )
        .await
        .map_err(exec_err)?;
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut out) = attached.stdout() {
        let _ = out.read_to_string(&mut stdout).await;
    }
    if let Some(mut err) = attached.stderr() {
        let _ = err.read_to_string(&mut stderr).await;
    }
    let status = match attached.take_status() {
        Some(s) => s.await,
        None => None,
    };
    let _ = attached.join().await;
    let exit_code = exit_code(status.as_ref());
    let sidecar = pod.spec.as_ref().is_some_and(|s| {
        s.containers.iter().any(|c| c.name == "istio-proxy")
            || s.init_containers
                .iter()
                .flatten()
                .any(|c| c.name == "istio-proxy")
    });
    Ok(ProbeResult {
        place,
        kubectl: format!(
            "kubectl exec -n {namespace} deploy/{CLIENT} -c {CONTAINER} -- {}",
            command
                .iter()
                .map(|w| shell_word(w))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        namespace,
        pod: name,
        sidecar,
        exit_code,
        status: stdout.trim().parse().ok().filter(|s| *s != 0),
        error: stderr.trim().to_string(),
    })
}

/// The exit code in the kubelet's final status (`NonZeroExitCode` with an `ExitCode` cause).
fn exit_code(status: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>) -> i32 {
    let Some(s) = status else { return -1 };
    if s.status.as_deref() == Some("Success") {
        return 0;
    }
    s.details
        .as_ref()
        .and_then(|d| d.causes.as_ref())
        .and_then(|c| c.iter().find(|c| c.reason.as_deref() == Some("ExitCode")))
        .and_then(|c| c.message.as_deref())
        .and_then(|m| m.parse().ok())
        .unwrap_or(-1)
}

/// Deploys the two clients when needed, then runs curl from each.
#[tracing::instrument(skip(client))]
pub async fn probe(client: &::kube::Client, probe: &ClientProbe) -> Result<ProbeReport> {
    // Not a name Kubernetes allows: no such Service (and nothing odd reaches the URL).
    if !super::is_dns_label(&probe.service) || !super::is_dns_label(&probe.namespace) {
        return Err(ActionError::UnknownService {
            service: probe.service.clone(),
            namespace: probe.namespace.clone(),
        });
    }
    if let Some(path) = &probe.path
        && path.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ActionError::InvalidHeader {
            name: "path".into(),
            reason: "a path cannot contain spaces".into(),
        });
    }
    let url = target_url(client, probe).await?;
    let created = ensure_clients(client).await?;
    let outside_pod = running_pod(client, OUTSIDE_NAMESPACE).await?;
    let inside_pod = running_pod(client, INSIDE_NAMESPACE).await?;
    let (outside, inside) = tokio::try_join!(
        run_curl(client, ClientPlace::Outside, &outside_pod, &url),
        run_curl(client, ClientPlace::Inside, &inside_pod, &url),
    )?;
    Ok(ProbeReport {
        url,
        outside,
        inside,
        created,
    })
}

/// Removes the clients (the namespace outside the mesh with its client, and the inside
/// client's Deployment).
#[tracing::instrument(skip(client))]
pub async fn remove(client: &::kube::Client) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    let dp = kube::api::DeleteParams::default();
    let del = |what: String| move |source| ActionError::Write { what, source };
    if Api::<Deployment>::namespaced(client.clone(), INSIDE_NAMESPACE)
        .delete(CLIENT, &dp)
        .await
        .map(|_| true)
        .or_else(|e| {
            not_found_is_false(
                e,
                del(format!("deleting Deployment {INSIDE_NAMESPACE}/{CLIENT}")),
            )
        })?
    {
        removed.push(format!("Deployment {INSIDE_NAMESPACE}/{CLIENT}"));
    }
    if Api::<Namespace>::all(client.clone())
        .delete(OUTSIDE_NAMESPACE, &dp)
        .await
        .map(|_| true)
        .or_else(|e| {
            not_found_is_false(e, del(format!("deleting namespace {OUTSIDE_NAMESPACE}")))
        })?
    {
        removed.push(format!("Namespace {OUTSIDE_NAMESPACE}"));
    }
    Ok(removed)
}

fn not_found_is_false(
    e: kube::Error,
    wrap: impl FnOnce(kube::Error) -> ActionError,
) -> Result<bool> {
    match &e {
        kube::Error::Api(s) if s.code == 404 => Ok(false),
        _ => Err(wrap(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clients_are_a_namespace_without_injection_and_two_deployments() {
        let docs: Vec<serde_yaml_ng::Value> = serde_yaml_ng::Deserializer::from_str(&manifests())
            .map(serde_yaml_ng::Value::deserialize)
            .collect::<std::result::Result<_, _>>()
            .unwrap();
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[0]["kind"], "Namespace");
        assert!(
            docs[0]["metadata"]["labels"]
                .get("istio-injection")
                .is_none(),
            "outside the mesh: no injection label"
        );
        for (doc, ns) in docs[1..].iter().zip([OUTSIDE_NAMESPACE, INSIDE_NAMESPACE]) {
            assert_eq!(doc["kind"], "Deployment");
            assert_eq!(doc["metadata"]["namespace"], ns);
            let c = &doc["spec"]["template"]["spec"]["containers"][0];
            assert_eq!(c["image"], CLIENT_IMAGE);
            assert_eq!(c["name"], CONTAINER);
        }
    }

    #[test]
    fn the_exit_code_comes_from_the_kubelets_status() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, StatusCause, StatusDetails};
        let ok = Status {
            status: Some("Success".into()),
            ..Default::default()
        };
        assert_eq!(exit_code(Some(&ok)), 0);
        let reset = Status {
            status: Some("Failure".into()),
            reason: Some("NonZeroExitCode".into()),
            details: Some(StatusDetails {
                causes: Some(vec![StatusCause {
                    reason: Some("ExitCode".into()),
                    message: Some("56".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(exit_code(Some(&reset)), 56);
        assert_eq!(exit_code(None), -1);
    }
}
