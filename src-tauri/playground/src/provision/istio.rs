//! Istio: `istioctl install --set profile=demo -y`, the ingress gateway's fixed NodePorts
//! (which the kind port mappings lead to), and the mesh-wide Telemetry for Jaeger.

use std::ffi::OsString;
use std::path::Path;

use ::kube::api::{Api, DynamicObject, Patch, PatchParams};
use ::kube::core::GroupVersionKind;
use ::kube::discovery::ApiResource;
use serde_json::{Value, json};

use super::process::ToolCommand;
use super::{Error, ProvisionConfig, StepCtx};
use crate::versions::ports;

/// The mesh-wide Telemetry this project writes.
pub const TELEMETRY: &str = include_str!("../../../../manifests/telemetry.yaml");

pub const NAMESPACE: &str = "istio-system";
pub const GATEWAY_SERVICE: &str = "istio-ingressgateway";

/// Lines istioctl prints as it finishes each part; each moves the progress bar.
const MILESTONES: [&str; 5] = [
    "Istio core installed",
    "Istiod installed",
    "Egress gateways installed",
    "Ingress gateways installed",
    "Installation complete",
];

fn services() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", "Service"), "services")
}

/// The istioctl command line, with the kubeconfig and context always explicit.
pub fn install_args(cfg: &ProvisionConfig) -> Vec<OsString> {
    ["install", "--set", "profile=demo", "-y", "--kubeconfig"]
        .iter()
        .map(OsString::from)
        .chain([
            OsString::from(&cfg.target.kubeconfig),
            OsString::from("--context"),
            OsString::from(&cfg.target.context),
        ])
        .collect()
}

fn install_hint(output: &str, memory_hint: &str) -> String {
    let lower = output.to_lowercase();
    if lower.contains("timed out")
        || lower.contains("deadline exceeded")
        || lower.contains("not ready")
    {
        memory_hint.to_string()
    } else if lower.contains("connection refused") || lower.contains("unable to connect") {
        "The cluster does not answer: check Docker, then press \"Set up\" again.".into()
    } else {
        "Read the last lines above, then press \"Set up\" again (installing twice is safe).".into()
    }
}

/// Runs `istioctl install`, its output streamed into the log.
pub async fn install(
    cfg: &ProvisionConfig,
    ctx: &StepCtx,
    istioctl: &Path,
    memory_hint: &str,
) -> Result<(), Error> {
    let mut seen = 0usize;
    ToolCommand {
        tool: "istioctl",
        program: istioctl,
        args: install_args(cfg),
        env: cfg.child_env(),
        timeout: cfg.timeouts.istio_install,
    }
    .run_ok(
        ctx,
        |line| {
            if MILESTONES.iter().any(|m| line.contains(m)) {
                seen += 1;
                ctx.progress(80.0 * seen as f32 / MILESTONES.len() as f32, None);
            }
        },
        memory_hint,
        |o| install_hint(o, memory_hint),
    )
    .await?;
    Ok(())
}

/// The service's ports as (name, nodePort).
fn node_ports(svc: &Value) -> Vec<(String, Option<i64>, i64)> {
    svc.pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    (
                        p["name"].as_str().unwrap_or_default().to_string(),
                        p["nodePort"].as_i64(),
                        p["port"].as_i64().unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The patch that fixes the gateway's HTTP and HTTPS NodePorts, or None when they already
/// are 30080 and 30443. Ports are matched by Istio's names (`http2`, `https`).
pub fn gateway_ports_patch(svc: &Value) -> Result<Option<Value>, String> {
    let ports_now = node_ports(svc);
    let mut patch_ports = Vec::new();
    for (name, want) in [
        ("http2", ports::INGRESS_HTTP_NODE_PORT),
        ("https", ports::INGRESS_HTTPS_NODE_PORT),
    ] {
        let (_, node_port, port) = ports_now
            .iter()
            .find(|(n, _, _)| n == name)
            .ok_or_else(|| format!("the service has no port named {name}"))?;
        if *node_port != Some(i64::from(want)) {
            // Strategic merge: list items are matched by `port`.
            patch_ports.push(json!({"port": port, "nodePort": want}));
        }
    }
    Ok((!patch_ports.is_empty()).then(|| json!({"spec": {"ports": patch_ports}})))
}

/// Reads the gateway service; None when Istio is not installed.
pub async fn gateway_service(client: &::kube::Client) -> Result<Option<Value>, Error> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), NAMESPACE, &services());
    let svc = api
        .get_opt(GATEWAY_SERVICE)
        .await
        .map_err(|source| Error::Kube {
            what: format!("reading service {NAMESPACE}/{GATEWAY_SERVICE}"),
            source,
        })?;
    Ok(svc.map(|s| serde_json::to_value(s).unwrap_or_default()))
}

/// Sets the gateway's NodePorts to the ones the kind config maps to localhost. Returns
/// whether anything changed.
#[tracing::instrument(skip_all)]
pub async fn fix_gateway_ports(client: &::kube::Client, ctx: &StepCtx) -> Result<bool, Error> {
    let svc = gateway_service(client).await?.ok_or_else(|| {
        Error::Precondition(format!(
            "the service {NAMESPACE}/{GATEWAY_SERVICE} does not exist after installing Istio"
        ))
    })?;
    let Some(patch) = gateway_ports_patch(&svc).map_err(Error::Precondition)? else {
        return Ok(false);
    };
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), NAMESPACE, &services());
    api.patch(
        GATEWAY_SERVICE,
        &PatchParams::default(),
        &Patch::Strategic(&patch),
    )
    .await
    .map_err(|source| Error::Kube {
        what: format!(
            "setting the gateway's NodePorts to {} and {} (another Service may hold them)",
            ports::INGRESS_HTTP_NODE_PORT,
            ports::INGRESS_HTTPS_NODE_PORT
        ),
        source,
    })?;
    ctx.log(format!(
        "Ingress gateway NodePorts set: http2 -> {}, https -> {} (localhost:{} and :{} lead there)",
        ports::INGRESS_HTTP_NODE_PORT,
        ports::INGRESS_HTTPS_NODE_PORT,
        ports::INGRESS_HTTP,
        ports::INGRESS_HTTPS
    ));
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(http: i64, https: i64) -> Value {
        json!({"spec": {"ports": [
            {"name": "status-port", "port": 15021, "nodePort": 31000},
            {"name": "http2", "port": 80, "targetPort": 8080, "nodePort": http},
            {"name": "https", "port": 443, "targetPort": 8443, "nodePort": https},
        ]}})
    }

    #[test]
    fn the_gateway_patch_touches_only_the_ports_that_differ() {
        let patch = gateway_ports_patch(&svc(31234, 30443)).unwrap().unwrap();
        assert_eq!(
            patch,
            json!({"spec": {"ports": [{"port": 80, "nodePort": 30080}]}})
        );
        assert_eq!(gateway_ports_patch(&svc(30080, 30443)).unwrap(), None);
        let both = gateway_ports_patch(&svc(1, 2)).unwrap().unwrap();
        assert_eq!(both["spec"]["ports"].as_array().unwrap().len(), 2);
        let err = gateway_ports_patch(&json!({"spec": {"ports": []}})).unwrap_err();
        assert!(err.contains("http2"));
    }

    #[test]
    fn install_always_names_the_kubeconfig_and_context() {
        let dirs = crate::paths::AppDirs::at("/data");
        let cfg = ProvisionConfig::from_env(
            dirs.clone(),
            crate::kube::ClusterTarget::resolve(&dirs, None, None),
        );
        let args: Vec<String> = install_args(&cfg)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "install",
                "--set",
                "profile=demo",
                "-y",
                "--kubeconfig",
                "/data/kubeconfig",
                "--context",
                "kind-istio-playground"
            ]
        );
    }

    #[test]
    fn the_telemetry_sends_traces_to_jaeger_mesh_wide() {
        let docs = crate::kube::apply::parse_documents("telemetry", TELEMETRY).unwrap();
        assert_eq!(docs.len(), 1);
        let t = &docs[0];
        assert_eq!(
            t.types.as_ref().unwrap().api_version,
            "telemetry.istio.io/v1"
        );
        assert_eq!(t.metadata.namespace.as_deref(), Some("istio-system"));
        assert_eq!(
            t.data["spec"]["tracing"][0]["providers"][0]["name"],
            "jaeger"
        );
    }

    #[test]
    fn a_timed_out_install_gets_the_memory_hint() {
        assert_eq!(
            install_hint(
                "Error: failed to install manifests: context deadline exceeded",
                "MEM"
            ),
            "MEM"
        );
        assert!(install_hint("dial tcp: connection refused", "MEM").contains("Docker"));
    }
}
