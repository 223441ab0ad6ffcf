//! Step 1: kind and istioctl for this computer, and the Istio release's sample YAML (addons,
//! Bookinfo). Tools on PATH are used when their version fits; otherwise the pinned releases
//! are downloaded into the app's folder, checked against their SHA-256 and kept.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::download::{self, Download};
use super::{Error, PlannedDownload, ProvisionConfig, StepCtx};
use crate::preflight::tools::{ISTIOCTL, KIND, Tool, find_on_path, version_of};
use crate::versions;

/// The addons applied by the Addons step, from `samples/addons/` of the Istio release.
pub const ADDONS: [&str; 5] = ["prometheus", "grafana", "jaeger", "kiali", "loki"];
/// Bookinfo's workloads and its Istio Gateway + VirtualService, inside the release.
pub const BOOKINFO: &str = "samples/bookinfo/platform/kube/bookinfo.yaml";
pub const BOOKINFO_GATEWAY: &str = "samples/bookinfo/networking/bookinfo-gateway.yaml";
/// Written last into the unpacked release; without it the release is unpacked again.
const COMPLETE_MARKER: &str = ".complete";

/// Operating system and CPU, as Rust names them (`linux`/`macos`/`windows`,
/// `x86_64`/`aarch64`/`arm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Platform {
    pub os: &'static str,
    pub arch: &'static str,
}

impl Platform {
    pub fn current() -> Self {
        Platform {
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
        }
    }

    fn describe(&self) -> String {
        format!("{} on {}", self.os, self.arch)
    }

    /// kind's release file: `kind-linux-amd64`, `kind-darwin-arm64`, `kind-windows-amd64`.
    pub fn kind_file(&self) -> Result<String, Error> {
        let os = match self.os {
            "linux" => "linux",
            "macos" => "darwin",
            "windows" => "windows",
            _ => "",
        };
        let arch = match (self.os, self.arch) {
            (_, "x86_64") => "amd64",
            ("linux" | "macos", "aarch64") => "arm64",
            _ => "",
        };
        if os.is_empty() || arch.is_empty() {
            return Err(Error::UnsupportedPlatform {
                tool: "kind",
                platform: self.describe(),
            });
        }
        Ok(format!("kind-{os}-{arch}"))
    }

    /// Istio's release archive: `istio-1.30.3-linux-amd64.tar.gz`, `...-osx-arm64.tar.gz`,
    /// `istio-1.30.3-win.zip`.
    pub fn istio_archive(&self) -> Result<String, Error> {
        let v = versions::ISTIO;
        let arch = match (self.os, self.arch) {
            ("linux", "x86_64") => "linux-amd64",
            ("linux", "aarch64") => "linux-arm64",
            ("linux", "arm") => "linux-armv7",
            ("macos", "x86_64") => "osx-amd64",
            ("macos", "aarch64") => "osx-arm64",
            ("windows", "x86_64") => return Ok(format!("istio-{v}-win.zip")),
            _ => {
                return Err(Error::UnsupportedPlatform {
                    tool: "Istio",
                    platform: self.describe(),
                });
            }
        };
        Ok(format!("istio-{v}-{arch}.tar.gz"))
    }

    fn exe_suffix(&self) -> &'static str {
        if self.os == "windows" { ".exe" } else { "" }
    }
}

/// The two downloads this machine would need from the configured sources.
pub fn kind_download(cfg: &ProvisionConfig) -> Result<Download, Error> {
    let file = cfg.platform.kind_file()?;
    let url = format!("{}/{}/{file}", cfg.sources.kind_base, versions::KIND);
    Ok(Download {
        label: format!("kind {}", versions::KIND),
        checksum_url: format!("{url}.sha256sum"),
        url,
        dest: downloaded_path(cfg, KIND),
    })
}

pub fn istio_download(cfg: &ProvisionConfig) -> Result<Download, Error> {
    let file = cfg.platform.istio_archive()?;
    let url = format!("{}/{}/{file}", cfg.sources.istio_base, versions::ISTIO);
    Ok(Download {
        label: format!("Istio {}", versions::ISTIO),
        checksum_url: format!("{url}.sha256"),
        url,
        dest: cfg.downloads_dir().join(file),
    })
}

/// Where the app keeps its own copy of a tool (`<data>/tools/kind-v0.32.0`).
pub fn downloaded_path(cfg: &ProvisionConfig, tool: Tool) -> PathBuf {
    cfg.dirs.tools().join(format!(
        "{}-{}{}",
        tool.name,
        tool.pinned,
        cfg.platform.exe_suffix()
    ))
}

/// Where a tool comes from on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolSource {
    /// On PATH with a fitting version.
    Path { path: PathBuf, version: String },
    /// Downloaded by the app earlier.
    Downloaded(PathBuf),
    /// Must be downloaded; why (not on PATH, or which version is there).
    Missing(String),
}

impl ToolSource {
    pub fn path(&self) -> Option<&Path> {
        match self {
            ToolSource::Path { path, .. } | ToolSource::Downloaded(path) => Some(path),
            ToolSource::Missing(_) => None,
        }
    }
}

/// Looks for a tool on PATH (version must fit) and in the app's folder.
pub async fn locate(cfg: &ProvisionConfig, tool: Tool) -> ToolSource {
    let mut why = format!("{} is not on your PATH", tool.name);
    if let Some(found) = find_on_path(tool.name, cfg.path.as_ref()) {
        match version_of(&found, tool.version_args).await {
            Ok(v) if tool.fits(&v) => {
                return ToolSource::Path {
                    path: found,
                    version: v,
                };
            }
            Ok(v) => {
                why = format!(
                    "{} {v} on your PATH is not {} (left alone)",
                    tool.name, tool.pinned
                )
            }
            Err(e) => why = format!("{} on your PATH {e}", tool.name),
        }
    }
    let own = downloaded_path(cfg, tool);
    if own.is_file() {
        ToolSource::Downloaded(own)
    } else {
        ToolSource::Missing(why)
    }
}

/// True when the release's sample YAML is unpacked and complete.
pub fn release_unpacked(cfg: &ProvisionConfig) -> bool {
    cfg.istio_dir().join(COMPLETE_MARKER).is_file()
}

/// Paths of the tools and YAML the later steps use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolSet {
    pub kind: PathBuf,
    pub istioctl: PathBuf,
    pub istio_dir: PathBuf,
}

impl ToolSet {
    pub fn addon_file(&self, name: &str) -> PathBuf {
        self.istio_dir
            .join("samples/addons")
            .join(format!("{name}.yaml"))
    }
}

/// What the tools step would download here (for `up --plan`).
pub async fn planned_downloads(cfg: &ProvisionConfig) -> Vec<PlannedDownload> {
    let mut out = Vec::new();
    let planned = |what: String, d: Download| PlannedDownload {
        what,
        url: d.url,
        checksum_url: d.checksum_url,
        destination: d.dest,
    };
    if let ToolSource::Missing(why) = locate(cfg, KIND).await
        && let Ok(d) = kind_download(cfg)
    {
        out.push(planned(format!("kind {} ({why})", versions::KIND), d));
    }
    if !release_unpacked(cfg)
        && let Ok(d) = istio_download(cfg)
    {
        out.push(planned(
            format!(
                "Istio {} release: istioctl, the addons and Bookinfo",
                versions::ISTIO
            ),
            d,
        ));
    }
    out
}

/// Makes sure both tools and the sample YAML are here. Returns them and whether anything
/// was downloaded.
pub async fn ensure(cfg: &ProvisionConfig, ctx: &StepCtx) -> Result<(ToolSet, bool), Error> {
    let http = download::http_client();
    let mut acted = false;
    let kind = match locate(cfg, KIND).await {
        ToolSource::Path { path, version } => {
            ctx.log(format!("Using kind {version} from {}", path.display()));
            path
        }
        ToolSource::Downloaded(path) => {
            ctx.log(format!("Using kind downloaded earlier: {}", path.display()));
            path
        }
        ToolSource::Missing(why) => {
            ctx.log(format!("{why}: downloading kind {}", versions::KIND));
            let d = kind_download(cfg)?;
            download::fetch_verified(&http, &d, ctx, 0.0, 20.0).await?;
            make_executable(&d.dest)?;
            acted = true;
            d.dest
        }
    };
    ctx.check_cancel()?;

    let istioctl_source = locate(cfg, ISTIOCTL).await;
    let own_istioctl = downloaded_path(cfg, ISTIOCTL);
    let need_istioctl = matches!(istioctl_source, ToolSource::Missing(_));
    if !release_unpacked(cfg) || need_istioctl {
        let d = istio_download(cfg)?;
        ctx.log(format!(
            "Downloading the Istio {} release (istioctl and the sample YAML)",
            versions::ISTIO
        ));
        download::fetch_verified(&http, &d, ctx, 20.0, 90.0).await?;
        ctx.check_cancel()?;
        let archive = d.dest.clone();
        let istio_dir = cfg.istio_dir();
        let istioctl_dest = need_istioctl.then(|| own_istioctl.clone());
        let name = cfg.platform.exe_suffix();
        let unpack = {
            let istioctl_name = format!("istioctl{name}");
            move || {
                unpack_release(
                    &archive,
                    &istio_dir,
                    &istioctl_name,
                    istioctl_dest.as_deref(),
                )
            }
        };
        tokio::task::spawn_blocking(unpack)
            .await
            .map_err(|e| Error::Archive {
                archive: d.dest.clone(),
                reason: e.to_string(),
            })??;
        // The archive is no longer needed: everything used from it is unpacked.
        let _ = std::fs::remove_file(&d.dest);
        ctx.progress(
            100.0,
            Some(format!("Unpacked to {}", cfg.istio_dir().display())),
        );
        acted = true;
    }
    let istioctl = match istioctl_source {
        ToolSource::Path { path, version } => {
            ctx.log(format!("Using istioctl {version} from {}", path.display()));
            path
        }
        _ => {
            ctx.log(format!("Using istioctl {}", own_istioctl.display()));
            own_istioctl
        }
    };
    Ok((
        ToolSet {
            kind,
            istioctl,
            istio_dir: cfg.istio_dir(),
        },
        acted,
    ))
}

fn make_executable(path: &Path) -> Result<(), Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(|e| {
            Error::Archive {
                archive: path.to_path_buf(),
                reason: format!("cannot make it executable: {e}"),
            }
        })?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Is this archive entry (after the top folder) one we keep? Returns its path inside the
/// release folder, or "istioctl" for the binary.
fn wanted(inner: &str, istioctl_name: &str) -> Option<Wanted> {
    if inner == format!("bin/{istioctl_name}") {
        return Some(Wanted::Istioctl);
    }
    let addon = inner
        .strip_prefix("samples/addons/")
        .is_some_and(|rest| !rest.contains('/') && rest.ends_with(".yaml"));
    (addon || inner == BOOKINFO || inner == BOOKINFO_GATEWAY).then(|| Wanted::File(inner.into()))
}

enum Wanted {
    Istioctl,
    File(PathBuf),
}

/// Unpacks the sample YAML into `istio_dir` (through a temporary folder, so a half-unpacked
/// release is never taken for a complete one) and istioctl to `istioctl_dest` when given.
fn unpack_release(
    archive: &Path,
    istio_dir: &Path,
    istioctl_name: &str,
    istioctl_dest: Option<&Path>,
) -> Result<(), Error> {
    let bad = |reason: String| Error::Archive {
        archive: archive.to_path_buf(),
        reason,
    };
    let staging = istio_dir.with_extension("unpacking");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| bad(e.to_string()))?;
    let mut found_istioctl = false;
    let mut keep = |inner: &str, reader: &mut dyn Read| -> Result<(), Error> {
        let Some(w) = wanted(inner, istioctl_name) else {
            return Ok(());
        };
        let dest = match w {
            Wanted::Istioctl => {
                found_istioctl = true;
                match istioctl_dest {
                    Some(d) => d.to_path_buf(),
                    None => return Ok(()),
                }
            }
            Wanted::File(rel) => staging.join(rel),
        };
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| bad(e.to_string()))?;
        }
        let tmp = dest.with_extension("part");
        let mut out = std::fs::File::create(&tmp).map_err(|e| bad(e.to_string()))?;
        std::io::copy(reader, &mut out).map_err(|e| bad(e.to_string()))?;
        drop(out);
        std::fs::rename(&tmp, &dest).map_err(|e| bad(e.to_string()))?;
        if istioctl_dest == Some(dest.as_path()) {
            make_executable(&dest)?;
        }
        Ok(())
    };
    let file = std::fs::File::open(archive).map_err(|e| bad(e.to_string()))?;
    if archive.extension().is_some_and(|e| e == "zip") {
        let mut zip = zip::ZipArchive::new(file).map_err(|e| bad(e.to_string()))?;
        for i in 0..zip.len() {
            let mut entry = zip.by_index(i).map_err(|e| bad(e.to_string()))?;
            let name = entry.name().to_string();
            if let Some(inner) = strip_top(&name) {
                keep(&inner, &mut entry)?;
            }
        }
    } else {
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
        for entry in tar.entries().map_err(|e| bad(e.to_string()))? {
            let mut entry = entry.map_err(|e| bad(e.to_string()))?;
            let name = entry
                .path()
                .map_err(|e| bad(e.to_string()))?
                .to_string_lossy()
                .into_owned();
            if let Some(inner) = strip_top(&name) {
                keep(&inner, &mut entry)?;
            }
        }
    }
    if !found_istioctl {
        return Err(bad(format!("it holds no bin/{istioctl_name}")));
    }
    let mut missing: Vec<String> = ADDONS
        .iter()
        .map(|a| format!("samples/addons/{a}.yaml"))
        .chain([BOOKINFO.to_string(), BOOKINFO_GATEWAY.to_string()])
        .filter(|rel| !staging.join(rel).is_file())
        .collect();
    if !missing.is_empty() {
        missing.sort();
        return Err(bad(format!("it lacks {}", missing.join(", "))));
    }
    std::fs::write(staging.join(COMPLETE_MARKER), versions::ISTIO)
        .map_err(|e| bad(e.to_string()))?;
    let _ = std::fs::remove_dir_all(istio_dir);
    std::fs::rename(&staging, istio_dir).map_err(|e| bad(e.to_string()))?;
    Ok(())
}

/// `istio-1.30.3/samples/x.yaml` -> `samples/x.yaml`; refuses `..` so an archive cannot
/// write outside the release folder.
fn strip_top(name: &str) -> Option<String> {
    let name = name.replace('\\', "/");
    let (_, inner) = name.trim_start_matches("./").split_once('/')?;
    if inner.is_empty() || inner.split('/').any(|p| p == "..") {
        return None;
    }
    Some(inner.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_file_names_for_every_supported_computer() {
        let p = |os, arch| Platform { os, arch };
        assert_eq!(
            p("linux", "x86_64").kind_file().unwrap(),
            "kind-linux-amd64"
        );
        assert_eq!(
            p("linux", "aarch64").kind_file().unwrap(),
            "kind-linux-arm64"
        );
        assert_eq!(
            p("macos", "aarch64").kind_file().unwrap(),
            "kind-darwin-arm64"
        );
        assert_eq!(
            p("macos", "x86_64").kind_file().unwrap(),
            "kind-darwin-amd64"
        );
        assert_eq!(
            p("windows", "x86_64").kind_file().unwrap(),
            "kind-windows-amd64"
        );
        assert_eq!(
            p("macos", "aarch64").istio_archive().unwrap(),
            "istio-1.30.3-osx-arm64.tar.gz"
        );
        assert_eq!(
            p("linux", "arm").istio_archive().unwrap(),
            "istio-1.30.3-linux-armv7.tar.gz"
        );
        assert_eq!(
            p("windows", "x86_64").istio_archive().unwrap(),
            "istio-1.30.3-win.zip"
        );
        let err = p("linux", "arm").kind_file().unwrap_err();
        assert_eq!(err.code(), "unsupported_platform");
        assert!(err.hint().unwrap().contains("PATH"));
        assert!(p("freebsd", "x86_64").istio_archive().is_err());
    }

    #[test]
    fn only_the_needed_files_are_taken_and_none_outside_the_release() {
        assert!(matches!(
            wanted("bin/istioctl", "istioctl"),
            Some(Wanted::Istioctl)
        ));
        assert!(matches!(
            wanted("samples/addons/kiali.yaml", "istioctl"),
            Some(Wanted::File(_))
        ));
        assert!(wanted("samples/addons/extras/zipkin.yaml", "istioctl").is_none());
        assert!(
            wanted(
                "samples/bookinfo/networking/virtual-service-all-v1.yaml",
                "istioctl"
            )
            .is_none()
        );
        assert!(matches!(
            wanted(BOOKINFO_GATEWAY, "istioctl"),
            Some(Wanted::File(_))
        ));
        assert_eq!(
            strip_top("istio-1.30.3/bin/istioctl").as_deref(),
            Some("bin/istioctl")
        );
        assert_eq!(strip_top("istio-1.30.3/../../etc/passwd"), None);
        assert_eq!(strip_top("istio-1.30.3/"), None);
    }
}
