//! What the session reads from, and writes into, a kubeconfig: the API server of a context,
//! and the mark that says "this context is a simulated playground, its ingress is here".
//!
//! Why a mark in the kubeconfig: the window knows it started a simulated playground, but a
//! CLI pointed at a running `sim serve` (`--kubeconfig <its file> --context
//! sim-istio-playground`) has only that file and context to go on. Guessing from the context
//! name would call any cluster that happens to share the name simulated, and would not tell
//! where the simulated ingress listens (its port is chosen at start). So the kubeconfig the
//! simulated playground writes carries a context extension, as minikube carries its
//! `context_info`: `{name: istio-playground.dev/simulated, extension: {ingressUrl: ...}}`.
//! kubectl and kube-rs keep and ignore extensions, so the file stays an ordinary kubeconfig;
//! whoever reads it (window, CLI, another machine's copy) reaches the same answer, and a
//! kubeconfig of a real cluster can never carry the mark by accident.

use std::path::Path;

use ::kube::config::{Kubeconfig, NamedExtension};
use serde::{Deserialize, Serialize};

use crate::kube::ClusterTarget;
use crate::simulated::SimulatedInfo;
use crate::{Error, Result};

/// Name of the context extension that marks a simulated playground.
pub const SIMULATED_EXTENSION: &str = "istio-playground.dev/simulated";

/// The extension's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SimulatedMark {
    /// Base URL of the simulated ingress gateway.
    ingress_url: String,
}

/// What a kubeconfig says about one context.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ContextFacts {
    /// The API server the context points at.
    pub server: Option<String>,
    /// Set when the context is marked as a simulated playground.
    pub simulated: Option<SimulatedInfo>,
}

/// Reads the target's kubeconfig. `None` when the file cannot be read or lacks the context:
/// such a target is neither simulated nor usable, and connecting to it reports why.
pub(crate) fn context_facts(target: &ClusterTarget) -> Option<ContextFacts> {
    let config = Kubeconfig::read_from(&target.kubeconfig).ok()?;
    let context = config
        .contexts
        .iter()
        .find(|c| c.name == target.context)?
        .context
        .as_ref()?;
    let server = config
        .clusters
        .iter()
        .find(|c| c.name == context.cluster)
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.server.clone());
    let mark = context
        .extensions
        .iter()
        .flatten()
        .find(|e| e.name == SIMULATED_EXTENSION)
        .and_then(|e| serde_json::from_value::<SimulatedMark>(e.extension.clone()).ok());
    let simulated = mark.map(|m| SimulatedInfo {
        api_url: server.clone().unwrap_or_default(),
        ingress_url: m.ingress_url,
        kubeconfig: target.kubeconfig.display().to_string(),
        context: target.context.clone(),
    });
    Some(ContextFacts { server, simulated })
}

/// Writes `yaml` (a kubeconfig holding `context`) to `path` with the simulated mark added to
/// that context. Written to a temporary file and renamed, so a reader never sees half a file.
pub fn write_simulated(path: &Path, yaml: &str, context: &str, ingress_url: &str) -> Result<()> {
    let mut config = Kubeconfig::from_yaml(yaml)
        .map_err(|e| Error::InvalidInput(format!("the simulated kubeconfig is invalid: {e}")))?;
    let named = config
        .contexts
        .iter_mut()
        .find(|c| c.name == context)
        .and_then(|c| c.context.as_mut())
        .ok_or_else(|| {
            Error::InvalidInput(format!("the simulated kubeconfig has no context {context}"))
        })?;
    let mark = SimulatedMark {
        ingress_url: ingress_url.to_string(),
    };
    let extensions = named.extensions.get_or_insert_with(Vec::new);
    extensions.retain(|e| e.name != SIMULATED_EXTENSION);
    extensions.push(NamedExtension {
        name: SIMULATED_EXTENSION.into(),
        extension: serde_json::to_value(mark).unwrap_or_default(),
    });
    let text = serde_yaml_ng::to_string(&config)
        .map_err(|e| Error::InvalidInput(format!("cannot write the kubeconfig: {e}")))?;
    super::write_atomically(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::AppDirs;

    const PLAIN: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:6443\ncontexts:\n- name: lab\n  context:\n    cluster: c\n    user: u\n    namespace: default\ncurrent-context: lab\nusers:\n- name: u\n  user: {}\n";

    fn target(dir: &Path, file: &Path, context: &str) -> ClusterTarget {
        ClusterTarget::resolve(&AppDirs::at(dir), Some(file), Some(context))
    }

    #[test]
    fn a_marked_context_is_simulated_with_its_ingress_and_a_plain_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, PLAIN).unwrap();
        let facts = context_facts(&target(dir.path(), &plain, "lab")).unwrap();
        assert_eq!(facts.server.as_deref(), Some("http://127.0.0.1:6443"));
        assert_eq!(facts.simulated, None);

        let marked = dir.path().join("sub").join("marked");
        write_simulated(&marked, PLAIN, "lab", "http://127.0.0.1:9999").unwrap();
        let facts = context_facts(&target(dir.path(), &marked, "lab")).unwrap();
        let info = facts.simulated.expect("marked");
        assert_eq!(info.ingress_url, "http://127.0.0.1:9999");
        assert_eq!(info.api_url, "http://127.0.0.1:6443");
        assert_eq!(info.context, "lab");
        // Everything else survives the round trip: the file still connects the same way.
        let reread = Kubeconfig::read_from(&marked).unwrap();
        assert_eq!(reread.current_context.as_deref(), Some("lab"));
        assert_eq!(
            reread.contexts[0]
                .context
                .as_ref()
                .unwrap()
                .namespace
                .as_deref(),
            Some("default")
        );
        // Marking twice keeps one mark, with the newest ingress.
        let text = std::fs::read_to_string(&marked).unwrap();
        write_simulated(&marked, &text, "lab", "http://127.0.0.1:1111").unwrap();
        let facts = context_facts(&target(dir.path(), &marked, "lab")).unwrap();
        assert_eq!(
            facts.simulated.unwrap().ingress_url,
            "http://127.0.0.1:1111"
        );
        let text = std::fs::read_to_string(&marked).unwrap();
        assert_eq!(text.matches(SIMULATED_EXTENSION).count(), 1, "{text}");
    }

    #[test]
    fn missing_files_and_contexts_are_not_simulated_and_bad_input_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let none = dir.path().join("none");
        assert_eq!(context_facts(&target(dir.path(), &none, "lab")), None);
        let plain = dir.path().join("plain");
        std::fs::write(&plain, PLAIN).unwrap();
        assert_eq!(context_facts(&target(dir.path(), &plain, "other")), None);

        let out = dir.path().join("out");
        let err = write_simulated(&out, PLAIN, "other", "http://127.0.0.1:1").unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::InvalidInput);
        assert!(!out.exists());
    }
}
