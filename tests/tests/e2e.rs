//! End-to-end: the real app window under Xvfb, driven through tauri-driver and
//! WebKitWebDriver. Run by `make e2e` (part of `make test`), which builds the app with the UI
//! embedded, starts Xvfb and points ISTIO_PLAYGROUND_APP at the binary.

use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use playground_tests::{TauriDriver, app_binary, screenshot_dir};
use serde_json::json;

async fn open_app(driver: &TauriDriver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "tauri:options".into(),
        json!({ "application": app_binary().display().to_string() }),
    );
    ClientBuilder::rustls()
        .expect("rustls client")
        .capabilities(caps)
        .connect(&driver.url())
        .await
        .expect("WebDriver session with the app")
}

/// Polls until `count` preflight rows are shown and none is still running.
async fn preflight_rows(client: &Client) -> Vec<(String, String, String)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rows = client
            .find_all(Locator::Css("[data-testid=preflight-row]"))
            .await
            .unwrap_or_default();
        if rows.len() == 7 {
            let mut out = Vec::new();
            for row in rows {
                let id = row.attr("data-check-id").await.unwrap().unwrap_or_default();
                let status = row.attr("data-status").await.unwrap().unwrap_or_default();
                out.push((id, status, row.text().await.unwrap()));
            }
            return out;
        }
        assert!(Instant::now() < deadline, "preflight rows never appeared");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn screenshot(client: &Client, name: &str) -> std::path::PathBuf {
    // WebDriver screenshots lag the page by up to ~200 ms.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let png = client.screenshot().await.expect("screenshot");
    let path = screenshot_dir().join(name);
    std::fs::write(&path, png).unwrap();
    println!("e2e screenshot: {}", path.display());
    path
}

#[tokio::test]
#[ignore = "needs the built app, tauri-driver and a display: run with `make e2e`"]
async fn setup_screen_shows_real_preflight_rows_and_the_other_screens_say_what_is_missing() {
    let home = tempfile::tempdir().unwrap();
    let home_str = home.path().display().to_string();
    let driver = TauriDriver::start(&[("ISTIO_PLAYGROUND_HOME", &home_str)]);
    let client = open_app(&driver).await;

    let title = client.title().await.unwrap();
    assert_eq!(title, "Istio Playground");
    let rows = preflight_rows(&client).await;
    let ids: Vec<&str> = rows.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "docker",
            "docker-resources",
            "inotify",
            "ports",
            "disk",
            "kind",
            "istioctl"
        ]
    );
    let (_, docker_status, docker_text) = &rows[0];
    assert_eq!(
        docker_status, "pass",
        "Docker runs in the test environment: {docker_text}"
    );
    assert!(docker_text.contains("Docker engine"), "{docker_text}");
    assert!(docker_text.contains("answered in"), "{docker_text}");
    for (id, status, text) in &rows {
        assert!(
            ["pass", "warn", "fail"].contains(&status.as_str()),
            "{id}: {status}"
        );
        assert!(
            text.contains("Why it matters"),
            "{id} explains itself: {text}"
        );
    }
    let summary = client
        .find(Locator::Css("[data-testid=preflight-summary]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        summary.contains("Ready") || summary.contains("Fix"),
        "{summary}"
    );
    screenshot(&client, "setup.png").await;

    // The log panel shows the log file in the app's own folder, with the preflight logged.
    // The full path is in the title; the visible text may shorten the folder to fit.
    let log_path = client
        .find(Locator::Css("[data-testid=log-file-path]"))
        .await
        .unwrap()
        .attr("title")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(log_path.contains(&home_str), "{log_path}");

    // "Check again" runs the checks again.
    client
        .find(Locator::Css("[data-testid=check-again]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(preflight_rows(&client).await.len(), 7);

    // Screens not built yet say so plainly instead of showing anything fake.
    client
        .find(Locator::Css("[data-testid=nav-mesh]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let main = client
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(main.contains("not built yet"), "{main}");
    screenshot(&client, "mesh.png").await;
    client.close().await.unwrap();
}

#[tokio::test]
#[ignore = "needs the built app, tauri-driver and a display: run with `make e2e`"]
async fn with_docker_unreachable_the_docker_row_says_how_to_start_it() {
    let home = tempfile::tempdir().unwrap();
    let home_str = home.path().display().to_string();
    let docker_host = format!("unix://{}/no-docker.sock", home_str);
    let driver = TauriDriver::start(&[
        ("ISTIO_PLAYGROUND_HOME", &home_str),
        ("DOCKER_HOST", &docker_host),
    ]);
    let client = open_app(&driver).await;
    let rows = preflight_rows(&client).await;
    let (id, status, text) = &rows[0];
    assert_eq!(id, "docker");
    assert_eq!(status, "fail");
    assert!(text.contains("systemctl start docker"), "{text}");
    let summary = client
        .find(Locator::Css("[data-testid=preflight-summary]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(summary.contains("Fix"), "{summary}");
    screenshot(&client, "setup-docker-down.png").await;
    client.close().await.unwrap();
}
