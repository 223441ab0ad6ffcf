//! Traffic weights between the versions of one service (the seed tutorial's traffic
//! shifting): a DestinationRule with one subset per `version` label and a VirtualService
//! that splits requests between those subsets.
//!
//! Order matters: the DestinationRule goes first so the VirtualService never names a subset
//! that does not exist yet, and if the VirtualService is refused the DestinationRule is put
//! back as it was, so a failure leaves the routing exactly as before.

use std::collections::BTreeMap;

use ::kube::api::{Api, ListParams};
use ::kube::discovery::ApiResource;
use k8s_openapi::api::core::v1::{Pod, Service};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::ActionError;
use super::backup::{self, ActionKind, Step};
use crate::istio::{
    Destination, DestinationRule, DestinationRuleSpec, HttpRoute, HttpRouteDestination, Labels,
    Subset, VirtualService, VirtualServiceSpec, names_service, selects,
};
use crate::kube::istio as istio_api;

type Result<T, E = ActionError> = std::result::Result<T, E>;

/// The weights a user asks for: version -> percent of requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[ts(export)]
pub struct WeightPlan {
    pub service: String,
    pub namespace: String,
    /// Version (the pods' `version` label) to weight; versions left out get 0. Signed and
    /// wide on purpose, so -5 and 101 reach validation and get a clear message.
    #[ts(type = "Record<string, number>")]
    pub weights: BTreeMap<String, i64>,
}

impl WeightPlan {
    /// Builds a plan from `v1=60 v2=30 v3=10` arguments (the CLI's form).
    pub fn from_args(service: &str, namespace: &str, args: &[String]) -> Result<Self> {
        let mut weights = BTreeMap::new();
        for arg in args {
            let Some((version, raw)) = arg.split_once('=') else {
                return Err(ActionError::BadWeightArgument { arg: arg.clone() });
            };
            let version = version.trim();
            if version.is_empty() {
                return Err(ActionError::BadWeightArgument { arg: arg.clone() });
            }
            let weight = parse_weight(version, raw)?;
            if weights.insert(version.to_string(), weight).is_some() {
                return Err(ActionError::DuplicateVersion {
                    version: version.into(),
                });
            }
        }
        Ok(Self {
            service: service.into(),
            namespace: namespace.into(),
            weights,
        })
    }

    pub fn sum(&self) -> i64 {
        self.weights.values().sum()
    }
}

/// Parses one weight typed by a person: a whole number from 0 to 100.
pub fn parse_weight(version: &str, raw: &str) -> Result<i64> {
    let t = raw.trim();
    match t.parse::<i64>() {
        Ok(n) => check_range(version, n).map_err(|_| ActionError::InvalidWeight {
            version: version.into(),
            raw: raw.into(),
            reason: range_reason(n).into(),
        }),
        Err(_) => Err(ActionError::InvalidWeight {
            version: version.into(),
            raw: raw.into(),
            reason: if t.parse::<f64>().is_ok() {
                "weights are whole numbers (no decimals)".into()
            } else {
                "not a number".into()
            },
        }),
    }
}

fn range_reason(n: i64) -> &'static str {
    if n < 0 {
        "weights cannot be negative"
    } else {
        "a weight is a percentage, at most 100"
    }
}

fn check_range(version: &str, n: i64) -> Result<i64> {
    if (0..=100).contains(&n) {
        Ok(n)
    } else {
        Err(ActionError::InvalidWeight {
            version: version.into(),
            raw: n.to_string(),
            reason: range_reason(n).into(),
        })
    }
}

/// One version of a service and how many of its pods are ready.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct VersionPods {
    pub version: String,
    pub ready: u32,
    pub total: u32,
}

/// A named set of weights offered as a button.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct WeightPreset {
    pub label: String,
    #[ts(type = "Record<string, number>")]
    pub weights: BTreeMap<String, i64>,
}

/// How a service's requests are routed now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Routing {
    pub service: String,
    pub namespace: String,
    /// Versions found on the Service's pods (the `version` label), sorted.
    pub versions: Vec<VersionPods>,
    /// The weights of the VirtualService's default route, or None when no VirtualService
    /// routes this host (then requests spread evenly over every pod).
    #[ts(type = "Record<string, number> | null")]
    pub weights: Option<BTreeMap<String, i64>>,
    /// Name of the DestinationRule for this host, when there is one.
    pub destination_rule: Option<String>,
    /// Name of the VirtualService for this host, when there is one.
    pub virtual_service: Option<String>,
    /// Subsets the DestinationRule defines now.
    pub subsets: Vec<String>,
    /// Buttons that make sense for these versions.
    pub presets: Vec<WeightPreset>,
}

/// What applying (or previewing) a plan writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct WeightChange {
    pub plan: WeightPlan,
    /// The DestinationRule and VirtualService, as multi-document YAML.
    pub yaml: String,
    /// The same change as one kubectl command.
    pub kubectl: String,
    /// Subsets the DestinationRule gains (they did not exist before).
    pub created_subsets: Vec<String>,
    /// False for a preview: nothing was written.
    pub applied: bool,
}

/// The routing objects as they were before a change, to undo it. Serializable so an undo
/// can outlive the process that made the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoutingBackup {
    pub namespace: String,
    pub destination_rule_name: String,
    pub virtual_service_name: String,
    pub destination_rule: Option<DestinationRule>,
    pub virtual_service: Option<VirtualService>,
}

pub use super::backup::UndoReport;

pub fn destination_rule_resource() -> ApiResource {
    istio_api::api_resource::<DestinationRuleSpec>()
}

pub fn virtual_service_resource() -> ApiResource {
    istio_api::api_resource::<VirtualServiceSpec>()
}

/// The presets of the seed tutorial and the Istio docs, kept to those whose versions exist.
pub fn presets(versions: &[String]) -> Vec<WeightPreset> {
    let all: [(&str, &[(&str, i64)]); 4] = [
        ("All to v1", &[("v1", 100)]),
        ("50/50 v1 and v3", &[("v1", 50), ("v3", 50)]),
        ("60/30/10", &[("v1", 60), ("v2", 30), ("v3", 10)]),
        ("80/20 v1 and v2", &[("v1", 80), ("v2", 20)]),
    ];
    all.iter()
        .filter(|(_, w)| w.iter().all(|(v, _)| versions.iter().any(|x| x == v)))
        .map(|(label, w)| WeightPreset {
            label: (*label).into(),
            weights: versions
                .iter()
                .map(|v| {
                    let weight = w.iter().find(|(x, _)| x == v).map_or(0, |(_, n)| *n);
                    (v.clone(), weight)
                })
                .collect(),
        })
        .collect()
}

/// Everything validation needs, read from the cluster once.
#[derive(Debug, Clone)]
pub struct ServiceFacts {
    pub service: String,
    pub namespace: String,
    pub versions: Vec<VersionPods>,
    /// Pods of the service: (labels, ready).
    pub pods: Vec<(Labels, bool)>,
    pub destination_rule: Option<DestinationRule>,
    pub virtual_service: Option<VirtualService>,
}

impl ServiceFacts {
    pub(crate) fn existing_subsets(&self) -> &[Subset] {
        self.destination_rule
            .as_ref()
            .map_or(&[], |dr| dr.spec.subsets.as_slice())
    }

    /// The labels a subset for `version` selects: the existing subset's, or `version=<v>`.
    pub(crate) fn subset_labels(&self, version: &str) -> Labels {
        self.existing_subsets()
            .iter()
            .find(|s| s.name == version)
            .map(|s| s.labels.clone())
            .unwrap_or_else(|| version_labels(version))
    }
}

pub(crate) fn version_labels(version: &str) -> Labels {
    Labels::from([("version".to_string(), version.to_string())])
}

/// Checks a plan against what the cluster has. Writes nothing.
pub fn validate(plan: &WeightPlan, facts: &ServiceFacts) -> Result<()> {
    for (version, weight) in &plan.weights {
        check_range(version, *weight)?;
    }
    if facts.versions.is_empty() {
        return Err(ActionError::NoVersions {
            service: plan.service.clone(),
        });
    }
    let known: Vec<&str> = facts.versions.iter().map(|v| v.version.as_str()).collect();
    for version in plan.weights.keys() {
        if !known.contains(&version.as_str()) {
            return Err(ActionError::UnknownVersion {
                service: plan.service.clone(),
                version: version.clone(),
                known: known.join(", "),
            });
        }
    }
    let sum = plan.sum();
    if sum != 100 {
        return Err(ActionError::WeightSum { sum });
    }
    for (version, weight) in plan.weights.iter().filter(|(_, w)| **w > 0) {
        let labels = facts.subset_labels(version);
        let ready = facts
            .pods
            .iter()
            .filter(|(pod_labels, ready)| *ready && selects(&labels, pod_labels))
            .count();
        if ready == 0 {
            return Err(ActionError::NoReadyPods {
                service: plan.service.clone(),
                version: version.clone(),
                weight: *weight,
            });
        }
    }
    Ok(())
}

pub(crate) fn read_err(what: impl Into<String>) -> impl FnOnce(::kube::Error) -> ActionError {
    let what = what.into();
    move |source| ActionError::Read { what, source }
}

/// Reads the Service, its pods and the routing objects for its host.
#[tracing::instrument(skip(client))]
pub async fn service_facts(
    client: &::kube::Client,
    namespace: &str,
    service: &str,
) -> Result<ServiceFacts> {
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    let svc = services
        .get_opt(service)
        .await
        .map_err(read_err(format!("Service {namespace}/{service}")))?
        .ok_or_else(|| ActionError::UnknownService {
            service: service.into(),
            namespace: namespace.into(),
        })?;
    let selector = svc
        .spec
        .as_ref()
        .and_then(|s| s.selector.clone())
        .unwrap_or_default();
    let mut pods = Vec::new();
    if !selector.is_empty() {
        let label_selector = selector
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let list = Api::<Pod>::namespaced(client.clone(), namespace)
            .list(&ListParams::default().labels(&label_selector))
            .await
            .map_err(read_err(format!("pods of {service}")))?;
        for pod in list {
            if pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let ready = pod
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            pods.push((pod.metadata.labels.unwrap_or_default(), ready));
        }
    }
    let mut versions: BTreeMap<String, VersionPods> = BTreeMap::new();
    for (labels, ready) in &pods {
        if let Some(v) = labels.get("version") {
            let e = versions.entry(v.clone()).or_insert(VersionPods {
                version: v.clone(),
                ready: 0,
                total: 0,
            });
            e.total += 1;
            e.ready += u32::from(*ready);
        }
    }
    let destination_rule = istio_api::list::<DestinationRuleSpec>(client, namespace)
        .await
        .map_err(read_err("DestinationRules"))?
        .into_iter()
        .find(|dr| names_service(&dr.spec.host, dr.namespace(), service, namespace));
    // A cluster that does not serve VirtualServices has none; applying one then fails and
    // the DestinationRule is put back, which says plainly what is missing.
    let virtual_service = match istio_api::list::<VirtualServiceSpec>(client, namespace).await {
        Ok(list) => list,
        Err(::kube::Error::Api(status)) if status.code == 404 => Vec::new(),
        Err(e) => return Err(read_err("VirtualServices")(e)),
    }
    .into_iter()
    .find(|vs| {
        // Gateway-bound VirtualServices (bookinfo's) are the ingress's, not this host's.
        vs.spec.gateways.is_empty()
            && vs
                .spec
                .hosts
                .iter()
                .any(|h| names_service(h, vs.namespace(), service, namespace))
    });
    let mut facts = ServiceFacts {
        service: service.into(),
        namespace: namespace.into(),
        versions: Vec::new(),
        pods,
        destination_rule,
        virtual_service,
    };
    // A subset whose pods are all gone (scaled to 0) is still a version: it may get a weight
    // of 0, and a clear "no ready pods" for more.
    if !versions.is_empty() {
        for subset in facts.existing_subsets() {
            versions
                .entry(subset.name.clone())
                .or_insert_with(|| VersionPods {
                    version: subset.name.clone(),
                    ready: 0,
                    total: 0,
                });
        }
    }
    facts.versions = versions.into_values().collect();
    Ok(facts)
}

/// The weights of the first route without a match (the default route) of a VirtualService.
fn current_weights(vs: &VirtualService) -> Option<BTreeMap<String, i64>> {
    let http = &vs.spec.http;
    let route = &http
        .iter()
        .find(|r| r.matches.is_empty())
        .or_else(|| http.first())?
        .route;
    if route.is_empty() {
        return None;
    }
    let single = route.len() == 1;
    let mut out = BTreeMap::new();
    for dest in route {
        let subset = dest
            .destination
            .subset
            .clone()
            .unwrap_or_else(|| "(all)".to_string());
        let weight = dest.weight.map_or(if single { 100 } else { 0 }, i64::from);
        *out.entry(subset).or_insert(0) += weight;
    }
    Some(out)
}

/// How the service is routed now.
#[tracing::instrument(skip(client))]
pub async fn read_routing(
    client: &::kube::Client,
    namespace: &str,
    service: &str,
) -> Result<Routing> {
    let facts = service_facts(client, namespace, service).await?;
    let names: Vec<String> = facts.versions.iter().map(|v| v.version.clone()).collect();
    Ok(Routing {
        service: service.into(),
        namespace: namespace.into(),
        weights: facts.virtual_service.as_ref().and_then(current_weights),
        destination_rule: facts
            .destination_rule
            .as_ref()
            .map(|d| d.metadata.name.clone()),
        virtual_service: facts
            .virtual_service
            .as_ref()
            .map(|d| d.metadata.name.clone()),
        subsets: facts
            .existing_subsets()
            .iter()
            .map(|s| s.name.clone())
            .collect(),
        presets: presets(&names),
        versions: facts.versions,
    })
}

/// The DestinationRule and VirtualService a plan needs, plus subsets it adds.
///
/// Only the fields the change is about are written (the rule's host and subsets, the
/// VirtualService's hosts and routes): server-side apply leaves the others, such as a
/// traffic policy set by hand, to whoever set them. Existing subsets are sent back whole
/// (the subsets list is replaced as one), so their own policies are kept.
fn desired_objects(
    plan: &WeightPlan,
    facts: &ServiceFacts,
) -> (DestinationRule, VirtualService, Vec<String>) {
    let ns = &plan.namespace;
    let mut subsets = facts.existing_subsets().to_vec();
    let mut created = Vec::new();
    for v in &facts.versions {
        if !subsets.iter().any(|s| s.name == v.version) {
            subsets.push(Subset::new(v.version.clone(), version_labels(&v.version)));
            created.push(v.version.clone());
        }
    }
    let existing_dr = facts.destination_rule.as_ref();
    let dr_name = existing_dr.map_or_else(|| plan.service.clone(), |d| d.metadata.name.clone());
    let host = existing_dr
        .map(|d| d.spec.host.clone())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| plan.service.clone());
    let dr = DestinationRule::new(
        dr_name,
        ns.clone(),
        DestinationRuleSpec {
            host: host.clone(),
            // Sent back as it is: a policy the app wrote (a circuit breaker) would be
            // removed by server-side apply if this apply left it out.
            traffic_policy: existing_dr.and_then(|d| d.spec.traffic_policy.clone()),
            subsets,
            ..Default::default()
        },
    );
    let existing_vs = facts.virtual_service.as_ref();
    let vs_name = existing_vs.map_or_else(|| plan.service.clone(), |d| d.metadata.name.clone());
    let hosts = existing_vs
        .map(|d| d.spec.hosts.clone())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| vec![plan.service.clone()]);
    // Versions are listed in order; a weight of 0 is left out, as the Istio docs do.
    let route: Vec<HttpRouteDestination> = facts
        .versions
        .iter()
        .filter_map(|v| {
            let w = *plan.weights.get(&v.version).unwrap_or(&0);
            // Validation keeps weights within 0..=100.
            let w = i32::try_from(w).ok().filter(|w| *w > 0)?;
            Some(HttpRouteDestination::new(
                Destination::new(host.clone(), Some(v.version.clone())),
                Some(w),
            ))
        })
        .collect();
    let vs = VirtualService::new(
        vs_name,
        ns.clone(),
        VirtualServiceSpec {
            hosts,
            http: vec![HttpRoute {
                route,
                ..Default::default()
            }],
            ..Default::default()
        },
    );
    (dr, vs, created)
}

fn to_yaml(dr: &DestinationRule, vs: &VirtualService) -> String {
    [dr.to_value(), vs.to_value()]
        .iter()
        .map(|o| serde_yaml_ng::to_string(o).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("---\n")
}

fn kubectl_apply(yaml: &str) -> String {
    format!(
        "kubectl apply --server-side --field-manager={} -f - <<'EOF'\n{yaml}EOF",
        crate::FIELD_MANAGER
    )
}

/// Validates the plan and shows what applying it would write. Writes nothing.
#[tracing::instrument(skip(client), fields(service = %plan.service, namespace = %plan.namespace))]
pub async fn preview(client: &::kube::Client, plan: &WeightPlan) -> Result<WeightChange> {
    let facts = service_facts(client, &plan.namespace, &plan.service).await?;
    validate(plan, &facts)?;
    let (dr, vs, created) = desired_objects(plan, &facts);
    let yaml = to_yaml(&dr, &vs);
    Ok(WeightChange {
        plan: plan.clone(),
        kubectl: kubectl_apply(&yaml),
        yaml,
        created_subsets: created,
        applied: false,
    })
}

/// Validates, then applies the DestinationRule and the VirtualService. On success returns
/// what was applied and a backup to undo it; on failure the routing is as it was.
#[tracing::instrument(skip(client), fields(service = %plan.service, namespace = %plan.namespace))]
pub async fn apply(
    client: &::kube::Client,
    plan: &WeightPlan,
) -> Result<(WeightChange, RoutingBackup)> {
    let facts = service_facts(client, &plan.namespace, &plan.service).await?;
    validate(plan, &facts)?;
    let (dr, vs, created) = desired_objects(plan, &facts);
    let yaml = to_yaml(&dr, &vs);
    let backup = RoutingBackup {
        namespace: plan.namespace.clone(),
        destination_rule_name: dr.metadata.name.clone(),
        virtual_service_name: vs.metadata.name.clone(),
        destination_rule: facts.destination_rule.clone(),
        virtual_service: facts.virtual_service.clone(),
    };
    // The DestinationRule first, so the VirtualService never names a subset that is not
    // there yet; `commit` puts the DestinationRule back when the VirtualService is refused.
    let steps = vec![
        Step::apply(&dr, facts.destination_rule.clone()),
        Step::apply(&vs, facts.virtual_service.clone()),
    ];
    backup::commit(client, ActionKind::Weights, steps)
        .await
        .map_err(|e| match e {
            // Worded for the two objects weights write.
            ActionError::ChangeRolledBack { cause } => ActionError::RolledBack { cause },
            ActionError::ChangeRollbackFailed { cause, restore } => {
                ActionError::RollbackFailed { cause, restore }
            }
            other => other,
        })?;
    tracing::info!(weights = ?plan.weights, "weights applied");
    Ok((
        WeightChange {
            plan: plan.clone(),
            kubectl: kubectl_apply(&yaml),
            yaml,
            created_subsets: created,
            applied: true,
        },
        backup,
    ))
}

/// Restores the routing saved before a change: the VirtualService first (so it never
/// names a subset that is gone), then the DestinationRule.
pub async fn undo(client: &::kube::Client, backup: &RoutingBackup) -> Result<UndoReport> {
    super::backup::undo(client, &backup.clone().into()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(versions: &[(&str, u32, u32)]) -> ServiceFacts {
        let mut pods = Vec::new();
        for (v, ready, total) in versions {
            for i in 0..*total {
                pods.push((
                    BTreeMap::from([
                        ("app".to_string(), "reviews".to_string()),
                        ("version".to_string(), v.to_string()),
                    ]),
                    i < *ready,
                ));
            }
        }
        ServiceFacts {
            service: "reviews".into(),
            namespace: "default".into(),
            versions: versions
                .iter()
                .map(|(v, r, t)| VersionPods {
                    version: v.to_string(),
                    ready: *r,
                    total: *t,
                })
                .collect(),
            pods,
            destination_rule: None,
            virtual_service: None,
        }
    }

    fn plan(args: &[&str]) -> Result<WeightPlan> {
        WeightPlan::from_args(
            "reviews",
            "default",
            &args.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
    }

    #[test]
    fn typed_weights_that_are_not_whole_percentages_are_refused_with_a_reason() {
        for (arg, reason) in [
            ("v1=101", "at most 100"),
            ("v1=-5", "negative"),
            ("v1=1.5", "whole numbers"),
            ("v1=abc", "not a number"),
            ("v1=", "not a number"),
        ] {
            let err = plan(&[arg]).unwrap_err();
            assert_eq!(err.code(), "invalid_weight", "{arg}");
            assert!(err.to_string().contains(reason), "{arg}: {err}");
            assert!(err.hint().unwrap().contains("whole number"));
        }
        assert_eq!(plan(&["v1"]).unwrap_err().code(), "invalid_weight");
        assert_eq!(
            plan(&["v1=50", "v1=50"]).unwrap_err().code(),
            "invalid_weight"
        );
    }

    #[test]
    fn a_plan_must_sum_to_100_over_versions_that_exist_and_have_ready_pods() {
        let f = facts(&[("v1", 1, 1), ("v2", 1, 1), ("v3", 0, 1)]);
        validate(&plan(&["v1=60", "v2=40"]).unwrap(), &f).unwrap();
        let e = validate(&plan(&["v1=60", "v2=30"]).unwrap(), &f).unwrap_err();
        assert_eq!(e.code(), "weights_sum");
        assert!(e.hint().unwrap().contains("by 10"), "{:?}", e.hint());
        let e = validate(&plan(&["v1=90", "v9=10"]).unwrap(), &f).unwrap_err();
        assert_eq!(e.code(), "unknown_version");
        assert!(e.hint().unwrap().contains("v1, v2, v3"));
        let e = validate(&plan(&["v1=90", "v3=10"]).unwrap(), &f).unwrap_err();
        assert_eq!(e.code(), "no_ready_pods");
        // No traffic to the version without ready pods is fine.
        validate(&plan(&["v1=100", "v3=0"]).unwrap(), &f).unwrap();
        let none = facts(&[]);
        assert_eq!(
            validate(&plan(&["v1=100"]).unwrap(), &none)
                .unwrap_err()
                .code(),
            "no_versions"
        );
        // Wide values that come over IPC are range-checked too.
        let mut p = plan(&["v1=100"]).unwrap();
        p.weights.insert("v2".into(), -5);
        assert_eq!(validate(&p, &f).unwrap_err().code(), "invalid_weight");
    }

    #[test]
    fn presets_follow_the_tutorial_and_only_name_versions_that_exist() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let all = presets(&v(&["v1", "v2", "v3"]));
        let labels: Vec<_> = all.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "All to v1",
                "50/50 v1 and v3",
                "60/30/10",
                "80/20 v1 and v2"
            ]
        );
        assert_eq!(
            all[2].weights,
            BTreeMap::from([("v1".into(), 60), ("v2".into(), 30), ("v3".into(), 10)])
        );
        assert!(all.iter().all(|p| p.weights.values().sum::<i64>() == 100));
        let two = presets(&v(&["v1", "v2"]));
        assert_eq!(two.len(), 2);
    }

    #[test]
    fn the_yaml_creates_missing_subsets_and_leaves_out_zero_weights() {
        let f = facts(&[("v1", 1, 1), ("v2", 1, 1), ("v3", 1, 1)]);
        let (dr, vs, created) = desired_objects(&plan(&["v1=50", "v3=50"]).unwrap(), &f);
        assert_eq!(created, ["v1", "v2", "v3"]);
        assert_eq!(dr.spec.subsets.len(), 3);
        assert_eq!(dr.spec.subsets[2].labels["version"], "v3");
        let route = &vs.spec.http[0].route;
        assert_eq!(route.len(), 2);
        assert_eq!(route[1].destination.subset.as_deref(), Some("v3"));
        assert_eq!(route[1].weight, Some(50));
        let yaml = to_yaml(&dr, &vs);
        assert!(yaml.contains("kind: DestinationRule") && yaml.contains("---\n"));
        assert!(
            yaml.contains("apiVersion: networking.istio.io/v1"),
            "{yaml}"
        );
        assert!(kubectl_apply(&yaml).starts_with("kubectl apply --server-side"));
    }

    fn read<S: crate::istio::Spec>(v: serde_json::Value) -> crate::istio::Resource<S> {
        crate::istio::Resource::from_value(v).unwrap()
    }

    #[test]
    fn existing_rules_keep_their_names_hosts_and_subset_policies() {
        let mut f = facts(&[("v1", 1, 1), ("v2", 1, 1)]);
        f.destination_rule = Some(read(serde_json::json!({
            "apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
            "metadata": {"name": "reviews-rule", "namespace": "default", "resourceVersion": "7"},
            "spec": {"host": "reviews.default.svc.cluster.local",
                "trafficPolicy": {"loadBalancer": {"simple": "RANDOM"}},
                "subsets": [{"name": "v1", "labels": {"version": "v1", "tier": "gold"},
                    "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 2}}},
                    "futureField": true}]}
        })));
        f.virtual_service = Some(read(serde_json::json!({
            "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": "reviews-routes", "namespace": "default"},
            "spec": {"hosts": ["reviews.default.svc.cluster.local"],
                "http": [{"route": [{"destination": {"host": "reviews", "subset": "v1"}}]}]}
        })));
        assert_eq!(f.subset_labels("v1")["tier"], "gold");
        assert_eq!(f.subset_labels("v2"), version_labels("v2"));
        let (dr, vs, created) = desired_objects(&plan(&["v1=30", "v2=70"]).unwrap(), &f);
        assert_eq!(created, ["v2"]);
        assert_eq!(dr.metadata.name, "reviews-rule");
        assert_eq!(dr.metadata.resource_version, None, "applied without one");
        let subsets = &dr.to_value()["spec"]["subsets"];
        assert_eq!(
            subsets[0],
            serde_json::json!({"name": "v1", "labels": {"version": "v1", "tier": "gold"},
                "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 2}}},
                "futureField": true}),
            "the existing subset goes back whole"
        );
        assert_eq!(
            dr.to_value()["spec"]["trafficPolicy"],
            serde_json::json!({"loadBalancer": {"simple": "RANDOM"}}),
            "the rule's own policy is sent back as it was"
        );
        assert_eq!(vs.metadata.name, "reviews-routes");
        assert_eq!(vs.spec.hosts, ["reviews.default.svc.cluster.local"]);
        assert_eq!(
            vs.spec.http[0].route[0].destination.host,
            "reviews.default.svc.cluster.local"
        );
        let before = current_weights(f.virtual_service.as_ref().unwrap()).unwrap();
        assert_eq!(before, BTreeMap::from([("v1".to_string(), 100)]));
        assert_eq!(
            current_weights(&vs).unwrap(),
            BTreeMap::from([("v1".to_string(), 30), ("v2".to_string(), 70)])
        );
    }

    #[test]
    fn a_backup_survives_being_written_down_and_read_back() {
        let mut f = facts(&[("v1", 1, 1)]);
        f.destination_rule = Some(read(serde_json::json!({
            "apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
            "metadata": {"name": "reviews", "namespace": "default"},
            "spec": {"host": "reviews", "subsets": [{"name": "v1", "labels": {"version": "v1"}}]}
        })));
        let backup = RoutingBackup {
            namespace: "default".into(),
            destination_rule_name: "reviews".into(),
            virtual_service_name: "reviews".into(),
            destination_rule: f.destination_rule.clone(),
            virtual_service: None,
        };
        let text = serde_json::to_string(&backup).unwrap();
        assert_eq!(
            serde_json::from_str::<RoutingBackup>(&text).unwrap(),
            backup
        );
    }
}
