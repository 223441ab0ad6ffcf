//! The simulated ingress gateway and Bookinfo data plane, routed by live Istio config.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::{Client, Config};
use playground::traffic::served_by;
use playground_sim::{Scenario, SimCluster, SimOptions};
use serde_json::{Value, json};

async fn bookinfo() -> (SimCluster, Client) {
    let cluster = playground_sim::start(SimOptions {
        scenario: Some(Scenario::Bookinfo),
        ready_delay: Duration::from_millis(50),
        seed: Some(2026),
        ..Default::default()
    })
    .await
    .expect("sim starts");
    let client = Client::try_from(Config::new(cluster.api_url().parse().unwrap())).unwrap();
    // Wait until productpage answers with every reviews version reachable.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = reqwest::get(format!("{}/productpage", cluster.ingress_url()))
            .await
            .unwrap();
        let ready = cluster
            .store()
            .all("", "pods")
            .iter()
            .filter(|p| p.pointer("/status/podIP").is_some())
            .count();
        if r.status() == 200 && ready >= 14 {
            break;
        }
        assert!(Instant::now() < deadline, "bookinfo never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (cluster, client)
}

async fn apply(client: &Client, obj: Value) {
    let kind = obj["kind"].as_str().unwrap();
    let (group, version) = obj["apiVersion"].as_str().unwrap().split_once('/').unwrap();
    let plural = format!("{}s", kind.to_lowercase());
    let ar =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), &plural);
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let name = obj["metadata"]["name"].as_str().unwrap().to_string();
    api.patch(
        &name,
        &PatchParams::apply("sim-dataplane-test").force(),
        &Patch::Apply(&obj),
    )
    .await
    .unwrap();
}

async fn reviews_subsets(client: &Client) {
    apply(
        client,
        json!({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": {"name": "reviews"},
            "spec": {"host": "reviews", "subsets": [
                {"name": "v1", "labels": {"version": "v1"}},
                {"name": "v2", "labels": {"version": "v2"}},
                {"name": "v3", "labels": {"version": "v3"}}
            ]}}),
    )
    .await;
}

async fn count_versions(ingress: &str, n: usize, cookie: Option<&str>) -> BTreeMap<String, usize> {
    let http = reqwest::Client::new();
    let mut counts = BTreeMap::new();
    let mut pending = futures::stream::FuturesUnordered::new();
    use futures::StreamExt;
    let url = format!("{ingress}/productpage");
    for i in 0..n {
        let mut req = http.get(&url);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        pending.push(async move { req.send().await.unwrap().text().await.unwrap() });
        if pending.len() >= 50 || i == n - 1 {
            while let Some(html) = pending.next().await {
                let v = served_by(&html).unwrap_or_else(|| "none".into());
                *counts.entry(v).or_default() += 1;
            }
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread")]
async fn productpage_names_the_reviews_pod_that_answered() {
    let (cluster, _client) = bookinfo().await;
    let r = reqwest::get(format!("{}/productpage", cluster.ingress_url()))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["server"], "istio-envoy");
    let html = r.text().await.unwrap();
    assert!(html.contains("<title>Simple Bookstore App</title>"));
    let i = html.find("Reviews served by:").expect("served-by line");
    let pod: String = html[i..]
        .split("<u>")
        .nth(1)
        .unwrap()
        .split("</u>")
        .next()
        .unwrap()
        .to_string();
    let pods: Vec<String> = cluster
        .store()
        .all("", "pods")
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert!(pods.contains(&pod), "{pod} is a real pod name");
    match served_by(&html).unwrap().as_str() {
        "v1" => assert!(!html.contains("<font color")),
        "v2" => assert!(html.contains("<font color=\"black\">")),
        "v3" => assert!(html.contains("<font color=\"red\">")),
        other => panic!("{other}"),
    }
    // Paths the gateway's VirtualService does not route get Envoy's 404.
    let r = reqwest::get(format!("{}/admin", cluster.ingress_url()))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = reqwest::get(format!("{}/api/v1/products", cluster.ingress_url()))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_virtual_service_reviews_spread_evenly() {
    let (cluster, _client) = bookinfo().await;
    let counts = count_versions(&cluster.ingress_url(), 600, None).await;
    for v in ["v1", "v2", "v3"] {
        let c = counts.get(v).copied().unwrap_or(0);
        assert!((150..=250).contains(&c), "{v}: {c} of 600 ({counts:?})");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_60_30_10_split_holds_over_1000_requests() {
    let (cluster, client) = bookinfo().await;
    reviews_subsets(&client).await;
    apply(
        &client,
        json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "reviews"},
            "spec": {"hosts": ["reviews"], "http": [{"route": [
                {"destination": {"host": "reviews", "subset": "v1"}, "weight": 60},
                {"destination": {"host": "reviews", "subset": "v2"}, "weight": 30},
                {"destination": {"host": "reviews", "subset": "v3"}, "weight": 10}
            ]}]}}),
    )
    .await;
    let started = Instant::now();
    let counts = count_versions(&cluster.ingress_url(), 1000, None).await;
    let share = |v: &str| counts.get(v).copied().unwrap_or(0) as f64 / 10.0;
    assert!((share("v1") - 60.0).abs() <= 4.0, "{counts:?}");
    assert!((share("v2") - 30.0).abs() <= 4.0, "{counts:?}");
    assert!((share("v3") - 10.0).abs() <= 3.0, "{counts:?}");
    assert_eq!(counts.values().sum::<usize>(), 1000);
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[tokio::test(flavor = "multi_thread")]
async fn header_match_sends_the_signed_in_user_to_v2() {
    let (cluster, client) = bookinfo().await;
    reviews_subsets(&client).await;
    apply(
        &client,
        json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "reviews"},
            "spec": {"hosts": ["reviews"], "http": [
                {"match": [{"headers": {"end-user": {"exact": "jason"}}}], "route": [{"destination": {"host": "reviews", "subset": "v2"}}]},
                {"route": [{"destination": {"host": "reviews", "subset": "v1"}}]}
            ]}}),
    )
    .await;
    assert_eq!(
        count_versions(&cluster.ingress_url(), 30, Some("session=jason")).await,
        BTreeMap::from([("v2".to_string(), 30)])
    );
    assert_eq!(
        count_versions(&cluster.ingress_url(), 30, None).await,
        BTreeMap::from([("v1".to_string(), 30)])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_and_missing_upstreams_fail_like_envoy() {
    let (cluster, client) = bookinfo().await;
    reviews_subsets(&client).await;
    let ingress = cluster.ingress_url();
    // Ratings aborts: reviews v2 still answers, without stars.
    apply(
        &client,
        json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "ratings"},
            "spec": {"hosts": ["ratings"], "http": [{"fault": {"abort": {"httpStatus": 500, "percentage": {"value": 100.0}}}, "route": [{"destination": {"host": "ratings"}}]}]}}),
    )
    .await;
    apply(
        &client,
        json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "reviews"},
            "spec": {"hosts": ["reviews"], "http": [{"route": [{"destination": {"host": "reviews", "subset": "v2"}}]}]}}),
    )
    .await;
    let html = reqwest::get(format!("{ingress}/productpage"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Ratings service is currently unavailable"),
        "{html}"
    );

    // Details is delayed: the page takes at least that long.
    apply(
        &client,
        json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "details"},
            "spec": {"hosts": ["details"], "http": [{"fault": {"delay": {"fixedDelay": "300ms", "percentage": {"value": 100}}}, "route": [{"destination": {"host": "details"}}]}]}}),
    )
    .await;
    let t = Instant::now();
    let r = reqwest::get(format!("{ingress}/productpage"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );

    // A subset that selects no pod: reviews fail, the page says so.
    apply(
        &client,
        json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "reviews"},
            "spec": {"hosts": ["reviews"], "http": [{"route": [{"destination": {"host": "reviews", "subset": "v9"}}]}]}}),
    )
    .await;
    let html = reqwest::get(format!("{ingress}/productpage"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Error fetching product reviews!"), "{html}");

    // At the gateway: an abort on the bookinfo route returns its status to the client, and a
    // subset with no ready pods answers 503 no healthy upstream.
    apply(
        &client,
        json!({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": {"name": "productpage"},
            "spec": {"host": "productpage", "subsets": [{"name": "v1", "labels": {"version": "v1"}}, {"name": "v7", "labels": {"version": "v7"}}]}}),
    )
    .await;
    let mut bookinfo_vs = json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "bookinfo"},
        "spec": {"hosts": ["*"], "gateways": ["bookinfo-gateway"], "http": [{"match": [{"uri": {"exact": "/productpage"}}],
            "fault": {"abort": {"httpStatus": 418, "percentage": {"value": 100}}},
            "route": [{"destination": {"host": "productpage", "port": {"number": 9080}}}]}]}});
    apply(&client, bookinfo_vs.clone()).await;
    let r = reqwest::get(format!("{ingress}/productpage"))
        .await
        .unwrap();
    assert_eq!(r.status(), 418);
    assert_eq!(r.text().await.unwrap(), "fault filter abort");
    bookinfo_vs["spec"]["http"][0]
        .as_object_mut()
        .unwrap()
        .remove("fault");
    bookinfo_vs["spec"]["http"][0]["route"][0]["destination"]["subset"] = json!("v7");
    apply(&client, bookinfo_vs).await;
    let r = reqwest::get(format!("{ingress}/productpage"))
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.text().await.unwrap(), "no healthy upstream");
}
