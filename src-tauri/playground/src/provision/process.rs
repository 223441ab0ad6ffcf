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

/// One command to run.
pub struct ToolCommand<'a> {
    pub tool: &'static str,
    pub program: &'a Path,
    pub args: Vec<OsString>,
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
        let mut child = tokio::process::Command::new(self.program)
            .args(&self.args)
            // Only the kubeconfig named on the command line may be used.
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Error::ToolStart {
                tool: self.tool,
                program: PathBuf::from(self.program),
                reason: e.to_string(),
            })?;
        let mut out = BufReader::new(child.stdout.take().expect("piped")).lines();
        let mut err = BufReader::new(child.stderr.take().expect("piped")).lines();
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
                    l = out.next_line(), if out_open => match l {
                        Ok(Some(l)) => push(l, &mut tail),
                        _ => out_open = false,
                    },
                    l = err.next_line(), if err_open => match l {
                        Ok(Some(l)) => push(l, &mut tail),
                        _ => err_open = false,
                    },
                }
            }
            child.wait().await
        };
        let status = match tokio::time::timeout(self.timeout, work).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => {
                return Err(Error::ToolStart {
                    tool: self.tool,
                    program: PathBuf::from(self.program),
                    reason: e.to_string(),
                });
            }
            Err(_) => {
                // The child is killed when dropped (kill_on_drop), which happens here.
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
