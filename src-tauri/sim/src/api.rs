//! The HTTP face of the simulated API server: path routing, content negotiation (JSON,
//! aggregated discovery, server-side Tables), request decoding and watch streaming.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::SinkExt;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tracing::Instrument;

use crate::discovery;
use crate::resources::ResourceDef;
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::{ApiError, ApiResult};
use crate::store::{
    DeleteOpts, Event, EventType, ListQuery, PatchKind, Propagation, Store, WriteOpts,
};
use crate::table::{self, IncludeObject};

/// Largest request body accepted (a real API server allows 3 MiB objects).
const MAX_BODY: usize = 8 * 1024 * 1024;

/// Shared state of the API server.
#[derive(Debug)]
pub struct ApiState {
    pub store: Arc<Store>,
    pub server_address: String,
    pub bookmark_interval: Duration,
    /// Where `exec`'d commands (curl) send their requests.
    pub dataplane: Arc<crate::dataplane::DataPlane>,
}

pub fn router(state: Arc<ApiState>) -> Router {
    Router::new().fallback(handle).with_state(state)
}

pub(crate) fn json_response(code: StatusCode, v: &Value) -> Response {
    let body = serde_json::to_vec(v).unwrap_or_default();
    (
        code,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

pub(crate) fn error_response(e: &ApiError) -> Response {
    let code = StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(code, &e.to_status())
}

/// Which target the path names.
#[derive(Debug)]
struct Target {
    def: ResourceDef,
    version: String,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

type Query = HashMap<String, String>;

async fn handle(State(app): State<Arc<ApiState>>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let span = tracing::debug_span!("sim_api", %method, %path);
    async move {
        if let Some((ns, name)) = crate::exec::exec_target(&path) {
            return crate::exec::handle(&app, ns, name, req).await;
        }
        let query: Query = axum::extract::Query::<Query>::try_from_uri(req.uri())
            .map(|q| q.0)
            .unwrap_or_default();
        let headers = req.headers().clone();
        let body = match axum::body::to_bytes(req.into_body(), MAX_BODY).await {
            Ok(b) => b,
            Err(_) => {
                return error_response(&ApiError::new(
                    413,
                    "RequestEntityTooLarge",
                    "the request body is too large",
                ));
            }
        };
        let resp = route(&app, &method, &path, &query, &headers, body).await;
        tracing::debug!(status = resp.status().as_u16(), "answered");
        resp
    }
    .instrument(span)
    .await
}

fn accept(headers: &HeaderMap) -> String {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// The aggregated discovery version the client asked for, if any.
fn wants_aggregated(headers: &HeaderMap) -> Option<&'static str> {
    let a = accept(headers);
    for part in a.split(',') {
        if part.contains("as=APIGroupDiscoveryList") && part.contains("g=apidiscovery.k8s.io") {
            if part.contains("v=v2beta1") {
                return Some("v2beta1");
            }
            if part.contains("v=v2") {
                return Some("v2");
            }
        }
    }
    None
}

fn wants_table(headers: &HeaderMap) -> bool {
    accept(headers)
        .split(',')
        .next()
        .is_some_and(|p| p.contains("as=Table"))
}

async fn route(
    app: &ApiState,
    method: &Method,
    path: &str,
    q: &Query,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let store = &app.store;
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    if *method == Method::GET {
        match segs.as_slice() {
            ["version"] => return json_response(StatusCode::OK, &discovery::version()),
            ["healthz"] | ["livez"] | ["readyz"] => return (StatusCode::OK, "ok").into_response(),
            ["api"] => {
                if let Some(v) = wants_aggregated(headers) {
                    return aggregated_response(
                        &discovery::aggregated(
                            &store.defs(),
                            true,
                            &format!("apidiscovery.k8s.io/{v}"),
                        ),
                        v,
                    );
                }
                return json_response(
                    StatusCode::OK,
                    &discovery::api_versions(&app.server_address),
                );
            }
            ["apis"] => {
                if let Some(v) = wants_aggregated(headers) {
                    return aggregated_response(
                        &discovery::aggregated(
                            &store.defs(),
                            false,
                            &format!("apidiscovery.k8s.io/{v}"),
                        ),
                        v,
                    );
                }
                return json_response(StatusCode::OK, &discovery::api_group_list(&store.defs()));
            }
            ["api", v] => {
                return match discovery::resource_list(&store.defs(), "", v) {
                    Some(doc) => json_response(StatusCode::OK, &doc),
                    None => error_response(&ApiError::no_such_path()),
                };
            }
            ["apis", g] => {
                return match discovery::api_group(&store.defs(), g) {
                    Some(doc) => json_response(StatusCode::OK, &doc),
                    None => error_response(&ApiError::no_such_path()),
                };
            }
            ["apis", g, v] => {
                return match discovery::resource_list(&store.defs(), g, v) {
                    Some(doc) => json_response(StatusCode::OK, &doc),
                    None => error_response(&ApiError::no_such_path()),
                };
            }
            ["openapi", "v3"] => {
                return json_response(StatusCode::OK, &discovery::openapi_v3_root(&store.defs()));
            }
            ["openapi", "v3", "api", v] => {
                return match discovery::openapi_v3_group(&store.defs(), "", v) {
                    Some(doc) => json_response(StatusCode::OK, &doc),
                    None => error_response(&ApiError::no_such_path()),
                };
            }
            ["openapi", "v3", "apis", g, v] => {
                return match discovery::openapi_v3_group(&store.defs(), g, v) {
                    Some(doc) => json_response(StatusCode::OK, &doc),
                    None => error_response(&ApiError::no_such_path()),
                };
            }
            _ => {}
        }
    }
    let target = match parse_target(store, &segs) {
        Ok(t) => t,
        Err(e) => return error_response(&e),
    };
    match resource_request(app, method, target, q, headers, body).await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(code = e.code, reason = %e.reason, message = %e.message, "request failed");
            error_response(&e)
        }
    }
}

fn aggregated_response(doc: &Value, version: &str) -> Response {
    let ct = format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList");
    let body = serde_json::to_vec(doc).unwrap_or_default();
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_str(&ct).unwrap_or(HeaderValue::from_static("application/json")),
        )],
        body,
    )
        .into_response()
}

fn parse_target(store: &Store, segs: &[&str]) -> ApiResult<Target> {
    let (group, version, rest) = match segs {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(ApiError::no_such_path()),
    };
    let find = |plural: &str| store.resolve(group, version, plural);
    let (def, namespace, name, sub) = match rest {
        ["namespaces", ns, plural, tail @ ..] if find(plural).is_some_and(|d| d.namespaced) => {
            let def = find(plural).expect("checked");
            match tail {
                [] => (def, Some(ns.to_string()), None, None),
                [name] => (def, Some(ns.to_string()), Some(name.to_string()), None),
                [name, sub] => (
                    def,
                    Some(ns.to_string()),
                    Some(name.to_string()),
                    Some(sub.to_string()),
                ),
                _ => return Err(ApiError::no_such_path()),
            }
        }
        [plural, tail @ ..] => {
            let def = find(plural).ok_or_else(ApiError::no_such_path)?;
            match tail {
                [] => (def, None, None, None),
                [name] if !def.namespaced => (def, None, Some(name.to_string()), None),
                [name, sub] if !def.namespaced => {
                    (def, None, Some(name.to_string()), Some(sub.to_string()))
                }
                _ => return Err(ApiError::no_such_path()),
            }
        }
        _ => return Err(ApiError::no_such_path()),
    };
    if let Some(s) = &sub {
        let ok = (s == "status" && def.status_subresource)
            || (s == "log" && def.kind == "Pod")
            || (s == "scale" && discovery::has_scale(&def))
            || (s == "finalize" && def.kind == "Namespace");
        if !ok {
            return Err(ApiError::no_such_path());
        }
    }
    Ok(Target {
        def,
        version: version.to_string(),
        namespace,
        name,
        sub,
    })
}

fn flag(q: &Query, k: &str) -> bool {
    q.get(k).is_some_and(|v| v == "true" || v == "1")
}

fn field_manager(q: &Query, headers: &HeaderMap) -> String {
    if let Some(m) = q.get("fieldManager").filter(|m| !m.is_empty()) {
        return m.clone();
    }
    let ua = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown");
    ua.split('/').next().unwrap_or("unknown").to_string()
}

fn write_opts(q: &Query, headers: &HeaderMap) -> ApiResult<WriteOpts> {
    if let Some(m) = q.get("fieldManager")
        && (m.len() > 128 || m.chars().any(|c| c.is_control()))
    {
        return Err(ApiError::invalid(
            &ResourceDef {
                kind: "PatchOptions".into(),
                ..crate::resources::builtins()[0].clone()
            },
            "",
            &[(
                "fieldManager".into(),
                "Invalid value: must be no more than 128 printable characters".into(),
            )],
        ));
    }
    let dry_run = match q.get("dryRun").map(String::as_str) {
        None | Some("") => false,
        Some("All") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unsupported dry run value: {other}, supported values: All"
            )));
        }
    };
    Ok(WriteOpts {
        field_manager: field_manager(q, headers),
        force: flag(q, "force"),
        dry_run,
    })
}

fn decode_body(headers: &HeaderMap, body: &[u8]) -> ApiResult<Value> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    if ct.contains("protobuf") {
        return crate::proto::decode(body).map_err(|m| {
            ApiError::unsupported_media(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml ({m})"
            ))
        });
    }
    if ct.contains("cbor") {
        return Err(ApiError::unsupported_media(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml ({ct})"
        )));
    }
    if body.is_empty() {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    let v: Value = if ct.contains("yaml") {
        serde_yaml_ng::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        })?
    };
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "couldn't get version/kind; json parse error: the body must be a JSON object",
        ));
    }
    Ok(v)
}

#[derive(serde::Serialize)]
struct ListBody<'a> {
    kind: String,
    #[serde(rename = "apiVersion")]
    api_version: String,
    metadata: Value,
    items: Vec<Cow<'a, Value>>,
}

#[derive(serde::Serialize)]
struct WatchLine<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    object: &'a Value,
}

/// `present` without a copy when the stored form is already what the client asked for.
fn presented<'a>(def: &ResourceDef, version: &str, obj: &'a Value) -> Cow<'a, Value> {
    let want = def.api_version(version);
    if obj.get("apiVersion").and_then(Value::as_str) == Some(want.as_str())
        && obj.get("kind").and_then(Value::as_str) == Some(def.kind.as_str())
    {
        Cow::Borrowed(obj)
    } else {
        Cow::Owned(present(def, version, obj.clone()))
    }
}

fn present(def: &ResourceDef, version: &str, mut obj: Value) -> Value {
    if obj.is_object() {
        obj["apiVersion"] = json!(def.api_version(version));
        obj["kind"] = json!(def.kind);
    }
    obj
}

fn include_object(q: &Query) -> IncludeObject {
    match q.get("includeObject").map(String::as_str) {
        Some("None") => IncludeObject::None,
        Some("Object") => IncludeObject::Object,
        _ => IncludeObject::Metadata,
    }
}

async fn resource_request(
    app: &ApiState,
    method: &Method,
    t: Target,
    q: &Query,
    headers: &HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let store = &app.store;
    let def = &t.def;
    let ns = t.namespace.clone().unwrap_or_default();
    let table = wants_table(headers);
    let now = store.clock.now();
    match (method.clone(), t.name.as_deref(), t.sub.as_deref()) {
        (Method::GET, None, _) => {
            let labels =
                LabelSelector::parse(q.get("labelSelector").map(String::as_str).unwrap_or(""))
                    .map_err(ApiError::bad_request)?;
            let fields = FieldSelector::parse(
                q.get("fieldSelector").map(String::as_str).unwrap_or(""),
                &def.kind,
            )
            .map_err(ApiError::bad_request)?;
            if flag(q, "watch") {
                return watch(app, t, q, labels, fields, table).await;
            }
            let limit = match q.get("limit") {
                Some(l) => Some(
                    l.parse::<usize>()
                        .map_err(|_| ApiError::bad_request(format!("invalid limit: {l}")))?,
                ),
                None => None,
            };
            let res = store.list(
                def,
                &ListQuery {
                    namespace: t.namespace.clone(),
                    labels,
                    fields,
                    limit,
                    continue_token: q.get("continue").filter(|c| !c.is_empty()).cloned(),
                },
            )?;
            let mut meta = json!({"resourceVersion": res.resource_version.to_string()});
            if let Some(c) = &res.continue_token {
                meta["continue"] = json!(c);
                meta["remainingItemCount"] = json!(res.remaining.unwrap_or(0));
            }
            // Stored objects already carry the preferred apiVersion and kind: serialize them
            // as they are, copying only when another served version was asked for.
            let items: Vec<Cow<'_, Value>> = res
                .items
                .iter()
                .map(|o| presented(def, &t.version, o))
                .collect();
            if table {
                return Ok(json_response(
                    StatusCode::OK,
                    &table::table(def, &items, meta, now, include_object(q)),
                ));
            }
            let list = ListBody {
                kind: def.list_kind(),
                api_version: def.api_version(&t.version),
                metadata: meta,
                items,
            };
            let body = serde_json::to_vec(&list).unwrap_or_default();
            Ok((
                StatusCode::OK,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response())
        }
        (Method::POST, None, None) => {
            let obj = decode_body(headers, &body)?;
            let created = store.create(def, &t.version, &ns, obj, &write_opts(q, headers)?)?;
            Ok(json_response(
                StatusCode::CREATED,
                &present(def, &t.version, created),
            ))
        }
        (Method::DELETE, None, None) => {
            let opts = delete_opts(q, headers, &body)?;
            let labels =
                LabelSelector::parse(q.get("labelSelector").map(String::as_str).unwrap_or(""))
                    .map_err(ApiError::bad_request)?;
            let fields = FieldSelector::parse(
                q.get("fieldSelector").map(String::as_str).unwrap_or(""),
                &def.kind,
            )
            .map_err(ApiError::bad_request)?;
            let res = store.list(
                def,
                &ListQuery {
                    namespace: t.namespace.clone(),
                    labels,
                    fields,
                    ..Default::default()
                },
            )?;
            let mut deleted = vec![];
            for o in res.items.iter().map(|o| o.as_ref()) {
                let n = o
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let ons = o
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                if let Ok(d) = store.delete(def, &ons, &n, &opts) {
                    deleted.push(present(def, &t.version, d));
                }
            }
            Ok(json_response(
                StatusCode::OK,
                &json!({"kind": def.list_kind(), "apiVersion": def.api_version(&t.version), "metadata": {"resourceVersion": store.resource_version().to_string()}, "items": deleted}),
            ))
        }
        (Method::GET, Some(name), Some("log")) => {
            let pod = store.get(def, &ns, name)?;
            let container = q
                .get("container")
                .cloned()
                .or_else(|| {
                    pod.pointer("/metadata/annotations/kubectl.kubernetes.io~1default-container")
                        .and_then(Value::as_str)
                        .map(String::from)
                })
                .or_else(|| {
                    pod.pointer("/spec/containers/0/name")
                        .and_then(Value::as_str)
                        .map(String::from)
                })
                .unwrap_or_default();
            let text = format!(
                "[istio-playground simulated cluster] container {container} of pod {ns}/{name} has no real process; logs are simulated.\n"
            );
            Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], text).into_response())
        }
        (m @ (Method::GET | Method::PUT | Method::PATCH), Some(name), Some("scale")) => {
            scale(store, def, &ns, name, &m, q, headers, &body)
        }
        (Method::GET, Some(name), sub) => {
            let obj = present(def, &t.version, store.get(def, &ns, name)?);
            let _ = sub;
            if table {
                let meta = json!({"resourceVersion": obj.pointer("/metadata/resourceVersion").cloned().unwrap_or(json!(""))});
                return Ok(json_response(
                    StatusCode::OK,
                    &table::table(def, &[obj], meta, now, include_object(q)),
                ));
            }
            Ok(json_response(StatusCode::OK, &obj))
        }
        (Method::PUT, Some(name), sub) => {
            let obj = decode_body(headers, &body)?;
            let updated = store.update(
                def,
                &t.version,
                &ns,
                name,
                obj,
                sub == Some("status"),
                &write_opts(q, headers)?,
            )?;
            Ok(json_response(
                StatusCode::OK,
                &present(def, &t.version, updated),
            ))
        }
        (Method::PATCH, Some(name), sub) => {
            let ct = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let media = ct.split(';').next().unwrap_or("").trim();
            let kind = match media {
                "application/merge-patch+json" => PatchKind::Merge,
                "application/json-patch+json" => PatchKind::Json,
                "application/strategic-merge-patch+json" => PatchKind::Strategic,
                "application/apply-patch+yaml" => PatchKind::Apply,
                _ => {
                    return Err(ApiError::unsupported_media(format!(
                        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml{}",
                        if def.builtin {
                            ", application/strategic-merge-patch+json"
                        } else {
                            ""
                        }
                    )));
                }
            };
            let existed = store.get(def, &ns, name).is_ok();
            let opts = write_opts(q, headers)?;
            if kind != PatchKind::Apply && q.contains_key("force") {
                return Err(ApiError::invalid(
                    &ResourceDef {
                        kind: "PatchOptions".into(),
                        ..def.clone()
                    },
                    "",
                    &[(
                        "force".into(),
                        "Forbidden: may not be specified for non-apply patch".into(),
                    )],
                ));
            }
            let patched = store.patch(
                def,
                &t.version,
                &ns,
                name,
                kind,
                &body,
                sub == Some("status"),
                &opts,
            )?;
            let code = if !existed && kind == PatchKind::Apply {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(json_response(code, &present(def, &t.version, patched)))
        }
        (Method::DELETE, Some(name), None) => {
            let opts = delete_opts(q, headers, &body)?;
            let deleted = store.delete(def, &ns, name, &opts)?;
            Ok(json_response(
                StatusCode::OK,
                &present(def, &t.version, deleted),
            ))
        }
        (m, _, _) => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({m})"
        ))),
    }
}

fn scale_of(obj: &Value) -> Value {
    let md = &obj["metadata"];
    let selector: Vec<String> = obj
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": md["name"], "namespace": md["namespace"], "uid": md["uid"],
            "resourceVersion": md["resourceVersion"], "creationTimestamp": md["creationTimestamp"]
        },
        "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(1))},
        "status": {"replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)), "selector": selector.join(",")}
    })
}

/// The `/scale` subresource: reads and writes `spec.replicas` through an autoscaling/v1 Scale.
#[allow(clippy::too_many_arguments)]
fn scale(
    store: &Store,
    def: &ResourceDef,
    ns: &str,
    name: &str,
    method: &Method,
    q: &Query,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<Response> {
    let current = store.get(def, ns, name)?;
    let mut sc = scale_of(&current);
    if *method == Method::GET {
        return Ok(json_response(StatusCode::OK, &sc));
    }
    let wanted = if *method == Method::PUT {
        decode_body(headers, body)?
    } else {
        let ct = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let doc: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
        match ct.split(';').next().unwrap_or("").trim() {
            "application/json-patch+json" => {
                crate::patch::json_patch(&mut sc, &doc).map_err(|m| {
                    ApiError::new(
                        422,
                        "Invalid",
                        format!(
                            "the server rejected our request due to an error in our request: {m}"
                        ),
                    )
                })?
            }
            "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
                crate::patch::merge_patch(&mut sc, &doc)
            }
            other => {
                return Err(ApiError::unsupported_media(format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json ({other})"
                )));
            }
        }
        sc
    };
    if let Some(rv) = wanted
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        && !rv.is_empty()
        && Some(rv)
            != current
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
    {
        return Err(ApiError::modified(def, name));
    }
    let replicas = wanted.pointer("/spec/replicas").and_then(Value::as_i64).filter(|r| *r >= 0).ok_or_else(|| {
        ApiError::new(422, "Invalid", format!("Scale.autoscaling \"{name}\" is invalid: spec.replicas: Invalid value: must be greater than or equal to 0"))
    })?;
    let manager = field_manager(q, headers);
    let updated = store.modify(def, ns, name, false, &manager, |o| {
        o["spec"]["replicas"] = json!(replicas);
        true
    })?;
    Ok(json_response(StatusCode::OK, &scale_of(&updated)))
}

fn delete_opts(q: &Query, headers: &HeaderMap, body: &[u8]) -> ApiResult<DeleteOpts> {
    let mut opts = DeleteOpts::default();
    let body_v: Value = if body.is_empty() {
        json!({})
    } else {
        let _ = headers;
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding DeleteOptions: {e}")))?
    };
    let policy = q
        .get("propagationPolicy")
        .cloned()
        .or_else(|| {
            body_v
                .get("propagationPolicy")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .or_else(|| {
            (body_v.get("orphanDependents").and_then(Value::as_bool) == Some(true))
                .then(|| "Orphan".to_string())
        });
    opts.propagation = match policy.as_deref() {
        None | Some("Background") => Propagation::Background,
        Some("Foreground") => Propagation::Foreground,
        Some("Orphan") => Propagation::Orphan,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "propagationPolicy: Unsupported value: \"{other}\""
            )));
        }
    };
    opts.precondition_uid = body_v
        .pointer("/preconditions/uid")
        .and_then(Value::as_str)
        .map(String::from);
    opts.precondition_rv = body_v
        .pointer("/preconditions/resourceVersion")
        .and_then(Value::as_str)
        .map(String::from);
    let dry = q.get("dryRun").cloned().or_else(|| {
        body_v
            .pointer("/dryRun/0")
            .and_then(Value::as_str)
            .map(String::from)
    });
    opts.dry_run = dry.as_deref() == Some("All");
    opts.grace_period = match q.get("gracePeriodSeconds") {
        Some(g) => Some(
            g.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid gracePeriodSeconds: {g}")))?,
        ),
        None => body_v.get("gracePeriodSeconds").and_then(Value::as_i64),
    };
    Ok(opts)
}

fn object_matches(labels: &LabelSelector, fields: &FieldSelector, obj: &Value) -> bool {
    labels.matches(obj.pointer("/metadata/labels").and_then(Value::as_object))
        && fields.matches(obj)
}

/// Turns a store event into what this watcher should see (None: not for it).
fn filter_event(
    ev: &Event,
    def: &ResourceDef,
    ns: Option<&str>,
    labels: &LabelSelector,
    fields: &FieldSelector,
) -> Option<(EventType, Arc<Value>)> {
    if ev.group != def.group || ev.plural != def.plural || ns.is_some_and(|n| n != ev.namespace) {
        return None;
    }
    let now = object_matches(labels, fields, &ev.object);
    match (ev.kind, &ev.old) {
        (EventType::Modified, Some(old)) => {
            let before = object_matches(labels, fields, old);
            match (before, now) {
                (true, true) => Some((EventType::Modified, ev.object.clone())),
                (false, true) => Some((EventType::Added, ev.object.clone())),
                (true, false) => Some((EventType::Deleted, ev.object.clone())),
                (false, false) => None,
            }
        }
        (k, _) => now.then(|| (k, ev.object.clone())),
    }
}

async fn watch(
    app: &ApiState,
    t: Target,
    q: &Query,
    labels: LabelSelector,
    fields: FieldSelector,
    table: bool,
) -> ApiResult<Response> {
    let store = app.store.clone();
    let def = t.def.clone();
    let version = t.version.clone();
    let ns = t.namespace.clone();
    let send_initial = flag(q, "sendInitialEvents");
    let bookmarks = flag(q, "allowWatchBookmarks");
    let include = include_object(q);
    let from_rv: Option<u64> = match q.get("resourceVersion").map(String::as_str) {
        None | Some("") | Some("0") => None,
        Some(rv) => Some(
            rv.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))?,
        ),
    };
    if send_initial && !bookmarks {
        return Err(ApiError::invalid(
            &ResourceDef {
                kind: "ListOptions".into(),
                ..def.clone()
            },
            "",
            &[(
                "allowWatchBookmarks".into(),
                "Forbidden: sendInitialEvents requires setting allowWatchBookmarks to true".into(),
            )],
        ));
    }
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(1800));
    let (mut tx, rx) =
        futures::channel::mpsc::channel::<Result<Bytes, std::convert::Infallible>>(64);
    let start = match store.watch(
        &def,
        if send_initial { None } else { from_rv },
        ns.as_deref(),
    ) {
        Ok(s) => s,
        Err(e) if e.code == 410 => {
            // Like a real API server: the watch starts, then reports 410 Expired in-stream.
            let line = json!({"type": "ERROR", "object": e.to_status()}).to_string() + "\n";
            let _ = tx.try_send(Ok(Bytes::from(line)));
            drop(tx);
            return Ok(stream_response(rx));
        }
        Err(e) => return Err(e),
    };
    let bookmark_interval = app.bookmark_interval;
    let render = move |kind: &str, obj: Arc<Value>| -> Bytes {
        let obj = presented(&def, &version, &obj);
        let mut line = if table {
            let meta = json!({"resourceVersion": obj.pointer("/metadata/resourceVersion").cloned().unwrap_or(json!(""))});
            let t = table::table(&def, &[obj], meta, store.clock.now(), include);
            serde_json::to_vec(&WatchLine { kind, object: &t })
        } else {
            serde_json::to_vec(&WatchLine { kind, object: &obj })
        }
        .unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    };
    let def2 = t.def.clone();
    let version2 = t.version.clone();
    let bookmark = move |rv: u64, initial_end: bool| -> Bytes {
        let mut md = json!({"resourceVersion": rv.to_string(), "creationTimestamp": null});
        if initial_end {
            md["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        Bytes::from(json!({"type": "BOOKMARK", "object": {"kind": def2.kind, "apiVersion": def2.api_version(&version2), "metadata": md}}).to_string() + "\n")
    };
    tokio::spawn(
        async move {
            let mut last_rv = start.current_rv;
            let mut rx_events = start.rx;
            let mut epoch = start.epoch;
            let deadline = tokio::time::sleep(timeout);
            tokio::pin!(deadline);
            for ev in &start.backlog {
                if let Some((k, obj)) = filter_event(ev, &t.def, ns.as_deref(), &labels, &fields)
                    && tx.send(Ok(render(k.as_str(), obj))).await.is_err()
                {
                    return;
                }
            }
            if send_initial && tx.send(Ok(bookmark(last_rv, true))).await.is_err() {
                return;
            }
            let mut ticker = tokio::time::interval(bookmark_interval.max(Duration::from_millis(50)));
            ticker.tick().await;
            let mut alive = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    ev = rx_events.recv() => match ev {
                        Ok(ev) => {
                            last_rv = last_rv.max(ev.rv);
                            if let Some((k, obj)) = filter_event(&ev, &t.def, ns.as_deref(), &labels, &fields)
                                && tx.send(Ok(render(k.as_str(), obj))).await.is_err()
                            {
                                return;
                            }
                        }
                        Err(RecvError::Lagged(_)) => {
                            // Too slow a reader: end the watch; the client resumes or relists.
                            return;
                        }
                        Err(RecvError::Closed) => return,
                    },
                    _ = epoch.changed() => return,
                    _ = ticker.tick(), if bookmarks => {
                        if tx.send(Ok(bookmark(last_rv, false))).await.is_err() {
                            return;
                        }
                    }
                    _ = &mut deadline => return,
                    // Also notice a client that went away while nothing happens.
                    _ = alive.tick() => if tx.is_closed() { return },
                }
            }
        }
        .instrument(tracing::debug_span!("sim_watch")),
    );
    Ok(stream_response(rx))
}

fn stream_response(
    rx: futures::channel::mpsc::Receiver<Result<Bytes, std::convert::Infallible>>,
) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(Body::from_stream(rx))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
