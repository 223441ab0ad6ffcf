//! What a process in a simulated pod can run: `curl`, and `sh -c` with a curl command,
//! optionally piped into `grep`. Everything else fails the way a missing program does (exit
//! 127, or 126 for a shell form that is not run), with a message saying why.

use serde_json::Value;

use crate::curl;
use crate::dataplane::DataPlane;
use crate::store::Store;

/// Where a command runs.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub dataplane: &'a DataPlane,
    pub store: &'a Store,
    pub pod: &'a Value,
    pub container: &'a str,
    /// Whether the client asked for a terminal (`kubectl exec -t`).
    pub tty: bool,
}

/// What a command wrote and how it ended.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit: i32,
}

impl Output {
    pub fn failed(exit: i32, stderr: String) -> Self {
        Output {
            stdout: vec![],
            stderr: stderr.into_bytes(),
            exit,
        }
    }
}

/// Exit code of a shell for a command it cannot find.
const NOT_FOUND: i32 = 127;
/// Exit code of a shell for a command it found but cannot run.
const CANNOT_RUN: i32 = 126;

fn not_available(what: &str, exit: i32) -> Output {
    Output::failed(
        exit,
        format!(
            "\"{what}\": not available in the simulated cluster (it runs curl and sh -c with curl only)\n"
        ),
    )
}

fn program(argv0: &str) -> &str {
    argv0.rsplit('/').next().unwrap_or(argv0)
}

/// Runs `argv` in the context's container.
pub async fn run(cx: &Context<'_>, argv: &[String]) -> Output {
    let Some(first) = argv.first() else {
        return not_available("", NOT_FOUND);
    };
    match program(first) {
        "curl" => curl::run(cx, &argv[1..]).await,
        "sh" | "bash" | "ash" | "dash" => match argv.get(1..) {
            Some([c, script, ..]) if c == "-c" => shell(cx, script).await,
            _ => not_available(&argv.join(" "), CANNOT_RUN),
        },
        other => not_available(other, NOT_FOUND),
    }
}

/// A word of a shell command line, or the pipe between commands.
#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Pipe,
}

/// Splits a command line as sh does for the forms run here: words, quotes, backslashes and
/// pipes. Anything more (variables, substitutions, redirections, lists) is refused: None.
fn tokenize(script: &str) -> Option<Vec<Token>> {
    let mut out = vec![];
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = script.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    out.push(Token::Word(std::mem::take(&mut word)));
                    in_word = false;
                }
            }
            '|' => {
                if chars.peek() == Some(&'|') {
                    return None;
                }
                if in_word {
                    out.push(Token::Word(std::mem::take(&mut word)));
                    in_word = false;
                }
                out.push(Token::Pipe);
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        x => word.push(x),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            x @ ('"' | '\\' | '$' | '`') => word.push(x),
                            '\n' => {}
                            x => {
                                word.push('\\');
                                word.push(x);
                            }
                        },
                        '$' | '`' => return None,
                        x => word.push(x),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') | None => {}
                    Some(x) => word.push(x),
                }
            }
            '$' | '`' | ';' | '&' | '<' | '>' | '(' | ')' => return None,
            x => {
                in_word = true;
                word.push(x);
            }
        }
    }
    if in_word {
        out.push(Token::Word(word));
    }
    Some(out)
}

async fn shell(cx: &Context<'_>, script: &str) -> Output {
    let Some(tokens) = tokenize(script) else {
        return not_available(script, CANNOT_RUN);
    };
    let mut stages: Vec<Vec<String>> = vec![vec![]];
    for t in tokens {
        match t {
            Token::Word(w) => stages.last_mut().expect("never empty").push(w),
            Token::Pipe => stages.push(vec![]),
        }
    }
    if stages.iter().any(Vec::is_empty) {
        return Output::failed(2, "sh: syntax error: unexpected \"|\"\n".into());
    }
    let first = &stages[0];
    if program(&first[0]) != "curl" {
        return not_available(program(&first[0]), NOT_FOUND);
    }
    for later in &stages[1..] {
        if program(&later[0]) != "grep" {
            return not_available(program(&later[0]), NOT_FOUND);
        }
    }
    // In a pipe curl's stdout is not a terminal even under a TTY.
    let piped = stages.len() > 1;
    let cx = Context {
        tty: cx.tty && !piped,
        ..*cx
    };
    let mut out = curl::run(&cx, &first[1..]).await;
    for g in &stages[1..] {
        let r = grep(&g[1..], &out.stdout);
        out.stdout = r.stdout;
        out.stderr.extend(r.stderr);
        // A pipeline's status is its last command's.
        out.exit = r.exit;
    }
    out
}

/// A basic regular expression (grep's default) in the `regex` crate's syntax: `+ ? | ( ) { }`
/// are literal unless escaped, and escaped they are operators.
fn basic_to_extended(pattern: &str) -> String {
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(x @ ('+' | '?' | '|' | '(' | ')' | '{' | '}')) => out.push(x),
                Some(x) => {
                    out.push('\\');
                    out.push(x);
                }
                None => out.push_str("\\\\"),
            },
            '+' | '?' | '|' | '(' | ')' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            x => out.push(x),
        }
    }
    out
}

/// `grep [-o] [-i] [-E] [-q] [-c] [-v] PATTERN` over `input` (busybox and GNU agree on these).
fn grep(args: &[String], input: &[u8]) -> Output {
    let (mut only, mut icase, mut extended, mut quiet, mut count, mut invert) =
        (false, false, false, false, false, false);
    let mut pattern = None;
    let mut rest = args.iter();
    while let Some(a) = rest.next() {
        match a.as_str() {
            "-e" => pattern = rest.next().cloned(),
            s if s.starts_with('-') && s.len() > 1 && pattern.is_none() => {
                for f in s[1..].chars() {
                    match f {
                        'o' => only = true,
                        'i' => icase = true,
                        'E' => extended = true,
                        'q' => quiet = true,
                        'c' => count = true,
                        'v' => invert = true,
                        other => {
                            return Output::failed(
                                2,
                                format!(
                                    "grep: option -{other}: not available in the simulated cluster (-o -i -E -q -c -v are)\n"
                                ),
                            );
                        }
                    }
                }
            }
            s if pattern.is_none() => pattern = Some(s.to_string()),
            file => {
                return Output::failed(2, format!("grep: {file}: No such file or directory\n"));
            }
        }
    }
    let Some(pattern) = pattern else {
        return Output::failed(2, "Usage: grep [OPTION]... PATTERNS [FILE]...\n".into());
    };
    let source = if extended {
        pattern.clone()
    } else {
        basic_to_extended(&pattern)
    };
    let re = match regex::RegexBuilder::new(&source)
        .case_insensitive(icase)
        .build()
    {
        Ok(re) => re,
        Err(_) => {
            return Output::failed(2, format!("grep: invalid regular expression: {pattern}\n"));
        }
    };
    let text = String::from_utf8_lossy(input);
    let mut out = String::new();
    let mut matched = 0usize;
    for line in text.lines() {
        let hit = re.is_match(line) != invert;
        if !hit {
            continue;
        }
        matched += 1;
        if quiet || count {
            continue;
        }
        if only && !invert {
            for m in re.find_iter(line).filter(|m| !m.as_str().is_empty()) {
                out.push_str(m.as_str());
                out.push('\n');
            }
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if count {
        out = format!("{matched}\n");
    }
    Output {
        stdout: out.into_bytes(),
        stderr: vec![],
        exit: if matched > 0 { 0 } else { 1 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<Token> {
        tokenize(s).unwrap()
    }

    fn w(s: &str) -> Token {
        Token::Word(s.into())
    }

    #[test]
    fn shell_words_and_pipes_split_as_sh_does() {
        assert_eq!(
            words(r#"curl -s 'a b' "c\"d" e\ f | grep -o "<title>.*</title>""#),
            vec![
                w("curl"),
                w("-s"),
                w("a b"),
                w("c\"d"),
                w("e f"),
                Token::Pipe,
                w("grep"),
                w("-o"),
                w("<title>.*</title>")
            ]
        );
        assert_eq!(words("a|b"), vec![w("a"), Token::Pipe, w("b")]);
        for refused in [
            "curl x; ls",
            "curl $HOST",
            "curl x > f",
            "curl x && ls",
            "a || b",
            "echo $(id)",
            "'open",
        ] {
            assert!(tokenize(refused).is_none(), "{refused}");
        }
    }

    #[test]
    fn grep_finds_what_gnu_grep_finds() {
        let page = b"<html>\n<head><title>Simple Bookstore App</title></head>\n<p>x</p>\n";
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let r = grep(&args(&["-o", "<title>.*</title>"]), page);
        assert_eq!(r.stdout, b"<title>Simple Bookstore App</title>\n");
        assert_eq!(r.exit, 0);
        let r = grep(&args(&["Bookstore"]), page);
        assert_eq!(
            r.stdout,
            b"<head><title>Simple Bookstore App</title></head>\n"
        );
        assert_eq!(grep(&args(&["-c", "<"]), page).stdout, b"3\n");
        assert_eq!(grep(&args(&["nothing"]), page).exit, 1);
        // Basic syntax: `+` is literal unless escaped.
        assert_eq!(grep(&args(&["p+"]), b"p+\npp\n").stdout, b"p+\n");
        assert_eq!(grep(&args(&["-E", "p+"]), b"x\npp\n").stdout, b"pp\n");
        assert_eq!(grep(&args(&["-Z", "x"]), page).exit, 2);
    }
}
