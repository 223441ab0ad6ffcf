//! The real steps, the plan preview and the teardown.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ::kube::api::{Api, DynamicObject, Patch, PatchParams};
use ::kube::core::GroupVersionKind;
use ::kube::discovery::ApiResource;
use futures::future::BoxFuture;
use serde_json::json;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

use super::engine::{Outcome, Step, StepCtx, run_steps};
use super::tools::{self, ToolSet, ToolSource};
use super::workloads::{self, Workload};
use super::{
    Error, EventSink, PlannedStep, ProvisionConfig, SetupPlan, StepId, cluster, istio, metallb,
    verify,
};
use crate::kube::apply::{Applier, parse_documents};
use crate::preflight::docker::{self, DockerFacts};
use crate::preflight::tools::{ISTIOCTL, KIND};
use crate::versions;

const METALLB_NS: &str = "metallb-system";
const BOOKINFO_NS: &str = "default";

/// One run of the setup: the configuration and what earlier steps found.
pub struct SetupRun {
    cfg: ProvisionConfig,
    tools: Mutex<Option<ToolSet>>,
    docker: OnceCell<Option<DockerFacts>>,
}

struct RealStep {
    id: StepId,
    run: Arc<SetupRun>,
}

impl Step for RealStep {
    fn id(&self) -> StepId {
        self.id
    }

    fn run<'a>(&'a self, ctx: &'a StepCtx) -> BoxFuture<'a, crate::Result<Outcome>> {
        let r = &self.run;
        match self.id {
            StepId::Tools => Box::pin(r.tools_step(ctx)),
            StepId::Cluster => Box::pin(r.cluster_step(ctx)),
            StepId::Metallb => Box::pin(r.metallb_step(ctx)),
            StepId::Istio => Box::pin(r.istio_step(ctx)),
            StepId::Addons => Box::pin(r.addons_step(ctx)),
            StepId::Bookinfo => Box::pin(r.bookinfo_step(ctx)),
            StepId::Verify => Box::pin(r.verify_step(ctx)),
            StepId::Teardown => Box::pin(r.teardown_step(ctx)),
        }
    }
}

/// Runs the whole setup; steps already done are skipped, so this also resumes.
pub async fn setup(
    cfg: ProvisionConfig,
    sink: EventSink,
    cancel: CancellationToken,
) -> crate::Result<()> {
    setup_steps(cfg, &StepId::SETUP, sink, cancel).await
}

/// Runs the given setup steps in order (a prefix of [`StepId::SETUP`] stops early, e.g.
/// after the cluster exists). Later steps use what earlier ones found, so the list should
/// start at `Tools`.
pub async fn setup_steps(
    cfg: ProvisionConfig,
    ids: &[StepId],
    sink: EventSink,
    cancel: CancellationToken,
) -> crate::Result<()> {
    let run = Arc::new(SetupRun::new(cfg));
    let steps: Vec<Box<dyn Step>> = ids
        .iter()
        .map(|id| {
            Box::new(RealStep {
                id: *id,
                run: Arc::clone(&run),
            }) as Box<dyn Step>
        })
        .collect();
    run_steps(&steps, sink, cancel).await
}

/// Deletes the playground's cluster and checks that it is gone.
pub async fn teardown(
    cfg: ProvisionConfig,
    sink: EventSink,
    cancel: CancellationToken,
) -> crate::Result<()> {
    let steps: Vec<Box<dyn Step>> = vec![Box::new(RealStep {
        id: StepId::Teardown,
        run: Arc::new(SetupRun::new(cfg)),
    })];
    run_steps(&steps, sink, cancel).await
}

fn kube_err(what: &str) -> impl FnOnce(::kube::Error) -> Error + '_ {
    move |source| Error::Kube {
        what: what.to_string(),
        source,
    }
}

fn read_yaml(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| Error::Archive {
        archive: path.to_path_buf(),
        reason: format!("cannot read it: {e}"),
    })
}

impl SetupRun {
    pub fn new(cfg: ProvisionConfig) -> Self {
        SetupRun {
            cfg,
            tools: Mutex::new(None),
            docker: OnceCell::new(),
        }
    }

    fn tools(&self) -> Result<ToolSet, Error> {
        self.tools
            .lock()
            .map_err(|_| Error::Precondition("internal state poisoned".into()))?
            .clone()
            .ok_or_else(|| Error::Precondition("kind and istioctl are not ready yet".into()))
    }

    async fn docker_facts(&self) -> Option<DockerFacts> {
        self.docker
            .get_or_init(|| async {
                docker::probe(&self.cfg.docker, docker::TIMEOUT)
                    .await
                    .outcome
                    .ok()
            })
            .await
            .clone()
    }

    async fn slow_hint(&self) -> String {
        let facts = self.docker_facts().await;
        workloads::slow_hint(
            facts.as_ref().map(|f| f.memory_bytes),
            facts.as_ref().map(|f| f.host),
            self.cfg.timeouts.workloads,
        )
    }

    async fn client(&self) -> crate::Result<::kube::Client> {
        self.cfg.target.client().await
    }

    async fn wait(
        &self,
        client: &::kube::Client,
        ctx: &StepCtx,
        workloads: &[Workload],
        range: (f32, f32),
    ) -> Result<(), Error> {
        let hint = self.slow_hint().await;
        workloads::wait_ready(
            client,
            ctx,
            workloads,
            self.cfg.timeouts.workloads,
            self.cfg.poll_interval,
            range,
            &hint,
        )
        .await
    }

    async fn tools_step(&self, ctx: &StepCtx) -> crate::Result<Outcome> {
        let (set, acted) = tools::ensure(&self.cfg, ctx).await?;
        let text = format!(
            "kind: {}; istioctl: {}; Istio samples in {}",
            set.kind.display(),
            set.istioctl.display(),
            set.istio_dir.display()
        );
        *self
            .tools
            .lock()
            .map_err(|_| Error::Precondition("internal state poisoned".into()))? = Some(set);
        Ok(if acted {
            Outcome::Done(text)
        } else {
            Outcome::Skipped(format!("Already here. {text}"))
        })
    }

    async fn cluster_step(&self, ctx: &StepCtx) -> crate::Result<Outcome> {
        let cfg = &self.cfg;
        if !cfg.owns_cluster() {
            return match cluster::api_answers(cfg).await {
                Ok(v) => Ok(Outcome::Skipped(format!(
                    "Using the cluster you chose: context {} in {} (Kubernetes {v})",
                    cfg.target.context,
                    cfg.target.kubeconfig.display()
                ))),
                Err(e) => Err(crate::Error::ClusterTarget(e)),
            };
        }
        let tools = self.tools()?;
        Ok(match cluster::ensure(cfg, ctx, &tools.kind).await? {
            Some(done) => Outcome::Done(done),
            None => Outcome::Skipped(format!("Cluster {} is already running", cfg.cluster_name)),
        })
    }

    async fn metallb_manifest(&self, ctx: &StepCtx) -> Result<String, Error> {
        let file = self
            .cfg
            .dirs
            .root()
            .join(format!("metallb-{}-native.yaml", versions::METALLB));
        if let Ok(text) = std::fs::read_to_string(&file) {
            return Ok(text);
        }
        let url = &self.cfg.sources.metallb_manifest;
        ctx.log(format!("Fetching {url}"));
        let failed = |reason: String| Error::Download {
            url: url.clone(),
            reason,
        };
        let resp = super::download::http_client()
            .get(url)
            .send()
            .await
            .map_err(|e| failed(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(failed(format!("the server answered {}", resp.status())));
        }
        let text = resp.text().await.map_err(|e| failed(e.to_string()))?;
        // A captive portal or error page would fail later with a confusing parse error.
        parse_documents(url, &text).map_err(|e| failed(e.to_string()))?;
        if let Some(parent) = file.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        std::fs::write(&file, &text).map_err(|e| failed(format!("cannot keep it: {e}")))?;
        Ok(text)
    }

    async fn pool(&self) -> Result<(metallb::Ipv4Subnet, metallb::MetallbPool), Error> {
        let net = &self.cfg.kind_network;
        let subnet = metallb::kind_network_subnet(&self.cfg.docker, net)
            .await?
            .ok_or_else(|| Error::Network {
                network: net.clone(),
                reason: "does not exist".into(),
            })?;
        let pool = metallb::MetallbPool::for_subnet(subnet).map_err(|reason| Error::Network {
            network: net.clone(),
            reason,
        })?;
        Ok((subnet, pool))
    }

    async fn metallb_step(&self, ctx: &StepCtx) -> crate::Result<Outcome> {
        if !self.cfg.owns_cluster() {
            return Ok(Outcome::Skipped(
                "MetalLB is set up only on the playground's own kind cluster".into(),
            ));
        }
        let (subnet, pool) = self.pool().await?;
        let reach = reachability(self.docker_facts().await.map(|f| f.host));
        let reach = reach.as_str();
        let client = self.client().await?;
        let manifest = self.metallb_manifest(ctx).await?;
        let objects = parse_documents("metallb-native.yaml", &manifest)?;
        let waits = workloads::workloads_in(&objects, METALLB_NS);
        let pools_api: Option<Api<DynamicObject>> = match ::kube::discovery::pinned_kind(
            &client,
            &GroupVersionKind::gvk("metallb.io", "v1beta1", "IPAddressPool"),
        )
        .await
        {
            Ok((ar, _)) => Some(Api::namespaced_with(client.clone(), METALLB_NS, &ar)),
            Err(_) => None,
        };
        let pool_in_place = match &pools_api {
            Some(api) => api
                .get_opt("playground-pool")
                .await
                .map_err(kube_err("reading the MetalLB pool"))?
                .is_some_and(|p| p.data["spec"]["addresses"][0] == pool.to_string()),
            None => false,
        };
        if pool_in_place && workloads::not_ready(&client, &waits).await?.is_empty() {
            return Ok(Outcome::Skipped(format!(
                "MetalLB is running with the range {pool}. {reach}"
            )));
        }
        ctx.log(format!("Applying MetalLB {}", versions::METALLB));
        let mut applier = Applier::new(client.clone());
        let applied = applier.apply_objects(objects, METALLB_NS).await?;
        ctx.progress(20.0, Some(format!("{} objects applied", applied.len())));
        // Its validating webhook refuses pools until the controller answers.
        ctx.log("Waiting for the MetalLB controller before adding the address pool (its webhook refuses pools until then)");
        self.wait(&client, ctx, &waits, (20.0, 80.0)).await?;
        ctx.log(format!(
            "Address range {pool}: .200-.250 of the last /24 of the `{}` network ({subnet})",
            self.cfg.kind_network
        ));
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            match applier
                .apply_yaml("metallb-pool.yaml", &pool.manifest(), METALLB_NS)
                .await
            {
                Ok(_) => break,
                Err(e) if Instant::now() < deadline && e.code() == "apply_refused" => {
                    ctx.log(format!(
                        "MetalLB is not accepting the pool yet ({e}); retrying"
                    ));
                    ctx.check_cancel()?;
                    tokio::time::sleep(self.cfg.poll_interval).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        ctx.log(reach);
        Ok(Outcome::Done(format!(
            "MetalLB {} runs with the range {pool}",
            versions::METALLB
        )))
    }

    async fn istio_step(&self, ctx: &StepCtx) -> crate::Result<Outcome> {
        let client = self.client().await?;
        let control_plane = [
            Workload {
                kind: "Deployment".into(),
                namespace: istio::NAMESPACE.into(),
                name: "istiod".into(),
            },
            Workload {
                kind: "Deployment".into(),
                namespace: istio::NAMESPACE.into(),
                name: istio::GATEWAY_SERVICE.into(),
            },
        ];
        let mut did = Vec::new();
        if workloads::not_ready(&client, &control_plane)
            .await?
            .is_empty()
        {
            ctx.log("istiod and the ingress gateway are already running");
        } else {
            let tools = self.tools()?;
            let hint = self.slow_hint().await;
            istio::install(&self.cfg, ctx, &tools.istioctl, &hint).await?;
            did.push(format!(
                "Istio {} installed (demo profile)",
                versions::ISTIO
            ));
        }
        ctx.check_cancel()?;
        if istio::fix_gateway_ports(&client, ctx).await? {
            did.push("gateway NodePorts fixed".into());
        }
        let telemetry = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("telemetry.istio.io", "v1", "Telemetry"),
            "telemetries",
        );
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), istio::NAMESPACE, &telemetry);
        let has_telemetry = api
            .get_opt("mesh-default")
            .await
            .map_err(kube_err("reading the mesh Telemetry"))?
            .is_some();
        if !has_telemetry {
            Applier::new(client)
                .apply_yaml("telemetry.yaml", istio::TELEMETRY, istio::NAMESPACE)
                .await?;
            ctx.log("Telemetry mesh-default applied: every request's trace goes to Jaeger");
            did.push("tracing to Jaeger turned on".into());
        }
        ctx.progress(100.0, None);
        Ok(if did.is_empty() {
            Outcome::Skipped("Istio is installed and set up".into())
        } else {
            Outcome::Done(did.join("; "))
        })
    }

    async fn addons_step(&self, ctx: &StepCtx) -> crate::Result<Outcome> {
        let tools = self.tools()?;
        let client = self.client().await?;
        let mut objects = Vec::new();
        for name in tools::ADDONS {
            let file = tools.addon_file(name);
            objects.extend(parse_documents(name, &read_yaml(&file)?)?);
        }
        let waits = workloads::workloads_in(&objects, istio::NAMESPACE);
        if workloads::not_ready(&client, &waits).await?.is_empty() {
            return Ok(Outcome::Skipped(format!(
                "{} are running",
                tools::ADDONS.join(", ")
            )));
        }
        let applied = Applier::new(client.clone())
            .apply_objects(objects, istio::NAMESPACE)
            .await?;
        ctx.progress(
            10.0,
            Some(format!(
                "{} objects applied from samples/addons ({})",
                applied.len(),
                tools::ADDONS.join(", ")
            )),
        );
        self.wait(&client, ctx, &waits, (10.0, 100.0)).await?;
        Ok(Outcome::Done(format!(
            "{} are running in {}",
            tools::ADDONS.join(", "),
            istio::NAMESPACE
        )))
    }

    async fn label_for_injection(&self, client: &::kube::Client) -> Result<bool, Error> {
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("", "v1", "Namespace"),
            "namespaces",
        );
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
        let ns = api
            .get(BOOKINFO_NS)
            .await
            .map_err(kube_err("reading namespace default"))?;
        if ns
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("istio-injection"))
            == Some(&"enabled".to_string())
        {
            return Ok(false);
        }
        let patch = json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": BOOKINFO_NS, "labels": {"istio-injection": "enabled"}}
        });
        api.patch(
            BOOKINFO_NS,
            &PatchParams::apply(crate::FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await
        .map_err(kube_err(
            "labelling namespace default for sidecar injection",
        ))?;
        Ok(true)
    }

    async fn restart(
        &self,
        client: &::kube::Client,
        deployments: &[Workload],
    ) -> Result<(), Error> {
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apps", "v1", "Deployment"),
            "deployments",
        );
        let now = crate::time::rfc3339(std::time::SystemTime::now());
        for d in deployments.iter().filter(|w| w.kind == "Deployment") {
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &d.namespace, &ar);
            let patch = json!({"spec": {"template": {"metadata": {"annotations": {
                "kubectl.kubernetes.io/restartedAt": now
            }}}}});
            api.patch(&d.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(kube_err("restarting a Bookinfo deployment"))?;
        }
        Ok(())
    }

    async fn bookinfo_step(&self, ctx: &StepCtx) -> crate::Result<Outcome> {
        let tools = self.tools()?;
        let client = self.client().await?;
        let mut objects = parse_documents(
            "bookinfo.yaml",
            &read_yaml(&tools.istio_dir.join(tools::BOOKINFO))?,
        )?;
        objects.extend(parse_documents(
            "bookinfo-gateway.yaml",
            &read_yaml(&tools.istio_dir.join(tools::BOOKINFO_GATEWAY))?,
        )?);
        let waits = workloads::workloads_in(&objects, BOOKINFO_NS);
        let labelled = self.label_for_injection(&client).await?;
        if labelled {
            ctx.log(
                "Namespace default labelled istio-injection=enabled: new pods there get a sidecar",
            );
        }
        let sidecarless = |c: ::kube::Client| async move {
            workloads::pods_without_sidecar(
                &c,
                BOOKINFO_NS,
                "app in (productpage,details,reviews,ratings)",
            )
            .await
        };
        if !labelled
            && workloads::not_ready(&client, &waits).await?.is_empty()
            && sidecarless(client.clone()).await?.0.is_empty()
        {
            // Gateway and VirtualService are re-applied (cheap, idempotent) in case they were removed.
            Applier::new(client.clone())
                .apply_objects(objects, BOOKINFO_NS)
                .await?;
            return Ok(Outcome::Skipped("Bookinfo is running with sidecars".into()));
        }
        let applied = Applier::new(client.clone())
            .apply_objects(objects, BOOKINFO_NS)
            .await?;
        ctx.progress(
            10.0,
            Some(format!(
                "{} objects applied (Bookinfo, its Gateway and VirtualService)",
                applied.len()
            )),
        );
        self.wait(&client, ctx, &waits, (10.0, 80.0)).await?;
        let (missing, total) = sidecarless(client.clone()).await?;
        if !missing.is_empty() {
            ctx.log(format!(
                "{} of {total} pods started before injection was on ({}); restarting them",
                missing.len(),
                missing.join(", ")
            ));
            self.restart(&client, &waits).await?;
            tokio::time::sleep(self.cfg.poll_interval).await;
            self.wait(&client, ctx, &waits, (80.0, 100.0)).await?;
            let (still, _) = sidecarless(client).await?;
            if !still.is_empty() {
                return Err(Error::NotReady {
                    what: format!("the sidecars of {}", still.join(", ")),
                    after: self.cfg.timeouts.workloads,
                    detail: "these pods run without istio-proxy".into(),
                    hint: "Check that istiod runs (Istio step) and press \"Set up\" again.".into(),
                }
                .into());
            }
        }
        Ok(Outcome::Done(
            "Bookinfo runs: productpage, details, ratings, reviews v1/v2/v3, each with its sidecar"
                .into(),
        ))
    }

    async fn verify_step(&self, ctx: &StepCtx) -> crate::Result<Outcome> {
        if !self.cfg.owns_cluster() {
            return Ok(Outcome::Skipped(
                "Your own cluster has no localhost port mapping; open the product page through its ingress instead".into(),
            ));
        }
        let text = verify::product_page(
            ctx,
            &self.cfg.product_page_url,
            self.cfg.timeouts.verify,
            self.cfg.poll_interval,
        )
        .await?;
        Ok(Outcome::Done(text))
    }

    async fn teardown_step(&self, ctx: &StepCtx) -> crate::Result<Outcome> {
        let cfg = &self.cfg;
        if !cfg.owns_cluster() {
            return Err(Error::Precondition(format!(
                "the playground deletes only the cluster it created, not the one you chose ({})",
                cfg.target.context
            ))
            .into());
        }
        let nodes = cluster::node_containers(cfg, &cfg.cluster_name).await?;
        let had_context = cluster::has_context(&cfg.target.kubeconfig, &cfg.target.context);
        if nodes.is_empty() && !had_context {
            return Ok(Outcome::Skipped(format!(
                "There is no playground cluster named {} on this computer",
                cfg.cluster_name
            )));
        }
        if !nodes.is_empty() {
            match tools::locate(cfg, KIND).await.path() {
                Some(kind) => {
                    ctx.log(format!("Deleting cluster {}", cfg.cluster_name));
                    cluster::delete(cfg, ctx, kind).await?;
                }
                None => {
                    return Err(Error::Precondition(format!(
                        "kind is needed to delete the cluster, and it is neither on your PATH nor in {}; press \"Set up\" once to download it, or run `docker rm -f {}`",
                        cfg.dirs.tools().display(),
                        nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>().join(" ")
                    ))
                    .into());
                }
            }
        }
        ctx.progress(
            70.0,
            Some("Checking that the node containers are gone".into()),
        );
        let left = cluster::node_containers(cfg, &cfg.cluster_name).await?;
        if !left.is_empty() {
            return Err(Error::TeardownIncomplete(format!(
                "Docker still has {}",
                left.iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .into());
        }
        if cluster::forget_context(&cfg.target.kubeconfig, &cfg.target.context)? {
            ctx.log(format!(
                "Removed context {} from {}",
                cfg.target.context,
                cfg.target.kubeconfig.display()
            ));
        }
        if cluster::has_context(&cfg.target.kubeconfig, &cfg.target.context) {
            return Err(Error::TeardownIncomplete(format!(
                "{} still names context {}",
                cfg.target.kubeconfig.display(),
                cfg.target.context
            ))
            .into());
        }
        // Left there by `up --merge-kubeconfig`: a context of a deleted cluster only confuses
        // kubectl. Only the playground's own context, cluster and user entries go.
        if let Some(file) = &cfg.user_kubeconfig
            && cluster::forget_context(file, &cfg.target.context)?
        {
            ctx.log(format!(
                "Removed context {} (and its cluster and user entries) from your kubeconfig {}",
                cfg.target.context,
                file.display()
            ));
        }
        Ok(Outcome::Done(format!(
            "Cluster {} deleted: no node containers left, context {} removed from the playground's kubeconfig",
            cfg.cluster_name, cfg.target.context
        )))
    }
}

/// Whether the MetalLB addresses can be opened from this computer. Engines that keep their
/// containers in a VM (Docker Desktop, Colima, OrbStack, Rancher Desktop, Podman machine,
/// Lima) do not route the host to container networks; ports published on localhost work.
fn reachability(host: Option<docker::EngineHost>) -> String {
    match host {
        Some(h) if h.networks_in_vm() => format!(
            "{} keeps container networks inside its VM, so these addresses are not reachable from this computer; http://localhost:9080 is.",
            h.name()
        ),
        _ => "These addresses are reachable from this computer, and so is http://localhost:9080."
            .into(),
    }
}

/// What setup would do on this machine, without changing anything.
pub async fn plan(cfg: &ProvisionConfig) -> SetupPlan {
    let kubeconfig = cfg.target.kubeconfig.display().to_string();
    let context = cfg.target.context.clone();
    let step = |id: StepId, actions: Vec<String>| PlannedStep {
        id,
        title: id.title().into(),
        explanation: id.explanation().into(),
        actions,
    };
    let downloads = tools::planned_downloads(cfg).await;

    let mut tool_actions = Vec::new();
    for (tool, source) in [
        (KIND, tools::locate(cfg, KIND).await),
        (ISTIOCTL, tools::locate(cfg, ISTIOCTL).await),
    ] {
        tool_actions.push(match source {
            ToolSource::Path { path, version } => {
                format!("Use {} {version} from {}", tool.name, path.display())
            }
            ToolSource::Downloaded(path) => format!(
                "Use {} {} downloaded earlier: {}",
                tool.name,
                tool.pinned,
                path.display()
            ),
            // Listed with its URL and checksum below.
            ToolSource::Missing(_) => continue,
        });
    }
    for d in &downloads {
        tool_actions.push(format!(
            "Download {} from {} and check it against {} -> {}",
            d.what,
            d.url,
            d.checksum_url,
            d.destination.display()
        ));
    }
    if tools::release_unpacked(cfg) {
        tool_actions.push(format!(
            "Istio's sample YAML is already unpacked in {}",
            cfg.istio_dir().display()
        ));
    }

    let facts = docker::probe(&cfg.docker, docker::TIMEOUT)
        .await
        .outcome
        .ok();
    let networks_in_vm = facts
        .as_ref()
        .map(|f| f.host)
        .filter(|h| h.networks_in_vm());
    let cluster_actions = if !cfg.owns_cluster() {
        vec![format!(
            "Use the cluster you chose: context {context} in {kubeconfig} (nothing is created)"
        )]
    } else {
        match cluster::node_containers(cfg, &cfg.cluster_name).await {
            Ok(nodes) if !nodes.is_empty() => vec![format!(
                "Reuse the existing cluster {} (containers: {})",
                cfg.cluster_name,
                nodes
                    .iter()
                    .map(|n| format!(
                        "{} {}",
                        n.name,
                        if n.running { "running" } else { "stopped" }
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            )],
            Ok(_) => vec![
                format!(
                    "Run: kind create cluster --name {} --config {} --kubeconfig {kubeconfig} --wait 120s",
                    cfg.cluster_name,
                    cfg.dirs.root().join("kind-config.yaml").display()
                ),
                format!(
                    "Publish 127.0.0.1:{} -> NodePort {} and 127.0.0.1:{} -> NodePort {} (the ingress gateway)",
                    versions::ports::INGRESS_HTTP,
                    versions::ports::INGRESS_HTTP_NODE_PORT,
                    versions::ports::INGRESS_HTTPS,
                    versions::ports::INGRESS_HTTPS_NODE_PORT
                ),
                if let (true, Some(file)) = (cfg.merge_kubeconfig, &cfg.user_kubeconfig) {
                    format!(
                        "Also add context {context} to your kubeconfig {} (you asked); your current context is kept",
                        file.display()
                    )
                } else {
                    "Your own kubeconfig is not touched".into()
                },
            ],
            Err(e) => vec![format!("Docker does not answer ({e}): start it first")],
        }
    };

    let pool = if cfg.owns_cluster() {
        match metallb::kind_network_subnet(&cfg.docker, &cfg.kind_network).await {
            Ok(Some(subnet)) => Some(
                metallb::MetallbPool::for_subnet(subnet)
                    .map(|p| (p, subnet))
                    .map_err(|e| e.to_string()),
            ),
            Ok(None) => None,
            Err(e) => Some(Err(e.to_string())),
        }
    } else {
        None
    };
    let mut metallb_actions = if cfg.owns_cluster() {
        vec![
            format!("Apply {}", cfg.sources.metallb_manifest),
            format!("Wait for MetalLB's controller and speaker in {METALLB_NS} (pods app=metallb)"),
        ]
    } else {
        vec!["Skipped: MetalLB is set up only on the playground's own kind cluster".into()]
    };
    if cfg.owns_cluster() {
        metallb_actions.push(match &pool {
            Some(Ok((p, subnet))) => format!(
                "IPAddressPool playground-pool {p} and an L2Advertisement (from the `{}` network {subnet})",
                cfg.kind_network
            ),
            Some(Err(e)) => format!("The pool cannot be computed: {e}"),
            None => format!(
                "IPAddressPool: .200-.250 of the last /24 of the `{}` network, which kind creates with the cluster",
                cfg.kind_network
            ),
        });
        if networks_in_vm.is_some() {
            metallb_actions.push(reachability(networks_in_vm));
        }
    }

    let steps = vec![
        step(StepId::Tools, tool_actions),
        step(StepId::Cluster, cluster_actions),
        step(StepId::Metallb, metallb_actions),
        step(
            StepId::Istio,
            vec![
                format!(
                    "Run: istioctl install --set profile=demo -y --kubeconfig {kubeconfig} --context {context}"
                ),
                format!(
                    "Set the istio-ingressgateway NodePorts: http2 {}, https {}",
                    versions::ports::INGRESS_HTTP_NODE_PORT,
                    versions::ports::INGRESS_HTTPS_NODE_PORT
                ),
                "Apply Telemetry istio-system/mesh-default: traces to Jaeger".into(),
            ],
        ),
        step(
            StepId::Addons,
            vec![format!(
                "Server-side apply samples/addons/{{{}}}.yaml of Istio {} (field manager {}) and wait for them",
                tools::ADDONS.join(","),
                versions::ISTIO,
                crate::FIELD_MANAGER
            )],
        ),
        step(
            StepId::Bookinfo,
            vec![
                "Label namespace default istio-injection=enabled".into(),
                format!("Apply {} and {}", tools::BOOKINFO, tools::BOOKINFO_GATEWAY),
                "Wait until every Bookinfo pod is ready with its istio-proxy sidecar".into(),
            ],
        ),
        step(
            StepId::Verify,
            vec![format!(
                "GET {} until it shows \"{}\"",
                cfg.product_page_url,
                verify::TITLE
            )],
        ),
    ];
    let teardown = step(
        StepId::Teardown,
        vec![
            format!(
                "Run: kind delete cluster --name {} --kubeconfig {kubeconfig}",
                cfg.cluster_name
            ),
            format!(
                "Check that no container labelled {}={} is left and that {kubeconfig} no longer names {context}",
                docker::KIND_CLUSTER_LABEL,
                cfg.cluster_name
            ),
        ],
    );
    SetupPlan {
        teardown,
        cluster_name: cfg.cluster_name.clone(),
        kubeconfig: cfg.target.kubeconfig.clone(),
        context,
        steps,
        downloads,
        metallb_pool: match pool {
            Some(Ok((p, _))) => Some(p.to_string()),
            _ => None,
        },
        networks_in_vm: networks_in_vm.map(|h| h.name().to_string()),
        product_page_url: cfg.product_page_url.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_engine_on_this_machines_kernel_is_told_the_metallb_addresses_are_reachable() {
        let native = reachability(Some(docker::EngineHost::Native));
        assert!(
            native.starts_with("These addresses are reachable"),
            "{native}"
        );
        for (host, name) in [
            (docker::EngineHost::Colima, "Colima"),
            (docker::EngineHost::OrbStack, "OrbStack"),
            (docker::EngineHost::RancherDesktop, "Rancher Desktop"),
            (
                docker::EngineHost::DockerDesktop { wsl2: true },
                "Docker Desktop",
            ),
        ] {
            let text = reachability(Some(host));
            assert!(
                text.starts_with(&format!("{name} keeps container networks inside its VM")),
                "{text}"
            );
            assert!(text.contains("not reachable"), "{text}");
        }
    }
}
