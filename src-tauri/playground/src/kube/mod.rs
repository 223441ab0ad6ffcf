//! Which cluster the app talks to, and clients for it.
//!
//! The rule: the app writes only to the cluster it created (its own kubeconfig file, context
//! `kind-istio-playground`) or to one the user named explicitly with `--kubeconfig` and
//! `--context`. `$KUBECONFIG` and `~/.kube/config` are never read implicitly, so the user's
//! current context can never be the target by accident.

pub mod apply;
pub mod istio;

use std::path::{Path, PathBuf};

use ::kube::config::{KubeConfigOptions, Kubeconfig};
use serde::Serialize;
use ts_rs::TS;

use crate::paths::AppDirs;
use crate::{CLUSTER_CONTEXT, Error, Result};

/// The kubeconfig file and context every cluster call goes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ClusterTarget {
    /// Absolute path of the kubeconfig file.
    #[ts(type = "string")]
    pub kubeconfig: PathBuf,
    /// Context inside that file.
    pub context: String,
    /// True when the user chose this target; false for the playground's own cluster.
    pub explicit: bool,
}

impl ClusterTarget {
    /// Resolves the target from the CLI's global options. Missing options fall back to the
    /// playground's own kubeconfig and context, never to the environment.
    pub fn resolve(dirs: &AppDirs, kubeconfig: Option<&Path>, context: Option<&str>) -> Self {
        let explicit = kubeconfig.is_some() || context.is_some();
        Self {
            kubeconfig: kubeconfig
                .map(Path::to_path_buf)
                .unwrap_or_else(|| dirs.kubeconfig()),
            context: context.unwrap_or(CLUSTER_CONTEXT).to_string(),
            explicit,
        }
    }

    /// Builds a client for exactly this file and context.
    pub async fn client(&self) -> Result<::kube::Client> {
        ::kube::Client::try_from(self.config().await?).map_err(Error::Kube)
    }

    /// The connection settings for exactly this file and context, for clients that need
    /// other settings than [`client`](Self::client)'s (telemetry turns kube's retries off).
    #[tracing::instrument(skip(self), fields(kubeconfig = %self.kubeconfig.display(), context = %self.context))]
    pub async fn config(&self) -> Result<::kube::Config> {
        let raw = Kubeconfig::read_from(&self.kubeconfig).map_err(|e| {
            Error::ClusterTarget(format!(
                "cannot read kubeconfig {}: {e}",
                self.kubeconfig.display()
            ))
        })?;
        if !raw.contexts.iter().any(|named| named.name == self.context) {
            return Err(Error::ClusterTarget(format!(
                "context {:?} is not in {}",
                self.context,
                self.kubeconfig.display()
            )));
        }
        let options = KubeConfigOptions {
            context: Some(self.context.clone()),
            ..Default::default()
        };
        let mut config = ::kube::Config::from_custom_kubeconfig(raw, &options)
            .await
            .map_err(|e| Error::ClusterTarget(e.to_string()))?;
        // kube takes HTTPS_PROXY from the environment for every cluster. A proxy cannot reach
        // this machine's loopback (kind's API server, the simulated cluster), so, as kubectl
        // does, loopback addresses are always reached directly.
        if is_loopback(&config.cluster_url) {
            config.proxy_url = None;
        }
        Ok(config)
    }
}

/// Whether `uri` names this machine: `localhost` or a loopback address.
fn is_loopback(uri: &http::Uri) -> bool {
    match uri.host() {
        None => false,
        Some(host) if host.eq_ignore_ascii_case("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_clusters_are_told_apart_from_remote_ones() {
        for local in [
            "https://127.0.0.1:6443",
            "http://localhost:8080",
            "https://[::1]:6443",
            "https://127.3.2.1",
        ] {
            assert!(is_loopback(&local.parse().unwrap()), "{local}");
        }
        for remote in [
            "https://10.0.0.5:6443",
            "https://k8s.example.com",
            "https://[fd00::1]",
        ] {
            assert!(!is_loopback(&remote.parse().unwrap()), "{remote}");
        }
    }

    #[test]
    fn defaults_to_the_playgrounds_own_kubeconfig_even_when_kubeconfig_env_is_set() {
        let dirs = AppDirs::at("/tmp/pg-home");
        // Whatever the environment says must not matter: resolve() takes no env input.
        let target = ClusterTarget::resolve(&dirs, None, None);
        assert_eq!(target.kubeconfig, PathBuf::from("/tmp/pg-home/kubeconfig"));
        assert_eq!(target.context, "kind-istio-playground");
        assert!(!target.explicit);
    }

    #[test]
    fn explicit_options_win_and_are_marked_explicit() {
        let dirs = AppDirs::at("/tmp/pg-home");
        let target = ClusterTarget::resolve(&dirs, Some(Path::new("/k/config")), Some("lab"));
        assert_eq!(target.kubeconfig, PathBuf::from("/k/config"));
        assert_eq!(target.context, "lab");
        assert!(target.explicit);
    }

    #[tokio::test]
    async fn a_context_missing_from_the_file_is_refused_before_any_call() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config");
        std::fs::write(
            &file,
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'http://127.0.0.1:1'}\ncontexts:\n- name: other\n  context: {cluster: c, user: u}\nusers:\n- name: u\n  user: {}\ncurrent-context: other\n",
        )
        .unwrap();
        let target = ClusterTarget::resolve(&AppDirs::at(dir.path()), Some(&file), None);
        let Err(err) = target.client().await else {
            panic!("a missing context must be refused");
        };
        assert_eq!(err.code(), "cluster_target");
        assert!(err.to_string().contains("kind-istio-playground"), "{err}");
    }
}
