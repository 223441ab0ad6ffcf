//! What every traffic action shares: the objects it touched as they were before (so Undo can
//! put them back exactly), writing a set of objects all or nothing, and the result it returns
//! (the YAML and the kubectl command it is equivalent to).
//!
//! A change is a list of [`Step`]s, each an object to apply (server-side, with the app's field
//! manager) or to delete, together with that object as it was. [`commit`] runs them in order;
//! when one is refused, the ones already done are put back in reverse order, so the cluster is
//! as it was. The [`ChangeBackup`] it returns is what the undo history keeps.

use ::kube::api::{DeleteParams, PostParams};
use serde::{Deserialize, Serialize};
use tracing::Instrument;
use ts_rs::TS;

use super::{ActionError, shell_word};
use crate::istio::{
    DestinationRule, DestinationRuleSpec, ObjectMeta, PeerAuthentication, PeerAuthenticationSpec,
    Resource, Spec, VirtualService, VirtualServiceSpec,
};
use crate::kube::apply::Applier;
use crate::kube::istio as istio_api;

type Result<T, E = ActionError> = std::result::Result<T, E>;

/// Which action made a change (the undo history says what it undoes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum ActionKind {
    Weights,
    Route,
    Fault,
    Timeout,
    Retries,
    Breaker,
    Mtls,
    ResetRouting,
}

/// The kinds of object the traffic actions write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[ts(export)]
pub enum ObjectKind {
    VirtualService,
    DestinationRule,
    PeerAuthentication,
}

impl ObjectKind {
    /// The resource name kubectl takes (`kubectl delete virtualservices ...`).
    pub fn plural(self) -> &'static str {
        match self {
            ObjectKind::VirtualService => VirtualServiceSpec::PLURAL,
            ObjectKind::DestinationRule => DestinationRuleSpec::PLURAL,
            ObjectKind::PeerAuthentication => PeerAuthenticationSpec::PLURAL,
        }
    }
}

/// One object a change wrote or deleted, by kind, namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ObjectId {
    pub kind: ObjectKind,
    pub namespace: String,
    pub name: String,
}

/// One object as it was before a change: its content, or `None` when it did not exist.
/// Boxed: the kinds differ a lot in size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all_fields = "camelCase")]
pub enum ObjectBackup {
    VirtualService {
        namespace: String,
        name: String,
        previous: Option<Box<VirtualService>>,
    },
    DestinationRule {
        namespace: String,
        name: String,
        previous: Option<Box<DestinationRule>>,
    },
    PeerAuthentication {
        namespace: String,
        name: String,
        previous: Option<Box<PeerAuthentication>>,
    },
}

impl ObjectBackup {
    pub fn id(&self) -> ObjectId {
        let (kind, namespace, name) = match self {
            ObjectBackup::VirtualService {
                namespace, name, ..
            } => (ObjectKind::VirtualService, namespace, name),
            ObjectBackup::DestinationRule {
                namespace, name, ..
            } => (ObjectKind::DestinationRule, namespace, name),
            ObjectBackup::PeerAuthentication {
                namespace, name, ..
            } => (ObjectKind::PeerAuthentication, namespace, name),
        };
        ObjectId {
            kind,
            namespace: namespace.clone(),
            name: name.clone(),
        }
    }
}

/// The kinds a change may touch, and how their backups are made.
pub trait Backed: Spec {
    fn backup(namespace: &str, name: &str, previous: Option<Resource<Self>>) -> ObjectBackup;
}

impl Backed for VirtualServiceSpec {
    fn backup(namespace: &str, name: &str, previous: Option<VirtualService>) -> ObjectBackup {
        ObjectBackup::VirtualService {
            namespace: namespace.into(),
            name: name.into(),
            previous: previous.map(Box::new),
        }
    }
}

impl Backed for DestinationRuleSpec {
    fn backup(namespace: &str, name: &str, previous: Option<DestinationRule>) -> ObjectBackup {
        ObjectBackup::DestinationRule {
            namespace: namespace.into(),
            name: name.into(),
            previous: previous.map(Box::new),
        }
    }
}

impl Backed for PeerAuthenticationSpec {
    fn backup(namespace: &str, name: &str, previous: Option<PeerAuthentication>) -> ObjectBackup {
        ObjectBackup::PeerAuthentication {
            namespace: namespace.into(),
            name: name.into(),
            previous: previous.map(Box::new),
        }
    }
}

/// Everything one change touched, as it was before, in the order it was written. Kept in the
/// undo history, so it must read back the same after a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeBackup {
    pub action: ActionKind,
    pub objects: Vec<ObjectBackup>,
}

impl From<super::weights::RoutingBackup> for ChangeBackup {
    /// Weights write the DestinationRule, then the VirtualService.
    fn from(b: super::weights::RoutingBackup) -> Self {
        ChangeBackup {
            action: ActionKind::Weights,
            objects: vec![
                DestinationRuleSpec::backup(
                    &b.namespace,
                    &b.destination_rule_name,
                    b.destination_rule,
                ),
                VirtualServiceSpec::backup(
                    &b.namespace,
                    &b.virtual_service_name,
                    b.virtual_service,
                ),
            ],
        }
    }
}

/// What an undo did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct UndoReport {
    /// The action whose change was undone.
    pub action: ActionKind,
    /// One line per object: restored or deleted.
    pub done: Vec<String>,
    /// The kubectl commands that do the same.
    pub kubectl: Vec<String>,
}

/// What an action writes (or, for a preview, would write).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct TrafficChange {
    pub action: ActionKind,
    /// Objects applied, in order.
    pub applied_objects: Vec<ObjectId>,
    /// Objects deleted.
    pub deleted_objects: Vec<ObjectId>,
    /// The applied objects as multi-document YAML (empty when the change only deletes).
    pub yaml: String,
    /// The same change as kubectl commands, one per line.
    pub kubectl: String,
    /// False for a preview: nothing was written.
    pub applied: bool,
}

/// One write of a change, with the object as it was.
pub struct Step {
    write: Write,
    backup: ObjectBackup,
}

enum Write {
    Apply(::kube::api::DynamicObject, serde_json::Value),
    /// A whole-object write, for a change that removes fields: server-side apply removes
    /// only fields no other manager also set, and can leave emptied parents behind.
    Replace(::kube::api::DynamicObject, serde_json::Value),
    Delete,
}

impl Step {
    /// Apply `desired` (server-side); `previous` is the object as it is now, if it exists.
    pub fn apply<S: Backed>(desired: &Resource<S>, previous: Option<Resource<S>>) -> Self {
        Step {
            write: Write::Apply(istio_api::dynamic(desired), desired.to_value()),
            backup: S::backup(desired.namespace(), desired.name(), previous),
        }
    }

    /// Replace the object with `desired` as a whole (PUT), creating it when missing.
    pub fn replace<S: Backed>(desired: &Resource<S>, previous: Option<Resource<S>>) -> Self {
        Step {
            write: Write::Replace(istio_api::dynamic(desired), desired.to_value()),
            backup: S::backup(desired.namespace(), desired.name(), previous),
        }
    }

    /// Delete `existing`.
    pub fn delete<S: Backed>(existing: Resource<S>) -> Self {
        let (ns, name) = (
            existing.metadata.namespace.clone(),
            existing.metadata.name.clone(),
        );
        Step {
            write: Write::Delete,
            backup: S::backup(&ns, &name, Some(existing)),
        }
    }

    pub fn id(&self) -> ObjectId {
        self.backup.id()
    }
}

/// The YAML and kubectl commands of a set of steps, written or not.
pub fn describe(action: ActionKind, steps: &[Step], applied: bool) -> TrafficChange {
    let mut yaml_docs = Vec::new();
    let mut replaced = Vec::new();
    let mut kubectl = Vec::new();
    let mut applied_objects = Vec::new();
    let mut deleted_objects = Vec::new();
    for step in steps {
        let id = step.id();
        match &step.write {
            Write::Apply(_, value) => {
                yaml_docs.push(serde_yaml_ng::to_string(value).unwrap_or_default());
                applied_objects.push(id);
            }
            Write::Replace(_, value) => {
                let doc = serde_yaml_ng::to_string(value).unwrap_or_default();
                replaced.push(format!("kubectl replace -f - <<'EOF'\n{doc}EOF"));
                yaml_docs.push(doc);
                applied_objects.push(id);
            }
            Write::Delete => {
                kubectl.push(format!(
                    "kubectl delete {} {} -n {}",
                    id.kind.plural(),
                    shell_word(&id.name),
                    shell_word(&id.namespace)
                ));
                deleted_objects.push(id);
            }
        }
    }
    let yaml = yaml_docs.join("---\n");
    let applied_yaml = steps
        .iter()
        .filter_map(|s| match &s.write {
            Write::Apply(_, value) => Some(serde_yaml_ng::to_string(value).unwrap_or_default()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("---\n");
    for r in replaced.into_iter().rev() {
        kubectl.insert(0, r);
    }
    if !applied_yaml.is_empty() {
        kubectl.insert(
            0,
            format!(
                "kubectl apply --server-side --field-manager={} -f - <<'EOF'\n{applied_yaml}EOF",
                crate::FIELD_MANAGER
            ),
        );
    }
    TrafficChange {
        action,
        applied_objects,
        deleted_objects,
        yaml,
        kubectl: kubectl.join("\n"),
        applied,
    }
}

/// Runs the steps in order. When one fails, the steps already done are undone in reverse
/// order and the error says whether that worked; on success returns what to keep for Undo.
#[tracing::instrument(skip(client, steps), fields(steps = steps.len()))]
pub async fn commit(
    client: &::kube::Client,
    action: ActionKind,
    steps: Vec<Step>,
) -> Result<(TrafficChange, ChangeBackup)> {
    let change = describe(action, &steps, true);
    let mut applier = Applier::new(client.clone());
    let mut done: Vec<ObjectBackup> = Vec::new();
    for step in steps {
        let id = step.id();
        let result = match &step.write {
            Write::Apply(obj, _) => applier
                .apply_objects(vec![obj.clone()], &id.namespace)
                .await
                .map(drop)
                .map_err(ActionError::from),
            Write::Replace(obj, _) => replace(client, &id, obj).await,
            Write::Delete => delete(client, &id).await,
        };
        if let Err(e) = result {
            let cause = e.to_string();
            tracing::warn!(%cause, object = ?id, "a write was refused; putting back what was written");
            for earlier in done.iter().rev() {
                if let Err(r) = restore(client, earlier).await {
                    return Err(ActionError::ChangeRollbackFailed {
                        cause,
                        restore: r.to_string(),
                    });
                }
            }
            return Err(ActionError::ChangeRolledBack { cause });
        }
        done.push(step.backup);
    }
    Ok((
        change,
        ChangeBackup {
            action,
            objects: done,
        },
    ))
}

fn api_of(client: &::kube::Client, id: &ObjectId) -> ::kube::Api<::kube::api::DynamicObject> {
    match id.kind {
        ObjectKind::VirtualService => istio_api::api::<VirtualServiceSpec>(client, &id.namespace),
        ObjectKind::DestinationRule => istio_api::api::<DestinationRuleSpec>(client, &id.namespace),
        ObjectKind::PeerAuthentication => {
            istio_api::api::<PeerAuthenticationSpec>(client, &id.namespace)
        }
    }
}

async fn replace(
    client: &::kube::Client,
    id: &ObjectId,
    obj: &::kube::api::DynamicObject,
) -> Result<()> {
    let api = api_of(client, id);
    let span =
        tracing::info_span!("replace", kind = ?id.kind, namespace = %id.namespace, name = %id.name);
    let params = PostParams {
        field_manager: Some(crate::FIELD_MANAGER.into()),
        ..Default::default()
    };
    let what = format!("replacing {:?} {}/{}", id.kind, id.namespace, id.name);
    async {
        let current = api
            .get_opt(&id.name)
            .await
            .map_err(|source| ActionError::Read {
                what: what.clone(),
                source,
            })?;
        let mut obj = obj.clone();
        let written = match current {
            Some(c) => {
                obj.metadata.resource_version = c.metadata.resource_version;
                api.replace(&id.name, &params, &obj).await
            }
            None => api.create(&params, &obj).await,
        };
        written
            .map(drop)
            .map_err(|source| ActionError::Write { what, source })
    }
    .instrument(span)
    .await
}

async fn delete(client: &::kube::Client, id: &ObjectId) -> Result<()> {
    let api = api_of(client, id);
    let span =
        tracing::info_span!("delete", kind = ?id.kind, namespace = %id.namespace, name = %id.name);
    match api
        .delete(&id.name, &DeleteParams::default())
        .instrument(span)
        .await
    {
        Ok(_) => Ok(()),
        Err(::kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(source) => Err(ActionError::Write {
            what: format!("deleting {:?} {}/{}", id.kind, id.namespace, id.name),
            source,
        }),
    }
}

/// Puts one object back as it was. Returns a line saying what was done and the kubectl
/// equivalent.
pub async fn restore(client: &::kube::Client, backup: &ObjectBackup) -> Result<(String, String)> {
    match backup {
        ObjectBackup::VirtualService {
            namespace,
            name,
            previous,
        } => restore_one(client, namespace, name, previous.as_deref()).await,
        ObjectBackup::DestinationRule {
            namespace,
            name,
            previous,
        } => restore_one(client, namespace, name, previous.as_deref()).await,
        ObjectBackup::PeerAuthentication {
            namespace,
            name,
            previous,
        } => restore_one(client, namespace, name, previous.as_deref()).await,
    }
}

/// Puts one object back as it was: replaced with its old content, or deleted when it did
/// not exist.
#[tracing::instrument(skip(client, previous), fields(kind = S::KIND))]
pub(crate) async fn restore_one<S: Spec>(
    client: &::kube::Client,
    namespace: &str,
    name: &str,
    previous: Option<&Resource<S>>,
) -> Result<(String, String)> {
    let resource = istio_api::api_resource::<S>();
    let api = istio_api::api::<S>(client, namespace);
    let kind = &resource.kind;
    let what = format!("{kind} {namespace}/{name}");
    match previous {
        None => {
            match api.delete(name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(::kube::Error::Api(s)) if s.code == 404 => {}
                Err(source) => {
                    return Err(ActionError::Write {
                        what: format!("deleting {what}"),
                        source,
                    });
                }
            }
            Ok((
                format!("deleted {what} (it did not exist before)"),
                format!(
                    "kubectl delete {} {} -n {}",
                    resource.plural,
                    shell_word(name),
                    shell_word(namespace)
                ),
            ))
        }
        Some(old) => {
            // Only what a person writes: the server sets the rest (uid, managedFields...).
            let mut restored = old.clone();
            restored.metadata = ObjectMeta {
                labels: old.metadata.labels.clone(),
                annotations: old.metadata.annotations.clone(),
                ..ObjectMeta::new(old.metadata.name.clone(), old.metadata.namespace.clone())
            };
            restored.extra.remove("status");
            let shown = istio_api::dynamic(&restored);
            let mut obj = shown.clone();
            let current = api
                .get_opt(name)
                .await
                .map_err(|source| ActionError::Read {
                    what: what.clone(),
                    source,
                })?;
            let written = match current {
                Some(current) => {
                    obj.metadata.resource_version = current.metadata.resource_version;
                    api.replace(name, &PostParams::default(), &obj).await
                }
                None => api.create(&PostParams::default(), &obj).await,
            };
            written.map_err(|source| ActionError::Write {
                what: format!("restoring {what}"),
                source,
            })?;
            Ok((
                format!("restored {what} as it was"),
                format!(
                    "kubectl replace -f - <<'EOF'\n{}EOF",
                    serde_yaml_ng::to_string(&shown).unwrap_or_default()
                ),
            ))
        }
    }
}

/// Puts back every object of a change, last written first.
#[tracing::instrument(skip(client, backup), fields(action = ?backup.action))]
pub async fn undo(client: &::kube::Client, backup: &ChangeBackup) -> Result<UndoReport> {
    let mut report = UndoReport {
        action: backup.action,
        done: Vec::new(),
        kubectl: Vec::new(),
    };
    for object in backup.objects.iter().rev() {
        let (done, kubectl) = restore(client, object).await?;
        report.done.push(done);
        report.kubectl.push(kubectl);
    }
    Ok(report)
}

/// The object as it would be written back by an action: its name, namespace, labels and
/// annotations, without what the server keeps (resourceVersion, uid, managedFields, status).
pub fn for_apply<S: Spec>(existing: &Resource<S>) -> Resource<S> {
    let mut out = Resource::new(
        existing.metadata.name.clone(),
        existing.metadata.namespace.clone(),
        existing.spec.clone(),
    );
    out.metadata.labels = existing.metadata.labels.clone();
    out.metadata.annotations = existing.metadata.annotations.clone();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_weights_backup_becomes_a_change_backup_in_write_order() {
        let b = super::super::weights::RoutingBackup {
            namespace: "default".into(),
            destination_rule_name: "reviews-dr".into(),
            virtual_service_name: "reviews-vs".into(),
            destination_rule: None,
            virtual_service: None,
        };
        let c = ChangeBackup::from(b);
        assert_eq!(c.action, ActionKind::Weights);
        let ids: Vec<_> = c
            .objects
            .iter()
            .map(|o| (o.id().kind, o.id().name))
            .collect();
        assert_eq!(
            ids,
            [
                (ObjectKind::DestinationRule, "reviews-dr".to_string()),
                (ObjectKind::VirtualService, "reviews-vs".to_string())
            ]
        );
        let text = serde_json::to_string(&c).unwrap();
        assert!(text.contains("\"kind\":\"DestinationRule\""), "{text}");
        assert_eq!(serde_json::from_str::<ChangeBackup>(&text).unwrap(), c);
    }

    #[test]
    fn the_description_lists_applies_then_deletes() {
        let vs = VirtualService::new("ratings", "default", VirtualServiceSpec::default());
        let pa = PeerAuthentication::new("default", "prod", PeerAuthenticationSpec::default());
        let steps = vec![Step::apply(&vs, None), Step::delete(pa)];
        let change = describe(ActionKind::Fault, &steps, false);
        assert!(
            change.yaml.contains("kind: VirtualService"),
            "{}",
            change.yaml
        );
        assert!(!change.yaml.contains("PeerAuthentication"));
        let lines: Vec<_> = change.kubectl.lines().collect();
        assert!(
            lines[0].starts_with("kubectl apply --server-side --field-manager=istio-playground")
        );
        assert_eq!(
            *lines.last().unwrap(),
            "kubectl delete peerauthentications default -n prod"
        );
        assert_eq!(
            change.deleted_objects[0].kind,
            ObjectKind::PeerAuthentication
        );
        assert!(!change.applied);
    }
}
