//! The 500-node graph benchmark page (ui/bench/graph-500.html) drawn in the app's own
//! webview (WebKitGTK through tauri-driver), not in a browser. Needs a display and the built
//! app: `make bench-webview` (Xvfb, `make app`, then this).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::ClientBuilder;
use playground_tests::{TauriDriver, app_binary, free_port, repo_root};
use serde_json::json;

struct Vite(Child);
impl Drop for Vite {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

#[tokio::main]
async fn main() {
    let query = std::env::args()
        .nth(1)
        .filter(|a| a.starts_with('?'))
        .unwrap_or_default();
    let port = free_port();
    let ui = repo_root().join("ui");
    let vite = Vite(
        Command::new(ui.join("node_modules/.bin/vite"))
            .args([
                "--port",
                &port.to_string(),
                "--strictPort",
                "--host",
                "127.0.0.1",
            ])
            .current_dir(&ui)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start vite"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "vite did not start");
        std::thread::sleep(Duration::from_millis(100));
    }

    let home = tempfile::tempdir().unwrap();
    let driver =
        TauriDriver::start(&[("ISTIO_PLAYGROUND_HOME", &home.path().display().to_string())]);
    let mut caps = serde_json::Map::new();
    caps.insert(
        "tauri:options".into(),
        json!({ "application": app_binary().display().to_string() }),
    );
    let client = ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&driver.url())
        .await
        .expect("session");
    client.set_window_size(1920, 1080).await.ok();
    let url = format!("http://127.0.0.1:{port}/bench/graph-500.html{query}");
    client
        .goto(&url)
        .await
        .expect("open the benchmark page in the app's webview");
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let title = client.title().await.unwrap_or_default();
        if title == "graph-bench: done" {
            break;
        }
        assert!(title != "graph-bench: failed", "the benchmark page failed");
        assert!(
            Instant::now() < deadline,
            "no result within 180 s (title {title:?})"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let result = client
        .execute("return window.__graphBench;", vec![])
        .await
        .unwrap();
    let ua = client
        .execute("return navigator.userAgent;", vec![])
        .await
        .unwrap();
    println!("webview: {}", ua.as_str().unwrap_or(""));
    println!("{}", serde_json::to_string_pretty(&result).unwrap());
    client.close().await.ok();
    drop(vite);
}
