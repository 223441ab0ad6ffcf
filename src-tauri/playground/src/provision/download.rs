//! Downloads checked against a release's published SHA-256. The file is written next to its
//! destination as `.part`, hashed while it arrives, and moved into place only when its size
//! and checksum are right; anything else is deleted.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::{Error, StepCtx};

/// The HTTP client used for downloads: follows redirects (kind's URL redirects to GitHub).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(20))
        .read_timeout(Duration::from_secs(60))
        .user_agent(concat!("istio-playground/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// Reads the SHA-256 for `file` from a checksum file: `hex  name` (kind, sha256sum style) or
/// `hex name` (Istio), or a bare hex digest. A line naming another file does not count.
pub fn parse_checksum(text: &str, file: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let mut parts = line.split_whitespace();
        let hex = parts.next()?;
        let name = parts.next().map(|n| n.trim_start_matches('*'));
        let named_right = name.is_none_or(|n| {
            Path::new(n)
                .file_name()
                .is_some_and(|base| base.to_string_lossy() == file)
        });
        (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) && named_right)
            .then(|| hex.to_ascii_lowercase())
    })
}

/// One file to fetch.
#[derive(Debug, Clone)]
pub struct Download {
    /// What to call it in the log ("kind v0.32.0").
    pub label: String,
    pub url: String,
    pub checksum_url: String,
    /// Where the verified file ends up.
    pub dest: PathBuf,
}

impl Download {
    fn file_name(&self) -> String {
        self.url
            .rsplit('/')
            .next()
            .unwrap_or(&self.url)
            .split('?')
            .next()
            .unwrap_or_default()
            .to_string()
    }
}

/// Fetches the checksum, then the file with progress between `from` and `to` percent of the
/// step, and returns the verified digest.
#[tracing::instrument(skip_all, fields(url = %d.url))]
pub async fn fetch_verified(
    http: &reqwest::Client,
    d: &Download,
    ctx: &StepCtx,
    from: f32,
    to: f32,
) -> Result<String, Error> {
    let failed = |reason: String| Error::Download {
        url: d.url.clone(),
        reason,
    };
    let sums = get(http, &d.checksum_url)
        .await?
        .text()
        .await
        .map_err(|e| Error::Download {
            url: d.checksum_url.clone(),
            reason: e.to_string(),
        })?;
    let file = d.file_name();
    let expected = parse_checksum(&sums, &file).ok_or_else(|| Error::BadChecksumFile {
        url: d.checksum_url.clone(),
        file: file.clone(),
    })?;

    let parent = d.dest.parent().unwrap_or(Path::new("."));
    tokio::fs::create_dir_all(parent)
        .await
        .map_err(|e| failed(format!("cannot create {}: {e}", parent.display())))?;
    let part = d.dest.with_file_name(format!(
        "{}.part",
        d.dest.file_name().unwrap_or_default().to_string_lossy()
    ));
    let result = stream_to(http, d, &part, ctx, from, to).await;
    let (actual, received, expected_len) = match result {
        Ok(v) => v,
        Err(e) => {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(e);
        }
    };
    if let Some(len) = expected_len
        && received != len
    {
        let _ = tokio::fs::remove_file(&part).await;
        return Err(Error::Truncated {
            url: d.url.clone(),
            received,
            expected: len,
        });
    }
    if actual != expected {
        let _ = tokio::fs::remove_file(&part).await;
        return Err(Error::ChecksumMismatch {
            file,
            expected,
            actual,
        });
    }
    tokio::fs::rename(&part, &d.dest)
        .await
        .map_err(|e| failed(format!("cannot move it to {}: {e}", d.dest.display())))?;
    ctx.progress(
        to,
        Some(format!(
            "{} downloaded ({}), SHA-256 {}… matches the release",
            d.label,
            size(received),
            &actual[..12]
        )),
    );
    Ok(actual)
}

async fn get(http: &reqwest::Client, url: &str) -> Result<reqwest::Response, Error> {
    let resp = http.get(url).send().await.map_err(|e| Error::Download {
        url: url.to_string(),
        reason: reason(&e),
    })?;
    let status = resp.status();
    if !status.is_success() {
        return Err(Error::Download {
            url: url.to_string(),
            reason: format!("the server answered {status}"),
        });
    }
    Ok(resp)
}

async fn stream_to(
    http: &reqwest::Client,
    d: &Download,
    part: &Path,
    ctx: &StepCtx,
    from: f32,
    to: f32,
) -> Result<(String, u64, Option<u64>), Error> {
    let mut resp = get(http, &d.url).await?;
    let total = resp.content_length();
    ctx.progress(
        from,
        Some(match total {
            Some(t) => format!("Downloading {} ({}) from {}", d.label, size(t), d.url),
            None => format!("Downloading {} from {}", d.label, d.url),
        }),
    );
    let mut out = tokio::fs::File::create(part)
        .await
        .map_err(|e| Error::Download {
            url: d.url.clone(),
            reason: format!("cannot write {}: {e}", part.display()),
        })?;
    let mut hasher = Sha256::new();
    let mut received: u64 = 0;
    let mut last_report = Instant::now();
    loop {
        let chunk = match resp.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            // A body cut short surfaces here; the size check below names it precisely.
            Err(e) if total.is_some() && received > 0 => {
                tracing::warn!(error = %chain(&e), received, "download ended early");
                break;
            }
            Err(e) => {
                return Err(Error::Download {
                    url: d.url.clone(),
                    reason: chain(&e),
                });
            }
        };
        hasher.update(&chunk);
        received += chunk.len() as u64;
        out.write_all(&chunk).await.map_err(|e| Error::Download {
            url: d.url.clone(),
            reason: format!("cannot write {}: {e}", part.display()),
        })?;
        if let Some(t) = total.filter(|t| *t > 0)
            && last_report.elapsed() > Duration::from_millis(200)
        {
            last_report = Instant::now();
            ctx.progress(from + (to - from) * (received as f32 / t as f32), None);
        }
    }
    out.flush().await.map_err(|e| Error::Download {
        url: d.url.clone(),
        reason: e.to_string(),
    })?;
    Ok((format!("{:x}", hasher.finalize()), received, total))
}

/// "12.3 MiB".
pub fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / f64::from(1u32 << 20))
    } else {
        format!("{:.0} KiB", (bytes as f64 / 1024.0).ceil())
    }
}

/// A request error in a sentence: reqwest's own text repeats the URL and wraps the cause in
/// several layers, so name the kind of failure and give its innermost cause.
fn reason(e: &reqwest::Error) -> String {
    let mut root: &dyn std::error::Error = e;
    while let Some(s) = root.source() {
        root = s;
    }
    if e.is_connect() {
        format!("could not connect ({root})")
    } else if e.is_timeout() {
        "the server did not answer in time".into()
    } else {
        chain(e)
    }
}

/// An error with its causes, which is where reqwest keeps the useful part.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "5f2a0c5b3c1d7e9f00112233445566778899aabbccddeeff0011223344556677";

    #[test]
    fn reads_kind_and_istio_checksum_formats() {
        assert_eq!(
            parse_checksum(&format!("{HEX}  kind-linux-amd64\n"), "kind-linux-amd64").as_deref(),
            Some(HEX)
        );
        assert_eq!(
            parse_checksum(
                &format!("{HEX} istio-1.30.3-linux-amd64.tar.gz\n"),
                "istio-1.30.3-linux-amd64.tar.gz"
            )
            .as_deref(),
            Some(HEX)
        );
        assert_eq!(parse_checksum(HEX, "anything").as_deref(), Some(HEX));
        assert_eq!(
            parse_checksum(&format!("{}  ./out/x\n", HEX.to_uppercase()), "x").as_deref(),
            Some(HEX)
        );
    }

    #[test]
    fn a_checksum_for_another_file_or_garbage_is_not_accepted() {
        assert_eq!(
            parse_checksum(&format!("{HEX}  kind-darwin-arm64"), "kind-linux-amd64"),
            None
        );
        assert_eq!(
            parse_checksum("<html>Sign in to the Wi-Fi</html>", "x"),
            None
        );
        assert_eq!(parse_checksum("abc123  x", "x"), None);
    }

    #[test]
    fn sizes_are_human() {
        assert_eq!(size(10 * 1024 * 1024 + 300 * 1024), "10.3 MiB");
        assert_eq!(size(1500), "2 KiB");
    }
}
