//! curl inside a simulated pod: the options people use from Bookinfo's tutorial and Istio's
//! tasks, the request made from that pod (in-cluster DNS, then through its sidecar, or
//! straight to a Service pod without one), and curl's own output, messages and exit codes.

use std::time::Duration;

use axum::http::StatusCode;
use playground_istio::{ResolvedHost, resolve_host};
use serde_json::Value;

use crate::commands::{Context, Output};
use crate::dataplane::{MeshRequest, PodRequestOutcome};

/// The curl that answers `--version` in curlimages/curl.
const USER_AGENT: &str = "curl/8.11.1";

/// What the command line asked for.
#[derive(Debug, Default, PartialEq)]
struct Args {
    silent: bool,
    show_error: bool,
    fail: bool,
    head: bool,
    include: bool,
    verbose: bool,
    output: Option<String>,
    write_out: Option<String>,
    headers: Vec<(String, String)>,
    method: Option<String>,
    max_time: Option<f64>,
    data: Option<String>,
    url: Option<String>,
}

/// A curl failure: its exit code and message (`curl: (N) message`).
#[derive(Debug, PartialEq)]
struct CurlError {
    code: i32,
    message: String,
}

fn err(code: i32, message: impl Into<String>) -> CurlError {
    CurlError {
        code,
        message: message.into(),
    }
}

/// An option error, reported as curl does before doing anything (exit 2).
fn usage(message: String) -> Output {
    Output::failed(
        2,
        format!(
            "curl: {message}\ncurl: try 'curl --help' or 'curl --manual' for more information\n"
        ),
    )
}

fn seconds(opt: &str, v: &str) -> Result<f64, Output> {
    v.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .ok_or_else(|| {
            usage(format!(
                "option {opt}: expected a proper numerical parameter"
            ))
        })
}

fn parse(argv: &[String]) -> Result<Args, Output> {
    let mut a = Args::default();
    let mut it = argv.iter();
    while let Some(arg) = it.next() {
        let mut value = |opt: &str, attached: Option<&str>| -> Result<String, Output> {
            match attached.filter(|s| !s.is_empty()) {
                Some(v) => Ok(v.to_string()),
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| usage(format!("option {opt}: requires parameter"))),
            }
        };
        if let Some(long) = arg.strip_prefix("--") {
            let (name, attached) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            let opt = format!("--{name}");
            match name {
                "silent" => a.silent = true,
                "show-error" => a.show_error = true,
                "fail" => a.fail = true,
                "head" => a.head = true,
                "include" => a.include = true,
                "verbose" => a.verbose = true,
                "output" => a.output = Some(value(&opt, attached)?),
                "write-out" => a.write_out = Some(value(&opt, attached)?),
                "header" => a.headers.push(header(&value(&opt, attached)?)),
                "request" => a.method = Some(value(&opt, attached)?),
                "max-time" => a.max_time = Some(seconds(&opt, &value(&opt, attached)?)?),
                // Without a real connect step, the whole request is bounded instead.
                "connect-timeout" => {
                    seconds(&opt, &value(&opt, attached)?)?;
                }
                "data" | "data-raw" | "data-binary" => a.data = Some(value(&opt, attached)?),
                "url" => a.url = Some(value(&opt, attached)?),
                "no-progress-meter" => {
                    a.silent = true;
                    a.show_error = true;
                }
                "" => {}
                _ => {
                    return Err(usage(format!(
                        "option {opt}: is unknown or not available in the simulated cluster"
                    )));
                }
            }
            continue;
        }
        if let Some(flags) = arg.strip_prefix('-').filter(|f| !f.is_empty()) {
            for (i, f) in flags.char_indices() {
                let rest = &flags[i + f.len_utf8()..];
                let opt = format!("-{f}");
                match f {
                    's' => a.silent = true,
                    'S' => a.show_error = true,
                    'f' => a.fail = true,
                    'I' => a.head = true,
                    'i' => a.include = true,
                    'v' => a.verbose = true,
                    'o' | 'w' | 'H' | 'X' | 'm' | 'd' => {
                        let v = value(&opt, Some(rest))?;
                        match f {
                            'o' => a.output = Some(v),
                            'w' => a.write_out = Some(v),
                            'H' => a.headers.push(header(&v)),
                            'X' => a.method = Some(v),
                            'm' => a.max_time = Some(seconds(&opt, &v)?),
                            _ => a.data = Some(v),
                        }
                        break;
                    }
                    _ => {
                        return Err(usage(format!(
                            "option {opt}: is unknown or not available in the simulated cluster"
                        )));
                    }
                }
            }
            continue;
        }
        if a.url.is_some() {
            return Err(usage(
                "more than one URL: the simulated cluster's curl fetches one".into(),
            ));
        }
        a.url = Some(arg.clone());
    }
    Ok(a)
}

fn header(h: &str) -> (String, String) {
    match h.split_once(':') {
        Some((k, v)) => (k.trim().to_string(), v.trim().to_string()),
        None => (h.trim().to_string(), String::new()),
    }
}

/// The parts of a URL a request needs.
#[derive(Debug, PartialEq)]
struct Url {
    host: String,
    port: u16,
    /// Path and query.
    path: String,
    /// `host[:port]` as written: the Host header.
    authority: String,
}

fn parse_url(url: &str) -> Result<Url, CurlError> {
    let rest = match url.split_once("://") {
        Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
            "http" => rest,
            "https" => {
                return Err(err(
                    35,
                    "TLS connect error: the simulated cluster's services speak plain HTTP (use http://)",
                ));
            }
            other => return Err(err(1, format!("Protocol \"{other}\" not supported"))),
        },
        None => url,
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let mut path = rest[end..].split('#').next().unwrap_or("").to_string();
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>().map_err(|_| {
                err(
                    3,
                    "URL rejected: Port number was not a decimal number between 0 and 65535",
                )
            })?,
        ),
        None => (authority, 80),
    };
    if host.is_empty() {
        return Err(err(3, "URL rejected: No host part in the URL"));
    }
    Ok(Url {
        host: host.to_ascii_lowercase(),
        port,
        path,
        authority: authority.to_string(),
    })
}

/// The Service a name (or ClusterIP) leads to from `ns`, as in-cluster DNS resolves it.
fn resolve<'a>(services: &'a [Value], host: &str, ns: &str) -> Option<&'a Value> {
    let s = |v: &'a Value, p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or("");
    if host.parse::<std::net::Ipv4Addr>().is_ok() {
        return services
            .iter()
            .find(|svc| s(svc, "/spec/clusterIP") == host);
    }
    match resolve_host(host.trim_end_matches('.'), ns) {
        ResolvedHost::Service { name, namespace } => services.iter().find(|svc| {
            s(svc, "/metadata/name") == name && s(svc, "/metadata/namespace") == namespace
        }),
        _ => None,
    }
}

/// A response as curl saw it.
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    elapsed: Duration,
}

fn has_sidecar(pod: &Value) -> bool {
    crate::inject::already_injected(pod)
}

async fn fetch(
    cx: &Context<'_>,
    a: &Args,
    url: &Url,
    verbose: &mut String,
) -> Result<Response, CurlError> {
    let pod = cx.pod;
    let ns = pod
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let services = cx.store.all("", "services");
    let max_time = a.max_time.map(Duration::from_secs_f64);
    let Some(svc) = resolve(&services, &url.host, ns) else {
        return Err(err(6, format!("Could not resolve host: {}", url.host)));
    };
    let svc_name = svc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let svc_ns = svc
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let ip = svc
        .pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .unwrap_or("10.96.0.1")
        .to_string();
    verbose.push_str(&format!(
        "* Host {}:{} was resolved.\n* IPv6: (none)\n* IPv4: {ip}\n*   Trying {ip}:{}...\n",
        url.host, url.port, url.port
    ));
    let serves_port = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .is_some_and(|ps| {
            ps.iter()
                .any(|p| p.get("port").and_then(Value::as_u64) == Some(u64::from(url.port)))
        });
    let refused = || {
        err(
            7,
            format!(
                "Failed to connect to {} port {} after 0 ms: Couldn't connect to server",
                url.host, url.port
            ),
        )
    };
    if !serves_port {
        return Err(refused());
    }
    verbose.push_str(&format!(
        "* Connected to {} ({ip}) port {}\n* using HTTP/1.x\n",
        url.host, url.port
    ));
    let method = a.method.clone().unwrap_or_else(|| {
        if a.head {
            "HEAD".into()
        } else if a.data.is_some() {
            "POST".into()
        } else {
            "GET".into()
        }
    });
    let mut req = MeshRequest {
        method: method.clone(),
        path: url.path.clone(),
        authority: url.authority.clone(),
        headers: Default::default(),
    };
    let mut sent = vec![
        ("Host".to_string(), url.authority.clone()),
        ("User-Agent".to_string(), USER_AGENT.to_string()),
        ("Accept".to_string(), "*/*".to_string()),
    ];
    for (k, v) in &a.headers {
        sent.retain(|(have, _)| !have.eq_ignore_ascii_case(k));
        sent.push((k.clone(), v.clone()));
    }
    verbose.push_str(&format!("> {method} {} HTTP/1.1\n", url.path));
    for (k, v) in &sent {
        verbose.push_str(&format!("> {k}: {v}\n"));
        req.headers.insert(k.to_ascii_lowercase(), v.clone());
    }
    verbose.push_str("> \n* Request completely sent off\n");
    // The istio-proxy container's own traffic (uid 1337) is not sent back through Envoy.
    let through_sidecar = has_sidecar(pod) && cx.container != "istio-proxy";
    let host = format!("{svc_name}.{svc_ns}.svc.cluster.local");
    let outcome = cx
        .dataplane
        .request_from_pod(pod, &host, &req, through_sidecar);
    let (status, elapsed, body) = match outcome {
        PodRequestOutcome::Refused => return Err(refused()),
        PodRequestOutcome::Answered {
            status,
            elapsed,
            body,
            ..
        } => (status, elapsed, body),
    };
    if let Some(limit) = max_time
        && elapsed > limit
    {
        tokio::time::sleep(limit).await;
        return Err(err(
            28,
            format!(
                "Operation timed out after {} milliseconds with 0 bytes received",
                limit.as_millis()
            ),
        ));
    }
    tokio::time::sleep(elapsed).await;
    let content_type = if body.starts_with("<!DOCTYPE") {
        "text/html; charset=utf-8"
    } else if body.starts_with('{') || body.starts_with('[') {
        "application/json"
    } else {
        "text/plain"
    };
    let mut headers = vec![
        ("content-type".to_string(), content_type.to_string()),
        ("content-length".to_string(), body.len().to_string()),
    ];
    if through_sidecar {
        headers.push(("server".into(), "envoy".into()));
        headers.push((
            "x-envoy-upstream-service-time".into(),
            elapsed.as_millis().to_string(),
        ));
    } else {
        headers.push(("server".into(), "istio-envoy".into()));
    }
    if status == 302 {
        headers.push(("location".into(), "/productpage".into()));
    }
    Ok(Response {
        status,
        headers,
        body: if method == "HEAD" {
            String::new()
        } else {
            body
        },
        elapsed,
    })
}

fn reason(status: u16) -> &'static str {
    StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

/// `-w`'s format with the variables curl users reach for.
fn write_out(format: &str, resp: Option<&Response>, url: &str, stderr: &mut String) -> String {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('\\') => out.push('\\'),
                Some(x) => {
                    out.push('\\');
                    out.push(x);
                }
                None => out.push('\\'),
            },
            '%' if chars.peek() == Some(&'%') => {
                chars.next();
                out.push('%');
            }
            '%' if chars.peek() == Some(&'{') => {
                chars.next();
                let name: String = chars.by_ref().take_while(|c| *c != '}').collect();
                match name.as_str() {
                    "http_code" | "response_code" => {
                        out.push_str(&format!("{:03}", resp.map_or(0, |r| r.status)))
                    }
                    "time_total" => out.push_str(&format!(
                        "{:.6}",
                        resp.map_or(0.0, |r| r.elapsed.as_secs_f64())
                    )),
                    "size_download" => out.push_str(&resp.map_or(0, |r| r.body.len()).to_string()),
                    "url_effective" | "url" => out.push_str(url),
                    "content_type" => out.push_str(
                        resp.and_then(|r| r.headers.iter().find(|(k, _)| k == "content-type"))
                            .map_or("", |(_, v)| v.as_str()),
                    ),
                    other => {
                        stderr.push_str(&format!("curl: unknown --write-out variable: '{other}'\n"))
                    }
                }
            }
            x => out.push(x),
        }
    }
    out
}

/// The progress meter curl prints on stderr when its output is not a terminal.
fn meter(bytes: usize) -> String {
    let size = |n: usize| {
        if n < 100_000 {
            n.to_string()
        } else {
            format!("{}k", n / 1024)
        }
    };
    let n = size(bytes);
    format!(
        "  % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current\n                                 Dload  Upload   Total   Spent    Left  Speed\n100 {n:>5}  100 {n:>5}    0     0  {n:>5}      0 --:--:-- --:--:-- --:--:-- {n:>5}\n"
    )
}

/// Runs `curl ARGS` in the context's container.
pub async fn run(cx: &Context<'_>, argv: &[String]) -> Output {
    let tty = cx.tty;
    let a = match parse(argv) {
        Ok(a) => a,
        Err(out) => return out,
    };
    let Some(raw_url) = a.url.clone() else {
        return usage("no URL specified".into());
    };
    let discard = match a.output.as_deref() {
        None | Some("-") => false,
        Some("/dev/null") => true,
        Some(path) => {
            return Output::failed(
                23,
                format!(
                    "curl: (23) Failure writing output to destination: the simulated pod has no file system to write {path} to\n"
                ),
            );
        }
    };
    let mut verbose = String::new();
    let result = match parse_url(&raw_url) {
        Ok(url) => fetch(cx, &a, &url, &mut verbose).await,
        Err(e) => Err(e),
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    let show_errors = !a.silent || a.show_error;
    let show_meter = !a.silent && !a.verbose && (!tty || a.output.is_some());
    let effective = if raw_url.contains("://") {
        raw_url.clone()
    } else {
        format!("http://{raw_url}")
    };
    let mut exit = 0;
    let resp = match result {
        Ok(r) => Some(r),
        Err(e) => {
            exit = e.code;
            if a.verbose {
                stderr.push_str(&verbose);
            }
            if show_errors {
                stderr.push_str(&format!("curl: ({}) {}\n", e.code, e.message));
            }
            None
        }
    };
    if let Some(r) = &resp {
        let mut head = format!("HTTP/1.1 {} {}\r\n", r.status, reason(r.status));
        for (k, v) in &r.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        if a.verbose {
            stderr.push_str(&verbose);
            for line in head.lines() {
                stderr.push_str(&format!("< {line}\n"));
            }
        }
        if a.fail && r.status >= 400 {
            exit = 22;
            if show_errors {
                stderr.push_str(&format!(
                    "curl: (22) The requested URL returned error: {}\n",
                    r.status
                ));
            }
        } else if !discard {
            if a.head || a.include {
                stdout.push_str(&head);
            }
            stdout.push_str(&r.body);
        }
        if show_meter {
            stderr.insert_str(0, &meter(r.body.len()));
        }
        if a.verbose {
            stderr.push_str(&format!(
                "* Connection #0 to host {} left intact\n",
                parse_url(&raw_url).map(|u| u.host).unwrap_or_default()
            ));
        }
    }
    if let Some(f) = &a.write_out {
        stdout.push_str(&write_out(f, resp.as_ref(), &effective, &mut stderr));
    }
    Output {
        stdout: stdout.into_bytes(),
        stderr: stderr.into_bytes(),
        exit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_parse_as_curl_reads_them() {
        let a = parse(&args(&[
            "-sSo",
            "/dev/null",
            "-w",
            "%{http_code}\\n",
            "-H",
            "end-user: jason",
            "--max-time=2.5",
            "-XPOST",
            "productpage:9080/productpage",
        ]))
        .unwrap();
        assert!(a.silent && a.show_error);
        assert_eq!(a.output.as_deref(), Some("/dev/null"));
        assert_eq!(a.write_out.as_deref(), Some("%{http_code}\\n"));
        assert_eq!(a.headers, [("end-user".to_string(), "jason".to_string())]);
        assert_eq!(a.max_time, Some(2.5));
        assert_eq!(a.method.as_deref(), Some("POST"));
        assert_eq!(a.url.as_deref(), Some("productpage:9080/productpage"));
        assert_eq!(parse(&args(&["-L", "x"])).unwrap_err().exit, 2);
        assert_eq!(parse(&args(&["-m", "soon", "x"])).unwrap_err().exit, 2);
        assert_eq!(parse(&args(&["-o"])).unwrap_err().exit, 2);
    }

    #[test]
    fn urls_split_into_host_port_and_path() {
        assert_eq!(
            parse_url("http://httpbin.foo:8000/ip").unwrap(),
            Url {
                host: "httpbin.foo".into(),
                port: 8000,
                path: "/ip".into(),
                authority: "httpbin.foo:8000".into()
            }
        );
        let u = parse_url("productpage:9080").unwrap();
        assert_eq!((u.port, u.path.as_str()), (9080, "/"));
        assert_eq!(parse_url("reviews/x?y#z").unwrap().path, "/x?y");
        assert_eq!(parse_url("reviews").unwrap().port, 80);
        assert_eq!(parse_url("https://reviews").unwrap_err().code, 35);
        assert_eq!(parse_url("ftp://reviews").unwrap_err().code, 1);
        assert_eq!(parse_url("reviews:99999").unwrap_err().code, 3);
        assert_eq!(parse_url("http:///x").unwrap_err().code, 3);
    }

    #[test]
    fn names_resolve_as_cluster_dns_does() {
        let svcs = vec![
            json!({"metadata": {"name": "reviews", "namespace": "default"}, "spec": {"clusterIP": "10.96.0.9"}}),
            json!({"metadata": {"name": "httpbin", "namespace": "foo"}, "spec": {"clusterIP": "10.96.0.10"}}),
        ];
        let name = |h: &str, ns: &str| {
            resolve(&svcs, h, ns).map(|s| s["metadata"]["name"].as_str().unwrap().to_string())
        };
        assert_eq!(name("reviews", "default").as_deref(), Some("reviews"));
        assert_eq!(
            name("reviews", "foo"),
            None,
            "search path is the pod's namespace"
        );
        for h in [
            "httpbin.foo",
            "httpbin.foo.svc",
            "httpbin.foo.svc.cluster.local",
            "httpbin.foo.svc.cluster.local.",
            "10.96.0.10",
        ] {
            assert_eq!(name(h, "default").as_deref(), Some("httpbin"), "{h}");
        }
        assert_eq!(name("www.example.com", "default"), None);
    }

    #[test]
    fn write_out_prints_what_curl_prints() {
        let r = Response {
            status: 200,
            headers: vec![],
            body: "abc".into(),
            elapsed: Duration::from_millis(1500),
        };
        let mut e = String::new();
        assert_eq!(
            write_out(
                "%{http_code} %{size_download} %{time_total}\\n%%",
                Some(&r),
                "u",
                &mut e
            ),
            "200 3 1.500000\n%"
        );
        assert_eq!(write_out("%{http_code}", None, "u", &mut e), "000");
        assert!(e.is_empty());
        write_out("%{nope}", None, "u", &mut e);
        assert!(e.contains("unknown --write-out variable: 'nope'"));
    }
}
