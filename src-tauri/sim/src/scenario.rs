//! Scenarios preloaded into the simulated cluster. `bookinfo` is Istio's demo profile shape
//! (istiod, ingress and egress gateways, addons) plus the Bookinfo sample, written by this
//! project from the facts in the design notes: labels, ports, service accounts and routes.

use serde_json::{Value, json};

use crate::ApiError;
use crate::crds;
use crate::store::{Store, WriteOpts};

/// An addon: name, image, service ports, component label.
type Addon<'a> = (&'a str, String, &'a [(&'a str, i64, i64)], Option<&'a str>);

const MANAGER: &str = "istio-playground-sim";
pub const ISTIO_VERSION: &str = "1.30.3";

fn create(
    store: &Store,
    group: &str,
    version: &str,
    plural: &str,
    ns: &str,
    obj: Value,
) -> Result<(), ApiError> {
    let def = store.resolve(group, version, plural).ok_or_else(|| {
        ApiError::new(
            404,
            "NotFound",
            format!("no resource {plural}.{group}/{version}"),
        )
    })?;
    let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
    match store.create(&def, version, ns, obj, &WriteOpts::manager(MANAGER)) {
        Ok(_) => Ok(()),
        Err(e) if e.code == 409 && store.get(&def, ns, &name).is_ok() => Ok(()),
        Err(e) => Err(e),
    }
}

fn namespace(store: &Store, name: &str, labels: Value) -> Result<(), ApiError> {
    let def = store.resolve("", "v1", "namespaces").expect("built in");
    if store.get(&def, "", name).is_ok() {
        store.modify(&def, "", name, false, MANAGER, |n| {
            if !n["metadata"]["labels"].is_object() {
                n["metadata"]["labels"] = json!({});
            }
            if let (Some(l), Some(add)) =
                (n["metadata"]["labels"].as_object_mut(), labels.as_object())
            {
                for (k, v) in add {
                    l.insert(k.clone(), v.clone());
                }
            }
            true
        })?;
        return Ok(());
    }
    create(
        store,
        "",
        "v1",
        "namespaces",
        "",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}),
    )
}

/// (name, port, targetPort) triples become service ports.
fn service(
    name: &str,
    labels: Value,
    selector: Value,
    ty: &str,
    ports: &[(&str, i64, i64)],
) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "type": ty,
            "selector": selector,
            "ports": ports.iter().map(|(n, p, t)| json!({"name": n, "port": p, "targetPort": t, "protocol": "TCP"})).collect::<Vec<_>>()
        }
    })
}

struct Workload<'a> {
    name: &'a str,
    labels: Value,
    service_account: &'a str,
    container: &'a str,
    image: String,
    ports: &'a [i64],
    requests: Option<(&'a str, &'a str)>,
}

fn deployment(w: Workload) -> Value {
    let selector: Value = {
        let mut m = serde_json::Map::new();
        for k in ["app", "version", "istio"] {
            if let Some(v) = w.labels.get(k) {
                m.insert(k.into(), v.clone());
            }
        }
        Value::Object(m)
    };
    let mut container = json!({
        "name": w.container,
        "image": w.image,
        "imagePullPolicy": "IfNotPresent",
        "ports": w.ports.iter().map(|p| json!({"containerPort": p, "protocol": "TCP"})).collect::<Vec<_>>(),
    });
    if let Some((cpu, mem)) = w.requests {
        container["resources"] = json!({"requests": {"cpu": cpu, "memory": mem}});
    }
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": w.name, "labels": w.labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": w.labels},
                "spec": {"serviceAccountName": w.service_account, "containers": [container]}
            }
        }
    })
}

fn service_account(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "labels": labels}})
}

/// Istio's demo profile: control plane, gateways, CRDs and the observability addons.
pub fn install_istio(store: &Store) -> Result<(), ApiError> {
    namespace(store, "istio-system", json!({}))?;
    crds::install_istio_crds(store)?;
    let ns = "istio-system";
    let proxy = format!("docker.io/istio/proxyv2:{ISTIO_VERSION}");
    // Control plane.
    create(
        store,
        "",
        "v1",
        "serviceaccounts",
        ns,
        service_account("istiod", json!({"app": "istiod"})),
    )?;
    create(
        store,
        "",
        "v1",
        "configmaps",
        ns,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "istio", "labels": {"app": "istiod", "istio.io/rev": "default"}},
            "data": {"mesh": "defaultConfig:\n  discoveryAddress: istiod.istio-system.svc:15012\n  tracing: {}\ndefaultProviders:\n  metrics:\n  - prometheus\nenablePrometheusMerge: true\nextensionProviders:\n- name: jaeger\n  opentelemetry:\n    port: 4317\n    service: jaeger-collector.istio-system.svc.cluster.local\nrootNamespace: istio-system\ntrustDomain: cluster.local\n", "meshNetworks": "networks: {}"}}),
    )?;
    create(
        store,
        "apps",
        "v1",
        "deployments",
        ns,
        deployment(Workload {
            name: "istiod",
            labels: json!({"app": "istiod", "istio": "pilot", "istio.io/rev": "default", "sidecar.istio.io/inject": "false"}),
            service_account: "istiod",
            container: "discovery",
            image: format!("docker.io/istio/pilot:{ISTIO_VERSION}"),
            ports: &[8080, 15010, 15012, 15017],
            requests: Some(("10m", "100Mi")),
        }),
    )?;
    create(
        store,
        "",
        "v1",
        "services",
        ns,
        service(
            "istiod",
            json!({"app": "istiod", "istio": "pilot", "istio.io/rev": "default"}),
            json!({"app": "istiod", "istio": "pilot"}),
            "ClusterIP",
            &[
                ("grpc-xds", 15010, 15010),
                ("https-dns", 15012, 15012),
                ("https-webhook", 443, 15017),
                ("http-monitoring", 15014, 15014),
            ],
        ),
    )?;
    // Gateways.
    for (name, istio_label, ty, ports) in [
        (
            "istio-ingressgateway",
            "ingressgateway",
            "LoadBalancer",
            &[
                ("status-port", 15021, 15021),
                ("http2", 80, 8080),
                ("https", 443, 8443),
                ("tcp", 31400, 31400),
                ("tls", 15443, 15443),
            ][..],
        ),
        (
            "istio-egressgateway",
            "egressgateway",
            "ClusterIP",
            &[("http2", 80, 8080), ("https", 443, 8443)][..],
        ),
    ] {
        let labels = json!({"app": name, "istio": istio_label, "istio.io/rev": "default", "install.operator.istio.io/owning-resource": "unknown", "operator.istio.io/component": if istio_label == "ingressgateway" { "IngressGateways" } else { "EgressGateways" }});
        create(
            store,
            "",
            "v1",
            "serviceaccounts",
            ns,
            service_account(
                &format!("{name}-service-account"),
                json!({"app": name, "istio": istio_label}),
            ),
        )?;
        let mut pod_labels = labels.clone();
        pod_labels["sidecar.istio.io/inject"] = json!("false");
        let container_ports: Vec<i64> = ports.iter().map(|(_, _, t)| *t).chain([15090]).collect();
        let mut d = deployment(Workload {
            name,
            labels: pod_labels,
            service_account: &format!("{name}-service-account"),
            container: "istio-proxy",
            image: proxy.clone(),
            ports: &container_ports,
            requests: Some(("10m", "40Mi")),
        });
        d["metadata"]["labels"] = labels.clone();
        d["spec"]["template"]["spec"]["containers"][0]["args"] = json!([
            "proxy",
            "router",
            "--domain",
            "$(POD_NAMESPACE).svc.cluster.local",
            "--proxyLogLevel=warning"
        ]);
        create(store, "apps", "v1", "deployments", ns, d)?;
        create(
            store,
            "",
            "v1",
            "services",
            ns,
            service(
                name,
                labels,
                json!({"app": name, "istio": istio_label}),
                ty,
                ports,
            ),
        )?;
    }
    // Addons.
    // Addons, labelled and selected the way their Helm charts do (so applying the real
    // addon manifests over them is an update, not a selector clash).
    let addons: &[Addon] = &[
        (
            "kiali",
            "quay.io/kiali/kiali:v2.26.0".into(),
            &[("http", 20001, 20001), ("http-metrics", 9090, 9090)],
            None,
        ),
        (
            "grafana",
            "docker.io/grafana/grafana:12.0.1".into(),
            &[("service", 3000, 3000)],
            None,
        ),
        (
            "prometheus",
            "prom/prometheus:v3.10.0".into(),
            &[("http", 9090, 9090)],
            Some("server"),
        ),
        (
            "loki",
            "docker.io/grafana/loki:3.6.5".into(),
            &[("http-metrics", 3100, 3100), ("grpc", 9095, 9095)],
            Some("single-binary"),
        ),
    ];
    for (name, image, ports, component) in addons {
        let mut selector =
            json!({"app.kubernetes.io/name": name, "app.kubernetes.io/instance": name});
        if let Some(c) = component {
            selector["app.kubernetes.io/component"] = json!(c);
        }
        let mut labels = selector.clone();
        if *name == "kiali" {
            labels["app"] = json!("kiali");
        }
        create(
            store,
            "",
            "v1",
            "serviceaccounts",
            ns,
            service_account(name, labels.clone()),
        )?;
        let cports: Vec<i64> = ports.iter().map(|(_, _, t)| *t).collect();
        let mut pod_labels = labels.clone();
        pod_labels["sidecar.istio.io/inject"] = json!("false");
        let mut d = deployment(Workload {
            name,
            labels: pod_labels,
            service_account: name,
            container: name,
            image: image.clone(),
            ports: &cports,
            requests: None,
        });
        d["spec"]["selector"] = json!({"matchLabels": selector});
        if *name == "loki" {
            d["kind"] = json!("StatefulSet");
            d["spec"]["serviceName"] = json!("loki-headless");
            create(store, "apps", "v1", "statefulsets", ns, d)?;
        } else {
            create(store, "apps", "v1", "deployments", ns, d)?;
        }
        create(
            store,
            "",
            "v1",
            "services",
            ns,
            service(name, labels, selector, "ClusterIP", ports),
        )?;
    }
    // Jaeger all-in-one behind three services.
    let jaeger = json!({"app": "jaeger"});
    let mut jaeger_pod = jaeger.clone();
    jaeger_pod["sidecar.istio.io/inject"] = json!("false");
    create(
        store,
        "apps",
        "v1",
        "deployments",
        ns,
        deployment(Workload {
            name: "jaeger",
            labels: jaeger_pod,
            service_account: "default",
            container: "jaeger",
            image: "docker.io/jaegertracing/jaeger:2.11.0".into(),
            ports: &[16686, 9411, 4317, 4318, 14250, 14268],
            requests: Some(("10m", "40Mi")),
        }),
    )?;
    create(
        store,
        "",
        "v1",
        "services",
        ns,
        service(
            "tracing",
            json!({"app": "jaeger"}),
            jaeger.clone(),
            "ClusterIP",
            &[("http-query", 80, 16686), ("grpc-query", 16685, 16685)],
        ),
    )?;
    create(
        store,
        "",
        "v1",
        "services",
        ns,
        service(
            "zipkin",
            json!({"name": "zipkin"}),
            jaeger.clone(),
            "ClusterIP",
            &[("http-query", 9411, 9411)],
        ),
    )?;
    create(
        store,
        "",
        "v1",
        "services",
        ns,
        service(
            "jaeger-collector",
            json!({"app": "jaeger"}),
            jaeger,
            "ClusterIP",
            &[
                ("jaeger-collector-http", 14268, 14268),
                ("jaeger-collector-grpc", 14250, 14250),
                ("http-zipkin", 9411, 9411),
                ("grpc-otel", 4317, 4317),
                ("http-otel", 4318, 4318),
            ],
        ),
    )?;
    Ok(())
}

/// The Bookinfo sample in `ns`, labelled for injection, with its Gateway and VirtualService.
pub fn install_bookinfo(store: &Store, ns: &str) -> Result<(), ApiError> {
    namespace(store, ns, json!({"istio-injection": "enabled"}))?;
    for svc in ["details", "ratings", "reviews", "productpage"] {
        create(
            store,
            "",
            "v1",
            "services",
            ns,
            service(
                svc,
                json!({"app": svc, "service": svc}),
                json!({"app": svc}),
                "ClusterIP",
                &[("http", 9080, 9080)],
            ),
        )?;
        create(
            store,
            "",
            "v1",
            "serviceaccounts",
            ns,
            service_account(&format!("bookinfo-{svc}"), json!({"account": svc})),
        )?;
    }
    for (app, version) in [
        ("details", "v1"),
        ("ratings", "v1"),
        ("reviews", "v1"),
        ("reviews", "v2"),
        ("reviews", "v3"),
        ("productpage", "v1"),
    ] {
        create(
            store,
            "apps",
            "v1",
            "deployments",
            ns,
            deployment(Workload {
                name: &format!("{app}-{version}"),
                labels: json!({"app": app, "version": version}),
                service_account: &format!("bookinfo-{app}"),
                container: app,
                image: format!("docker.io/istio/examples-bookinfo-{app}-{version}:1.20.3"),
                ports: &[9080],
                requests: None,
            }),
        )?;
    }
    create(
        store,
        "networking.istio.io",
        "v1",
        "gateways",
        ns,
        json!({"apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": {"name": "bookinfo-gateway"},
            "spec": {"selector": {"istio": "ingressgateway"}, "servers": [{"port": {"number": 8080, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}]}}),
    )?;
    create(
        store,
        "networking.istio.io",
        "v1",
        "virtualservices",
        ns,
        json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "bookinfo"},
        "spec": {"hosts": ["*"], "gateways": ["bookinfo-gateway"], "http": [{
            "match": [
                {"uri": {"exact": "/productpage"}},
                {"uri": {"prefix": "/static"}},
                {"uri": {"exact": "/login"}},
                {"uri": {"exact": "/logout"}},
                {"uri": {"prefix": "/api/v1/products"}}
            ],
            "route": [{"destination": {"host": "productpage", "port": {"number": 9080}}}]
        }]}}),
    )?;
    Ok(())
}

/// Istio plus Bookinfo in `default`: what the tutorial ends with.
pub fn bookinfo(store: &Store) -> Result<(), ApiError> {
    install_istio(store)?;
    install_bookinfo(store, "default")
}
