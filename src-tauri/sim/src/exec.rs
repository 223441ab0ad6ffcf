//! The `exec` subresource of pods over the websocket protocol kubectl (1.30 and later) and
//! kube's `ws` feature speak: `v5.channel.k8s.io` or `v4.channel.k8s.io`, every frame led by
//! its channel byte (0 stdin, 1 stdout, 2 stderr, 3 status, 4 resize; 255 close in v5), the
//! run ending with a `metav1.Status` on channel 3 and a websocket close. What runs is
//! `commands::run`: curl, and `sh -c` with a curl command, made from the pod.

use axum::extract::FromRequestParts;
use axum::extract::Request;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{Method, header};
use axum::response::Response;
use serde_json::{Value, json};
use tracing::Instrument;

use crate::api::{ApiState, error_response};
use crate::commands::{self, Output};
use crate::status::{ApiError, ApiResult};

/// The subprotocols served, by name.
const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const STATUS: u8 = 3;

/// `(namespace, pod)` when the path is a pod's exec subresource.
pub fn exec_target(path: &str) -> Option<(String, String)> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segs.as_slice() {
        ["api", "v1", "namespaces", ns, "pods", name, "exec"] => {
            Some((ns.to_string(), name.to_string()))
        }
        _ => None,
    }
}

/// What the query asked to run.
#[derive(Debug)]
struct ExecParams {
    container: Option<String>,
    command: Vec<String>,
    stdout: bool,
    stderr: bool,
    tty: bool,
}

fn params(req: &Request) -> ApiResult<ExecParams> {
    // A list of pairs: `command` repeats, once per argument.
    let pairs = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(req.uri())
        .map_err(|e| ApiError::bad_request(format!("invalid query: {e}")))?
        .0;
    let flag = |k: &str| {
        pairs
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .is_some_and(|(_, v)| v == "true" || v == "1")
    };
    Ok(ExecParams {
        container: pairs
            .iter()
            .find(|(k, v)| k == "container" && !v.is_empty())
            .map(|(_, v)| v.clone()),
        command: pairs
            .iter()
            .filter(|(k, _)| k == "command")
            .map(|(_, v)| v.clone())
            .collect(),
        stdout: flag("stdout"),
        stderr: flag("stderr"),
        tty: flag("tty"),
    })
}

fn container_names(pod: &Value) -> Vec<String> {
    ["containers", "initContainers", "ephemeralContainers"]
        .iter()
        .filter_map(|k| pod.pointer(&format!("/spec/{k}")).and_then(Value::as_array))
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(String::from))
        .collect()
}

/// The container to run in, as the API server picks and checks it.
fn container(pod: &Value, name: &str, asked: Option<&str>) -> ApiResult<String> {
    let all = container_names(pod);
    let chosen = match asked {
        Some(c) => c.to_string(),
        None => {
            let main: Vec<&str> = pod
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| c.get("name").and_then(Value::as_str))
                .collect();
            match main.as_slice() {
                [one] => one.to_string(),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "a container name must be specified for pod {name}, choose one of: [{}]",
                        all.join(" ")
                    )));
                }
            }
        }
    };
    if !all.contains(&chosen) {
        return Err(ApiError::bad_request(format!(
            "container {chosen} is not valid for pod {name}"
        )));
    }
    if pod.pointer("/status/phase").and_then(Value::as_str) != Some("Running") {
        // What the kubelet answers (through the API server) for a container not started.
        return Err(ApiError::bad_request(format!(
            "unable to upgrade connection: container not found (\"{chosen}\")"
        )));
    }
    Ok(chosen)
}

/// The first of the client's offered subprotocols that is served, as the API server picks.
fn negotiate(offered: &str) -> Option<&'static str> {
    offered
        .split(',')
        .map(str::trim)
        .find_map(|p| PROTOCOLS.iter().copied().find(|s| *s == p))
}

pub async fn handle(app: &ApiState, ns: String, name: String, req: Request) -> Response {
    let span = tracing::info_span!("sim_exec", %ns, pod = %name);
    match upgrade(app, &ns, &name, req).instrument(span).await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(code = e.code, message = %e.message, "exec refused");
            error_response(&e)
        }
    }
}

async fn upgrade(app: &ApiState, ns: &str, name: &str, req: Request) -> ApiResult<Response> {
    let upgrade_to = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if *req.method() != Method::GET && *req.method() != Method::POST {
        return Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({})",
            req.method()
        )));
    }
    let p = params(&req)?;
    let pod_def = app
        .store
        .resolve("", "v1", "pods")
        .ok_or_else(ApiError::no_such_path)?;
    let pod = app.store.get(&pod_def, ns, name)?;
    let container = container(&pod, name, p.container.as_deref())?;
    if p.command.is_empty() {
        return Err(ApiError::bad_request("you must specify at least 1 command"));
    }
    // kubectl falls back to SPDY when the websocket upgrade fails, so a refused exec comes
    // back as a POST: the checks above run first so that it reports the real reason.
    if *req.method() == Method::POST && upgrade_to.starts_with("spdy") {
        return Err(ApiError::bad_request(format!(
            "the simulated cluster serves exec over websockets only ({}); SPDY is not supported: use kubectl 1.30 or later, or a client with websocket exec",
            PROTOCOLS.join(", ")
        )));
    }
    if upgrade_to != "websocket" {
        return Err(ApiError::bad_request("Upgrade request required"));
    }
    let offered = req
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let Some(protocol) = negotiate(&offered) else {
        return Err(ApiError::bad_request(format!(
            "websocket subprotocols offered ({offered}) include none this server speaks: {}",
            PROTOCOLS.join(", ")
        )));
    };
    let (mut parts, _) = req.into_parts();
    let ws = WebSocketUpgrade::from_request_parts(&mut parts, &())
        .await
        .map_err(|e| ApiError::bad_request(format!("unable to upgrade connection: {e}")))?;
    let dp = app.dataplane.clone();
    let store = app.store.clone();
    let span = tracing::info_span!("sim_exec_run", %container, command = ?p.command, protocol);
    Ok(ws.protocols([protocol]).on_upgrade(move |socket| {
        async move {
            let cx = commands::Context {
                dataplane: &dp,
                store: &store,
                pod: &pod,
                container: &container,
                tty: p.tty,
            };
            let out = commands::run(&cx, &p.command).await;
            tracing::debug!(exit = out.exit, "command finished");
            if let Err(error) = stream(socket, &p, &out).await {
                tracing::debug!(%error, "exec client went away");
            }
        }
        .instrument(span)
    }))
}

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut f = Vec::with_capacity(data.len() + 1);
    f.push(channel);
    f.extend_from_slice(data);
    Message::Binary(f.into())
}

/// The status the kubelet reports on channel 3 at the end of a run.
pub fn exit_status(command: &[String], exit: i32) -> Value {
    if exit == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!(
            "command terminated with non-zero exit code: command '{}' exited with {exit}",
            command.join(" ")
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": exit.to_string()}]}
    })
}

async fn stream(mut socket: WebSocket, p: &ExecParams, out: &Output) -> Result<(), axum::Error> {
    // With a TTY the terminal merges both streams, as a real one does.
    let (stderr_channel, stderr_wanted) = if p.tty {
        (STDOUT, p.stdout)
    } else {
        (STDERR, p.stderr)
    };
    if p.stdout && !out.stdout.is_empty() {
        socket.send(frame(STDOUT, &out.stdout)).await?;
    }
    if stderr_wanted && !out.stderr.is_empty() {
        socket.send(frame(stderr_channel, &out.stderr)).await?;
    }
    let status = serde_json::to_vec(&exit_status(&p.command, out.exit)).unwrap_or_default();
    socket.send(frame(STATUS, &status)).await?;
    socket
        .send(Message::Close(Some(axum::extract::ws::CloseFrame {
            code: axum::extract::ws::close_code::NORMAL,
            reason: "".into(),
        })))
        .await?;
    // Let the client answer the close before the connection drops.
    let wait = async { while let Some(Ok(_)) = socket.recv().await {} };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), wait).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_offered_protocol_served_wins() {
        assert_eq!(
            negotiate("v5.channel.k8s.io, v4.channel.k8s.io"),
            Some("v5.channel.k8s.io")
        );
        assert_eq!(
            negotiate("v4.channel.k8s.io,v5.channel.k8s.io"),
            Some("v4.channel.k8s.io")
        );
        assert_eq!(
            negotiate("channel.k8s.io, v4.channel.k8s.io"),
            Some("v4.channel.k8s.io")
        );
        assert_eq!(negotiate("base64.channel.k8s.io"), None);
    }

    #[test]
    fn a_non_zero_exit_is_reported_as_the_kubelet_does() {
        let s = exit_status(&["curl".into(), "x".into()], 6);
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(s["details"]["causes"][0]["reason"], "ExitCode");
        assert_eq!(s["details"]["causes"][0]["message"], "6");
        assert_eq!(
            exit_status(&[], 0),
            json!({"metadata": {}, "status": "Success"})
        );
    }

    #[test]
    fn the_container_is_checked_like_the_api_server_does() {
        let pod = json!({
            "spec": {"containers": [{"name": "ratings"}], "initContainers": [{"name": "istio-proxy"}]},
            "status": {"phase": "Running"}
        });
        assert_eq!(container(&pod, "p", None).unwrap(), "ratings");
        assert_eq!(
            container(&pod, "p", Some("istio-proxy")).unwrap(),
            "istio-proxy"
        );
        assert_eq!(
            container(&pod, "p", Some("nope")).unwrap_err().message,
            "container nope is not valid for pod p"
        );
        let pending = json!({"spec": pod["spec"], "status": {"phase": "Pending"}});
        assert!(
            container(&pending, "p", None)
                .unwrap_err()
                .message
                .contains("container not found")
        );
    }
}
