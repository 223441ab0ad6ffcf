//! The object store behind the simulated API server: every object of every kind, one global
//! resourceVersion counter, a bounded event history for watch resumption, and the write
//! paths (create, update, patch, apply, delete) with the server-side bookkeeping a real API
//! server does (uid, timestamps, generation, managedFields, owner cascade, finalizers).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Map, Value, json};
use tokio::sync::{broadcast, watch};

use crate::admission;
use crate::clock::{SharedClock, SimRng, rfc3339};
use crate::managed;
use crate::patch;
use crate::resources::{self, ResourceDef};
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::{ApiError, ApiResult};

/// Watch event types as they appear on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change to one object, kept for watchers.
#[derive(Debug, Clone)]
pub struct Event {
    pub rv: u64,
    pub group: String,
    pub plural: String,
    pub namespace: String,
    pub kind: EventType,
    pub object: Arc<Value>,
    /// The object before a modification, so label-filtered watches can tell enter and leave.
    pub old: Option<Arc<Value>>,
}

/// How a patch body is to be read (from its Content-Type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Merge,
    Json,
    Strategic,
    Apply,
}

/// Options common to writes.
#[derive(Debug, Clone, Default)]
pub struct WriteOpts {
    pub field_manager: String,
    pub force: bool,
    pub dry_run: bool,
}

impl WriteOpts {
    pub fn manager(name: &str) -> Self {
        WriteOpts {
            field_manager: name.into(),
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    #[default]
    Background,
    Foreground,
    Orphan,
}

#[derive(Debug, Clone, Default)]
pub struct DeleteOpts {
    pub propagation: Propagation,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub dry_run: bool,
    /// `gracePeriodSeconds`; pods on a node terminate gracefully unless this is 0.
    pub grace_period: Option<i64>,
}

/// A list query.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ListResult {
    pub items: Vec<Arc<Value>>,
    pub resource_version: u64,
    pub continue_token: Option<String>,
    pub remaining: Option<usize>,
}

/// What a new watch starts with.
pub struct WatchStart {
    pub backlog: Vec<Arc<Event>>,
    pub rx: broadcast::Receiver<Arc<Event>>,
    pub epoch: watch::Receiver<u64>,
    pub current_rv: u64,
}

type ObjKey = (String, String);

/// Whether a write records the writer's field ownership or carries it already (apply).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ownership {
    RecordUpdate,
    AsGiven,
}
type Table = BTreeMap<ObjKey, Arc<Value>>;

pub(crate) struct State {
    pub defs: Vec<ResourceDef>,
    objects: HashMap<(String, String), Table>,
    rv: u64,
    history: VecDeque<Arc<Event>>,
    history_cap: usize,
    /// A watch may resume from any resourceVersion at or above this.
    floor: u64,
    pub rng: SimRng,
    pub alloc: admission::Allocators,
}

/// The store. Cheap to share; all methods take `&self`.
pub struct Store {
    state: Mutex<State>,
    /// Whether deleted pods turn Terminating first (see `terminate_gracefully`).
    graceful_pods: std::sync::atomic::AtomicBool,
    tx: broadcast::Sender<Arc<Event>>,
    epoch: watch::Sender<u64>,
    pub clock: SharedClock,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

fn name_of(obj: &Value) -> &str {
    meta_str(obj, "name").unwrap_or("")
}

fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    obj["metadata"]
        .as_object_mut()
        .expect("metadata is an object")
}

/// Everything but metadata and status: what bumps metadata.generation.
fn spec_part(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
        m.remove("apiVersion");
        m.remove("kind");
    }
    o
}

/// DNS-1123 subdomain (most kinds) or label (namespaces, services) name rules.
fn name_problem(def: &ResourceDef, name: &str) -> Option<String> {
    let label_only = matches!(def.plural.as_str(), "namespaces" | "services");
    let max = if label_only { 63 } else { 253 };
    if name.len() > max {
        return Some(format!("must be no more than {max} characters"));
    }
    let ok_chars = name.chars().all(|c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (c == '.' && !label_only)
    });
    let ok_ends = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if ok_chars && ok_ends {
        None
    } else if label_only {
        Some("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')".into())
    } else {
        Some("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".into())
    }
}

impl Store {
    pub fn new(clock: SharedClock, rng: SimRng, history_cap: usize) -> Self {
        let (tx, _) = broadcast::channel(4_096);
        let (epoch, _) = watch::channel(0);
        Store {
            graceful_pods: std::sync::atomic::AtomicBool::new(false),
            state: Mutex::new(State {
                defs: resources::builtins(),
                objects: HashMap::new(),
                rv: 1,
                history: VecDeque::new(),
                history_cap: history_cap.max(16),
                floor: 0,
                rng,
                alloc: admission::Allocators::default(),
            }),
            tx,
            epoch,
            clock,
        }
    }

    /// Deleted pods on a node turn Terminating and wait for the kubelet (the controller) to
    /// remove them, as on a real cluster. Off by default: deleted pods go at once.
    pub fn set_graceful_pod_deletion(&self, on: bool) {
        self.graceful_pods
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-written object: every write
        // builds the new object first and inserts it in one step.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now(&self) -> String {
        rfc3339(self.clock.now())
    }

    /// All registered resources (built-ins and CRDs).
    pub fn defs(&self) -> Vec<ResourceDef> {
        self.lock().defs.clone()
    }

    pub fn resolve(&self, group: &str, version: &str, plural: &str) -> Option<ResourceDef> {
        self.lock()
            .defs
            .iter()
            .find(|d| d.group == group && d.plural == plural && d.serves(version))
            .cloned()
    }

    #[cfg(any(test, feature = "test-support"))]
    pub fn def_for_kind(&self, group: &str, kind: &str) -> Option<ResourceDef> {
        self.lock()
            .defs
            .iter()
            .find(|d| d.group == group && d.kind == kind)
            .cloned()
    }

    /// Current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    pub fn get(&self, def: &ResourceDef, ns: &str, name: &str) -> ApiResult<Value> {
        let st = self.lock();
        st.get(def, ns, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(def, name))
    }

    pub fn list(&self, def: &ResourceDef, q: &ListQuery) -> ApiResult<ListResult> {
        let st = self.lock();
        let rv = st.rv;
        let start_after: Option<ObjKey> = match &q.continue_token {
            None => None,
            Some(t) => Some(decode_continue(t).ok_or_else(|| {
                ApiError::bad_request("continue key is not valid: illegal base64 data")
            })?),
        };
        let Some(table) = st.objects.get(&(def.group.clone(), def.plural.clone())) else {
            return Ok(ListResult {
                items: vec![],
                resource_version: rv,
                continue_token: None,
                remaining: None,
            });
        };
        let mut items = vec![];
        let mut token = None;
        let mut remaining = 0usize;
        let iter = table
            .iter()
            .filter(|((ns, _), _)| q.namespace.as_ref().is_none_or(|want| want == ns));
        for (key, obj) in iter {
            if let Some(after) = &start_after
                && key <= after
            {
                continue;
            }
            if !q
                .labels
                .matches(obj.pointer("/metadata/labels").and_then(Value::as_object))
                || !q.fields.matches(obj)
            {
                continue;
            }
            if let Some(limit) = q.limit
                && limit > 0
                && items.len() >= limit
            {
                if token.is_none() {
                    let last: &Value = items.last().map(Arc::as_ref).expect("limit > 0");
                    token = Some(encode_continue(
                        meta_str(last, "namespace").unwrap_or(""),
                        name_of(last),
                    ));
                }
                remaining += 1;
                continue;
            }
            items.push(obj.clone());
        }
        Ok(ListResult {
            items,
            resource_version: rv,
            remaining: token.as_ref().map(|_| remaining),
            continue_token: token,
        })
    }

    /// Starts a watch: events after `from_rv` (or, with `None`, synthetic ADDED events for
    /// everything that exists now), then live events.
    pub fn watch(
        &self,
        def: &ResourceDef,
        from_rv: Option<u64>,
        ns: Option<&str>,
    ) -> ApiResult<WatchStart> {
        let st = self.lock();
        let backlog = match from_rv {
            Some(rv) => {
                if rv < st.floor {
                    return Err(ApiError::expired(format!(
                        "too old resource version: {rv} ({})",
                        st.floor
                    )));
                }
                st.history
                    .iter()
                    .filter(|e| e.rv > rv && e.group == def.group && e.plural == def.plural)
                    .filter(|e| ns.is_none_or(|n| n == e.namespace))
                    .cloned()
                    .collect()
            }
            None => st
                .objects
                .get(&(def.group.clone(), def.plural.clone()))
                .map(|t| {
                    t.iter()
                        .filter(|((ons, _), _)| ns.is_none_or(|n| n == ons))
                        .map(|((ons, _), obj)| {
                            Arc::new(Event {
                                rv: obj_rv(obj),
                                group: def.group.clone(),
                                plural: def.plural.clone(),
                                namespace: ons.clone(),
                                kind: EventType::Added,
                                object: obj.clone(),
                                old: None,
                            })
                        })
                        .collect()
                })
                .unwrap_or_default(),
        };
        Ok(WatchStart {
            backlog,
            rx: self.tx.subscribe(),
            epoch: self.epoch.subscribe(),
            current_rv: st.rv,
        })
    }

    /// Simulates the API server losing its watch cache (as after a restart or etcd
    /// compaction): other writes move the global resourceVersion on, history is dropped, and
    /// every open watch ends. Clients resuming from an older resourceVersion get 410 Gone.
    #[cfg(feature = "test-support")]
    pub fn expire_watches(&self) {
        let mut st = self.lock();
        st.rv += 1;
        st.floor = st.rv;
        st.history.clear();
        drop(st);
        self.epoch.send_modify(|e| *e += 1);
    }

    fn emit(&self, st: &mut State, ev: Event) {
        let ev = Arc::new(ev);
        st.history.push_back(ev.clone());
        while st.history.len() > st.history_cap {
            if let Some(old) = st.history.pop_front() {
                st.floor = old.rv;
            }
        }
        let _ = self.tx.send(ev);
    }

    fn check_namespace(st: &State, def: &ResourceDef, ns: &str) -> ApiResult<()> {
        if !def.namespaced {
            return Ok(());
        }
        if ns.is_empty() {
            return Err(ApiError::bad_request(
                "the server could not find the requested resource: a namespace is required",
            ));
        }
        let nsdef = st.def("", "namespaces");
        match st.get(&nsdef, "", ns) {
            None => Err(ApiError::namespace_not_found(ns)),
            Some(n) if n.pointer("/metadata/deletionTimestamp").is_some() => Err(ApiError::new(
                403,
                "Forbidden",
                format!(
                    "unable to create new content in namespace {ns} because it is being terminated"
                ),
            )),
            Some(_) => Ok(()),
        }
    }

    fn check_type(def: &ResourceDef, version: &str, obj: &Value) -> ApiResult<()> {
        let Some(m) = obj.as_object() else {
            return Err(ApiError::bad_request(
                "the body of the request must be a JSON object",
            ));
        };
        let kind = m.get("kind").and_then(Value::as_str).unwrap_or("");
        let api_version = m.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        if kind.is_empty() {
            return Err(ApiError::bad_request(format!(
                "Object 'Kind' is missing in '{}'",
                truncate(&obj.to_string())
            )));
        }
        if kind != def.kind {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({kind}) does not match the expected kind ({})",
                def.kind
            )));
        }
        let want = def.api_version(version);
        if !api_version.is_empty()
            && api_version != want
            && !def
                .versions
                .iter()
                .any(|v| def.api_version(v) == api_version)
        {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({api_version}) does not match the expected API version ({want})"
            )));
        }
        if let Some(md) = m.get("metadata")
            && !md.is_object()
        {
            return Err(ApiError::bad_request("metadata must be an object"));
        }
        Ok(())
    }

    /// POST: creates an object. `ns` is the namespace from the URL ("" for cluster scope).
    pub fn create(
        &self,
        def: &ResourceDef,
        version: &str,
        ns: &str,
        mut obj: Value,
        opts: &WriteOpts,
    ) -> ApiResult<Value> {
        Self::check_type(def, version, &obj)?;
        let mut st = self.lock();
        let now = self.now();
        {
            let md = meta_mut(&mut obj);
            let body_ns = md.get("namespace").and_then(Value::as_str).unwrap_or("");
            if def.namespaced {
                if !body_ns.is_empty() && body_ns != ns {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                md.insert("namespace".into(), json!(ns));
            } else {
                md.remove("namespace");
            }
        }
        let name = name_of(&obj).to_string();
        let name = if name.is_empty() {
            match meta_str(&obj, "generateName") {
                Some(g) if !g.is_empty() => {
                    let mut candidate;
                    loop {
                        candidate = format!("{g}{}", st.rng.suffix(5));
                        if st.get(def, ns, &candidate).is_none() {
                            break;
                        }
                    }
                    candidate
                }
                _ => {
                    return Err(ApiError::invalid(
                        def,
                        "",
                        &[(
                            "metadata.name".into(),
                            "Required value: name or generateName is required".into(),
                        )],
                    ));
                }
            }
        } else {
            name
        };
        if let Some(p) = name_problem(def, &name) {
            return Err(ApiError::invalid(
                def,
                &name,
                &[(
                    "metadata.name".into(),
                    format!("Invalid value: \"{name}\": {p}"),
                )],
            ));
        }
        Self::check_namespace(&st, def, ns)?;
        if st.get(def, ns, &name).is_some() {
            return Err(ApiError::already_exists(def, &name));
        }
        obj["apiVersion"] = json!(def.api_version(def.preferred_version()));
        let uid = st.rng.uuid();
        {
            let md = meta_mut(&mut obj);
            md.insert("name".into(), json!(name));
            md.insert("uid".into(), json!(uid));
            md.insert("creationTimestamp".into(), json!(now));
            md.remove("resourceVersion");
            md.remove("deletionTimestamp");
            md.remove("managedFields");
            if def.generation {
                md.insert("generation".into(), json!(1));
            } else {
                md.remove("generation");
            }
        }
        if def.status_subresource
            && let Some(m) = obj.as_object_mut()
        {
            m.remove("status");
        }
        if def.builtin {
            strip_nulls(&mut obj);
        }
        admission::on_create(&mut st, def, ns, &mut obj, &now)
            .map_err(|causes| ApiError::invalid(def, &name, &causes))?;
        managed::record_update(
            None,
            &mut obj,
            &opts.field_manager,
            &def.api_version(version),
            &now,
            def.builtin,
        );
        if opts.dry_run {
            return Ok(obj);
        }
        self.insert_new(&mut st, def, ns, obj)
    }

    fn insert_new(
        &self,
        st: &mut State,
        def: &ResourceDef,
        ns: &str,
        mut obj: Value,
    ) -> ApiResult<Value> {
        if def.group == "apiextensions.k8s.io" && def.plural == "customresourcedefinitions" {
            let rd = resources::from_crd(&obj).map_err(|m| {
                let (field, msg) = m
                    .split_once(": ")
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .unwrap_or(("spec".into(), m.clone()));
                ApiError::invalid(def, name_of(&obj), &[(field, msg)])
            })?;
            if st
                .defs
                .iter()
                .any(|d| d.group == rd.group && d.plural == rd.plural && d.crd.is_none())
            {
                return Err(ApiError::invalid(
                    def,
                    name_of(&obj),
                    &[(
                        "spec.names.plural".into(),
                        "Invalid value: already served by a built-in resource".into(),
                    )],
                ));
            }
            st.defs
                .retain(|d| !(d.group == rd.group && d.plural == rd.plural));
            st.defs.push(rd);
        }
        st.rv += 1;
        let rv = st.rv;
        meta_mut(&mut obj).insert("resourceVersion".into(), json!(rv.to_string()));
        let name = name_of(&obj).to_string();
        let shared = Arc::new(obj);
        st.table_mut(def)
            .insert((ns.to_string(), name), shared.clone());
        self.emit(
            st,
            Event {
                rv,
                group: def.group.clone(),
                plural: def.plural.clone(),
                namespace: ns.to_string(),
                kind: EventType::Added,
                object: shared.clone(),
                old: None,
            },
        );
        Ok(Arc::unwrap_or_clone(shared))
    }

    /// PUT (and the tail of PATCH): replaces an object, 409 on a stale resourceVersion.
    #[allow(clippy::too_many_arguments)]
    pub fn update(
        &self,
        def: &ResourceDef,
        version: &str,
        ns: &str,
        name: &str,
        obj: Value,
        status_only: bool,
        opts: &WriteOpts,
    ) -> ApiResult<Value> {
        Self::check_type(def, version, &obj)?;
        let mut st = self.lock();
        self.update_locked(
            &mut st,
            def,
            version,
            ns,
            name,
            obj,
            status_only,
            opts,
            Ownership::RecordUpdate,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn update_locked(
        &self,
        st: &mut State,
        def: &ResourceDef,
        version: &str,
        ns: &str,
        name: &str,
        obj: Value,
        status_only: bool,
        opts: &WriteOpts,
        ownership: Ownership,
    ) -> ApiResult<Value> {
        let Some(old) = st.get(def, ns, name).cloned() else {
            return Err(ApiError::not_found(def, name));
        };
        let body_name = name_of(&obj);
        if !body_name.is_empty() && body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        if def.namespaced
            && let Some(bns) = meta_str(&obj, "namespace")
            && !bns.is_empty()
            && bns != ns
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        if let Some(rv) = meta_str(&obj, "resourceVersion")
            && !rv.is_empty()
            && rv != meta_str(&old, "resourceVersion").unwrap_or("")
        {
            return Err(ApiError::modified(def, name));
        }
        if let Some(uid) = meta_str(&obj, "uid")
            && !uid.is_empty()
            && uid != meta_str(&old, "uid").unwrap_or("")
        {
            return Err(ApiError::precondition(
                def,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    meta_str(&old, "uid").unwrap_or("")
                ),
            ));
        }
        let now = self.now();
        let mut new = if status_only {
            let mut n = old.clone();
            match obj.get("status") {
                Some(s) => n["status"] = s.clone(),
                None => {
                    if let Some(m) = n.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
            n
        } else {
            let mut n = obj;
            if def.status_subresource {
                match old.get("status") {
                    Some(s) => n["status"] = s.clone(),
                    None => {
                        if let Some(m) = n.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
            }
            let md = meta_mut(&mut n);
            let kept: &[&str] = match ownership {
                Ownership::RecordUpdate => &[
                    "uid",
                    "creationTimestamp",
                    "deletionTimestamp",
                    "deletionGracePeriodSeconds",
                    "generation",
                    "managedFields",
                ],
                Ownership::AsGiven => &[
                    "uid",
                    "creationTimestamp",
                    "deletionTimestamp",
                    "deletionGracePeriodSeconds",
                    "generation",
                ],
            };
            for k in kept.iter().copied() {
                match old.pointer(&format!("/metadata/{k}")) {
                    Some(v) => md.insert(k.into(), v.clone()),
                    None => md.remove(k),
                };
            }
            n
        };
        new["apiVersion"] = json!(def.api_version(def.preferred_version()));
        {
            let md = meta_mut(&mut new);
            md.insert("name".into(), json!(name));
            if def.namespaced {
                md.insert("namespace".into(), json!(ns));
            }
            md.insert(
                "resourceVersion".into(),
                old["metadata"]["resourceVersion"].clone(),
            );
        }
        if def.builtin {
            strip_nulls(&mut new);
        }
        admission::on_update(st, def, &old, &mut new)
            .map_err(|causes| ApiError::invalid(def, name, &causes))?;
        if def.generation && spec_part(&old) != spec_part(&new) {
            let g = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                + 1;
            meta_mut(&mut new).insert("generation".into(), json!(g));
        }
        if !status_only && ownership == Ownership::RecordUpdate {
            managed::record_update(
                Some(&old),
                &mut new,
                &opts.field_manager,
                &def.api_version(version),
                &now,
                def.builtin,
            );
        }
        if new == old {
            return Ok(old);
        }
        if opts.dry_run {
            return Ok(new);
        }
        // The last finalizer removed from an object being deleted: it goes now.
        let terminating = new.pointer("/metadata/deletionTimestamp").is_some();
        let no_finalizers = new
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_none_or(|a| a.is_empty());
        if terminating && no_finalizers {
            st.table_mut(def)
                .insert((ns.to_string(), name.to_string()), Arc::new(new));
            return self.remove_now(st, def, ns, name, Propagation::Background);
        }
        self.replace_locked(st, def, ns, name, old, new)
    }

    fn replace_locked(
        &self,
        st: &mut State,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        old: Value,
        mut new: Value,
    ) -> ApiResult<Value> {
        st.rv += 1;
        let rv = st.rv;
        meta_mut(&mut new).insert("resourceVersion".into(), json!(rv.to_string()));
        let shared = Arc::new(new);
        st.table_mut(def)
            .insert((ns.to_string(), name.to_string()), shared.clone());
        let new = shared.as_ref();
        if def.group == "apiextensions.k8s.io"
            && def.plural == "customresourcedefinitions"
            && let Ok(rd) = resources::from_crd(new)
        {
            st.defs
                .retain(|d| !(d.group == rd.group && d.plural == rd.plural));
            st.defs.push(rd);
        }
        let old = Arc::new(selector_view(&old));
        self.emit(
            st,
            Event {
                rv,
                group: def.group.clone(),
                plural: def.plural.clone(),
                namespace: ns.to_string(),
                kind: EventType::Modified,
                object: shared.clone(),
                old: Some(old),
            },
        );
        Ok(Arc::unwrap_or_clone(shared))
    }

    /// PATCH in any of the four flavours; apply creates the object when it is missing.
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &self,
        def: &ResourceDef,
        version: &str,
        ns: &str,
        name: &str,
        kind: PatchKind,
        body: &[u8],
        status_only: bool,
        opts: &WriteOpts,
    ) -> ApiResult<Value> {
        if kind == PatchKind::Strategic && !def.builtin {
            return Err(ApiError::unsupported_media(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
            ));
        }
        let doc: Value = match kind {
            PatchKind::Apply => serde_yaml_ng::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?,
            _ => serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?,
        };
        if kind == PatchKind::Apply {
            return self.apply(def, version, ns, name, doc, status_only, opts);
        }
        let mut st = self.lock();
        let Some(old) = st.get(def, ns, name).cloned() else {
            return Err(ApiError::not_found(def, name));
        };
        let mut target = old.clone();
        match kind {
            PatchKind::Merge => {
                if !doc.is_object() {
                    return Err(ApiError::bad_request("merge patch must be a JSON object"));
                }
                patch::merge_patch(&mut target, &doc);
            }
            PatchKind::Json => patch::json_patch(&mut target, &doc).map_err(|m| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {m}"),
                )
            })?,
            PatchKind::Strategic => {
                patch::strategic_merge_patch(&mut target, &doc).map_err(ApiError::bad_request)?
            }
            PatchKind::Apply => unreachable!("handled above"),
        }
        if name_of(&target) != name {
            return Err(ApiError::invalid(
                def,
                name,
                &[(
                    "metadata.name".into(),
                    "Invalid value: field is immutable".into(),
                )],
            ));
        }
        // A patch that does not name a resourceVersion is unconditional.
        let patched_rv = meta_str(&target, "resourceVersion").map(String::from);
        let old_rv = meta_str(&old, "resourceVersion").map(String::from);
        if patched_rv != old_rv
            && let Some(want) = doc
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
            && Some(want) != old_rv.as_deref()
        {
            return Err(ApiError::modified(def, name));
        }
        meta_mut(&mut target).insert("resourceVersion".into(), json!(old_rv.unwrap_or_default()));
        if target.get("kind").is_none() {
            target["kind"] = json!(def.kind);
        }
        Self::check_type(def, version, &target)?;
        self.update_locked(
            &mut st,
            def,
            version,
            ns,
            name,
            target,
            status_only,
            opts,
            Ownership::RecordUpdate,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn apply(
        &self,
        def: &ResourceDef,
        version: &str,
        ns: &str,
        name: &str,
        config: Value,
        status_only: bool,
        opts: &WriteOpts,
    ) -> ApiResult<Value> {
        Self::check_type(def, version, &config)?;
        if config
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            return Err(ApiError::bad_request(
                "apiVersion must be set in an applied configuration",
            ));
        }
        let cfg_name = name_of(&config);
        if !cfg_name.is_empty() && cfg_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({cfg_name}) does not match the name on the URL ({name})"
            )));
        }
        if opts.field_manager.is_empty() || opts.field_manager == "unknown" {
            return Err(ApiError::bad_request(
                "PATCH requests with apply must specify fieldManager",
            ));
        }
        let mut st = self.lock();
        let now = self.now();
        let live = st.get(def, ns, name).cloned();
        let mut config = config;
        meta_mut(&mut config).insert("name".into(), json!(name));
        let api_version = def.api_version(version);
        let merged = managed::apply(live.as_ref(), &config, &opts.field_manager, &api_version, &now, opts.force, def.builtin)
            .map_err(|conflicts| {
                let n = conflicts.len();
                let lines: Vec<String> = conflicts
                    .iter()
                    .map(|c| format!("conflict with \"{}\" using {}: {}", c.manager, c.api_version, c.path))
                    .collect();
                let message = if n == 1 {
                    format!("Apply failed with 1 conflict: {}", lines[0])
                } else {
                    format!("Apply failed with {n} conflicts: {}", lines.join("\n"))
                };
                let causes: Vec<Value> = conflicts
                    .iter()
                    .map(|c| json!({"reason": "FieldManagerConflict", "message": format!("conflict with \"{}\" using {}", c.manager, c.api_version), "field": c.path}))
                    .collect();
                let mut d = json!({"name": name, "kind": def.plural, "causes": causes});
                if !def.group.is_empty() {
                    d["group"] = json!(def.group);
                }
                ApiError::new(409, "Conflict", message).with_details(d)
            })?;
        match live {
            None => {
                if status_only {
                    return Err(ApiError::not_found(def, name));
                }
                drop(st);
                // Creating by apply: the usual create path, keeping the Apply ownership.
                let managed_fields = merged.pointer("/metadata/managedFields").cloned();
                let mut created = self.create(
                    def,
                    version,
                    ns,
                    merged,
                    &WriteOpts {
                        field_manager: opts.field_manager.clone(),
                        force: false,
                        dry_run: true,
                    },
                )?;
                if let Some(mf) = managed_fields {
                    meta_mut(&mut created).insert("managedFields".into(), mf);
                }
                if opts.dry_run {
                    return Ok(created);
                }
                let mut st = self.lock();
                if st.get(def, ns, name).is_some() {
                    return Err(ApiError::already_exists(def, name));
                }
                self.insert_new(&mut st, def, ns, created)
            }
            Some(old) => {
                let mut merged = merged;
                meta_mut(&mut merged).insert(
                    "resourceVersion".into(),
                    old["metadata"]["resourceVersion"].clone(),
                );
                self.update_locked(
                    &mut st,
                    def,
                    version,
                    ns,
                    name,
                    merged,
                    status_only,
                    opts,
                    Ownership::AsGiven,
                )
            }
        }
    }

    /// DELETE. Returns the object as it was deleted (or as it now waits on finalizers).
    pub fn delete(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        opts: &DeleteOpts,
    ) -> ApiResult<Value> {
        let mut st = self.lock();
        let Some(obj) = st.get(def, ns, name).cloned() else {
            return Err(ApiError::not_found(def, name));
        };
        if let Some(uid) = &opts.precondition_uid
            && Some(uid.as_str()) != meta_str(&obj, "uid")
        {
            return Err(ApiError::precondition(
                def,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    meta_str(&obj, "uid").unwrap_or("")
                ),
            ));
        }
        if let Some(rv) = &opts.precondition_rv
            && Some(rv.as_str()) != meta_str(&obj, "resourceVersion")
        {
            return Err(ApiError::precondition(
                def,
                name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    meta_str(&obj, "resourceVersion").unwrap_or("")
                ),
            ));
        }
        if opts.dry_run {
            return Ok(obj);
        }
        let has_finalizers = obj
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        if has_finalizers {
            if obj.pointer("/metadata/deletionTimestamp").is_some() {
                return Ok(obj);
            }
            let mut new = obj.clone();
            let md = meta_mut(&mut new);
            md.insert("deletionTimestamp".into(), json!(self.now()));
            md.insert("deletionGracePeriodSeconds".into(), json!(0));
            return self.replace_locked(&mut st, def, ns, name, obj, new);
        }
        if opts.grace_period != Some(0)
            && let Some(terminating) =
                self.terminate_gracefully(&mut st, def, ns, name, opts.grace_period)
        {
            return terminating;
        }
        self.remove_now(&mut st, def, ns, name, opts.propagation)
    }

    /// A running pod is not removed at once: it turns Terminating (deletionTimestamp set) and
    /// the kubelet (the controller) removes it when its containers have stopped.
    /// Returns None when the object goes at once.
    fn terminate_gracefully(
        &self,
        st: &mut State,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        grace: Option<i64>,
    ) -> Option<ApiResult<Value>> {
        let is_pod = def.group.is_empty() && def.kind == "Pod";
        if !is_pod
            || !self
                .graceful_pods
                .load(std::sync::atomic::Ordering::Relaxed)
        {
            return None;
        }
        let obj = st.get(def, ns, name)?.clone();
        let scheduled = obj
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        let phase = obj
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !scheduled || matches!(phase, "Succeeded" | "Failed") {
            return None;
        }
        if obj.pointer("/metadata/deletionTimestamp").is_some() {
            return Some(Ok(obj));
        }
        let grace = grace
            .or_else(|| {
                obj.pointer("/spec/terminationGracePeriodSeconds")
                    .and_then(Value::as_i64)
            })
            .unwrap_or(30)
            .max(1);
        let mut new = obj.clone();
        let when = self.clock.now() + std::time::Duration::from_secs(grace as u64);
        let md = meta_mut(&mut new);
        md.insert("deletionTimestamp".into(), json!(rfc3339(when)));
        md.insert("deletionGracePeriodSeconds".into(), json!(grace));
        Some(self.replace_locked(st, def, ns, name, obj, new))
    }

    fn remove_now(
        &self,
        st: &mut State,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        propagation: Propagation,
    ) -> ApiResult<Value> {
        let Some(obj) = st
            .table_mut(def)
            .remove(&(ns.to_string(), name.to_string()))
        else {
            return Err(ApiError::not_found(def, name));
        };
        let mut obj = Arc::unwrap_or_clone(obj);
        st.rv += 1;
        let rv = st.rv;
        meta_mut(&mut obj).insert("resourceVersion".into(), json!(rv.to_string()));
        self.emit(
            st,
            Event {
                rv,
                group: def.group.clone(),
                plural: def.plural.clone(),
                namespace: ns.to_string(),
                kind: EventType::Deleted,
                object: Arc::new(obj.clone()),
                old: None,
            },
        );
        let uid = meta_str(&obj, "uid").unwrap_or("").to_string();
        // Garbage collection: dependents follow their owner (or lose the reference when orphaned).
        let uid_ref = uid.as_str();
        let dependents: Vec<(ResourceDef, String, String)> = st
            .objects
            .iter()
            .flat_map(|((g, p), table)| {
                table.iter().filter_map(move |((dns, dname), o)| {
                    let owned = o
                        .pointer("/metadata/ownerReferences")
                        .and_then(Value::as_array)
                        .is_some_and(|refs| {
                            refs.iter()
                                .any(|r| r.get("uid").and_then(Value::as_str) == Some(uid_ref))
                        });
                    owned.then(|| ((g.clone(), p.clone()), dns.clone(), dname.clone()))
                })
            })
            .filter_map(|((g, p), dns, dname)| {
                st.defs
                    .iter()
                    .find(|d| d.group == g && d.plural == p)
                    .cloned()
                    .map(|d| (d, dns, dname))
            })
            .collect();
        for (ddef, dns, dname) in dependents {
            if propagation == Propagation::Orphan {
                if let Some(old) = st.get(&ddef, &dns, &dname).cloned() {
                    let mut new = old.clone();
                    if let Some(Value::Array(refs)) = new.pointer_mut("/metadata/ownerReferences") {
                        refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid.as_str()));
                    }
                    let _ = self.replace_locked(st, &ddef, &dns, &dname, old, new);
                }
            } else if self
                .terminate_gracefully(st, &ddef, &dns, &dname, None)
                .is_none()
            {
                let _ = self.remove_now(st, &ddef, &dns, &dname, propagation);
            }
        }
        if def.plural == "namespaces" && def.group.is_empty() {
            let contained: Vec<(ResourceDef, String)> = st
                .defs
                .iter()
                .filter(|d| d.namespaced)
                .flat_map(|d| {
                    st.objects
                        .get(&(d.group.clone(), d.plural.clone()))
                        .map(|t| {
                            t.keys()
                                .filter(|(n, _)| n == name)
                                .map(|(_, nm)| (d.clone(), nm.clone()))
                                .collect::<Vec<_>>()
                        })
                        .unwrap_or_default()
                })
                .collect();
            for (d, n) in contained {
                let _ = self.remove_now(st, &d, name, &n, Propagation::Background);
            }
        }
        if def.group == "apiextensions.k8s.io"
            && def.plural == "customresourcedefinitions"
            && let Ok(rd) = resources::from_crd(&obj)
        {
            let keys: Vec<ObjKey> = st
                .objects
                .get(&(rd.group.clone(), rd.plural.clone()))
                .map(|t| t.keys().cloned().collect())
                .unwrap_or_default();
            for (n, nm) in keys {
                let _ = self.remove_now(st, &rd, &n, &nm, Propagation::Background);
            }
            st.defs
                .retain(|d| !(d.group == rd.group && d.plural == rd.plural));
        }
        Ok(obj)
    }

    /// Read-modify-write under the lock, for controllers. `f` returns false to skip the write.
    pub fn modify(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        status_only: bool,
        manager: &str,
        f: impl FnOnce(&mut Value) -> bool,
    ) -> ApiResult<Value> {
        let mut st = self.lock();
        let Some(old) = st.get(def, ns, name).cloned() else {
            return Err(ApiError::not_found(def, name));
        };
        let mut new = old.clone();
        if !f(&mut new) || new == old {
            return Ok(old);
        }
        let version = def.preferred_version().to_string();
        self.update_locked(
            &mut st,
            def,
            &version,
            ns,
            name,
            new,
            status_only,
            &WriteOpts::manager(manager),
            Ownership::RecordUpdate,
        )
    }

    /// Every object of a kind, across namespaces (for controllers and the data plane).
    pub fn all(&self, group: &str, plural: &str) -> Vec<Value> {
        self.all_shared(group, plural)
            .into_iter()
            .map(Arc::unwrap_or_clone)
            .collect()
    }

    /// Every object of a kind, shared with the store (no deep copies).
    pub fn all_shared(&self, group: &str, plural: &str) -> Vec<Arc<Value>> {
        self.lock()
            .objects
            .get(&(group.to_string(), plural.to_string()))
            .map(|t| t.values().cloned().collect())
            .unwrap_or_default()
    }

    pub(crate) fn rng_u64(&self) -> u64 {
        self.lock().rng.next_u64()
    }

    /// A fresh pod IP from the node's pod CIDR.
    pub fn allocate_pod_ip(&self) -> String {
        self.lock().alloc.pod_ip()
    }

    /// A random name suffix from the store's generator.
    pub fn random_suffix(&self, len: usize) -> String {
        self.lock().rng.suffix(len)
    }
}

impl State {
    pub fn def(&self, group: &str, plural: &str) -> ResourceDef {
        self.defs
            .iter()
            .find(|d| d.group == group && d.plural == plural)
            .cloned()
            .expect("built-in resource is registered")
    }

    pub fn get(&self, def: &ResourceDef, ns: &str, name: &str) -> Option<&Value> {
        let ns = if def.namespaced { ns } else { "" };
        self.objects
            .get(&(def.group.clone(), def.plural.clone()))?
            .get(&(ns.to_string(), name.to_string()))
            .map(Arc::as_ref)
    }

    fn table_mut(&mut self, def: &ResourceDef) -> &mut Table {
        self.objects
            .entry((def.group.clone(), def.plural.clone()))
            .or_default()
    }
}

/// The parts of an object label and field selectors can look at; watch history keeps only
/// this much of the previous version, to tell "entered" from "left" for filtered watches.
pub fn selector_view(obj: &Value) -> Value {
    let mut v = json!({"metadata": {}});
    for k in ["name", "namespace", "labels"] {
        if let Some(x) = obj.pointer(&format!("/metadata/{k}")) {
            v["metadata"][k] = x.clone();
        }
    }
    for (section, keys) in [
        (
            "spec",
            &[
                "nodeName",
                "serviceAccountName",
                "restartPolicy",
                "schedulerName",
                "unschedulable",
                "clusterIP",
                "type",
            ][..],
        ),
        (
            "status",
            &["phase", "podIP", "nominatedNodeName", "replicas"][..],
        ),
    ] {
        for k in keys {
            if let Some(x) = obj.get(section).and_then(|s| s.get(*k)) {
                v[section][*k] = x.clone();
            }
        }
    }
    for k in [
        "type",
        "reason",
        "source",
        "reportingComponent",
        "involvedObject",
    ] {
        if let Some(x) = obj.get(k) {
            v[k] = x.clone();
        }
    }
    v
}

/// Built-in kinds are typed on a real API server: a null field is an absent field (as in
/// `creationTimestamp: null`, which typed clients send in templates).
fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

fn obj_rv(obj: &Value) -> u64 {
    meta_str(obj, "resourceVersion")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn truncate(s: &str) -> String {
    if s.len() > 200 {
        let mut end = 200;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    } else {
        s.to_string()
    }
}

const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn encode_continue(ns: &str, name: &str) -> String {
    let raw = json!({"v": "sim.k8s.io/v1", "ns": ns, "start": name}).to_string();
    let bytes = raw.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn decode_continue(t: &str) -> Option<ObjKey> {
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut bytes = vec![];
    for c in t.bytes() {
        let v = B64.iter().position(|b| *b == c)? as u32;
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            bytes.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    Some((
        v.get("ns")?.as_str()?.to_string(),
        v.get("start")?.as_str()?.to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;

    fn store() -> Store {
        let s = Store::new(Arc::new(SystemClock), SimRng::new(1), 100);
        let ns = s.def_for_kind("", "Namespace").unwrap();
        s.create(
            &ns,
            "v1",
            "",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}),
            &WriteOpts::manager("test"),
        )
        .unwrap();
        s
    }

    #[test]
    fn continue_tokens_round_trip() {
        let t = encode_continue("default", "reviews-v1");
        assert_eq!(
            decode_continue(&t),
            Some(("default".into(), "reviews-v1".into()))
        );
        assert_eq!(decode_continue("!!"), None);
    }

    #[test]
    fn create_get_conflict_delete() {
        let s = store();
        let cm = s.def_for_kind("", "ConfigMap").unwrap();
        let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}});
        let created = s
            .create(&cm, "v1", "default", obj.clone(), &WriteOpts::manager("t"))
            .unwrap();
        assert_eq!(
            s.create(&cm, "v1", "default", obj, &WriteOpts::manager("t"))
                .unwrap_err()
                .code,
            409
        );
        let mut stale = created.clone();
        stale["data"]["k"] = json!("w");
        s.update(
            &cm,
            "v1",
            "default",
            "a",
            stale.clone(),
            false,
            &WriteOpts::manager("t"),
        )
        .unwrap();
        let err = s
            .update(
                &cm,
                "v1",
                "default",
                "a",
                stale,
                false,
                &WriteOpts::manager("t"),
            )
            .unwrap_err();
        assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
        s.delete(&cm, "default", "a", &DeleteOpts::default())
            .unwrap();
        assert_eq!(s.get(&cm, "default", "a").unwrap_err().code, 404);
    }

    #[test]
    fn missing_namespace_is_not_found() {
        let s = store();
        let cm = s.def_for_kind("", "ConfigMap").unwrap();
        let err = s
            .create(
                &cm,
                "v1",
                "nope",
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}),
                &WriteOpts::manager("t"),
            )
            .unwrap_err();
        assert_eq!(err.code, 404);
        assert_eq!(err.message, "namespaces \"nope\" not found");
    }

    #[test]
    fn history_overflow_expires_old_resource_versions() {
        let s = store();
        let cm = s.def_for_kind("", "ConfigMap").unwrap();
        let start = s.resource_version();
        for i in 0..200 {
            s.create(&cm, "v1", "default", json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("c{i}")}}), &WriteOpts::manager("t")).unwrap();
        }
        assert_eq!(
            s.watch(&cm, Some(start), None).err().map(|e| e.code),
            Some(410)
        );
        assert!(s.watch(&cm, Some(s.resource_version()), None).is_ok());
    }
}
