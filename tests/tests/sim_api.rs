//! kube-rs clients against the simulated API server: CRUD, conflicts, the four patch kinds,
//! server-side apply between managers, cascading deletes, watch/reflector recovery after 410,
//! and the errors a real API server gives for bad input.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Client, Config};
use playground_sim::{Scenario, SimCluster, SimOptions};
use serde_json::{Value, json};

async fn start(scenario: Option<Scenario>) -> (SimCluster, Client) {
    let cluster = playground_sim::start(SimOptions {
        scenario,
        ready_delay: Duration::from_millis(100),
        termination_delay: Duration::from_millis(200),
        seed: Some(7),
        bookmark_interval: Duration::from_millis(200),
        latency: false,
        ..Default::default()
    })
    .await
    .expect("sim starts");
    let config = Config::new(cluster.api_url().parse().unwrap());
    let client = Client::try_from(config).unwrap();
    (cluster, client)
}

fn cm(name: &str, labels: Value) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels},
        "data": {"greeting": "hello"}
    }))
    .unwrap()
}

fn api_err(e: kube::Error) -> (u16, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.reason),
        other => panic!("expected an API error, got {other:?}"),
    }
}

async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn deployment(name: &str, image: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name, "version": "v1"}},
                "spec": {"containers": [{"name": "app", "image": image, "env": [{"name": "A", "value": "1"}]}]}
            }
        }
    }))
    .unwrap()
}

#[tokio::test]
async fn create_get_list_replace_conflict_and_delete() {
    let (_c, client) = start(None).await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let created = api
        .create(&PostParams::default(), &cm("one", json!({"tier": "web"})))
        .await
        .unwrap();
    assert!(created.metadata.uid.is_some());
    assert!(created.metadata.creation_timestamp.is_some());
    assert_eq!(
        api_err(
            api.create(&PostParams::default(), &cm("one", json!({})))
                .await
                .unwrap_err()
        ),
        (409, "AlreadyExists".into())
    );
    api.create(&PostParams::default(), &cm("two", json!({"tier": "db"})))
        .await
        .unwrap();

    let got = api.get("one").await.unwrap();
    assert_eq!(got.data.as_ref().unwrap()["greeting"], "hello");
    let web = api
        .list(&ListParams::default().labels("tier in (web,cache)"))
        .await
        .unwrap();
    assert_eq!(web.items.len(), 1);
    let not_web = api
        .list(&ListParams::default().labels("tier!=web"))
        .await
        .unwrap();
    assert_eq!(
        not_web
            .items
            .iter()
            .map(|c| c.metadata.name.clone().unwrap())
            .collect::<Vec<_>>(),
        vec!["kube-root-ca.crt", "two"]
    );
    let by_name = api
        .list(&ListParams::default().fields("metadata.name=two"))
        .await
        .unwrap();
    assert_eq!(by_name.items.len(), 1);

    // Replace with the current resourceVersion works once; the stale copy then conflicts.
    let mut edit = got.clone();
    edit.data = Some([("greeting".to_string(), "bonjour".to_string())].into());
    let replaced = api
        .replace("one", &PostParams::default(), &edit)
        .await
        .unwrap();
    assert_ne!(
        replaced.metadata.resource_version,
        got.metadata.resource_version
    );
    assert_eq!(
        api_err(
            api.replace("one", &PostParams::default(), &edit)
                .await
                .unwrap_err()
        ),
        (409, "Conflict".into())
    );

    api.delete("one", &DeleteParams::default()).await.unwrap();
    assert_eq!(
        api_err(api.get("one").await.unwrap_err()),
        (404, "NotFound".into())
    );
}

#[tokio::test]
async fn list_pages_with_limit_and_continue() {
    let (_c, client) = start(None).await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    for i in 0..5 {
        api.create(
            &PostParams::default(),
            &cm(&format!("page-{i}"), json!({"paged": "yes"})),
        )
        .await
        .unwrap();
    }
    let mut names = vec![];
    let mut lp = ListParams::default().labels("paged").limit(2);
    loop {
        let page = api.list(&lp).await.unwrap();
        assert!(page.items.len() <= 2);
        names.extend(page.items.iter().map(|c| c.metadata.name.clone().unwrap()));
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
            _ => break,
        }
    }
    assert_eq!(
        names,
        (0..5).map(|i| format!("page-{i}")).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn every_patch_kind_applies() {
    let (_c, client) = start(None).await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    api.create(
        &PostParams::default(),
        &deployment("web", "example.org/web:1"),
    )
    .await
    .unwrap();

    // JSON merge patch: maps merge, null deletes.
    let p = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"team": "blue", "app": "web"}}})),
        )
        .await
        .unwrap();
    assert_eq!(p.metadata.labels.unwrap()["team"], "blue");

    // JSON patch (RFC 6902).
    let p = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Json::<()>(
                serde_json::from_value(
                    json!([{"op": "replace", "path": "/spec/replicas", "value": 3}]),
                )
                .unwrap(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(p.spec.as_ref().unwrap().replicas, Some(3));

    // Strategic merge patch merges containers and env by name.
    let p = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "example.org/web:2", "env": [{"name": "B", "value": "2"}]}]}}}})),
        )
        .await
        .unwrap();
    let c = &p.spec.unwrap().template.spec.unwrap().containers[0];
    assert_eq!(c.image.as_deref(), Some("example.org/web:2"));
    let env: Vec<_> = c
        .env
        .as_ref()
        .unwrap()
        .iter()
        .map(|e| e.name.clone())
        .collect();
    assert_eq!(env, vec!["A", "B"]);
    assert_eq!(p.metadata.generation, Some(3));
}

#[tokio::test]
async fn server_side_apply_conflicts_between_managers() {
    let (_c, client) = start(None).await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    let mut alice = serde_json::to_value(deployment("shared", "example.org/app:1")).unwrap();
    alice["spec"]["replicas"] = json!(1);
    let created = api
        .patch(
            "shared",
            &PatchParams::apply("alice"),
            &Patch::Apply(&alice),
        )
        .await
        .unwrap();
    assert_eq!(created.spec.as_ref().unwrap().replicas, Some(1));
    let managers: Vec<_> = created
        .metadata
        .managed_fields
        .unwrap()
        .iter()
        .map(|m| (m.manager.clone().unwrap(), m.operation.clone().unwrap()))
        .collect();
    assert_eq!(managers, vec![("alice".to_string(), "Apply".to_string())]);

    // Applying the same value is shared ownership, not a conflict.
    api.patch(
        "shared",
        &PatchParams::apply("carol"),
        &Patch::Apply(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 1}}),
        ),
    )
    .await
    .unwrap();

    let bob = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "shared"}, "spec": {"replicas": 4}});
    let err = api
        .patch("shared", &PatchParams::apply("bob"), &Patch::Apply(&bob))
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
            assert!(
                s.message.contains("conflict with \"alice\""),
                "{}",
                s.message
            );
            assert!(s.message.contains(".spec.replicas"), "{}", s.message);
        }
        other => panic!("{other:?}"),
    }
    let forced = api
        .patch(
            "shared",
            &PatchParams::apply("bob").force(),
            &Patch::Apply(&bob),
        )
        .await
        .unwrap();
    assert_eq!(forced.spec.unwrap().replicas, Some(4));

    // Alice lost .spec.replicas: her next apply without it leaves bob's value alone.
    alice["spec"].as_object_mut().unwrap().remove("replicas");
    let again = api
        .patch(
            "shared",
            &PatchParams::apply("alice"),
            &Patch::Apply(&alice),
        )
        .await
        .unwrap();
    assert_eq!(again.spec.unwrap().replicas, Some(4));
}

#[tokio::test]
async fn deleting_a_deployment_removes_its_replicasets_and_pods() {
    let (_c, client) = start(None).await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    deploys
        .create(
            &PostParams::default(),
            &deployment("cascade", "example.org/c:1"),
        )
        .await
        .unwrap();
    eventually("two ready pods", || async {
        let l = pods
            .list(&ListParams::default().labels("app=cascade"))
            .await
            .unwrap();
        l.items.len() == 2
            && l.items
                .iter()
                .all(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
    })
    .await;
    let pod = pods
        .list(&ListParams::default().labels("app=cascade"))
        .await
        .unwrap()
        .items
        .remove(0);
    let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(owner.kind, "ReplicaSet");
    assert!(
        pod.metadata
            .name
            .as_ref()
            .unwrap()
            .starts_with(&format!("{}-", owner.name))
    );
    let d = deploys.get("cascade").await.unwrap();
    let st = d.status.unwrap();
    assert_eq!(
        (
            st.ready_replicas,
            st.updated_replicas,
            st.available_replicas
        ),
        (Some(2), Some(2), Some(2))
    );

    deploys
        .delete("cascade", &DeleteParams::background())
        .await
        .unwrap();
    assert!(
        rss.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // Pods terminate gracefully first (Terminating in kubectl), then go.
    let terminating = pods
        .list(&ListParams::default().labels("app=cascade"))
        .await
        .unwrap()
        .items;
    assert_eq!(terminating.len(), 2);
    assert!(
        terminating
            .iter()
            .all(|p| p.metadata.deletion_timestamp.is_some())
    );
    eventually("pods gone", || async {
        pods.list(&ListParams::default().labels("app=cascade"))
            .await
            .unwrap()
            .items
            .is_empty()
    })
    .await;
}

#[tokio::test]
async fn a_deleted_pod_is_recreated_by_its_replicaset() {
    let (_c, client) = start(None).await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    deploys
        .create(
            &PostParams::default(),
            &deployment("phoenix", "example.org/p:1"),
        )
        .await
        .unwrap();
    eventually("two pods", || async {
        pods.list(&ListParams::default().labels("app=phoenix"))
            .await
            .unwrap()
            .items
            .len()
            == 2
    })
    .await;
    let victim = pods
        .list(&ListParams::default().labels("app=phoenix"))
        .await
        .unwrap()
        .items[0]
        .metadata
        .name
        .clone()
        .unwrap();
    pods.delete(&victim, &DeleteParams::default())
        .await
        .unwrap();
    // The replacement is created while the victim is still terminating.
    eventually("a replacement next to the terminating pod", || async {
        let l = pods
            .list(&ListParams::default().labels("app=phoenix"))
            .await
            .unwrap();
        l.items.len() == 3
            && l.items.iter().any(|p| {
                p.metadata.name.as_deref() == Some(victim.as_str())
                    && p.metadata.deletion_timestamp.is_some()
            })
    })
    .await;
    eventually("the victim gone", || async {
        let l = pods
            .list(&ListParams::default().labels("app=phoenix"))
            .await
            .unwrap();
        l.items.len() == 2
            && l.items
                .iter()
                .all(|p| p.metadata.name.as_deref() != Some(victim.as_str()))
    })
    .await;
}

#[tokio::test]
async fn watcher_sees_added_modified_and_deleted() {
    let (_c, client) = start(None).await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut stream = watcher(
        api.clone(),
        watcher::Config::default().labels("watched=yes"),
    )
    .boxed();
    // Initial list done.
    loop {
        if let watcher::Event::InitDone = stream.try_next().await.unwrap().unwrap() {
            break;
        }
    }
    api.create(&PostParams::default(), &cm("w", json!({"watched": "yes"})))
        .await
        .unwrap();
    api.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"greeting": "hi"}})),
    )
    .await
    .unwrap();
    api.delete("w", &DeleteParams::default()).await.unwrap();
    let mut seen = vec![];
    while seen.len() < 3 {
        let ev = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
            .await
            .expect("event in time")
            .unwrap()
            .unwrap();
        match ev {
            watcher::Event::Apply(c) => seen.push(format!("apply:{}", c.data.unwrap()["greeting"])),
            watcher::Event::Delete(_) => seen.push("delete".to_string()),
            _ => {}
        }
    }
    assert_eq!(seen, vec!["apply:hello", "apply:hi", "delete"]);
}

#[tokio::test]
async fn reflector_recovers_after_the_watch_cache_expires() {
    let (cluster, client) = start(None).await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let (reader, writer) = reflector::store::<ConfigMap>();
    let stream = reflector(
        writer,
        watcher(api.clone(), watcher::Config::default()).default_backoff(),
    )
    .applied_objects();
    let task = tokio::spawn(async move {
        futures::pin_mut!(stream);
        while stream.next().await.is_some() {}
    });
    api.create(&PostParams::default(), &cm("before", json!({})))
        .await
        .unwrap();
    eventually("reflector sees 'before'", || async {
        reader
            .state()
            .iter()
            .any(|c| c.metadata.name.as_deref() == Some("before"))
    })
    .await;

    // A raw watch from an old resourceVersion now gets 410 Gone in-stream.
    let old_rv = api
        .get("before")
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    cluster.expire_watches();
    let url = format!(
        "{}/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={old_rv}",
        cluster.api_url()
    );
    let body = reqwest::get(&url).await.unwrap().text().await.unwrap();
    let ev: Value = serde_json::from_str(body.lines().next().unwrap()).unwrap();
    assert_eq!(ev["type"], "ERROR");
    assert_eq!(ev["object"]["code"], 410);
    assert_eq!(ev["object"]["reason"], "Expired");

    // The reflector relists and keeps going.
    api.create(&PostParams::default(), &cm("after", json!({})))
        .await
        .unwrap();
    api.delete("before", &DeleteParams::default())
        .await
        .unwrap();
    eventually("reflector sees 'after' and not 'before'", || async {
        let names: Vec<_> = reader
            .state()
            .iter()
            .filter_map(|c| c.metadata.name.clone())
            .collect();
        names.contains(&"after".to_string()) && !names.contains(&"before".to_string())
    })
    .await;
    task.abort();
}

#[tokio::test]
async fn raw_watch_sends_initial_events_and_bookmarks() {
    let (cluster, client) = start(None).await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &cm("x", json!({})))
        .await
        .unwrap();
    let url = format!(
        "{}/api/v1/namespaces/default/configmaps?watch=1&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=1",
        cluster.api_url()
    );
    let body = reqwest::get(&url).await.unwrap().text().await.unwrap();
    let events: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "ADDED")
        .map(|e| e["object"]["metadata"]["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"x"));
    let first_bookmark = events
        .iter()
        .find(|e| e["type"] == "BOOKMARK")
        .expect("a bookmark");
    assert_eq!(
        first_bookmark["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    assert!(
        events.iter().filter(|e| e["type"] == "BOOKMARK").count() >= 2,
        "periodic bookmarks too: {body}"
    );
}

#[tokio::test]
async fn bad_input_gets_the_errors_a_real_api_server_gives() {
    let (cluster, client) = start(None).await;
    let http = reqwest::Client::new();
    let base = cluster.api_url();
    let send = |method: reqwest::Method, path: &str, ct: &str, body: &str| {
        http.request(method, format!("{base}{path}"))
            .header("content-type", ct)
            .body(body.to_string())
            .send()
    };
    let status = |r: reqwest::Response| async move {
        let code = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["kind"], "Status");
        assert_eq!(v["code"], code);
        (code, v["reason"].as_str().unwrap().to_string())
    };
    let cms = "/api/v1/namespaces/default/configmaps";
    assert_eq!(
        status(
            send(reqwest::Method::POST, cms, "application/json", "{not json")
                .await
                .unwrap()
        )
        .await,
        (400, "BadRequest".into())
    );
    assert_eq!(
        status(
            send(reqwest::Method::POST, cms, "application/json", "[1,2]")
                .await
                .unwrap()
        )
        .await,
        (400, "BadRequest".into())
    );
    assert_eq!(
        status(
            send(
                reqwest::Method::POST,
                cms,
                "application/json",
                r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"a"}}"#
            )
            .await
            .unwrap()
        )
        .await,
        (400, "BadRequest".into())
    );
    assert_eq!(
        status(
            send(
                reqwest::Method::POST,
                cms,
                "application/json",
                r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Not_Valid"}}"#
            )
            .await
            .unwrap()
        )
        .await,
        (422, "Invalid".into())
    );
    assert_eq!(
        status(
            send(
                reqwest::Method::POST,
                cms,
                "application/yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: [oops"
            )
            .await
            .unwrap()
        )
        .await,
        (400, "BadRequest".into())
    );
    assert_eq!(
        status(
            send(
                reqwest::Method::GET,
                "/apis/example.com/v1/widgets",
                "application/json",
                ""
            )
            .await
            .unwrap()
        )
        .await,
        (404, "NotFound".into())
    );
    assert_eq!(
        status(
            send(
                reqwest::Method::GET,
                "/api/v1/namespaces/default/gizmos",
                "application/json",
                ""
            )
            .await
            .unwrap()
        )
        .await,
        (404, "NotFound".into())
    );
    assert_eq!(
        status(
            send(
                reqwest::Method::POST,
                "/api/v1/namespaces/nowhere/configmaps",
                "application/json",
                r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}"#
            )
            .await
            .unwrap()
        )
        .await,
        (404, "NotFound".into())
    );
    assert_eq!(
        status(
            send(
                reqwest::Method::GET,
                &format!("{cms}?labelSelector=a%20in%20b"),
                "application/json",
                ""
            )
            .await
            .unwrap()
        )
        .await,
        (400, "BadRequest".into())
    );
    // Patches: bad media type, malformed YAML for apply, strategic merge on a custom resource.
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &cm("p", json!({})))
        .await
        .unwrap();
    assert_eq!(
        status(
            send(
                reqwest::Method::PATCH,
                &format!("{cms}/p"),
                "text/plain",
                "x"
            )
            .await
            .unwrap()
        )
        .await,
        (415, "UnsupportedMediaType".into())
    );
    assert_eq!(
        status(
            send(
                reqwest::Method::PATCH,
                &format!("{cms}/p?fieldManager=t"),
                "application/apply-patch+yaml",
                "a: ["
            )
            .await
            .unwrap()
        )
        .await,
        (400, "BadRequest".into())
    );
    assert_eq!(
        status(
            send(
                reqwest::Method::PATCH,
                &format!("{cms}/p"),
                "application/json-patch+json",
                r#"[{"op":"replace","path":"/nope/deeper","value":1}]"#
            )
            .await
            .unwrap()
        )
        .await,
        (422, "Invalid".into())
    );
    assert_eq!(
        status(
            send(
                reqwest::Method::PATCH,
                &format!("{cms}/p"),
                "application/merge-patch+json",
                r#"{"metadata":{"resourceVersion":"1"},"data":{"k":"v"}}"#
            )
            .await
            .unwrap()
        )
        .await,
        (409, "Conflict".into())
    );
    // The store is intact after all of that.
    assert_eq!(
        api.get("p").await.unwrap().data,
        Some([("greeting".to_string(), "hello".to_string())].into())
    );
}

#[tokio::test]
async fn crds_register_their_kinds_and_reject_strategic_merge() {
    let (cluster, client) = start(None).await;
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> = Api::all(client.clone());
    for c in playground_sim::test_support::istio_crds() {
        crds.create(&PostParams::default(), &serde_json::from_value(c).unwrap())
            .await
            .unwrap();
    }
    let discovery = kube::Discovery::new(client.clone()).run().await.unwrap();
    let groups: Vec<String> = discovery.groups().map(|g| g.name().to_string()).collect();
    for g in [
        "networking.istio.io",
        "security.istio.io",
        "telemetry.istio.io",
    ] {
        assert!(groups.contains(&g.to_string()), "{g} in {groups:?}");
    }
    let (vs_res, _) = discovery
        .resolve_gvk(&kube::api::GroupVersionKind::gvk(
            "networking.istio.io",
            "v1",
            "VirtualService",
        ))
        .unwrap();
    let vs: Api<kube::api::DynamicObject> =
        Api::namespaced_with(client.clone(), "default", &vs_res);
    let obj: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "reviews"},
        "spec": {"hosts": ["reviews"], "http": [{"route": [{"destination": {"host": "reviews", "subset": "v1"}}]}]}
    }))
    .unwrap();
    vs.create(&PostParams::default(), &obj).await.unwrap();
    let err = vs
        .patch(
            "reviews",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"hosts": ["x"]}})),
        )
        .await
        .unwrap_err();
    assert_eq!(api_err(err).0, 415);
    // Deleting the CRD removes the kind and its objects.
    crds.delete(
        "virtualservices.networking.istio.io",
        &DeleteParams::default(),
    )
    .await
    .unwrap();
    let r = reqwest::get(format!(
        "{}/apis/networking.istio.io/v1/namespaces/default/virtualservices",
        cluster.api_url()
    ))
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 404);
}

#[tokio::test]
async fn bookinfo_pods_get_native_sidecars_and_endpoints() {
    let (_c, client) = start(Some(Scenario::Bookinfo)).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    eventually("six bookinfo pods ready", || async {
        let l = pods.list(&ListParams::default()).await.unwrap();
        l.items.len() == 6
            && l.items
                .iter()
                .all(|p| p.status.as_ref().and_then(|s| s.pod_ip.as_ref()).is_some())
    })
    .await;
    let p = pods
        .list(&ListParams::default().labels("app=reviews,version=v2"))
        .await
        .unwrap()
        .items
        .remove(0);
    assert!(p.metadata.name.as_ref().unwrap().starts_with("reviews-v2-"));
    let inits = p.spec.as_ref().unwrap().init_containers.clone().unwrap();
    let proxy = inits
        .iter()
        .find(|c| c.name == "istio-proxy")
        .expect("native sidecar");
    assert_eq!(proxy.restart_policy.as_deref(), Some("Always"));
    let status: Value =
        serde_json::from_str(&p.metadata.annotations.as_ref().unwrap()["sidecar.istio.io/status"])
            .unwrap();
    assert!(
        status["initContainers"]
            .as_array()
            .unwrap()
            .contains(&json!("istio-proxy"))
    );
    assert_eq!(
        p.spec.unwrap().service_account_name.as_deref(),
        Some("bookinfo-reviews")
    );

    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
    let s = slices
        .list(&ListParams::default().labels("kubernetes.io/service-name=reviews"))
        .await
        .unwrap()
        .items
        .remove(0);
    let s = serde_json::to_value(&s).unwrap();
    assert_eq!(s["endpoints"].as_array().unwrap().len(), 3);
    assert_eq!(s["ports"][0]["port"], 9080);

    // istio-system pods opt out; the default namespace carries the injection label.
    let sys: Api<Pod> = Api::namespaced(client.clone(), "istio-system");
    let gw = sys
        .list(&ListParams::default().labels("istio=ingressgateway"))
        .await
        .unwrap()
        .items
        .remove(0);
    assert!(gw.spec.unwrap().init_containers.is_none());
    let ns: Api<Namespace> = Api::all(client);
    assert_eq!(
        ns.get("default").await.unwrap().metadata.labels.unwrap()["istio-injection"],
        "enabled"
    );
}

#[tokio::test]
async fn injection_follows_labels_and_existing_pods_keep_what_they_had() {
    let (_c, client) = start(None).await;
    let ns: Api<Namespace> = Api::all(client.clone());
    ns.create(
        &PostParams::default(),
        &serde_json::from_value(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "lab"}}),
        )
        .unwrap(),
    )
    .await
    .unwrap();
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "lab");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "lab");
    deploys
        .create(
            &PostParams::default(),
            &deployment("plain", "example.org/p:1"),
        )
        .await
        .unwrap();
    eventually("plain pods", || async {
        pods.list(&ListParams::default().labels("app=plain"))
            .await
            .unwrap()
            .items
            .len()
            == 2
    })
    .await;
    let sidecars = |l: &[Pod]| {
        l.iter()
            .filter(|p| {
                p.spec
                    .as_ref()
                    .unwrap()
                    .init_containers
                    .as_ref()
                    .is_some_and(|c| c.iter().any(|c| c.name == "istio-proxy"))
            })
            .count()
    };
    assert_eq!(
        sidecars(&pods.list(&ListParams::default()).await.unwrap().items),
        0
    );

    // Label the namespace: running pods keep what they had; a restart brings sidecars.
    ns.patch(
        "lab",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"istio-injection": "enabled"}}})),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sidecars(&pods.list(&ListParams::default()).await.unwrap().items),
        0
    );
    deploys
        .patch("plain", &PatchParams::default(), &Patch::Strategic(json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-26T10:00:00Z"}}}}})))
        .await
        .unwrap();
    eventually("restarted pods with sidecars", || async {
        let l = pods
            .list(&ListParams::default().labels("app=plain"))
            .await
            .unwrap()
            .items;
        l.len() == 2 && sidecars(&l) == 2
    })
    .await;

    // The pod opt-out label wins over the namespace.
    let mut opted = deployment("optout", "example.org/o:1");
    opted
        .spec
        .as_mut()
        .unwrap()
        .template
        .metadata
        .as_mut()
        .unwrap()
        .labels
        .as_mut()
        .unwrap()
        .insert("sidecar.istio.io/inject".into(), "false".into());
    deploys
        .create(&PostParams::default(), &opted)
        .await
        .unwrap();
    eventually("opted-out pods", || async {
        pods.list(&ListParams::default().labels("app=optout"))
            .await
            .unwrap()
            .items
            .len()
            == 2
    })
    .await;
    assert_eq!(
        sidecars(
            &pods
                .list(&ListParams::default().labels("app=optout"))
                .await
                .unwrap()
                .items
        ),
        0
    );
}
