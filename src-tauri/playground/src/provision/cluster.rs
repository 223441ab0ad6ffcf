//! The kind cluster: its config, finding an existing one through Docker, creating it, and
//! deleting it.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::query_parameters::ListContainersOptionsBuilder;

use super::process::ToolCommand;
use super::{Error, ProvisionConfig, StepCtx};
use crate::preflight::docker::KIND_CLUSTER_LABEL;
use crate::versions::ports;

const KIND_CONFIG_TEMPLATE: &str = include_str!("../../../../manifests/kind-config.yaml");

/// The kind config for a cluster named `name`, with the ingress ports mapped on 127.0.0.1.
pub fn kind_config(name: &str) -> String {
    KIND_CONFIG_TEMPLATE
        .replace("${CLUSTER_NAME}", name)
        .replace(
            "${INGRESS_HTTP_NODE_PORT}",
            &ports::INGRESS_HTTP_NODE_PORT.to_string(),
        )
        .replace(
            "${INGRESS_HTTPS_NODE_PORT}",
            &ports::INGRESS_HTTPS_NODE_PORT.to_string(),
        )
        .replace("${INGRESS_HTTPS}", &ports::INGRESS_HTTPS.to_string())
        .replace("${INGRESS_HTTP}", &ports::INGRESS_HTTP.to_string())
}

/// A node container of a kind cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeContainer {
    pub id: String,
    pub name: String,
    pub running: bool,
}

fn docker_client(cfg: &ProvisionConfig) -> Result<bollard::Docker, Error> {
    cfg.docker
        .client(Duration::from_secs(10))
        .map_err(|e| Error::Docker(e.to_string()))
}

/// The node containers kind made for `cluster` (running or not).
#[tracing::instrument(skip(cfg))]
pub async fn node_containers(
    cfg: &ProvisionConfig,
    cluster: &str,
) -> Result<Vec<NodeContainer>, Error> {
    let docker = docker_client(cfg)?;
    let filters = HashMap::from([(
        "label".to_string(),
        vec![format!("{KIND_CLUSTER_LABEL}={cluster}")],
    )]);
    let list = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(|e| Error::Docker(e.to_string()))?;
    Ok(list
        .into_iter()
        .map(|c| NodeContainer {
            id: c.id.unwrap_or_default(),
            name: c
                .names
                .and_then(|n| n.into_iter().next())
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string(),
            running: c
                .state
                .is_some_and(|s| s.to_string().eq_ignore_ascii_case("running")),
        })
        .collect())
}

/// Starts stopped node containers (after a reboot, Docker may not restart them).
#[tracing::instrument(skip_all)]
async fn start_stopped(
    cfg: &ProvisionConfig,
    ctx: &StepCtx,
    nodes: &[NodeContainer],
) -> Result<(), Error> {
    let docker = docker_client(cfg)?;
    for n in nodes.iter().filter(|n| !n.running) {
        ctx.log(format!("Starting the stopped node container {}", n.name));
        docker
            .start_container(&n.id, None)
            .await
            .map_err(|e| Error::Docker(format!("cannot start {}: {e}", n.name)))?;
    }
    Ok(())
}

/// True when `file` is a kubeconfig holding `context`.
pub fn has_context(file: &Path, context: &str) -> bool {
    ::kube::config::Kubeconfig::read_from(file)
        .map(|k| k.contexts.iter().any(|c| c.name == context))
        .unwrap_or(false)
}

/// Asks the API server for its version, with a short limit.
#[tracing::instrument(skip(cfg))]
pub async fn api_answers(cfg: &ProvisionConfig) -> Result<String, String> {
    target_answers(&cfg.target).await
}

/// Asks a cluster's API server for its version, with a short limit.
#[tracing::instrument(skip(target), fields(context = %target.context))]
pub async fn target_answers(target: &crate::kube::ClusterTarget) -> Result<String, String> {
    let client = target.client().await.map_err(|e| e.to_string())?;
    match tokio::time::timeout(Duration::from_secs(15), client.apiserver_version()).await {
        Ok(Ok(v)) => Ok(v.git_version),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the API server did not answer within 15 s".into()),
    }
}

/// Waits for the API server of a cluster whose node containers run, asking again with a
/// growing pause (1 s up to 10 s) for up to `timeouts.api_restart`. After a reboot or a
/// Docker restart it needs tens of seconds; asking once would delete a healthy cluster and
/// lose the user's changes.
#[tracing::instrument(skip_all)]
async fn wait_for_api(cfg: &ProvisionConfig, ctx: &StepCtx) -> Result<String, String> {
    use backon::{ExponentialBuilder, Retryable};
    let limit = cfg.timeouts.api_restart;
    let started = std::time::Instant::now();
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_secs(1).min(limit))
        .with_max_delay(Duration::from_secs(10))
        .with_total_delay(Some(limit))
        .without_max_times();
    (|| api_answers(cfg))
        .retry(backoff)
        .sleep(tokio::time::sleep)
        .notify(|why, next| {
            let waited = started.elapsed();
            ctx.progress(
                100.0 * waited.as_secs_f32() / limit.as_secs_f32().max(1.0),
                Some(format!(
                    "The API server is not answering yet ({why}); it can take a minute or two after a restart. Asking again in {} (waited {} of up to {})",
                    super::human(next),
                    super::human(waited),
                    super::human(limit)
                )),
            );
        })
        .await
}

fn kind_hint(output: &str, cfg: &ProvisionConfig) -> String {
    let lower = output.to_lowercase();
    if lower.contains("port is already allocated") || lower.contains("address already in use") {
        format!(
            "Port {} or {} on this computer is used by another program: stop it (the Ports check on this screen names it), then press \"Set up\" again.",
            ports::INGRESS_HTTP,
            ports::INGRESS_HTTPS
        )
    } else if lower.contains("cannot connect to the docker daemon")
        || lower.contains("is the docker daemon running")
    {
        crate::preflight::docker::start_docker_hint()
    } else if lower.contains("node(s) already exist")
        || lower.contains("already exist for a cluster")
    {
        format!(
            "A cluster named {} already exists but could not be reused: press \"Tear down\", then \"Set up\".",
            cfg.cluster_name
        )
    } else if lower.contains("too many open files") || lower.contains("inotify") {
        "The Linux inotify limits are too low: see the inotify check on this screen for the two sysctl commands, then press \"Set up\" again.".into()
    } else if lower.contains("pull") || lower.contains("manifest") || lower.contains("timeout") {
        "kind could not fetch its node image (about 1 GB): check the internet connection, then press \"Set up\" again.".into()
    } else {
        "Read the last lines above; then press \"Set up\" again. If it fails the same way, press \"Tear down\" and then \"Set up\".".into()
    }
}

fn os(s: impl Into<OsString>) -> OsString {
    s.into()
}

/// The file that says `kind create cluster` finished for these node containers. Written
/// only after kind succeeded, so node containers without it are what an interrupted create
/// left: no CNI, no StorageClass, a tainted control plane, where every pod stays Pending.
fn created_marker(cfg: &ProvisionConfig) -> PathBuf {
    cfg.dirs
        .root()
        .join(format!("cluster-{}.created", cfg.cluster_name))
}

/// The marker's content: the node containers' ids, so a cluster made again by other means
/// under the same name is not taken for the finished one.
fn marker_text(nodes: &[NodeContainer]) -> String {
    let mut ids: Vec<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
    ids.sort_unstable();
    ids.join("\n")
}

fn created_here(cfg: &ProvisionConfig, nodes: &[NodeContainer]) -> bool {
    std::fs::read_to_string(created_marker(cfg)).is_ok_and(|t| t.trim() == marker_text(nodes))
}

fn write_marker(cfg: &ProvisionConfig, nodes: &[NodeContainer]) -> Result<(), Error> {
    let file = created_marker(cfg);
    std::fs::write(&file, marker_text(nodes))
        .map_err(|e| Error::Precondition(format!("cannot write {}: {e}", file.display())))
}

fn forget_marker(cfg: &ProvisionConfig) {
    let _ = std::fs::remove_file(created_marker(cfg));
}

/// For a cluster without the marker (made by an older version of the app, or by hand): it is
/// finished when the API answers and a node is Ready, which kubelet reports only once the
/// CNI runs.
#[tracing::instrument(skip(cfg))]
async fn finished_cluster(cfg: &ProvisionConfig) -> Result<(), String> {
    use k8s_openapi::api::core::v1::Node;
    api_answers(cfg).await?;
    let client = cfg.target.client().await.map_err(|e| e.to_string())?;
    let nodes = tokio::time::timeout(
        Duration::from_secs(15),
        ::kube::Api::<Node>::all(client).list(&Default::default()),
    )
    .await
    .map_err(|_| "listing its nodes took longer than 15 s".to_string())?
    .map_err(|e| e.to_string())?;
    let ready = nodes.items.iter().any(|n| {
        n.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
    });
    if ready {
        Ok(())
    } else {
        Err("no node is Ready (kind stopped before installing the network plugin)".into())
    }
}

/// Makes sure the playground's cluster exists and answers. Returns what it did, or None when
/// the cluster was already there and reachable.
pub async fn ensure(
    cfg: &ProvisionConfig,
    ctx: &StepCtx,
    kind: &Path,
) -> crate::Result<Option<String>> {
    let kubeconfig = &cfg.target.kubeconfig;
    let nodes = node_containers(cfg, &cfg.cluster_name).await?;
    if !nodes.is_empty() {
        ctx.log(format!(
            "Found the playground cluster's node containers: {}",
            nodes
                .iter()
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let finished = created_here(cfg, &nodes);
        let restarted = nodes.iter().any(|n| !n.running);
        start_stopped(cfg, ctx, &nodes).await?;
        let mut usable = Ok(());
        if !has_context(kubeconfig, &cfg.target.context) {
            ctx.log("Writing its access details to the playground's own kubeconfig");
            match export_kubeconfig(cfg, ctx, kind, kubeconfig).await {
                Ok(()) => {}
                // A create stopped before kubeadm wrote the admin kubeconfig.
                Err(e) if !finished => usable = Err(e.to_string()),
                Err(e) => return Err(e.into()),
            }
        }
        let usable = match usable {
            Err(why) => Err(why),
            Ok(()) if finished => wait_for_api(cfg, ctx)
                .await
                .map(|v| format!("Kubernetes {v} answers")),
            // No marker (a cluster from an older version of the app): after a restart its
            // API server needs the same patience before its nodes can be asked about.
            Ok(()) => {
                let up = if restarted {
                    wait_for_api(cfg, ctx).await.map(drop)
                } else {
                    Ok(())
                };
                match up {
                    Ok(()) => finished_cluster(cfg).await.map(|()| {
                        "it answers and its node is Ready, so it is complete".to_string()
                    }),
                    Err(why) => Err(why),
                }
            }
        };
        match usable {
            Ok(how) => {
                if !finished {
                    write_marker(cfg, &nodes)?;
                }
                ctx.log(format!("{how}; reusing this cluster"));
                merge_if_asked(cfg, ctx)?;
                return Ok(None);
            }
            Err(why) if finished => {
                ctx.log(format!(
                    "The cluster left from an earlier run does not answer ({why}); deleting it to create it again"
                ));
                delete(cfg, ctx, kind).await?;
            }
            Err(why) => {
                ctx.log(format!(
                    "This cluster was never finished: an earlier \"kind create cluster\" was stopped part-way ({why}). Deleting it to create it again; pods would stay Pending in it"
                ));
                delete(cfg, ctx, kind).await?;
            }
        }
    }
    forget_marker(cfg);
    ctx.check_cancel()?;
    if let Some(parent) = kubeconfig.parent() {
        std::fs::create_dir_all(parent).map_err(|e| crate::Error::io(parent, e))?;
    }
    let config_file = cfg.dirs.root().join("kind-config.yaml");
    std::fs::write(&config_file, kind_config(&cfg.cluster_name))
        .map_err(|e| crate::Error::io(&config_file, e))?;
    ctx.log(format!(
        "Creating cluster {} (the node image is about 1 GB the first time; ports 127.0.0.1:{} and :{} lead to the ingress gateway)",
        cfg.cluster_name,
        ports::INGRESS_HTTP,
        ports::INGRESS_HTTPS
    ));
    // kind prints a fixed list of phases; each finished one moves the bar.
    let phases = [
        "Ensuring node image",
        "Preparing nodes",
        "Writing configuration",
        "Starting control-plane",
        "Installing CNI",
        "Installing StorageClass",
        "Waiting",
    ];
    let mut seen = 0usize;
    // Stopped part-way, kind leaves a cluster that looks usable but is not: delete it at
    // once rather than leave it for the next run to find.
    let (cleanup_cfg, cleanup_kind) = (cfg.clone(), kind.to_path_buf());
    ctx.arm_cleanup(
        format!(
            "deleting the unfinished cluster {} (kind delete cluster)",
            cfg.cluster_name
        ),
        Box::new(move |ctx| {
            Box::pin(async move {
                delete(&cleanup_cfg, ctx, &cleanup_kind).await?;
                Ok(())
            })
        }),
    );
    let cmd = ToolCommand {
        tool: "kind",
        program: kind,
        args: vec![
            os("create"),
            os("cluster"),
            os("--name"),
            os(&cfg.cluster_name),
            os("--config"),
            os(&config_file),
            os("--kubeconfig"),
            os(kubeconfig),
            os("--wait"),
            os("120s"),
        ],
        env: cfg.child_env(),
        timeout: cfg.timeouts.kind_create,
    };
    cmd.run_ok(
        ctx,
        |line| {
            if let Some(i) = phases.iter().position(|p| line.contains(p))
                && i + 1 > seen
            {
                seen = i + 1;
                ctx.progress(100.0 * seen as f32 / (phases.len() + 1) as f32, None);
            }
        },
        "kind is usually done in 1 to 3 minutes; a slow disk or network can take longer. Press \"Set up\" again to continue.",
        |o| kind_hint(o, cfg),
    )
    .await?;
    if !has_context(kubeconfig, &cfg.target.context) {
        return Err(Error::Precondition(format!(
            "kind finished but {} has no context {}",
            kubeconfig.display(),
            cfg.target.context
        ))
        .into());
    }
    write_marker(cfg, &node_containers(cfg, &cfg.cluster_name).await?)?;
    ctx.disarm_cleanups();
    merge_if_asked(cfg, ctx)?;
    Ok(Some(format!(
        "Cluster {} created; its kubeconfig is {}",
        cfg.cluster_name,
        kubeconfig.display()
    )))
}

/// Adds the cluster to the user's own kubeconfig, only when they asked for it. Not with
/// `kind export kubeconfig`: that writes `~/.kube/config` whatever `$KUBECONFIG` says and
/// switches the user's current context.
fn merge_if_asked(cfg: &ProvisionConfig, ctx: &StepCtx) -> Result<(), Error> {
    if !cfg.merge_kubeconfig {
        return Ok(());
    }
    let Some(file) = &cfg.user_kubeconfig else {
        return Err(Error::Precondition(
            "there is no home folder, so no kubeconfig of yours to add the cluster to".into(),
        ));
    };
    let merged =
        super::kubeconfig::merge_context(&cfg.target.kubeconfig, file, &cfg.target.context)?;
    let context = &cfg.target.context;
    ctx.log(match merged.current_context {
        Some(current) => format!(
            "Added context {context} to your kubeconfig {}, as you asked. Your current context stays {current}; use the playground with `kubectl --context {context} ...` or switch with `kubectl config use-context {context}`",
            file.display()
        ),
        None => format!(
            "Added context {context} to your kubeconfig {}, as you asked; it had no current context, so {context} is now the current one",
            file.display()
        ),
    });
    Ok(())
}

/// `kind export kubeconfig` into `file` (the playground's own kubeconfig).
async fn export_kubeconfig(
    cfg: &ProvisionConfig,
    ctx: &StepCtx,
    kind: &Path,
    file: &Path,
) -> Result<(), Error> {
    let args = vec![
        os("export"),
        os("kubeconfig"),
        os("--name"),
        os(&cfg.cluster_name),
        os("--kubeconfig"),
        os(file),
    ];
    ToolCommand {
        tool: "kind",
        program: kind,
        args,
        env: cfg.child_env(),
        timeout: cfg.timeouts.short_command,
    }
    .run_ok(
        ctx,
        |_| {},
        "kind did not answer; check Docker.",
        |o| kind_hint(o, cfg),
    )
    .await?;
    Ok(())
}

/// `kind delete cluster` with the playground's own kubeconfig.
pub async fn delete(cfg: &ProvisionConfig, ctx: &StepCtx, kind: &Path) -> Result<(), Error> {
    forget_marker(cfg);
    ToolCommand {
        tool: "kind",
        program: kind,
        args: vec![
            os("delete"),
            os("cluster"),
            os("--name"),
            os(&cfg.cluster_name),
            os("--kubeconfig"),
            os(&cfg.target.kubeconfig),
        ],
        env: cfg.child_env(),
        timeout: cfg.timeouts.kind_delete,
    }
    .run_ok(
        ctx,
        |_| {},
        "Deleting usually takes seconds; check that Docker answers (`docker ps`), then press \"Tear down\" again.",
        |o| kind_hint(o, cfg),
    )
    .await?;
    Ok(())
}

/// Removes `context` (and its cluster and user entries) from the playground's own
/// kubeconfig, when kind left it there. The file is the app's own, so this never touches
/// the user's kubeconfig.
pub fn forget_context(file: &Path, context: &str) -> Result<bool, Error> {
    super::kubeconfig::remove_context(file, context)
        .map_err(|e| Error::TeardownIncomplete(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_config_maps_localhost_ports_to_the_gateway_node_ports() {
        let text = kind_config("lab");
        assert!(!text.contains("${"), "{text}");
        let doc: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(doc["kind"], "Cluster");
        assert_eq!(doc["apiVersion"], "kind.x-k8s.io/v1alpha4");
        assert_eq!(doc["name"], "lab");
        let maps = doc["nodes"][0]["extraPortMappings"].as_array().unwrap();
        let pairs: Vec<(u64, u64, &str)> = maps
            .iter()
            .map(|m| {
                (
                    m["hostPort"].as_u64().unwrap(),
                    m["containerPort"].as_u64().unwrap(),
                    m["listenAddress"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            pairs,
            [(9080, 30080, "127.0.0.1"), (9443, 30443, "127.0.0.1")]
        );
    }

    #[test]
    fn kind_failures_get_a_hint_about_their_cause() {
        let cfg = ProvisionConfig::from_env(
            crate::paths::AppDirs::at("/tmp/x"),
            crate::kube::ClusterTarget::resolve(&crate::paths::AppDirs::at("/tmp/x"), None, None),
        );
        assert!(
            kind_hint(
                "Bind for 127.0.0.1:9080 failed: port is already allocated",
                &cfg
            )
            .contains("9080")
        );
        assert!(
            kind_hint(
                "Cannot connect to the Docker daemon at unix:///var/run/docker.sock",
                &cfg
            )
            .contains("Docker")
        );
        assert!(
            kind_hint(
                "node(s) already exist for a cluster with the name \"istio-playground\"",
                &cfg
            )
            .contains("Tear down")
        );
    }

    #[test]
    fn forgetting_a_context_keeps_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kubeconfig");
        std::fs::write(&file, "apiVersion: v1\nkind: Config\nclusters:\n- name: kind-a\n  cluster: {server: 'https://127.0.0.1:1'}\n- name: b\n  cluster: {server: 'https://127.0.0.1:2'}\ncontexts:\n- name: kind-a\n  context: {cluster: kind-a, user: kind-a}\n- name: b\n  context: {cluster: b, user: b}\nusers:\n- name: kind-a\n  user: {}\n- name: b\n  user: {}\ncurrent-context: kind-a\n").unwrap();
        assert!(forget_context(&file, "kind-a").unwrap());
        assert!(!has_context(&file, "kind-a"));
        assert!(has_context(&file, "b"));
        assert!(!forget_context(&file, "kind-a").unwrap());
        assert!(!forget_context(&dir.path().join("missing"), "kind-a").unwrap());
    }
}
