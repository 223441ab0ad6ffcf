//! Where each lesson stands, kept in `<app dir>/state/lessons.json` so a class can close the
//! app and go on next week.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// One lesson's place: the step on screen and the steps whose check passed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct LessonState {
    pub current: Option<String>,
    pub passed: Vec<String>,
}

/// Every lesson's place, by lesson name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct LessonProgress {
    pub lessons: BTreeMap<String, LessonState>,
}

pub fn file(state_dir: &Path) -> PathBuf {
    state_dir.join("lessons.json")
}

/// The saved progress; none saved (or a file this version cannot read, which is moved aside
/// so it is not lost) is a fresh start.
pub fn load(state_dir: &Path) -> LessonProgress {
    let path = file(state_dir);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return LessonProgress::default();
    };
    match serde_json::from_str(&text) {
        Ok(progress) => progress,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "unreadable lesson progress moved aside");
            let _ = std::fs::rename(&path, path.with_extension("json.unreadable"));
            LessonProgress::default()
        }
    }
}

pub fn save(state_dir: &Path, progress: &LessonProgress) -> std::io::Result<()> {
    std::fs::create_dir_all(state_dir)?;
    let bytes = serde_json::to_vec_pretty(progress).map_err(std::io::Error::other)?;
    crate::paths::write_atomically(&file(state_dir), &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_survives_a_restart_and_a_corrupt_file_is_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()), LessonProgress::default());
        let mut progress = LessonProgress::default();
        progress.lessons.insert(
            "bookinfo-basics".into(),
            LessonState {
                current: Some("shift".into()),
                passed: vec!["setup".into(), "follow".into()],
            },
        );
        save(dir.path(), &progress).unwrap();
        assert_eq!(load(dir.path()), progress);

        std::fs::write(file(dir.path()), "{not json").unwrap();
        assert_eq!(load(dir.path()), LessonProgress::default());
        assert!(dir.path().join("lessons.json.unreadable").exists());
    }
}
