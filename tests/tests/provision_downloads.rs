//! The Tools step against a local download site: a good release is verified, unpacked and
//! kept; a truncated file and a wrong checksum are refused and leave nothing behind; the
//! next run after a failure downloads again and then nothing more.

mod provision_common;

use playground::provision::{CancellationToken, StepId, StepState, setup_steps};
use provision_common::*;

fn addon(name: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: istio-system\nspec:\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: {name}\n        image: example/{name}:1\n"
    )
}

fn release() -> Vec<u8> {
    let mut files: Vec<(&str, String)> = vec![
        ("samples/addons/prometheus.yaml", addon("prometheus")),
        ("samples/addons/grafana.yaml", addon("grafana")),
        ("samples/addons/jaeger.yaml", addon("jaeger")),
        ("samples/addons/kiali.yaml", addon("kiali")),
        ("samples/addons/loki.yaml", addon("loki")),
        ("samples/addons/extras/zipkin.yaml", addon("zipkin")),
        (
            "samples/bookinfo/platform/kube/bookinfo.yaml",
            addon("productpage-v1"),
        ),
        (
            "samples/bookinfo/networking/bookinfo-gateway.yaml",
            String::new(),
        ),
    ];
    files.push((
        "samples/bookinfo/networking/virtual-service-all-v1.yaml",
        String::new(),
    ));
    istio_archive("#!/bin/sh\necho 'client version: 1.30.3'\n", &files)
}

const KIND: &str = "#!/bin/sh\necho 'kind v0.32.0 go1.25.4 linux/amd64'\n";

#[tokio::test]
async fn a_good_release_is_verified_unpacked_and_kept_for_next_time() {
    let site = Site::start().await;
    serve_kind(&site, KIND);
    serve_istio(&site, &release());
    let home = tempfile::tempdir().unwrap();
    let cfg = config(home.path(), &site, "dl-good", "unused");
    let (sink, events) = recorder();
    setup_steps(
        cfg.clone(),
        &[StepId::Tools],
        sink,
        CancellationToken::new(),
    )
    .await
    .unwrap();

    let kind = home.path().join("tools/kind-v0.32.0");
    assert_eq!(read(&kind), KIND);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(kind.metadata().unwrap().permissions().mode() & 0o111, 0o111);
    let istioctl = home.path().join("tools/istioctl-1.30.3");
    assert!(read(&istioctl).contains("client version: 1.30.3"));
    let istio = home.path().join("istio-1.30.3");
    assert!(read(istio.join("samples/addons/kiali.yaml")).contains("name: kiali"));
    assert!(
        istio
            .join("samples/bookinfo/networking/bookinfo-gateway.yaml")
            .is_file()
    );
    // Only what the playground uses is unpacked.
    assert!(!istio.join("README.md").exists());
    assert!(!istio.join("samples/addons/extras").exists());
    assert!(
        !istio
            .join("samples/bookinfo/networking/virtual-service-all-v1.yaml")
            .exists()
    );
    // The archive is gone once unpacked; no partial files anywhere.
    let leftovers: Vec<_> = walk(home.path())
        .into_iter()
        .filter(|p| {
            p.to_string_lossy().ends_with(".part") || p.to_string_lossy().ends_with(".tar.gz")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let events = events.lock().unwrap().clone();
    let percents: Vec<f32> = events
        .iter()
        .filter(|e| e.step == StepId::Tools && e.state == StepState::Running)
        .filter_map(|e| e.percent)
        .collect();
    assert!(percents.len() >= 3, "{percents:?}");
    assert!(
        percents.windows(2).all(|w| w[0] <= w[1]),
        "progress only grows: {percents:?}"
    );
    let log: Vec<String> = events.iter().filter_map(|e| e.message.clone()).collect();
    assert!(
        log.iter()
            .any(|l| l.contains("kind v0.32.0 downloaded") && l.contains("matches the release")),
        "{log:#?}"
    );
    assert_eq!(events.last().unwrap().state, StepState::Done);

    // Next time: nothing is downloaded and the step says it was already done.
    let hits_before = site.total_hits();
    let (sink, events) = recorder();
    setup_steps(cfg, &[StepId::Tools], sink, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(site.total_hits(), hits_before, "no network the second time");
    assert_eq!(
        events.lock().unwrap().last().unwrap().state,
        StepState::Skipped
    );
}

#[tokio::test]
async fn a_truncated_download_is_refused_and_removed_and_the_next_run_gets_it() {
    let site = Site::start().await;
    serve_kind(&site, KIND);
    let archive = release();
    serve_istio(&site, &archive);
    site.set(
        &istio_path(),
        Route {
            status: 200,
            body: archive.clone(),
            cut_at: Some(archive.len() / 2),
        },
    );
    let home = tempfile::tempdir().unwrap();
    let cfg = config(home.path(), &site, "dl-cut", "unused");
    let (sink, events) = recorder();
    let err = setup_steps(
        cfg.clone(),
        &[StepId::Tools],
        sink,
        CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "download_truncated", "{err}");
    assert!(
        err.to_string()
            .contains(&format!("of {} bytes", archive.len())),
        "{err}"
    );
    assert!(err.hint().unwrap().contains("Set up"));
    let failed = events.lock().unwrap().last().cloned().unwrap();
    assert_eq!(failed.state, StepState::Failed);
    assert_eq!(failed.failure.unwrap().code, "download_truncated");
    assert!(
        walk(&home.path().join("downloads")).is_empty(),
        "nothing half-written is kept"
    );
    assert!(!home.path().join("istio-1.30.3").exists());
    // kind, fetched before the failure, is kept.
    assert!(home.path().join("tools/kind-v0.32.0").is_file());

    serve_istio(&site, &archive);
    let kind_hits = site.hits(&kind_path());
    let (sink, _) = recorder();
    setup_steps(cfg, &[StepId::Tools], sink, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        site.hits(&kind_path()),
        kind_hits,
        "kind is not fetched again"
    );
    assert!(
        home.path()
            .join("istio-1.30.3/samples/addons/loki.yaml")
            .is_file()
    );
}

#[tokio::test]
async fn a_file_that_does_not_match_its_checksum_is_refused_and_removed() {
    let site = Site::start().await;
    serve_kind(&site, KIND);
    // The checksum file names another digest, as after tampering on the way.
    let file = kind_path();
    let name = file.rsplit('/').next().unwrap().to_string();
    site.set(
        &format!("{file}.sha256sum"),
        Route::ok(format!("{}  {name}\n", sha256_hex(b"something else"))),
    );
    let home = tempfile::tempdir().unwrap();
    let cfg = config(home.path(), &site, "dl-sum", "unused");
    let (sink, _) = recorder();
    let err = setup_steps(cfg, &[StepId::Tools], sink, CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "checksum_mismatch", "{err}");
    assert!(
        err.to_string().contains(&sha256_hex(KIND.as_bytes())),
        "{err}"
    );
    assert!(err.to_string().contains("deleted"), "{err}");
    assert!(
        walk(&home.path().join("tools")).is_empty(),
        "refused file removed"
    );

    // A checksum file that is an HTML page (captive portal) is not taken for a checksum.
    site.set(
        &format!("{file}.sha256sum"),
        Route::ok("<html>Log in to the Wi-Fi</html>"),
    );
    let cfg = config(home.path(), &site, "dl-sum", "unused");
    let (sink, _) = recorder();
    let err = setup_steps(cfg, &[StepId::Tools], sink, CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "checksum_file", "{err}");

    // A server error is a download failure with the status in the message.
    site.set(
        &file,
        Route {
            status: 503,
            body: b"busy".to_vec(),
            cut_at: None,
        },
    );
    serve_kind_checksum_only(&site);
    let cfg = config(home.path(), &site, "dl-sum", "unused");
    let (sink, _) = recorder();
    let err = setup_steps(cfg, &[StepId::Tools], sink, CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "download_failed", "{err}");
    assert!(err.to_string().contains("503"), "{err}");
}

fn serve_kind_checksum_only(site: &Site) {
    let file = kind_path();
    let name = file.rsplit('/').next().unwrap().to_string();
    site.set(
        &format!("{file}.sha256sum"),
        Route::ok(format!("{}  {name}\n", sha256_hex(KIND.as_bytes()))),
    );
}

#[tokio::test]
async fn tools_on_path_with_a_fitting_version_are_used_without_downloading_kind() {
    let site = Site::start().await;
    serve_istio(&site, &release());
    let home = tempfile::tempdir().unwrap();
    let mut cfg = config(home.path(), &site, "dl-path", "unused");
    let bin = home.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    script(&bin.join("kind"), "echo 'kind v0.32.1 go1.25 linux/amd64'");
    script(&bin.join("istioctl"), "echo 'client version: 1.29.0'");
    cfg.path = Some(bin.clone().into_os_string());
    let (sink, events) = recorder();
    setup_steps(cfg, &[StepId::Tools], sink, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(site.hits(&kind_path()), 0);
    assert!(!home.path().join("tools/kind-v0.32.0").exists());
    // istioctl 1.29 does not fit: the release's own is used, the user's is left alone.
    assert!(home.path().join("tools/istioctl-1.30.3").is_file());
    assert!(read(bin.join("istioctl")).contains("1.29.0"));
    let log: Vec<String> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| e.message.clone())
        .collect();
    assert!(
        log.iter().any(|l| l.contains("Using kind 0.32.1 from")),
        "{log:#?}"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
