//! Request routing (Istio's "Request routing" task): send every request for a service to one
//! version, or the requests of one logged-in user (the `end-user` header Bookinfo's
//! productpage forwards) to one version and the rest to another.
//!
//! Also the pieces the other route actions (faults, timeouts, retries) share: reading the
//! service and its routing, the VirtualService to start from, and header checks.

use ::kube::api::Api;
use k8s_openapi::api::core::v1::Namespace;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::ActionError;
use super::backup::{self, ActionKind, ChangeBackup, Step, TrafficChange, for_apply};
use super::weights::{ServiceFacts, read_err, service_facts, version_labels};
use crate::istio::{
    Destination, DestinationRule, DestinationRuleSpec, HttpMatchRequest, HttpRoute,
    HttpRouteDestination, StringMatch, Subset, VirtualService, VirtualServiceSpec, selects,
};

type Result<T, E = ActionError> = std::result::Result<T, E>;

/// The header Bookinfo's productpage sets to the logged-in user.
pub const USER_HEADER: &str = "end-user";

/// Where a service's requests go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[ts(export)]
pub struct RoutePlan {
    pub service: String,
    pub namespace: String,
    /// The version (`version` label) that gets the requests: all of them, or the user's.
    pub to: String,
    /// Only requests whose header equals this value go to `to` (a user name).
    pub user: Option<String>,
    /// The header compared with `user`; `end-user` when not given.
    pub header: Option<String>,
    /// With `user`: where every other request goes. Without it, the other requests keep
    /// the route they had (or go to every version when there was none).
    pub otherwise: Option<String>,
}

/// Refuses a namespace that does not exist.
#[tracing::instrument(skip(client))]
pub(crate) async fn ensure_namespace(client: &::kube::Client, namespace: &str) -> Result<()> {
    Api::<Namespace>::all(client.clone())
        .get_opt(namespace)
        .await
        .map_err(read_err(format!("namespace {namespace}")))?
        .map(drop)
        .ok_or_else(|| ActionError::UnknownNamespace {
            namespace: namespace.into(),
        })
}

/// The namespace, then the service, its pods and its routing.
pub(crate) async fn read_service(
    client: &::kube::Client,
    namespace: &str,
    service: &str,
) -> Result<ServiceFacts> {
    ensure_namespace(client, namespace).await?;
    service_facts(client, namespace, service).await
}

/// A header name Envoy can match (an HTTP token, not a pseudo-header) and a value that
/// fits on one line.
pub fn check_header(name: &str, value: Option<&str>) -> Result<()> {
    let bad = |reason: &str| ActionError::InvalidHeader {
        name: name.into(),
        reason: reason.into(),
    };
    if name.is_empty() {
        return Err(bad("the name is empty"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(*c)))
    {
        return Err(bad(&if c == ' ' {
            "a header name cannot contain spaces".to_string()
        } else {
            format!("a header name cannot contain {c:?}")
        }));
    }
    if let Some(v) = value {
        if v.trim().is_empty() {
            return Err(bad("the value is empty"));
        }
        if v.chars().any(|c| c.is_control()) {
            return Err(bad("the value must be one line of text"));
        }
    }
    Ok(())
}

/// The match of one user's requests: `headers: {end-user: {exact: jason}}`.
pub(crate) fn header_match(header: &str, value: &str) -> HttpMatchRequest {
    HttpMatchRequest {
        headers: [(header.to_string(), StringMatch::exact(value))].into(),
        ..Default::default()
    }
}

/// The host destinations name: the DestinationRule's when there is one (so both spell it the
/// same), else the service's short name.
pub(crate) fn host_of(facts: &ServiceFacts) -> String {
    facts
        .destination_rule
        .as_ref()
        .map(|d| d.spec.host.clone())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| facts.service.clone())
}

/// The VirtualService to change: the service's own, as it would be written back, or a new
/// one whose one route sends everything to the service as Kubernetes would.
pub(crate) fn base_virtual_service(facts: &ServiceFacts) -> VirtualService {
    match &facts.virtual_service {
        Some(vs) => for_apply(vs),
        None => VirtualService::new(
            facts.service.clone(),
            facts.namespace.clone(),
            VirtualServiceSpec {
                hosts: vec![facts.service.clone()],
                http: vec![HttpRoute {
                    route: vec![HttpRouteDestination::new(
                        Destination::new(facts.service.clone(), None),
                        None,
                    )],
                    ..Default::default()
                }],
                ..Default::default()
            },
        ),
    }
}

/// The route that takes requests no other route matched (the last one without a match).
pub(crate) fn default_route(http: &[HttpRoute]) -> Option<&HttpRoute> {
    http.iter().rev().find(|r| r.matches.is_empty())
}

/// The step that writes `desired` unless it is what the cluster has already.
pub(crate) fn vs_step(desired: &VirtualService, facts: &ServiceFacts) -> Option<Step> {
    let current = facts.virtual_service.as_ref();
    if current.is_some_and(|c| for_apply(c) == *desired) {
        return None;
    }
    Some(Step::apply(desired, current.cloned()))
}

/// Writes the steps (or only describes them for a preview).
pub(crate) async fn run(
    client: &::kube::Client,
    action: ActionKind,
    steps: Vec<Step>,
    dry_run: bool,
) -> Result<(TrafficChange, Option<ChangeBackup>)> {
    if dry_run || steps.is_empty() {
        return Ok((backup::describe(action, &steps, false), None));
    }
    let (change, backup) = backup::commit(client, action, steps).await?;
    Ok((change, Some(backup)))
}

fn check_version(facts: &ServiceFacts, version: &str) -> Result<()> {
    if facts.versions.is_empty() {
        return Err(ActionError::NoVersions {
            service: facts.service.clone(),
        });
    }
    if !facts.versions.iter().any(|v| v.version == version) {
        return Err(ActionError::UnknownVersion {
            service: facts.service.clone(),
            version: version.into(),
            known: facts
                .versions
                .iter()
                .map(|v| v.version.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let labels = facts.subset_labels(version);
    if !facts
        .pods
        .iter()
        .any(|(pod, ready)| *ready && selects(&labels, pod))
    {
        return Err(ActionError::NoReadyPods {
            service: facts.service.clone(),
            version: version.into(),
            weight: 100,
        });
    }
    Ok(())
}

/// Checks a plan against the cluster. Writes nothing.
pub fn validate(plan: &RoutePlan, facts: &ServiceFacts) -> Result<()> {
    if let Some(user) = &plan.user {
        check_header(plan.header.as_deref().unwrap_or(USER_HEADER), Some(user))?;
    } else if plan.otherwise.is_some() {
        return Err(ActionError::NothingToChange {
            what: "--else only means something with --user".into(),
        });
    }
    check_version(facts, &plan.to)?;
    if let Some(other) = &plan.otherwise {
        check_version(facts, other)?;
    }
    Ok(())
}

/// The DestinationRule (when subsets are missing) and the VirtualService a plan needs.
fn desired(plan: &RoutePlan, facts: &ServiceFacts) -> (Option<DestinationRule>, VirtualService) {
    let host = host_of(facts);
    let existing = facts.existing_subsets();
    let needed = std::iter::once(&plan.to).chain(plan.otherwise.as_ref());
    let dr = needed
        .into_iter()
        .any(|v| !existing.iter().any(|s| &s.name == v))
        .then(|| {
            let mut subsets = existing.to_vec();
            for v in &facts.versions {
                if !subsets.iter().any(|s| s.name == v.version) {
                    subsets.push(Subset::new(v.version.clone(), version_labels(&v.version)));
                }
            }
            let mut dr = match &facts.destination_rule {
                Some(d) => for_apply(d),
                None => DestinationRule::new(
                    facts.service.clone(),
                    facts.namespace.clone(),
                    DestinationRuleSpec {
                        host: host.clone(),
                        ..Default::default()
                    },
                ),
            };
            dr.spec.subsets = subsets;
            dr
        });
    let to_version = |v: &str| {
        vec![HttpRouteDestination::new(
            Destination::new(host.clone(), Some(v.to_string())),
            None,
        )]
    };
    let mut vs = base_virtual_service(facts);
    let old = vs.spec.http.clone();
    let mut http = Vec::new();
    match &plan.user {
        Some(user) => {
            let header = plan.header.as_deref().unwrap_or(USER_HEADER);
            http.push(HttpRoute {
                matches: vec![header_match(header, user)],
                route: to_version(&plan.to),
                ..Default::default()
            });
            http.push(match &plan.otherwise {
                Some(other) => HttpRoute {
                    route: to_version(other),
                    ..Default::default()
                },
                None => default_route(&old).cloned().unwrap_or_else(|| HttpRoute {
                    route: vec![HttpRouteDestination::new(
                        Destination::new(host.clone(), None),
                        None,
                    )],
                    ..Default::default()
                }),
            });
        }
        None => http.push(HttpRoute {
            route: to_version(&plan.to),
            ..Default::default()
        }),
    }
    // Timeouts, retries and faults stay with the route they were on (same conditions).
    for route in &mut http {
        if let Some(before) = old.iter().find(|o| o.matches == route.matches) {
            route.timeout = route.timeout.take().or_else(|| before.timeout.clone());
            route.retries = route.retries.take().or_else(|| before.retries.clone());
            route.fault = route.fault.take().or_else(|| before.fault.clone());
        }
    }
    vs.spec.http = http;
    (dr, vs)
}

/// Validates, then applies (or with `dry_run` only shows) the routing. Returns what was
/// written and, when something was, how to undo it.
#[tracing::instrument(skip(client), fields(service = %plan.service, namespace = %plan.namespace))]
pub async fn apply(
    client: &::kube::Client,
    plan: &RoutePlan,
    dry_run: bool,
) -> Result<(TrafficChange, Option<ChangeBackup>)> {
    let facts = read_service(client, &plan.namespace, &plan.service).await?;
    validate(plan, &facts)?;
    let (dr, vs) = desired(plan, &facts);
    let mut steps = Vec::new();
    // The DestinationRule first, so the VirtualService never names a missing subset.
    if let Some(dr) = dr {
        steps.push(Step::apply(&dr, facts.destination_rule.clone()));
    }
    steps.extend(vs_step(&vs, &facts));
    run(client, ActionKind::Route, steps, dry_run).await
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::actions::weights::VersionPods;

    pub(crate) fn facts(service: &str, versions: &[&str]) -> ServiceFacts {
        ServiceFacts {
            service: service.into(),
            namespace: "default".into(),
            versions: versions
                .iter()
                .map(|v| VersionPods {
                    version: v.to_string(),
                    ready: 1,
                    total: 1,
                })
                .collect(),
            pods: versions
                .iter()
                .map(|v| {
                    (
                        BTreeMap::from([
                            ("app".to_string(), service.to_string()),
                            ("version".to_string(), v.to_string()),
                        ]),
                        true,
                    )
                })
                .collect(),
            destination_rule: None,
            virtual_service: None,
        }
    }

    fn plan(to: &str, user: Option<&str>, otherwise: Option<&str>) -> RoutePlan {
        RoutePlan {
            service: "reviews".into(),
            namespace: "default".into(),
            to: to.into(),
            user: user.map(Into::into),
            header: None,
            otherwise: otherwise.map(Into::into),
        }
    }

    #[test]
    fn header_names_are_http_tokens_and_values_one_line() {
        check_header("end-user", Some("jason")).unwrap();
        for (name, value, words) in [
            ("end user", Some("jason"), "spaces"),
            ("", Some("jason"), "empty"),
            (":path", Some("/"), "':'"),
            ("end-user", Some(" "), "value is empty"),
            ("end-user", Some("a\nb"), "one line"),
        ] {
            let e = check_header(name, value).unwrap_err();
            assert_eq!(e.code(), "invalid_header");
            assert!(e.to_string().contains(words), "{name:?}: {e}");
        }
    }

    #[test]
    fn all_to_one_version_and_one_user_to_another_like_istios_samples() {
        let f = facts("reviews", &["v1", "v2", "v3"]);
        validate(&plan("v1", None, None), &f).unwrap();
        let (dr, vs) = desired(&plan("v1", None, None), &f);
        let dr = dr.expect("subsets are created");
        assert_eq!(dr.spec.subsets.len(), 3);
        assert_eq!(
            vs.to_value()["spec"],
            serde_json::json!({"hosts": ["reviews"], "http": [
                {"route": [{"destination": {"host": "reviews", "subset": "v1"}}]}]})
        );
        let mut f2 = f.clone();
        f2.destination_rule = Some(dr);
        f2.virtual_service = Some(vs);
        let (dr, vs) = desired(&plan("v2", Some("jason"), None), &f2);
        assert!(dr.is_none(), "every subset exists");
        assert_eq!(
            vs.to_value()["spec"]["http"],
            serde_json::json!([
                {"match": [{"headers": {"end-user": {"exact": "jason"}}}],
                 "route": [{"destination": {"host": "reviews", "subset": "v2"}}]},
                {"route": [{"destination": {"host": "reviews", "subset": "v1"}}]}])
        );
        let (_, vs) = desired(&plan("v2", Some("jason"), Some("v3")), &f2);
        assert_eq!(
            vs.spec.http[1].route[0].destination.subset.as_deref(),
            Some("v3")
        );
    }

    #[test]
    fn unknown_versions_and_a_lonely_else_are_refused() {
        let f = facts("reviews", &["v1", "v2"]);
        let e = validate(&plan("v9", None, None), &f).unwrap_err();
        assert_eq!(e.code(), "unknown_version");
        assert!(e.hint().unwrap().contains("v1, v2"));
        let e = validate(&plan("v1", Some("jason"), Some("v7")), &f).unwrap_err();
        assert_eq!(e.code(), "unknown_version");
        let e = validate(&plan("v1", None, Some("v2")), &f).unwrap_err();
        assert_eq!(e.code(), "nothing_to_change");
        let e = validate(&plan("v1", None, None), &facts("details", &[])).unwrap_err();
        assert_eq!(e.code(), "no_versions");
    }
}
