//! "Reset routing": back to how setup left Bookinfo's routing, the ingress Gateway and its
//! VirtualService only. Every VirtualService, DestinationRule and PeerAuthentication the app
//! wrote (its field manager is among the object's `managedFields`) is deleted, in every
//! namespace. Objects someone else wrote are listed and kept, unless the user opts in.
//! VirtualServices bound to a Gateway are the ingress's routing, which setup wrote: kept.
//! A dry run lists all of this and deletes nothing; the deletion can be undone.

use ::kube::api::{Api, DynamicObject, ListParams};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::ActionError;
use super::backup::{ActionKind, Backed, ChangeBackup, ObjectId, Step, TrafficChange};
use super::route::run;
use super::weights::read_err;
use crate::istio::{
    DestinationRuleSpec, MESH_GATEWAY, PeerAuthenticationSpec, Resource, VirtualServiceSpec,
};
use crate::kube::istio as istio_api;

type Result<T, E = ActionError> = std::result::Result<T, E>;

/// Whether objects the app did not write go too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[ts(export)]
pub struct ResetPlan {
    pub include_user_objects: bool,
}

/// Why an object stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum KeptReason {
    /// The ingress's routing (bound to a Gateway), as setup left it.
    IngressRouting,
    /// Someone other than the app wrote it (kubectl, another tool).
    NotWrittenByApp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct KeptObject {
    pub object: ObjectId,
    pub reason: KeptReason,
}

/// What a reset removes (or removed) and keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ResetReport {
    /// Removed, or for a dry run to be removed.
    pub removed: Vec<ObjectId>,
    pub kept: Vec<KeptObject>,
    /// The deletions as kubectl commands; `applied` false for a dry run.
    pub change: TrafficChange,
}

/// True when the app's field manager wrote some of the object.
pub fn written_by_app(obj: &DynamicObject) -> bool {
    obj.metadata
        .managed_fields
        .iter()
        .flatten()
        .any(|m| m.manager.as_deref() == Some(crate::FIELD_MANAGER))
}

/// Sorts the objects of one kind into steps (deletions) and kept ones.
async fn sort_kind<S: Backed>(
    client: &::kube::Client,
    plan: &ResetPlan,
    ingress: impl Fn(&Resource<S>) -> bool,
    steps: &mut Vec<Step>,
    kept: &mut Vec<KeptObject>,
) -> Result<()> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &istio_api::api_resource::<S>());
    let list = match api.list(&ListParams::default()).await {
        Ok(list) => list.items,
        // A cluster without this kind (Istio not installed) has nothing to reset.
        Err(::kube::Error::Api(s)) if s.code == 404 => Vec::new(),
        Err(e) => return Err(read_err(format!("{} objects", S::KIND))(e)),
    };
    for obj in list {
        let ours = written_by_app(&obj);
        let Some(typed) = istio_api::typed::<S>(obj) else {
            continue;
        };
        let reason = if ingress(&typed) {
            Some(KeptReason::IngressRouting)
        } else if !ours && !plan.include_user_objects {
            Some(KeptReason::NotWrittenByApp)
        } else {
            None
        };
        match reason {
            Some(reason) => kept.push(KeptObject {
                object: S::backup(typed.namespace(), typed.name(), None).id(),
                reason,
            }),
            None => steps.push(Step::delete(typed)),
        }
    }
    Ok(())
}

/// Lists (and unless `dry_run`, deletes) what the reset removes.
#[tracing::instrument(skip(client))]
pub async fn reset(
    client: &::kube::Client,
    plan: &ResetPlan,
    dry_run: bool,
) -> Result<(ResetReport, Option<ChangeBackup>)> {
    let mut steps = Vec::new();
    let mut kept = Vec::new();
    // VirtualServices first, so none names a subset of a DestinationRule already gone.
    sort_kind::<VirtualServiceSpec>(
        client,
        plan,
        |vs| vs.spec.gateways.iter().any(|g| g != MESH_GATEWAY),
        &mut steps,
        &mut kept,
    )
    .await?;
    sort_kind::<DestinationRuleSpec>(client, plan, |_| false, &mut steps, &mut kept).await?;
    sort_kind::<PeerAuthenticationSpec>(client, plan, |_| false, &mut steps, &mut kept).await?;
    let removed = steps.iter().map(Step::id).collect();
    kept.sort_by(|a, b| a.object.cmp(&b.object));
    let (change, backup) = run(client, ActionKind::ResetRouting, steps, dry_run).await?;
    Ok((
        ResetReport {
            removed,
            kept,
            change,
        },
        backup,
    ))
}
