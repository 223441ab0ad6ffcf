//! Reading a lesson file: the YAML must fit the types (serde says where it does not, with the
//! line), then the lesson must make sense (unique step ids, percentages that are
//! percentages, plans the actions would accept). Everything is checked before a lesson is
//! listed, so a class never stops halfway on a typo.

use std::collections::HashSet;

use super::{Check, Lesson, Step, StepAction};
use crate::actions::{fault, route};

/// The schema a lesson file names in its `schema:` field.
pub const SCHEMA: &str = "istio-playground/lesson/v1";

/// Why a lesson cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LessonError {
    /// The file does not fit the schema; `line` is 1-based when known.
    #[error("{}{reason}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
    Invalid { line: Option<usize>, reason: String },
    #[error("could not read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("there is no lesson called {name:?} (there are: {})", known.join(", "))]
    Unknown { name: String, known: Vec<String> },
    #[error("lesson {lesson:?} has no step {step:?}")]
    UnknownStep { lesson: String, step: String },
    #[error("a lesson that comes with the app is already called {name:?}")]
    NameTaken { name: String },
}

impl LessonError {
    pub fn code(&self) -> crate::ErrorCode {
        match self {
            LessonError::Invalid { .. } | LessonError::NameTaken { .. } => {
                crate::ErrorCode::LessonInvalid
            }
            LessonError::Read { .. } => crate::ErrorCode::Io,
            LessonError::Unknown { .. } | LessonError::UnknownStep { .. } => {
                crate::ErrorCode::LessonUnknown
            }
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            LessonError::Invalid { .. } => Some(
                "The lesson format is described in manifests/lessons/README.md; `istio-playground lesson validate FILE` checks a file.".into(),
            ),
            LessonError::NameTaken { .. } => Some("Give your lesson another `name:`.".into()),
            LessonError::Unknown { .. } => {
                Some("`istio-playground lesson list` shows the lessons.".into())
            }
            _ => None,
        }
    }
}

/// Parses and validates a lesson.
pub fn parse(text: &str) -> Result<Lesson, LessonError> {
    // serde_yaml_ng writes enums as YAML tags (`!weights`); teachers write the plain
    // one-key map (`- weights: {...}`), which singleton_map_recursive reads, keeping the
    // line of every error.
    let de = serde_yaml_ng::Deserializer::from_str(text);
    let lesson: Lesson =
        serde_yaml_ng::with::singleton_map_recursive::deserialize(de).map_err(|e| {
            LessonError::Invalid {
                line: e.location().map(|l| l.line()),
                // serde_yaml_ng appends " at line N column M"; the line is reported on its own.
                reason: strip_location(&e.to_string()),
            }
        })?;
    validate(&lesson, text)?;
    Ok(lesson)
}

fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

fn validate(lesson: &Lesson, text: &str) -> Result<(), LessonError> {
    let whole = |reason: String| LessonError::Invalid { line: None, reason };
    if lesson.schema_version != SCHEMA {
        return Err(LessonError::Invalid {
            line: line_of(text, |l| l.starts_with("schema:")),
            reason: format!(
                "schema is {:?}; this app reads {SCHEMA:?}",
                lesson.schema_version
            ),
        });
    }
    if !is_slug(&lesson.name) {
        return Err(LessonError::Invalid {
            line: line_of(text, |l| l.starts_with("name:")),
            reason: format!(
                "name {:?} must be lower-case letters, digits and dashes",
                lesson.name
            ),
        });
    }
    if lesson.title.trim().is_empty() {
        return Err(whole("the lesson has no title".into()));
    }
    if lesson.steps.is_empty() {
        return Err(whole("the lesson has no steps".into()));
    }
    let mut seen = HashSet::new();
    for (index, step) in lesson.steps.iter().enumerate() {
        let line = step_line(text, index);
        let at = |reason: String| LessonError::Invalid {
            line,
            reason: format!("step {} ({:?}): {reason}", index + 1, step.id),
        };
        if !is_slug(&step.id) {
            return Err(at("id must be lower-case letters, digits and dashes".into()));
        }
        if !seen.insert(step.id.as_str()) {
            return Err(at("another step has the same id".into()));
        }
        for (field, value) in [
            ("title", &step.title),
            ("what", &step.what),
            ("why", &step.why),
        ] {
            if value.trim().is_empty() {
                return Err(at(format!("{field} is empty")));
            }
        }
        if step.check.is_some() && step.hint.trim().is_empty() {
            return Err(at(
                "a step with a check needs a hint for when it does not pass".into(),
            ));
        }
        for action in step.actions.iter().chain(&step.reset) {
            check_action(action).map_err(at)?;
        }
        if let Some(check) = &step.check {
            check_check(check).map_err(at)?;
        }
        check_spotlight(step).map_err(at)?;
    }
    Ok(())
}

fn check_action(action: &StepAction) -> Result<(), String> {
    let names = |namespace: &str, service: &str| -> Result<(), String> {
        for (what, value) in [("namespace", namespace), ("service", service)] {
            if !is_dns_label(value) {
                return Err(format!("{what} {value:?} is not a Kubernetes name"));
            }
        }
        Ok(())
    };
    match action {
        StepAction::Setup | StepAction::Teardown | StepAction::StopTraffic => Ok(()),
        StepAction::ResetRouting(_) => Ok(()),
        StepAction::Inject(r) => names(&r.namespace, "x"),
        StepAction::Traffic(settings) => settings.validate().map_err(|e| e.to_string()),
        StepAction::Weights(plan) => {
            names(&plan.namespace, &plan.service)?;
            if plan.weights.values().any(|w| !(0..=100).contains(w)) {
                return Err("weights must be between 0 and 100".into());
            }
            let sum: i64 = plan.weights.values().sum();
            if sum != 100 {
                return Err(format!("weights add up to {sum}, not 100"));
            }
            Ok(())
        }
        StepAction::Route(plan) => {
            names(&plan.namespace, &plan.service)?;
            if plan.user.is_some() || plan.header.is_some() {
                let header = plan.header.as_deref().unwrap_or(route::USER_HEADER);
                route::check_header(header, plan.user.as_deref()).map_err(|e| e.to_string())?;
            }
            Ok(())
        }
        StepAction::Fault(plan) => {
            names(&plan.namespace, &plan.service)?;
            fault::validate(plan).map(drop).map_err(|e| e.to_string())
        }
        StepAction::Timeout(plan) => names(&plan.namespace, &plan.service),
        StepAction::Retries(plan) => names(&plan.namespace, &plan.service),
        StepAction::Mtls(_) => Ok(()),
    }
}

fn check_check(check: &Check) -> Result<(), String> {
    let percent = |what: &str, v: f64| -> Result<(), String> {
        if v.is_finite() && (0.0..=100.0).contains(&v) {
            Ok(())
        } else {
            Err(format!(
                "{what} must be a percentage from 0 to 100, not {v}"
            ))
        }
    };
    let name = |what: &str, v: &str| -> Result<(), String> {
        if is_dns_label(v) {
            Ok(())
        } else {
            Err(format!("{what} {v:?} is not a Kubernetes name"))
        }
    };
    match check {
        Check::Ready {
            namespace,
            workloads,
        } => {
            name("namespace", namespace)?;
            if workloads.is_empty() {
                return Err("ready needs at least one workload".into());
            }
            workloads.iter().try_for_each(|w| name("workload", w))
        }
        Check::Sidecars { namespace } => name("namespace", namespace),
        Check::PlainTextRefused { namespace, service } => {
            name("namespace", namespace)?;
            name("service", service)
        }
        Check::Traffic {
            namespace,
            service,
            min_per_second,
        } => {
            name("namespace", namespace)?;
            name("service", service)?;
            if !(min_per_second.is_finite() && *min_per_second >= 0.0) {
                return Err(format!(
                    "minPerSecond must be 0 or more, not {min_per_second}"
                ));
            }
            Ok(())
        }
        Check::Split {
            namespace,
            service,
            at_least,
            ..
        }
        | Check::Mtls {
            namespace,
            service,
            at_least,
        }
        | Check::Errors {
            namespace,
            service,
            at_least,
            ..
        } => {
            name("namespace", namespace)?;
            name("service", service)?;
            percent("atLeast", *at_least)
        }
        Check::SplitNear {
            namespace,
            service,
            weights,
            within,
        } => {
            name("namespace", namespace)?;
            name("service", service)?;
            percent("within", *within)?;
            let sum: u32 = weights.values().sum();
            if sum != 100 {
                return Err(format!("splitNear weights add up to {sum}, not 100"));
            }
            Ok(())
        }
        Check::ClusterGone => Ok(()),
    }
}

fn check_spotlight(step: &Step) -> Result<(), String> {
    for node in &step.look.nodes {
        let known = [
            "ns/", "gw/", "vs/", "svc/", "subset/", "wl/", "ingress/", "pod/",
        ];
        if !known.iter().any(|p| node.starts_with(p)) {
            return Err(format!(
                "look.nodes {node:?} is not a graph node id (they start with {})",
                known.join(", ")
            ));
        }
    }
    Ok(())
}

/// Lesson and step names follow the same rule as Kubernetes names.
use crate::actions::is_dns_label as is_slug;
use crate::actions::is_dns_label;

/// The 1-based line of the first top-level line `pred` accepts.
fn line_of(text: &str, pred: impl Fn(&str) -> bool) -> Option<usize> {
    text.lines().position(pred).map(|i| i + 1)
}

/// The 1-based line where the `index`th item of the top-level `steps:` list starts.
/// serde cannot say where a value came from once it is parsed, so the list items are found
/// in the text: after `steps:`, the lines whose first non-blank character is `-` at the
/// list's own indentation.
fn step_line(text: &str, index: usize) -> Option<usize> {
    let mut lines = text.lines().enumerate();
    lines.find(|(_, l)| l.trim_end() == "steps:")?;
    let mut indent = None;
    let mut count = 0;
    for (i, line) in lines {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let depth = line.len() - trimmed.len();
        if depth == 0 && !trimmed.starts_with('-') {
            break;
        }
        if trimmed.starts_with("- ") || trimmed == "-" {
            match indent {
                None => indent = Some(depth),
                Some(d) if d != depth => continue,
                Some(_) => {}
            }
            if count == index {
                return Some(i + 1);
            }
            count += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str =
        "schema: istio-playground/lesson/v1\nname: t\ntitle: T\nsummary: S\nsteps:\n";
    const STEP: &str = "  - id: one\n    title: One\n    what: W\n    why: Y\n";

    fn refused(body: &str) -> (Option<usize>, String) {
        match parse(&format!("{HEAD}{body}")) {
            Err(LessonError::Invalid { line, reason }) => (line, reason),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_minimal_lesson_parses() {
        let lesson = parse(&format!("{HEAD}{STEP}")).unwrap();
        assert_eq!(lesson.steps[0].id, "one");
        assert!(lesson.steps[0].actions.is_empty());
    }

    #[test]
    fn an_unknown_field_is_refused_at_its_line() {
        let (line, reason) = refused(&format!("{STEP}    chek: clusterGone\n"));
        assert_eq!(line, Some(10));
        assert!(reason.contains("unknown field `chek`"), "{reason}");
    }

    #[test]
    fn a_typo_inside_an_action_plan_is_refused_at_its_line() {
        let (line, reason) = refused(&format!(
            "{STEP}    do:\n      - weights:\n          service: reviews\n          namespace: default\n          weigths: {{v1: 100}}\n"
        ));
        assert_eq!(line, Some(14));
        assert!(reason.contains("unknown field `weigths`"), "{reason}");
    }

    #[test]
    fn an_unknown_action_is_refused_with_the_known_ones() {
        let (line, reason) = refused(&format!("{STEP}    do:\n      - explode\n"));
        assert_eq!(line, Some(11));
        assert!(
            reason.contains("unknown variant `explode`") && reason.contains("weights"),
            "{reason}"
        );
    }

    #[test]
    fn senseless_values_are_refused_at_the_steps_line() {
        let second = "  - id: two\n    title: Two\n    what: W\n    why: Y\n    hint: H\n    check:\n      split: {namespace: default, service: reviews, version: v1, atLeast: 120}\n";
        let (line, reason) = refused(&format!("{STEP}{second}"));
        assert_eq!(line, Some(10));
        assert!(
            reason.contains("step 2 (\"two\")") && reason.contains("atLeast"),
            "{reason}"
        );

        let weights = "    do:\n      - weights: {service: reviews, namespace: default, weights: {v1: 60, v2: 30}}\n";
        let (line, reason) = refused(&format!("{STEP}{weights}"));
        assert_eq!(line, Some(6));
        assert!(reason.contains("add up to 90"), "{reason}");

        let fault = "    do:\n      - fault: {service: ratings, namespace: default, fault: {type: delay, delay: soon}, percent: 100, user: null, header: null}\n";
        let (_, reason) = refused(&format!("{STEP}{fault}"));
        assert!(reason.contains("soon"), "{reason}");

        let (line, reason) = refused(&format!("{STEP}{}", STEP));
        assert_eq!(line, Some(10));
        assert!(reason.contains("same id"), "{reason}");

        let check_without_hint = "    check: clusterGone\n";
        let (_, reason) = refused(&format!("{STEP}{check_without_hint}"));
        assert!(reason.contains("needs a hint"), "{reason}");
    }

    #[test]
    fn another_schema_is_refused_at_its_line() {
        let text = format!("{}{STEP}", HEAD.replace("/v1", "/v9"));
        match parse(&text) {
            Err(LessonError::Invalid { line, reason }) => {
                assert_eq!(line, Some(1));
                assert!(reason.contains("v9"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
}
