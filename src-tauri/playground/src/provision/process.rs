//! kind and istioctl as child processes: output streamed line by line into the step's log,
//! a time limit, and a kill when the step is dropped (cancel) or the limit passes.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use super::{Error, StepCtx};

/// How many of the last output lines a failure quotes.
const TAIL: usize = 6;

/// A finished run.
#[derive(Debug)]
pub struct Finished {
    pub success: bool,
    pub exit: String,
    /// The last lines of stdout and stderr, interleaved as they came.
    pub tail: Vec<String>,
}

/// A whole line read by `read_until`, decoded lossily; empties the buffer for the next one.
fn take_line(buf: &mut Vec<u8>) -> String {
    let line = String::from_utf8_lossy(buf).into_owned();
    buf.clear();
    line
}

/// Windows: `CREATE_NO_WINDOW`, so kind and istioctl (console programs) started from the
/// window app do not each open a console window, which would stop the step when closed.
pub(crate) fn no_console_window(command: &mut tokio::process::Command) {
    #[cfg(windows)]
    command.creation_flags(CREATE_NO_WINDOW);
    #[cfg(not(windows))]
    let _ = command;
}

#[cfg(windows)]
const CREATE_NO_WINDOW: u32 = 0x0800_0000;

/// Kills a child and everything it started when dropped while armed (cancel, time-out).
/// Killing only the child would leave its own children running: kind's `docker exec`
/// processes go on configuring a cluster after kind is gone.
struct TreeKill(Option<u32>);

impl Drop for TreeKill {
    fn drop(&mut self) {
        let Some(pid) = self.0 else { return };
        #[cfg(unix)]
        {
            // The child leads its own group (process_group(0) at spawn).
            if let Some(group) = i32::try_from(pid)
                .ok()
                .and_then(rustix::process::Pid::from_raw)
                && let Err(e) =
                    rustix::process::kill_process_group(group, rustix::process::Signal::KILL)
            {
                tracing::debug!(pid, error = %e, "process group already gone");
            }
        }
        #[cfg(windows)]
        {
            // A job object would need unsafe Win32 calls; taskkill walks the same tree.
            use std::os::windows::process::CommandExt;
            let _ = std::process::Command::new("taskkill")
                .args(["/T", "/F", "/PID", &pid.to_string()])
                .creation_flags(CREATE_NO_WINDOW)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// One command to run.
pub struct ToolCommand<'a> {
    pub tool: &'static str,
    pub program: &'a Path,
    pub args: Vec<OsString>,
    /// Set on top of the app's environment (see [`super::ProvisionConfig::child_env`]).
    pub env: Vec<(&'static str, OsString)>,
    pub timeout: Duration,
}

impl ToolCommand<'_> {
    /// The command as a person would type it (for logs and errors).
    pub fn display(&self) -> String {
        let mut s = self.tool.to_string();
        for a in &self.args {
            let a = a.to_string_lossy();
            if a.contains(' ') {
                s.push_str(&format!(" \"{a}\""));
            } else {
                s.push(' ');
                s.push_str(&a);
            }
        }
        s
    }

    /// Runs it; every output line goes to `on_line` (and so to the step's log). A time-out
    /// is an error naming `timeout_hint`; a non-zero exit is returned, not an error, so the
    /// caller can explain it.
    #[tracing::instrument(skip_all, fields(tool = self.tool, command = %self.display()))]
    pub async fn run(
        &self,
        ctx: &StepCtx,
        mut on_line: impl FnMut(&str),
        timeout_hint: &str,
    ) -> Result<Finished, Error> {
        ctx.log(format!("$ {}", self.display()));
        let mut command = tokio::process::Command::new(self.program);
        command
            .args(&self.args)
            // Only the kubeconfig named on the command line may be used.
            .env_remove("KUBECONFIG")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        no_console_window(&mut command);
        // Its own process group, so that a stop reaches what kind started too (`docker exec
        // ... kubeadm init` would otherwise run on and finish a cluster nobody waits for).
        #[cfg(unix)]
        command.process_group(0);
        let mut child = command.spawn().map_err(|e| Error::ToolStart {
            tool: self.tool,
            program: PathBuf::from(self.program),
            reason: e.to_string(),
        })?;
        // Declared after `child`, so on cancel or time-out it is dropped first and kills the
        // whole tree while its root still exists (Windows finds the tree through it).
        let mut tree = TreeKill(child.id());
        let mut out = BufReader::new(child.stdout.take().expect("piped"));
        let mut err = BufReader::new(child.stderr.take().expect("piped"));
        // Lines are read as bytes and decoded lossily: a tool printing in a legacy code page
        // (or a stray binary byte) must not end the reading of its pipe, or it blocks once
        // the pipe is full. The buffers live across select! turns because read_until keeps a
        // partly read line in them when the other branch wins.
        let (mut out_buf, mut err_buf) = (Vec::new(), Vec::new());
        let mut tail: VecDeque<String> = VecDeque::new();
        let mut push = |line: String, tail: &mut VecDeque<String>| {
            let line = line.trim_end().to_string();
            if line.trim().is_empty() {
                return;
            }
            on_line(&line);
            ctx.log(line.clone());
            if tail.len() == TAIL {
                tail.pop_front();
            }
            tail.push_back(line);
        };
        let work = async {
            let (mut out_open, mut err_open) = (true, true);
            while out_open || err_open {
                tokio::select! {
                    n = out.read_until(b'\n', &mut out_buf), if out_open => match n {
                        Ok(n) if n > 0 => push(take_line(&mut out_buf), &mut tail),
                        _ => out_open = false,
                    },
                    n = err.read_until(b'\n', &mut err_buf), if err_open => match n {
                        Ok(n) if n > 0 => push(take_line(&mut err_buf), &mut tail),
                        _ => err_open = false,
                    },
                }
            }
            child.wait().await
        };
        let status = match tokio::time::timeout(self.timeout, work).await {
            Ok(Ok(status)) => {
                // Exited by itself: its process group id may be reused from now on.
                tree.0 = None;
                status
            }
            Ok(Err(e)) => {
                return Err(Error::ToolStart {
                    tool: self.tool,
                    program: PathBuf::from(self.program),
                    reason: e.to_string(),
                });
            }
            Err(_) => {
                // The child and everything it started are killed when `tree` and `child` are
                // dropped, which happens here.
                return Err(Error::ToolTimeout {
                    tool: self.tool,
                    command: self.display(),
                    after: self.timeout,
                    hint: timeout_hint.to_string(),
                });
            }
        };
        let exit = match status.code() {
            Some(c) => c.to_string(),
            None => "by signal".into(),
        };
        tracing::info!(%exit, "finished");
        Ok(Finished {
            success: status.success(),
            exit,
            tail: tail.into(),
        })
    }

    /// Runs it and turns a non-zero exit into `ToolFailed` with `hint_for(output)`.
    pub async fn run_ok(
        &self,
        ctx: &StepCtx,
        on_line: impl FnMut(&str),
        timeout_hint: &str,
        hint_for: impl Fn(&str) -> String,
    ) -> Result<Finished, Error> {
        let done = self.run(ctx, on_line, timeout_hint).await?;
        if done.success {
            return Ok(done);
        }
        let text = done.tail.join("\n");
        Err(Error::ToolFailed {
            tool: self.tool,
            command: self.display(),
            exit: done.exit.clone(),
            hint: hint_for(&text),
            last_lines: if text.is_empty() {
                "it printed nothing".into()
            } else {
                text
            },
        })
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::provision::StepId;

    fn script(dir: &Path, body: &str) -> PathBuf {
        let file = dir.join("tool.sh");
        std::fs::write(&file, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
        file
    }

    #[tokio::test]
    async fn a_line_that_is_not_utf8_does_not_stop_the_reading() {
        let dir = tempfile::tempdir().unwrap();
        // Invalid UTF-8 first, then far more than a pipe holds (64 KiB): if the reader gave
        // up at the bad line, the child would block writing and the run would time out.
        let program = script(
            dir.path(),
            "printf 'caf\\351 \\377\\376 bytes\\n'\ni=0; while [ $i -lt 4000 ]; do echo \"line $i of many, long enough to fill the pipe quickly\"; i=$((i+1)); done\necho done >&2",
        );
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let l = Arc::clone(&lines);
        let ctx = StepCtx::detached(StepId::Cluster, Arc::new(|_| {}));
        let cmd = ToolCommand {
            tool: "kind",
            program: &program,
            args: vec![],
            env: vec![],
            timeout: Duration::from_secs(20),
        };
        let done = cmd
            .run(&ctx, |line| l.lock().unwrap().push(line.to_string()), "")
            .await
            .expect("the child finishes");
        assert!(done.success, "{done:?}");
        let lines = lines.lock().unwrap();
        assert_eq!(lines[0], "caf\u{FFFD} \u{FFFD}\u{FFFD} bytes");
        assert!(
            lines.iter().any(|l| l.starts_with("line 3999 ")),
            "{}",
            lines.len()
        );
        assert!(lines.iter().any(|l| l == "done"));
    }
}
