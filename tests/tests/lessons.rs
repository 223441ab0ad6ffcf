//! Lessons against the simulated playground: the built-in course passes every step when run
//! headlessly (what `istio-playground lesson run bookinfo-basics --simulated` does), and a
//! check does not pass before its step's action and passes after it.

use std::time::Duration;

use playground::Session;
use playground::kube::ClusterTarget;
use playground::lessons::{Observation, RunEvent};
use playground::paths::AppDirs;

fn window_session(home: &std::path::Path) -> Session {
    let dirs = AppDirs::at(home);
    let target = ClusterTarget::resolve(&dirs, None, None);
    Session::new(dirs, target)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bookinfo_course_passes_every_step_in_simulated_mode() {
    let home = tempfile::tempdir().unwrap();
    let session = window_session(home.path());
    let lesson = session.lesson("bookinfo-basics").unwrap();
    let mut events = Vec::new();
    let passed = session
        .run_lesson(&lesson, true, Duration::from_secs(120), |e| events.push(e))
        .await;
    let passed_steps: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Passed { step, .. } => Some(step.as_str()),
            _ => None,
        })
        .collect();
    let failure = events.iter().find_map(|e| match e {
        RunEvent::Failed { step, failure } => Some((step, failure)),
        _ => None,
    });
    assert!(passed, "failed: {failure:?}; passed: {passed_steps:?}");
    let all: Vec<&str> = lesson.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(passed_steps, all);
    // The checks read real figures: the shift step saw all three versions near 60/30/10.
    let shift = events.iter().find_map(|e| match e {
        RunEvent::Passed {
            step,
            outcome: Some(o),
            ..
        } if step == "shift" => Some(o.observed.clone()),
        _ => None,
    });
    let Some(Observation::Split { versions, .. }) = shift else {
        panic!("shift observed {shift:?}")
    };
    assert_eq!(versions.len(), 3);
    for v in versions {
        let expected = f64::from(v.expected.unwrap());
        assert!((v.percent - expected).abs() <= 10.0, "{v:?}");
    }
    // The teardown step stopped the simulated playground.
    assert!(!session.is_simulated().await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_check_fails_before_its_action_and_says_what_it_saw() {
    let home = tempfile::tempdir().unwrap();
    let session = window_session(home.path());
    session
        .lesson_do("bookinfo-basics", "setup", true, false)
        .await
        .unwrap();
    // Right after the start the pods are not ready yet: the setup check names the missing
    // ones, then passes.
    let first = session
        .lesson_check("bookinfo-basics", "setup")
        .await
        .unwrap()
        .unwrap();
    // (On a slow machine they may be ready by the time it looks.)
    if !first.passed {
        assert!(
            matches!(&first.observed, Observation::Ready { wanted: 6, not_ready, .. } if !not_ready.is_empty()),
            "{first:?}"
        );
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let o = session
            .lesson_check("bookinfo-basics", "setup")
            .await
            .unwrap()
            .unwrap();
        if o.passed {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never ready: {o:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The split cannot pass without traffic, and says it saw none.
    let outcome = session
        .lesson_check("bookinfo-basics", "shift")
        .await
        .unwrap()
        .unwrap();
    assert!(!outcome.passed);
    assert!(
        matches!(
            outcome.observed,
            Observation::Split {
                answered_per_second,
                ..
            } if answered_per_second == 0.0
        ),
        "{:?}",
        outcome.observed
    );
    // A dry run of the step writes nothing and returns its YAML and commands.
    let run = session
        .lesson_do("bookinfo-basics", "shift", true, true)
        .await
        .unwrap();
    assert!(
        run.applied[0]
            .yaml
            .as_deref()
            .unwrap()
            .contains("weight: 60")
    );
    assert!(run.applied[0].kubectl.starts_with("kubectl "));
    let routing = session.read_routing("default", "reviews").await.unwrap();
    assert!(
        routing.weights.is_none(),
        "a dry run wrote weights: {routing:?}"
    );

    // An unknown step is refused with its code.
    let err = session
        .lesson_check("bookinfo-basics", "nope")
        .await
        .unwrap_err();
    assert_eq!(err.code(), playground::ErrorCode::LessonUnknown);
    session.stop_simulated().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn traffic_a_step_starts_is_seen_by_whoever_follows_the_generator() {
    let home = tempfile::tempdir().unwrap();
    let session = window_session(home.path());
    // The Traffic screen follows from the start, before any run exists.
    let mut follow = session.follow_traffic();
    assert!(follow.borrow().is_none());
    session
        .lesson_do("bookinfo-basics", "setup", true, false)
        .await
        .unwrap();
    session
        .lesson_do("bookinfo-basics", "follow-a-request", true, false)
        .await
        .unwrap();
    assert!(session.traffic_running());
    let stats = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            follow.changed().await.unwrap();
            if let Some(s) = follow.borrow_and_update().clone() {
                return s;
            }
        }
    })
    .await
    .expect("no figures from the step's traffic");
    assert!(stats.running);
    assert_eq!(stats.settings.unwrap().rate, 2.0);
    session
        .lesson_do("bookinfo-basics", "teardown", true, false)
        .await
        .unwrap();
    assert!(!session.traffic_running());
}
