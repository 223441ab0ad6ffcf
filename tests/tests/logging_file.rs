//! The log file: every line of a burst reaches it (the writer's queue is bounded, and a full
//! queue drops lines).

#[test]
fn a_burst_of_log_lines_all_reach_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let logging = playground::logging::init(dir.path(), true).unwrap();
    let file = logging.current_file();
    // More lines at once than the app writes in any step, far faster than a disk takes them.
    for i in 0..5_000 {
        tracing::info!(target: "playground::burst", line = i, "burst line");
    }
    // Dropping the guard waits for the writer thread to empty the queue.
    drop(logging);
    let text = std::fs::read_to_string(&file).unwrap();
    let written: Vec<&str> = text.lines().filter(|l| l.contains("burst line")).collect();
    assert_eq!(
        written.len(),
        5_000,
        "lines lost on the way to {}",
        file.display()
    );
    assert!(written[4_999].contains("line=4999"), "{}", written[4_999]);
}
