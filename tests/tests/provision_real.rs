//! The whole real setup and teardown: kind v0.32.0, MetalLB, Istio's demo profile, the
//! addons and Bookinfo, then the product page on http://localhost:9080. Needs Docker with
//! about 8 GB for containers, and the internet. Ignored by default; run it with
//!
//!     cargo test -p playground-tests --test provision_real -- --ignored --nocapture
//!
//! It prints how long each step took. Set KEEP_CLUSTER=1 to skip the teardown at the end.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use playground::kube::ClusterTarget;
use playground::paths::AppDirs;
use playground::provision::{
    CancellationToken, ProvisionConfig, ProvisionEvent, StepState, setup, teardown,
};

#[tokio::test]
#[ignore = "needs Docker with ~8 GB and the internet: creates the real playground cluster"]
async fn the_real_setup_serves_the_product_page_and_the_teardown_removes_everything() {
    let home = tempfile::tempdir().unwrap();
    let dirs = AppDirs::at(home.path());
    let cfg = ProvisionConfig::from_env(dirs.clone(), ClusterTarget::resolve(&dirs, None, None));
    let times: Arc<Mutex<BTreeMap<String, u32>>> = Arc::default();
    let t = Arc::clone(&times);
    let sink = Arc::new(move |e: ProvisionEvent| {
        if let Some(m) = &e.message {
            println!(
                "[{:>6.1}s] {:?} {:?}: {m}",
                e.total_elapsed_ms as f64 / 1000.0,
                e.step,
                e.state
            );
        }
        if matches!(
            e.state,
            StepState::Done | StepState::Skipped | StepState::Failed
        ) {
            t.lock()
                .unwrap()
                .insert(format!("{:?}", e.step), e.elapsed_ms);
        }
    });
    setup(cfg.clone(), sink.clone(), CancellationToken::new())
        .await
        .unwrap_or_else(|e| {
            panic!(
                "setup failed: {e}\nwhat to do: {}",
                e.hint().unwrap_or_default()
            )
        });
    let page = reqwest::get(&cfg.product_page_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Simple Bookstore App"));
    println!("step times (ms): {:#?}", times.lock().unwrap());
    if std::env::var_os("KEEP_CLUSTER").is_none() {
        teardown(cfg.clone(), sink, CancellationToken::new())
            .await
            .unwrap();
        let left = playground::provision::node_containers(&cfg, &cfg.cluster_name)
            .await
            .unwrap();
        assert!(left.is_empty(), "{left:?}");
    }
}
