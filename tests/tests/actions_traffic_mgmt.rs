//! Istio's traffic management and security tasks as the app's actions, against the
//! simulated Bookinfo: bad input refused with the cluster unchanged, routing and faults
//! observed through the ingress and `kubectl exec ... curl`, timeouts, retries, circuit
//! breakers and mTLS checked as objects in the cluster, undo and reset routing.

mod actions_common;

use std::time::{Duration, Instant};

use actions_common::Bookinfo;
use kube::api::{Api, DynamicObject, ListParams};
use playground::actions::backup::{self, ChangeBackup, ObjectKind};
use playground::actions::breaker::{self, BreakerPlan};
use playground::actions::fault::{self, FaultEffect, FaultKind, FaultPlan};
use playground::actions::mtls::{self, MtlsPlan, MtlsScope, MtlsSetting};
use playground::actions::policy::{self, RetryPlan, TimeoutPlan};
use playground::actions::reset::{self, KeptReason, ResetPlan};
use playground::actions::route::{self, RoutePlan};
use playground::istio::{DestinationRuleSpec, PeerAuthenticationSpec, VirtualServiceSpec};
use playground::kube::istio::api_resource;

/// Every VirtualService, DestinationRule and PeerAuthentication of the cluster, with what a
/// person writes (not what the server changes on every write).
async fn routing_state(b: &Bookinfo) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for ar in [
        api_resource::<VirtualServiceSpec>(),
        api_resource::<DestinationRuleSpec>(),
        api_resource::<PeerAuthenticationSpec>(),
    ] {
        let api: Api<DynamicObject> = Api::all_with(b.client.clone(), &ar);
        for o in api.list(&ListParams::default()).await.unwrap() {
            out.push(serde_json::json!({
                "kind": ar.kind,
                "namespace": o.metadata.namespace,
                "name": o.metadata.name,
                "labels": o.metadata.labels,
                "annotations": o.metadata.annotations,
                "spec": o.data.get("spec"),
            }));
        }
    }
    out
}

fn route_plan(service: &str, to: &str, user: Option<&str>, otherwise: Option<&str>) -> RoutePlan {
    RoutePlan {
        service: service.into(),
        namespace: "default".into(),
        to: to.into(),
        user: user.map(Into::into),
        header: None,
        otherwise: otherwise.map(Into::into),
    }
}

fn fault_plan(kind: Option<FaultKind>, percent: f64, user: Option<&str>) -> FaultPlan {
    FaultPlan {
        service: "ratings".into(),
        namespace: "default".into(),
        fault: kind,
        percent,
        user: user.map(Into::into),
        header: None,
    }
}

/// The product page through the simulated ingress, as a user logged in with Bookinfo's
/// session cookie or anonymously.
async fn page(b: &Bookinfo, user: Option<&str>) -> (u16, String) {
    let mut req = reqwest::Client::new().get(format!("{}/productpage", b.sim.ingress_url()));
    if let Some(u) = user {
        req = req.header("cookie", format!("session={u}"));
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The reviews version the page names ("Reviews served by: reviews-v2-...").
fn served_by(body: &str) -> Option<String> {
    let at = body.find("Reviews served by:")?;
    let rest = &body[at..];
    let start = rest.find("reviews-v")? + "reviews-".len();
    Some(rest[start..start + 2].to_string())
}

async fn versions_seen(b: &Bookinfo, user: Option<&str>, n: usize) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..n {
        let (status, body) = page(b, user).await;
        assert_eq!(status, 200, "{body}");
        let v = served_by(&body).unwrap_or_else(|| panic!("no reviews pod named: {body}"));
        if !seen.contains(&v) {
            seen.push(v);
        }
    }
    seen.sort();
    seen
}

async fn undo(b: &Bookinfo, backup: Option<ChangeBackup>) {
    backup::undo(&b.client, &backup.expect("something was written"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_for_every_action_is_refused_and_the_cluster_is_unchanged() {
    let b = Bookinfo::start().await;
    // Something to protect: reviews routed, with subsets.
    route::apply(&b.client, &route_plan("reviews", "v1", None, None), false)
        .await
        .unwrap();
    let before = routing_state(&b).await;

    let c = &b.client;
    let mut bad_route = route_plan("reviews", "v2", Some("jason"), None);
    bad_route.header = Some("end user".into());
    let mut in_nowhere = route_plan("reviews", "v1", None, None);
    in_nowhere.namespace = "nowhere".into();
    let cases: Vec<(playground::actions::ActionError, &str, &str)> = vec![
        (
            route::apply(c, &route_plan("nope", "v1", None, None), false)
                .await
                .unwrap_err(),
            "unknown_service",
            "no Service nope",
        ),
        (
            route::apply(c, &in_nowhere, false).await.unwrap_err(),
            "unknown_namespace",
            "nowhere",
        ),
        (
            route::apply(c, &route_plan("reviews", "v9", None, None), false)
                .await
                .unwrap_err(),
            "unknown_version",
            "has no version v9",
        ),
        (
            route::apply(c, &bad_route, false).await.unwrap_err(),
            "invalid_header",
            "spaces",
        ),
        (
            fault::apply(
                c,
                &fault_plan(Some(FaultKind::Abort { status: 500 }), 101.0, None),
                false,
            )
            .await
            .unwrap_err(),
            "invalid_percent",
            "101",
        ),
        (
            fault::apply(
                c,
                &fault_plan(Some(FaultKind::Abort { status: 500 }), -5.0, None),
                false,
            )
            .await
            .unwrap_err(),
            "invalid_percent",
            "-5",
        ),
        (
            fault::apply(
                c,
                &fault_plan(Some(FaultKind::Delay { delay: "7".into() }), 100.0, None),
                false,
            )
            .await
            .unwrap_err(),
            "invalid_duration",
            "unit is missing",
        ),
        (
            fault::apply(
                c,
                &fault_plan(Some(FaultKind::Abort { status: 600 }), 100.0, None),
                false,
            )
            .await
            .unwrap_err(),
            "invalid_http_status",
            "600",
        ),
        (
            policy::apply_timeout(
                c,
                &TimeoutPlan {
                    service: "reviews".into(),
                    namespace: "default".into(),
                    timeout: Some("soon".into()),
                },
                false,
            )
            .await
            .unwrap_err(),
            "invalid_duration",
            "soon",
        ),
        (
            policy::apply_retries(
                c,
                &RetryPlan {
                    service: "ratings".into(),
                    namespace: "default".into(),
                    clear: false,
                    attempts: Some(3),
                    per_try_timeout: Some("2s".into()),
                    retry_on: vec!["5xx".into(), "sometimes".into()],
                },
                false,
            )
            .await
            .unwrap_err(),
            "unknown_retry_condition",
            "sometimes",
        ),
        (
            breaker::apply(
                c,
                &BreakerPlan {
                    service: "reviews".into(),
                    namespace: "default".into(),
                    max_connections: Some(0),
                    ..Default::default()
                },
                false,
            )
            .await
            .unwrap_err(),
            "invalid_limit",
            "at least 1",
        ),
        (
            mtls::apply(
                c,
                &MtlsPlan {
                    scope: MtlsScope::Workload {
                        namespace: "default".into(),
                        name: "nothing-here".into(),
                    },
                    mode: Some(MtlsSetting::Strict),
                },
                false,
            )
            .await
            .unwrap_err(),
            "unknown_workload",
            "nothing-here",
        ),
        (
            mtls::apply(
                c,
                &MtlsPlan {
                    scope: MtlsScope::Namespace {
                        namespace: "nowhere".into(),
                    },
                    mode: Some(MtlsSetting::Strict),
                },
                false,
            )
            .await
            .unwrap_err(),
            "unknown_namespace",
            "nowhere",
        ),
    ];
    for (err, code, words) in cases {
        assert_eq!(err.code(), code, "{err}");
        assert!(err.to_string().contains(words), "{code}: {err}");
        assert!(err.hint().is_some(), "{code}");
    }
    assert_eq!(
        routing_state(&b).await,
        before,
        "a refused change must not touch the cluster"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn all_to_v1_then_jason_to_v2_is_seen_through_the_ingress_and_from_a_pod() {
    let b = Bookinfo::start().await;
    let before = routing_state(&b).await;
    assert_eq!(
        versions_seen(&b, None, 30).await,
        ["v1", "v2", "v3"],
        "no routing yet: every version answers"
    );

    let (change, all_v1) = route::apply(&b.client, &route_plan("reviews", "v1", None, None), false)
        .await
        .unwrap();
    assert!(change.applied);
    assert_eq!(
        change
            .applied_objects
            .iter()
            .map(|o| o.kind)
            .collect::<Vec<_>>(),
        [ObjectKind::DestinationRule, ObjectKind::VirtualService]
    );
    assert!(change.kubectl.starts_with("kubectl apply --server-side"));
    // What is shown is valid input for kubectl.
    b.kubectl_in(
        &["apply", "--dry-run=server", "-f", "-"],
        Some(&change.yaml),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(versions_seen(&b, None, 20).await, ["v1"]);
    assert_eq!(versions_seen(&b, Some("jason"), 10).await, ["v1"]);

    let (change, jason) = route::apply(
        &b.client,
        &route_plan("reviews", "v2", Some("jason"), None),
        false,
    )
    .await
    .unwrap();
    assert_eq!(
        change.applied_objects.len(),
        1,
        "the subsets exist: only the VirtualService changes"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(versions_seen(&b, Some("jason"), 20).await, ["v2"]);
    assert_eq!(versions_seen(&b, None, 20).await, ["v1"], "everyone else");

    // From inside the mesh, with the header productpage forwards.
    let out = b.kubectl(&[
        "exec",
        "deploy/ratings-v1",
        "-c",
        "ratings",
        "--",
        "curl",
        "-sS",
        "-H",
        "end-user: jason",
        "productpage:9080/productpage",
    ]);
    assert_eq!(served_by(&out).as_deref(), Some("v2"), "{out}");
    let out = b.kubectl(&[
        "exec",
        "deploy/ratings-v1",
        "-c",
        "ratings",
        "--",
        "curl",
        "-sS",
        "productpage:9080/productpage",
    ]);
    assert_eq!(served_by(&out).as_deref(), Some("v1"), "{out}");

    // Undo, newest first, puts back exactly what was there.
    let after_all_v1 = {
        undo(&b, jason).await;
        routing_state(&b).await
    };
    assert!(
        after_all_v1
            .iter()
            .any(|o| o["kind"] == "VirtualService" && o["name"] == "reviews"),
        "{after_all_v1:#?}"
    );
    assert!(
        !serde_json::to_string(&after_all_v1)
            .unwrap()
            .contains("jason"),
        "jason's route is gone"
    );
    undo(&b, all_v1).await;
    assert_eq!(routing_state(&b).await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ratings_abort_shows_on_the_page_and_jasons_delay_teaches_the_timeout_lesson() {
    let b = Bookinfo::start().await;
    route::apply(
        &b.client,
        &route_plan("reviews", "v2", Some("jason"), Some("v2")),
        false,
    )
    .await
    .unwrap();
    let before = routing_state(&b).await;

    // Preview writes nothing.
    let abort = fault_plan(Some(FaultKind::Abort { status: 500 }), 100.0, None);
    let (preview, none) = fault::apply(&b.client, &abort, true).await.unwrap();
    assert!(none.is_none() && !preview.change.applied);
    assert_eq!(routing_state(&b).await, before);

    let (change, aborted) = fault::apply(&b.client, &abort, false).await.unwrap();
    assert_eq!(
        change.effect,
        Some(FaultEffect::RatingsUnavailable { status: 500 })
    );
    assert!(
        change.change.yaml.contains("httpStatus: 500"),
        "{}",
        change.change.yaml
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..5 {
        let (status, body) = page(&b, None).await;
        assert_eq!(status, 200);
        assert!(
            body.contains("Ratings service is currently unavailable"),
            "{body}"
        );
    }
    undo(&b, aborted).await;
    assert_eq!(routing_state(&b).await, before);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, body) = page(&b, None).await;
    assert!(!body.contains("Ratings service is currently unavailable"));

    // Istio's ratings-test-delay: 7 s for jason only.
    let delay = fault_plan(
        Some(FaultKind::Delay { delay: "7s".into() }),
        100.0,
        Some("jason"),
    );
    let (change, delayed) = fault::apply(&b.client, &delay, false).await.unwrap();
    assert!(matches!(
        change.effect,
        Some(FaultEffect::ProductpageGivesUp {
            page_wait_ms: 6000,
            ..
        })
    ));
    let vs: serde_json::Value =
        serde_json::from_str(&b.kubectl(&["get", "virtualservice", "ratings", "-o", "json"]))
            .unwrap();
    assert_eq!(
        vs["spec"]["http"][0],
        serde_json::json!({
            "match": [{"headers": {"end-user": {"exact": "jason"}}}],
            "route": [{"destination": {"host": "ratings"}}],
            "fault": {"delay": {"fixedDelay": "7s", "percentage": {"value": 100}}}
        })
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, body) = page(&b, None).await;
    assert!(
        !body.contains("unavailable"),
        "others are not delayed: {body}"
    );
    let started = Instant::now();
    let (status, body) = page(&b, Some("jason")).await;
    let took = started.elapsed();
    assert_eq!(status, 200);
    assert!(
        body.contains("Sorry, product reviews are currently unavailable for this book."),
        "{body}"
    );
    assert!(
        took >= Duration::from_millis(5500) && took < Duration::from_secs(9),
        "productpage gives up after two 3 s tries: {took:?}"
    );

    // Clearing it leaves no fault; undoing the clear brings it back, exactly.
    let with_delay = routing_state(&b).await;
    let (_, cleared) = fault::apply(&b.client, &fault_plan(None, 100.0, Some("jason")), false)
        .await
        .unwrap();
    assert!(
        !serde_json::to_string(&routing_state(&b).await)
            .unwrap()
            .contains("fixedDelay")
    );
    undo(&b, cleared).await;
    assert_eq!(routing_state(&b).await, with_delay);
    undo(&b, delayed).await;
    assert_eq!(routing_state(&b).await, before);
}

fn get_json(b: &Bookinfo, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    serde_json::from_str(&b.kubectl(&all)).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn timeouts_retries_breakers_and_mtls_are_written_as_istios_tasks_write_them() {
    let b = Bookinfo::start().await;
    let c = &b.client;
    let before = routing_state(&b).await;
    let mut backups = Vec::new();

    // Request timeouts task: reviews to v2, then 0.5 s on reviews.
    backups.push(
        route::apply(c, &route_plan("reviews", "v2", None, None), false)
            .await
            .unwrap()
            .1,
    );
    let timeout = |t: Option<&str>| TimeoutPlan {
        service: "reviews".into(),
        namespace: "default".into(),
        timeout: t.map(Into::into),
    };
    backups.push(
        policy::apply_timeout(c, &timeout(Some("0.5s")), false)
            .await
            .unwrap()
            .1,
    );
    let vs = get_json(&b, &["virtualservice", "reviews"]);
    assert_eq!(vs["spec"]["http"][0]["timeout"], "0.5s", "{vs}");
    assert_eq!(
        vs["spec"]["http"][0]["route"][0]["destination"]["subset"], "v2",
        "the route is kept"
    );
    // Istio's task: with a 2 s delay on ratings, reviews (v2) now gives up after 0.5 s.
    let (_, slow) = fault::apply(
        c,
        &fault_plan(Some(FaultKind::Delay { delay: "2s".into() }), 100.0, None),
        false,
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let (_, body) = page(&b, None).await;
    assert!(
        body.contains("Sorry, product reviews are currently unavailable for this book."),
        "{body}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(1900),
        "{:?}",
        started.elapsed()
    );
    undo(&b, slow).await;
    // The same again changes nothing and records nothing.
    let (same, none) = policy::apply_timeout(c, &timeout(Some("0.5s")), false)
        .await
        .unwrap();
    assert!(none.is_none() && same.applied_objects.is_empty());

    backups.push(
        policy::apply_retries(
            c,
            &RetryPlan {
                service: "ratings".into(),
                namespace: "default".into(),
                clear: false,
                attempts: Some(3),
                per_try_timeout: Some("2s".into()),
                retry_on: vec!["5xx".into(), "connect-failure".into()],
            },
            false,
        )
        .await
        .unwrap()
        .1,
    );
    let vs = get_json(&b, &["virtualservice", "ratings"]);
    assert_eq!(
        vs["spec"]["http"][0]["retries"],
        serde_json::json!({"attempts": 3, "perTryTimeout": "2s", "retryOn": "5xx,connect-failure"})
    );

    // Circuit breaking task, on reviews, whose subsets must stay.
    let task = BreakerPlan {
        service: "reviews".into(),
        namespace: "default".into(),
        clear: false,
        max_connections: Some(1),
        max_pending_requests: Some(1),
        max_requests_per_connection: Some(1),
        consecutive_5xx_errors: Some(1),
        interval: Some("1s".into()),
        base_ejection_time: Some("3m".into()),
        max_ejection_percent: Some(100),
    };
    backups.push(breaker::apply(c, &task, false).await.unwrap().1);
    let dr = get_json(&b, &["destinationrule", "reviews"]);
    assert_eq!(
        dr["spec"]["trafficPolicy"],
        serde_json::json!({
            "connectionPool": {"tcp": {"maxConnections": 1},
                "http": {"http1MaxPendingRequests": 1, "maxRequestsPerConnection": 1}},
            "outlierDetection": {"consecutive5xxErrors": 1, "interval": "1s",
                "baseEjectionTime": "3m", "maxEjectionPercent": 100}
        })
    );
    assert_eq!(dr["spec"]["subsets"].as_array().unwrap().len(), 3, "{dr}");
    // Routing again keeps the breaker.
    backups.push(
        route::apply(c, &route_plan("reviews", "v3", None, None), false)
            .await
            .unwrap()
            .1,
    );
    let dr = get_json(&b, &["destinationrule", "reviews"]);
    assert!(
        dr["spec"]["trafficPolicy"]["connectionPool"].is_object(),
        "{dr}"
    );
    let cleared = BreakerPlan {
        service: "reviews".into(),
        namespace: "default".into(),
        clear: true,
        ..Default::default()
    };
    backups.push(breaker::apply(c, &cleared, false).await.unwrap().1);
    let dr = get_json(&b, &["destinationrule", "reviews"]);
    assert!(dr["spec"].get("trafficPolicy").is_none(), "{dr}");
    assert_eq!(dr["spec"]["subsets"].as_array().unwrap().len(), 3, "{dr}");

    // mTLS: a namespace, the mesh, one workload.
    let mtls_plan = |scope, mode| MtlsPlan { scope, mode };
    backups.push(
        mtls::apply(
            c,
            &mtls_plan(
                MtlsScope::Namespace {
                    namespace: "default".into(),
                },
                Some(MtlsSetting::Strict),
            ),
            false,
        )
        .await
        .unwrap()
        .1,
    );
    let pa = get_json(&b, &["peerauthentication", "default", "-n", "default"]);
    assert_eq!(pa["spec"], serde_json::json!({"mtls": {"mode": "STRICT"}}));
    backups.push(
        mtls::apply(
            c,
            &mtls_plan(MtlsScope::Mesh, Some(MtlsSetting::Permissive)),
            false,
        )
        .await
        .unwrap()
        .1,
    );
    let pa = get_json(&b, &["peerauthentication", "default", "-n", "istio-system"]);
    assert_eq!(pa["spec"]["mtls"]["mode"], "PERMISSIVE");
    backups.push(
        mtls::apply(
            c,
            &mtls_plan(
                MtlsScope::Workload {
                    namespace: "default".into(),
                    name: "reviews-v2".into(),
                },
                Some(MtlsSetting::Disable),
            ),
            false,
        )
        .await
        .unwrap()
        .1,
    );
    let pa = get_json(&b, &["peerauthentication", "reviews-v2", "-n", "default"]);
    assert_eq!(pa["spec"]["mtls"]["mode"], "DISABLE");
    assert_eq!(
        pa["spec"]["selector"]["matchLabels"]["version"], "v2",
        "the Deployment's own selector: {pa}"
    );
    let (change, removed) = mtls::apply(
        c,
        &mtls_plan(
            MtlsScope::Namespace {
                namespace: "default".into(),
            },
            None,
        ),
        false,
    )
    .await
    .unwrap();
    assert_eq!(
        change.kubectl,
        "kubectl delete peerauthentications default -n default"
    );
    backups.push(removed);
    let left = b.kubectl(&["get", "peerauthentications", "-A", "-o", "name"]);
    assert_eq!(left.lines().count(), 2, "{left}");

    // Undo everything, newest first: exactly as before.
    for backup in backups.into_iter().rev() {
        undo(&b, backup).await;
    }
    assert_eq!(routing_state(&b).await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_routing_lists_first_then_removes_only_what_the_app_wrote() {
    let b = Bookinfo::start().await;
    let c = &b.client;
    let setup = routing_state(&b).await;
    route::apply(
        c,
        &route_plan("reviews", "v2", Some("jason"), Some("v1")),
        false,
    )
    .await
    .unwrap();
    fault::apply(
        c,
        &fault_plan(Some(FaultKind::Abort { status: 500 }), 50.0, None),
        false,
    )
    .await
    .unwrap();
    mtls::apply(
        c,
        &MtlsPlan {
            scope: MtlsScope::Mesh,
            mode: Some(MtlsSetting::Strict),
        },
        false,
    )
    .await
    .unwrap();
    // The user's own object, applied with kubectl (Istio's destination-rule-all for details).
    b.kubectl_in(
        &["apply", "-f", "-"],
        Some("apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: details, namespace: default}\nspec:\n  host: details\n  subsets:\n  - {name: v1, labels: {version: v1}}\n"),
    );
    let before = routing_state(&b).await;

    let (dry, none) = reset::reset(c, &ResetPlan::default(), true).await.unwrap();
    assert!(none.is_none() && !dry.change.applied);
    let names = |ids: &[playground::actions::backup::ObjectId]| {
        let mut v: Vec<String> = ids
            .iter()
            .map(|o| format!("{:?} {}/{}", o.kind, o.namespace, o.name))
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        names(&dry.removed),
        [
            "DestinationRule default/reviews",
            "PeerAuthentication istio-system/default",
            "VirtualService default/ratings",
            "VirtualService default/reviews",
        ]
    );
    let kept: Vec<(String, KeptReason)> = dry
        .kept
        .iter()
        .map(|k| (format!("{:?} {}", k.object.kind, k.object.name), k.reason))
        .collect();
    assert_eq!(
        kept,
        [
            (
                "VirtualService bookinfo".to_string(),
                KeptReason::IngressRouting
            ),
            (
                "DestinationRule details".to_string(),
                KeptReason::NotWrittenByApp
            ),
        ]
    );
    assert!(
        dry.change
            .kubectl
            .contains("kubectl delete virtualservices reviews -n default"),
        "{}",
        dry.change.kubectl
    );
    assert_eq!(routing_state(&b).await, before, "a dry run deletes nothing");

    let (done, backup) = reset::reset(c, &ResetPlan::default(), false).await.unwrap();
    assert!(done.change.applied);
    let mut expected = setup.clone();
    expected.extend(
        before
            .iter()
            .filter(|o| o["name"] == "details" && o["kind"] == "DestinationRule")
            .cloned(),
    );
    let mut now = routing_state(&b).await;
    let key = |o: &serde_json::Value| format!("{}{}{}", o["kind"], o["namespace"], o["name"]);
    now.sort_by_key(key);
    expected.sort_by_key(key);
    assert_eq!(now, expected, "setup's routing and the user's object only");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, body) = page(&b, Some("jason")).await;
    assert!(served_by(&body).is_some(), "the shop still answers: {body}");

    // The reset itself can be undone.
    undo(&b, backup).await;
    let mut restored = routing_state(&b).await;
    let mut before_sorted = before.clone();
    restored.sort_by_key(key);
    before_sorted.sort_by_key(key);
    assert_eq!(restored, before_sorted);
}

/// The generator logs in as jason (Bookinfo's POST /login, then its session cookie) for half
/// of its requests: with virtual-service-reviews-test-v2 (jason to v2, everyone else to v1)
/// about half of the answers come from reviews v2, and none from v3.
#[tokio::test(flavor = "multi_thread")]
async fn the_generator_logged_in_as_jason_for_half_its_requests_gets_v2_half_the_time() {
    use playground::traffic::{self, TrafficSettings};
    let b = Bookinfo::start().await;
    route::apply(
        &b.client,
        &route_plan("reviews", "v2", Some("jason"), Some("v1")),
        false,
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let n = 200.0;
    let rate = 100.0;
    let settings = |user_share| TrafficSettings {
        rate,
        concurrency: 32,
        duration_secs: Some(n / rate),
        user: Some("jason".into()),
        user_share,
    };
    let run = traffic::start(&b.sim.ingress_url(), settings(Some(50.0)), |_| {}).unwrap();
    let stats = run.finish().await;
    assert_eq!(stats.statuses.get("200"), Some(&(n as u64)), "{stats:?}");
    let v2 = stats.versions_total.get("v2").copied().unwrap_or(0);
    let v1 = stats.versions_total.get("v1").copied().unwrap_or(0);
    assert_eq!(v1 + v2, n as u64, "only v1 and v2 answer: {stats:?}");
    // The share is spread evenly over the requests, so it is exact, not about.
    assert_eq!(v2, 100, "{stats:?}");

    // Without a share every request is jason's; with 0 none is.
    let all = traffic::start(&b.sim.ingress_url(), settings(None), |_| {})
        .unwrap()
        .finish()
        .await;
    assert_eq!(all.versions_total.get("v2"), Some(&(n as u64)), "{all:?}");
    let none = traffic::start(&b.sim.ingress_url(), settings(Some(0.0)), |_| {})
        .unwrap()
        .finish()
        .await;
    assert_eq!(none.versions_total.get("v1"), Some(&(n as u64)), "{none:?}");
}

/// The mTLS lesson's two clients: deployed by the app (a namespace without injection and
/// Bookinfo's), curl run in them through the exec API. PERMISSIVE: both get 200. STRICT on
/// default: the client without a sidecar is reset (curl exit 56, no status), the one inside
/// keeps getting 200. A second run reuses the clients.
#[tokio::test(flavor = "multi_thread")]
async fn strict_refuses_the_client_outside_the_mesh_and_not_the_one_inside() {
    use playground::actions::client::{self, ClientPlace, ClientProbe};
    let b = Bookinfo::start().await;
    let probe = ClientProbe {
        service: "productpage".into(),
        namespace: "default".into(),
        path: Some("/productpage".into()),
    };
    let first = client::probe(&b.client, &probe).await.unwrap();
    assert_eq!(first.url, "http://productpage.default:9080/productpage");
    assert_eq!(
        first.created,
        [
            "Namespace outside-mesh",
            "Deployment outside-mesh/curl-client",
            "Deployment default/curl-client"
        ]
    );
    assert_eq!(first.outside.place, ClientPlace::Outside);
    assert!(!first.outside.sidecar, "{first:?}");
    assert!(first.inside.sidecar, "{first:?}");
    assert_eq!(first.outside.status, Some(200), "{first:?}");
    assert_eq!(first.inside.status, Some(200), "{first:?}");
    assert_eq!(first.outside.exit_code, 0);
    assert!(
        first
            .outside
            .kubectl
            .starts_with("kubectl exec -n outside-mesh deploy/curl-client -c curl -- curl -sS"),
        "{}",
        first.outside.kubectl
    );

    mtls::apply(
        &b.client,
        &MtlsPlan {
            scope: MtlsScope::Namespace {
                namespace: "default".into(),
            },
            mode: Some(MtlsSetting::Strict),
        },
        false,
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let strict = client::probe(&b.client, &probe).await.unwrap();
    assert!(strict.created.is_empty(), "the clients are reused");
    assert_eq!(strict.outside.status, None, "{strict:?}");
    assert_eq!(strict.outside.exit_code, 56, "{strict:?}");
    assert!(
        strict.outside.error.contains("Connection reset by peer"),
        "{strict:?}"
    );
    assert_eq!(strict.inside.status, Some(200), "{strict:?}");

    // What the clients' kubectl line says is what a person can run, with the same result.
    let home = tempfile::tempdir().unwrap();
    let run = playground_tests::kubectl_run(
        &b.kubeconfig,
        home.path(),
        &[
            "exec",
            "-n",
            "outside-mesh",
            "deploy/curl-client",
            "-c",
            "curl",
            "--",
            "curl",
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "productpage.default:9080/productpage",
        ],
    );
    assert_eq!(run.code, Some(56), "{run:?}");
    assert_eq!(run.stdout, "000", "{run:?}");
    assert!(
        run.stderr
            .contains("curl: (56) Recv failure: Connection reset by peer"),
        "{run:?}"
    );

    let bad = client::probe(
        &b.client,
        &ClientProbe {
            service: "no such".into(),
            ..probe.clone()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(bad.code(), playground::ErrorCode::UnknownService);
    assert_eq!(
        client::remove(&b.client).await.unwrap(),
        ["Deployment default/curl-client", "Namespace outside-mesh"]
    );
}
