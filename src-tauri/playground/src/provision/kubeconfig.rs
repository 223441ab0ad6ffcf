//! `up --merge-kubeconfig` and its undoing: the playground's context, cluster and user
//! entries copied into the user's own kubeconfig (the file kubectl uses), and removed again
//! by `down`. Only those three entries are touched; the user's current context is kept.
//!
//! The files are edited as plain YAML values, not through kube's typed `Kubeconfig`, so that
//! fields this app does not know (extensions, preferences, exec plugins' settings) survive.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use serde_yaml_ng::{Mapping, Value};

use super::Error;

/// The user's kubeconfig as kubectl picks the file it writes: the first entry of
/// `$KUBECONFIG` when set, else `~/.kube/config`.
pub fn user_kubeconfig(kubeconfig_env: Option<&OsStr>, home: Option<&Path>) -> Option<PathBuf> {
    kubeconfig_env
        .and_then(|v| std::env::split_paths(v).find(|p| !p.as_os_str().is_empty()))
        .or_else(|| home.map(|h| h.join(".kube").join("config")))
}

/// What a merge did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    /// The user's current context, unchanged (None when the file had none).
    pub current_context: Option<String>,
    /// True when the file had no current context and the playground's became it.
    pub made_current: bool,
}

fn read(file: &Path) -> Result<Mapping, Error> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(bad(file, e.to_string())),
    };
    if text.trim().is_empty() {
        return Ok(Mapping::new());
    }
    match serde_yaml_ng::from_str::<Value>(&text).map_err(|e| bad(file, e.to_string()))? {
        Value::Mapping(m) => Ok(m),
        Value::Null => Ok(Mapping::new()),
        _ => Err(bad(
            file,
            "it is not a kubeconfig (not a YAML mapping)".into(),
        )),
    }
}

fn bad(file: &Path, reason: String) -> Error {
    Error::Precondition(format!(
        "cannot use the kubeconfig {}: {reason}",
        file.display()
    ))
}

/// Through a temporary file and a rename, so an interrupted write cannot leave the user's
/// kubeconfig half written (see [`crate::paths::write_atomically`]).
fn write(file: &Path, doc: &Mapping) -> Result<(), Error> {
    let text = serde_yaml_ng::to_string(doc).map_err(|e| bad(file, e.to_string()))?;
    crate::paths::write_atomically(file, text.as_bytes()).map_err(|e| bad(file, e.to_string()))
}

fn list<'a>(doc: &'a Mapping, key: &str) -> &'a [Value] {
    doc.get(key)
        .and_then(Value::as_sequence)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn named<'a>(doc: &'a Mapping, key: &str, name: &str) -> Option<&'a Value> {
    list(doc, key)
        .iter()
        .find(|e| e["name"].as_str() == Some(name))
}

/// Replaces (or adds) the entry called `name` in the list `key`.
fn put(doc: &mut Mapping, key: &str, entry: Value) {
    let name = entry["name"].as_str().map(str::to_string);
    let list = doc
        .entry(Value::from(key))
        .or_insert_with(|| Value::Sequence(Vec::new()));
    if !list.is_sequence() {
        *list = Value::Sequence(Vec::new());
    }
    let seq = list.as_sequence_mut().expect("made a sequence above");
    seq.retain(|e| e["name"].as_str().map(str::to_string) != name);
    seq.push(entry);
}

fn remove(doc: &mut Mapping, key: &str, name: &str) -> bool {
    let Some(seq) = doc.get_mut(key).and_then(Value::as_sequence_mut) else {
        return false;
    };
    let before = seq.len();
    seq.retain(|e| e["name"].as_str() != Some(name));
    seq.len() != before
}

fn current_context(doc: &Mapping) -> Option<String> {
    doc.get("current-context")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
}

/// Copies `context` and the cluster and user it names from `from` (the playground's own
/// kubeconfig) into `into`, replacing entries of the same names. The user's current context
/// is kept; only a file without one gets the playground's.
pub fn merge_context(from: &Path, into: &Path, context: &str) -> Result<Merged, Error> {
    let source = read(from)?;
    let ctx = named(&source, "contexts", context)
        .ok_or_else(|| bad(from, format!("it has no context {context}")))?
        .clone();
    let cluster_name = ctx["context"]["cluster"].as_str().unwrap_or_default();
    let user_name = ctx["context"]["user"].as_str().unwrap_or_default();
    let cluster = named(&source, "clusters", cluster_name)
        .ok_or_else(|| bad(from, format!("it has no cluster {cluster_name}")))?
        .clone();
    let user = named(&source, "users", user_name).cloned();

    let mut doc = read(into)?;
    doc.entry(Value::from("apiVersion"))
        .or_insert_with(|| Value::from("v1"));
    doc.entry(Value::from("kind"))
        .or_insert_with(|| Value::from("Config"));
    put(&mut doc, "clusters", cluster);
    if let Some(user) = user {
        put(&mut doc, "users", user);
    }
    put(&mut doc, "contexts", ctx);
    let current = current_context(&doc);
    let made_current = current.is_none();
    if made_current {
        doc.insert(Value::from("current-context"), Value::from(context));
    }
    write(into, &doc)?;
    Ok(Merged {
        current_context: current,
        made_current,
    })
}

/// Removes `context` from `file`, and the cluster and user it names unless another context
/// still uses them. Nothing else changes; a current context pointing at it is unset.
/// Returns false when the file does not have that context (or does not exist).
pub fn remove_context(file: &Path, context: &str) -> Result<bool, Error> {
    if !file.exists() {
        return Ok(false);
    }
    let mut doc = read(file)?;
    let Some(ctx) = named(&doc, "contexts", context).cloned() else {
        return Ok(false);
    };
    remove(&mut doc, "contexts", context);
    let still_used = |doc: &Mapping, field: &str, name: &str| {
        list(doc, "contexts")
            .iter()
            .any(|c| c["context"][field].as_str() == Some(name))
    };
    if let Some(cluster) = ctx["context"]["cluster"].as_str()
        && !still_used(&doc, "cluster", cluster)
    {
        remove(&mut doc, "clusters", cluster);
    }
    if let Some(user) = ctx["context"]["user"].as_str()
        && !still_used(&doc, "user", user)
    {
        remove(&mut doc, "users", user);
    }
    if current_context(&doc).as_deref() == Some(context) {
        doc.remove("current-context");
    }
    write(file, &doc)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAYGROUND: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: kind-pg\n  cluster:\n    server: https://127.0.0.1:40123\n    certificate-authority-data: Q0E=\ncontexts:\n- name: kind-pg\n  context:\n    cluster: kind-pg\n    user: kind-pg\ncurrent-context: kind-pg\nusers:\n- name: kind-pg\n  user:\n    client-certificate-data: Q0VSVA==\n    client-key-data: S0VZ\n";

    const USERS: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: work\n  cluster:\n    server: https://work.example:6443\n    extensions:\n    - name: client.authentication.k8s.io/exec\n      extension: {audience: work}\ncontexts:\n- name: work\n  context:\n    cluster: work\n    user: me\n    namespace: shop\ncurrent-context: work\nusers:\n- name: me\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: work-login\n      interactiveMode: IfAvailable\npreferences: {}\n";

    fn files() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let own = dir.path().join("own");
        std::fs::write(&own, PLAYGROUND).unwrap();
        let users = dir.path().join("kube/config");
        std::fs::create_dir_all(users.parent().unwrap()).unwrap();
        std::fs::write(&users, USERS).unwrap();
        (dir, own, users)
    }

    fn yaml(file: &Path) -> Value {
        serde_yaml_ng::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
    }

    fn names(doc: &Value, key: &str) -> Vec<String> {
        doc[key]
            .as_sequence()
            .map(|s| {
                s.iter()
                    .filter_map(|e| e["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn the_users_kubeconfig_is_the_first_file_of_kubeconfig_else_home() {
        let home = Path::new("/home/ana");
        let sep = if cfg!(windows) { ";" } else { ":" };
        let env = format!("/k/first{sep}/k/second");
        assert_eq!(
            user_kubeconfig(Some(OsStr::new(&env)), Some(home)),
            Some(PathBuf::from("/k/first"))
        );
        assert_eq!(
            user_kubeconfig(Some(OsStr::new("")), Some(home)),
            Some(home.join(".kube/config"))
        );
        assert_eq!(
            user_kubeconfig(None, Some(home)),
            Some(home.join(".kube/config"))
        );
    }

    #[test]
    fn merging_adds_the_playground_and_keeps_the_users_current_context_and_fields() {
        let (_dir, own, users) = files();
        let merged = merge_context(&own, &users, "kind-pg").unwrap();
        assert_eq!(
            merged,
            Merged {
                current_context: Some("work".into()),
                made_current: false
            }
        );
        let doc = yaml(&users);
        assert_eq!(doc["current-context"], "work");
        assert_eq!(names(&doc, "contexts"), ["work", "kind-pg"]);
        assert_eq!(names(&doc, "clusters"), ["work", "kind-pg"]);
        assert_eq!(names(&doc, "users"), ["me", "kind-pg"]);
        // What the app does not model survives.
        assert_eq!(doc["users"][0]["user"]["exec"]["command"], "work-login");
        assert_eq!(
            doc["clusters"][0]["cluster"]["extensions"][0]["extension"]["audience"],
            "work"
        );
        assert_eq!(doc["contexts"][0]["context"]["namespace"], "shop");
        assert_eq!(doc["users"][1]["user"]["client-key-data"], "S0VZ");
        // Again (a second `up`): replaced in place, not repeated.
        merge_context(&own, &users, "kind-pg").unwrap();
        assert_eq!(names(&yaml(&users), "contexts"), ["work", "kind-pg"]);
    }

    #[test]
    fn a_missing_or_empty_kubeconfig_gets_the_playground_as_its_current_context() {
        let (dir, own, _) = files();
        let fresh = dir.path().join("new/config");
        let merged = merge_context(&own, &fresh, "kind-pg").unwrap();
        assert!(merged.made_current);
        assert_eq!(yaml(&fresh)["current-context"], "kind-pg");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{mode:o}: readable by its owner only");
        }
    }

    #[test]
    fn removing_takes_out_only_the_playgrounds_entries() {
        let (_dir, own, users) = files();
        merge_context(&own, &users, "kind-pg").unwrap();
        assert!(remove_context(&users, "kind-pg").unwrap());
        let doc = yaml(&users);
        assert_eq!(names(&doc, "contexts"), ["work"]);
        assert_eq!(names(&doc, "clusters"), ["work"]);
        assert_eq!(names(&doc, "users"), ["me"]);
        assert_eq!(doc["current-context"], "work");
        assert_eq!(doc["users"][0]["user"]["exec"]["command"], "work-login");
        assert!(
            !remove_context(&users, "kind-pg").unwrap(),
            "nothing left to remove"
        );
        // The playground's own file: its current context goes with it.
        assert!(remove_context(&own, "kind-pg").unwrap());
        let doc = yaml(&own);
        assert!(doc.get("current-context").is_none(), "{doc:?}");
        assert!(names(&doc, "contexts").is_empty());
    }

    #[test]
    fn a_file_that_is_not_a_kubeconfig_is_refused_and_left_alone() {
        let (dir, own, _) = files();
        let odd = dir.path().join("odd");
        std::fs::write(&odd, "- just\n- a list\n").unwrap();
        let err = merge_context(&own, &odd, "kind-pg").unwrap_err();
        assert!(err.to_string().contains("not a kubeconfig"), "{err}");
        assert_eq!(std::fs::read_to_string(&odd).unwrap(), "- just\n- a list\n");
        assert!(remove_context(&odd, "kind-pg").is_err());
    }
}
