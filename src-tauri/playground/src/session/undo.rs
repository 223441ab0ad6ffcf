//! The weights undo history, kept in the app's folder (`<app dir>/state/undo.json`) so it
//! survives a restart of the app and is shared by the window and the CLI.
//!
//! One stack per cluster, keyed by the kubeconfig file, the context and the API server the
//! context pointed at when the change was made: an undo never restores objects into another
//! cluster, and a cluster deleted and created again (a new server address) starts with an
//! empty history. The file is only ever replaced whole (written beside it, then renamed), under
//! an advisory lock on `undo.lock`, so the window and a CLI command running at the same time
//! cannot lose each other's entries. A file that cannot be parsed is logged, set aside as
//! `undo.json.corrupt` for inspection, and treated as empty: losing the history must never stop
//! the buttons working.

use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::actions::weights::RoutingBackup;
use crate::{Error, Result};

/// Entries kept per cluster; older ones are dropped first.
pub const MAX_ENTRIES: usize = 50;
const FORMAT_VERSION: u32 = 1;

/// Which cluster a stack belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UndoKey {
    pub kubeconfig: PathBuf,
    pub context: String,
    /// The context's API server when the change was made (`None` when the kubeconfig did not
    /// name one).
    pub server: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UndoFile {
    version: u32,
    /// Ids are never reused, so removing "the entry that was undone" cannot remove one that
    /// another process pushed meanwhile.
    next_id: u64,
    stacks: Vec<Stack>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stack {
    target: UndoKey,
    /// Oldest first: undo takes the last one.
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    id: u64,
    backup: RoutingBackup,
}

/// A routing backup on top of a stack, with the id that removes exactly it.
#[derive(Debug, Clone)]
pub struct UndoEntry {
    pub id: u64,
    pub backup: RoutingBackup,
}

/// The undo file of one app folder.
#[derive(Debug, Clone)]
pub struct UndoStore {
    file: PathBuf,
}

impl UndoStore {
    /// The store at `<state dir>/undo.json`; nothing is created until the first change.
    pub fn new(state_dir: &Path) -> Self {
        Self {
            file: state_dir.join("undo.json"),
        }
    }

    pub fn path(&self) -> &Path {
        &self.file
    }

    /// Where an unreadable file is moved.
    pub fn corrupt_path(&self) -> PathBuf {
        self.file.with_extension("json.corrupt")
    }

    /// Remembers `backup` on top of the key's stack.
    pub fn push(&self, key: &UndoKey, backup: RoutingBackup) -> Result<()> {
        self.update(|file| {
            let id = file.next_id;
            file.next_id += 1;
            let stack = stack_mut(file, key);
            stack.entries.push(Entry { id, backup });
            let excess = stack.entries.len().saturating_sub(MAX_ENTRIES);
            stack.entries.drain(..excess);
        })
    }

    /// The newest entry of the key's stack, left in place.
    pub fn last(&self, key: &UndoKey) -> Result<Option<UndoEntry>> {
        let file = self.read()?;
        Ok(file
            .stacks
            .iter()
            .find(|s| &s.target == key)
            .and_then(|s| s.entries.last())
            .map(|e| UndoEntry {
                id: e.id,
                backup: e.backup.clone(),
            }))
    }

    /// How many changes of this cluster can be undone.
    pub fn depth(&self, key: &UndoKey) -> Result<usize> {
        Ok(self
            .read()?
            .stacks
            .iter()
            .find(|s| &s.target == key)
            .map_or(0, |s| s.entries.len()))
    }

    /// Forgets the entry with `id` (once it has been undone).
    pub fn remove(&self, key: &UndoKey, id: u64) -> Result<()> {
        self.update(|file| stack_mut(file, key).entries.retain(|e| e.id != id))
    }

    /// Forgets every stack of this kubeconfig and context, whatever server they were made
    /// against: the cluster behind them is gone (teardown) or new (a simulated start).
    pub fn clear(&self, kubeconfig: &Path, context: &str) -> Result<()> {
        self.update(|file| {
            file.stacks
                .retain(|s| !(s.target.kubeconfig == kubeconfig && s.target.context == context));
        })
    }

    fn read(&self) -> Result<UndoFile> {
        let _lock = self.lock()?;
        self.load()
    }

    fn update(&self, change: impl FnOnce(&mut UndoFile)) -> Result<()> {
        let _lock = self.lock()?;
        let mut file = self.load()?;
        change(&mut file);
        file.version = FORMAT_VERSION;
        file.stacks.retain(|s| !s.entries.is_empty());
        let text = serde_json::to_vec_pretty(&file)
            .map_err(|e| Error::InvalidInput(format!("cannot encode the undo history: {e}")))?;
        super::write_atomically(&self.file, &text)
    }

    /// Reads the file; a missing one is empty, an unreadable one is set aside and empty.
    fn load(&self) -> Result<UndoFile> {
        let bytes = match std::fs::read(&self.file) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(UndoFile::default()),
            Err(e) => return Err(Error::io(&self.file, e)),
        };
        match serde_json::from_slice::<UndoFile>(&bytes) {
            Ok(file) if file.version <= FORMAT_VERSION => Ok(file),
            Ok(file) => {
                self.set_aside(&format!("written by a newer app (format {})", file.version));
                Ok(UndoFile::default())
            }
            Err(e) => {
                self.set_aside(&e.to_string());
                Ok(UndoFile::default())
            }
        }
    }

    fn set_aside(&self, why: &str) {
        let aside = self.corrupt_path();
        let moved = std::fs::rename(&self.file, &aside);
        tracing::warn!(
            file = %self.file.display(),
            kept_as = %aside.display(),
            moved = moved.is_ok(),
            "the weights undo history could not be read ({why}); starting with an empty one"
        );
    }

    /// An advisory lock held while the file is read or replaced.
    fn lock(&self) -> Result<FileLock> {
        let path = self.file.with_extension("lock");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        // fs4 rather than `File::lock`: the workspace's minimum Rust (1.88) predates it.
        fs4::FileExt::lock(&file).map_err(|e| Error::io(&path, e))?;
        Ok(FileLock(file))
    }
}

/// Unlocks when dropped.
struct FileLock(File);

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = fs4::FileExt::unlock(&self.0);
    }
}

fn stack_mut<'a>(file: &'a mut UndoFile, key: &UndoKey) -> &'a mut Stack {
    let at = match file.stacks.iter().position(|s| &s.target == key) {
        Some(i) => i,
        None => {
            file.stacks.push(Stack {
                target: key.clone(),
                entries: Vec::new(),
            });
            file.stacks.len() - 1
        }
    };
    &mut file.stacks[at]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backup(name: &str) -> RoutingBackup {
        RoutingBackup {
            namespace: "default".into(),
            destination_rule_name: name.into(),
            virtual_service_name: name.into(),
            destination_rule: None,
            virtual_service: None,
        }
    }

    fn key(context: &str, server: &str) -> UndoKey {
        UndoKey {
            kubeconfig: "/k".into(),
            context: context.into(),
            server: Some(server.into()),
        }
    }

    #[test]
    fn stacks_are_per_cluster_newest_last_and_capped() {
        let dir = tempfile::tempdir().unwrap();
        let store = UndoStore::new(dir.path());
        let a = key("a", "https://1");
        let b = key("b", "https://1");
        let a_new_server = key("a", "https://2");
        assert!(store.last(&a).unwrap().is_none());
        assert!(!store.path().exists(), "reading creates nothing");
        store.push(&a, backup("first")).unwrap();
        store.push(&a, backup("second")).unwrap();
        store.push(&b, backup("other")).unwrap();
        let top = store.last(&a).unwrap().unwrap();
        assert_eq!(top.backup.destination_rule_name, "second");
        assert_eq!(store.depth(&b).unwrap(), 1);
        assert_eq!(store.depth(&a_new_server).unwrap(), 0);

        store.remove(&a, top.id).unwrap();
        assert_eq!(
            store
                .last(&a)
                .unwrap()
                .unwrap()
                .backup
                .destination_rule_name,
            "first"
        );
        store.clear(Path::new("/k"), "a").unwrap();
        assert_eq!(store.depth(&a).unwrap(), 0);
        assert_eq!(store.depth(&b).unwrap(), 1, "other clusters keep theirs");

        for i in 0..MAX_ENTRIES + 5 {
            store.push(&b, backup(&format!("n{i}"))).unwrap();
        }
        assert_eq!(store.depth(&b).unwrap(), MAX_ENTRIES);
    }

    #[test]
    fn removing_by_id_spares_an_entry_pushed_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let store = UndoStore::new(dir.path());
        let k = key("a", "https://1");
        store.push(&k, backup("undone")).unwrap();
        let top = store.last(&k).unwrap().unwrap();
        // Another process (the CLI) applies a change while this one undoes.
        UndoStore::new(dir.path())
            .push(&k, backup("newer"))
            .unwrap();
        store.remove(&k, top.id).unwrap();
        let left = store.last(&k).unwrap().unwrap();
        assert_eq!(left.backup.destination_rule_name, "newer");
        assert_eq!(store.depth(&k).unwrap(), 1);
    }

    #[test]
    fn an_unreadable_file_is_set_aside_and_the_history_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        let store = UndoStore::new(dir.path());
        std::fs::write(store.path(), b"{ not json").unwrap();
        let k = key("a", "https://1");
        assert!(store.last(&k).unwrap().is_none());
        assert_eq!(
            std::fs::read(store.corrupt_path()).unwrap(),
            b"{ not json",
            "the bad file is kept for inspection"
        );
        store.push(&k, backup("after")).unwrap();
        let text = std::fs::read_to_string(store.path()).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["version"], 1);
        assert_eq!(store.depth(&k).unwrap(), 1);
        // A file from a newer app is not misread either.
        std::fs::write(
            store.path(),
            br#"{"version": 99, "nextId": 0, "stacks": []}"#,
        )
        .unwrap();
        assert_eq!(store.depth(&k).unwrap(), 0);
    }
}
