//! Label and field selectors, in the string syntax of `?labelSelector=` and `?fieldSelector=`
//! and the structured `LabelSelector` of Deployments and Services.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub enum Requirement {
    Exists(String),
    NotExists(String),
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Gt(String, i64),
    Lt(String, i64),
}

/// A parsed label selector: every requirement must hold. Empty selects everything.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabelSelector(pub Vec<Requirement>);

fn valid_key(k: &str) -> bool {
    if k.is_empty() || k.len() > 316 {
        return false;
    }
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    if let Some(p) = prefix
        && (p.is_empty()
            || p.len() > 253
            || !p
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'))
    {
        return false;
    }
    valid_value(name) && !name.is_empty()
}

fn valid_value(v: &str) -> bool {
    v.len() <= 63
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && v.chars().next().is_none_or(|c| c.is_ascii_alphanumeric())
        && v.chars().last().is_none_or(|c| c.is_ascii_alphanumeric())
}

fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = vec![];
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(LabelSelector::default());
        }
        let mut reqs = vec![];
        for part in split_top_level(s) {
            reqs.push(parse_requirement(part.trim())?);
        }
        Ok(LabelSelector(reqs))
    }

    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::NotExists(k) => get(k).is_none(),
            Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|x| vs.iter().all(|v| v != x)),
            Requirement::Gt(k, n) => get(k)
                .and_then(|x| x.parse::<i64>().ok())
                .is_some_and(|x| x > *n),
            Requirement::Lt(k, n) => get(k)
                .and_then(|x| x.parse::<i64>().ok())
                .is_some_and(|x| x < *n),
        })
    }

    /// From a structured `metav1.LabelSelector`. A missing selector selects nothing, as for
    /// Services without a selector; an empty one selects everything.
    pub fn from_structured(sel: &Value) -> Result<Self, String> {
        let mut reqs = vec![];
        if let Some(ml) = sel.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in ml {
                let v = v
                    .as_str()
                    .ok_or_else(|| format!("matchLabels[{k}] must be a string"))?;
                reqs.push(Requirement::Equals(k.clone(), v.to_string()));
            }
        }
        if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
            for e in exprs {
                let key = e
                    .get("key")
                    .and_then(Value::as_str)
                    .ok_or("matchExpressions[].key: Required value")?
                    .to_string();
                let values: Vec<String> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                let op = e.get("operator").and_then(Value::as_str).unwrap_or("");
                reqs.push(match op {
                    "In" => Requirement::In(key, values),
                    "NotIn" => Requirement::NotIn(key, values),
                    "Exists" => Requirement::Exists(key),
                    "DoesNotExist" => Requirement::NotExists(key),
                    other => {
                        return Err(format!(
                            "\"{other}\" is not a valid label selector operator"
                        ));
                    }
                });
            }
        }
        Ok(LabelSelector(reqs))
    }

    /// A plain map selector (Service `spec.selector`).
    pub fn from_map(m: &Map<String, Value>) -> Self {
        LabelSelector(
            m.iter()
                .map(|(k, v)| Requirement::Equals(k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect(),
        )
    }
}

fn parse_requirement(p: &str) -> Result<Requirement, String> {
    let bad = |why: &str| format!("unable to parse requirement: {why}: \"{p}\"");
    if p.is_empty() {
        return Err(bad("found '', expected: !, identifier, or 'end of string'"));
    }
    if let Some(k) = p.strip_prefix('!') {
        let k = k.trim();
        if !valid_key(k) {
            return Err(bad("invalid label key"));
        }
        return Ok(Requirement::NotExists(k.into()));
    }
    for (op, ctor) in [(" notin ", false), (" in ", true)] {
        if let Some(idx) = p.find(op) {
            let key = p[..idx].trim();
            let rest = p[idx + op.len()..].trim();
            let inner = rest
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(|| bad("found '', expected: '('"))?;
            if !valid_key(key) {
                return Err(bad("invalid label key"));
            }
            let vals: Vec<String> = inner.split(',').map(|v| v.trim().to_string()).collect();
            if vals.iter().any(|v| !valid_value(v)) {
                return Err(bad("invalid label value"));
            }
            return Ok(if ctor {
                Requirement::In(key.into(), vals)
            } else {
                Requirement::NotIn(key.into(), vals)
            });
        }
    }
    for (op, kind) in [("!=", 0), ("==", 1), ("=", 1), (">", 2), ("<", 3)] {
        if let Some(idx) = p.find(op) {
            let key = p[..idx].trim();
            let val = p[idx + op.len()..].trim();
            if !valid_key(key) {
                return Err(bad("invalid label key"));
            }
            return match kind {
                0 | 1 => {
                    if !valid_value(val) {
                        return Err(bad("invalid label value"));
                    }
                    Ok(if kind == 0 {
                        Requirement::NotEquals(key.into(), val.into())
                    } else {
                        Requirement::Equals(key.into(), val.into())
                    })
                }
                _ => {
                    let n: i64 = val.parse().map_err(|_| {
                        bad("for 'Gt', 'Lt' operators, the value must be an integer")
                    })?;
                    Ok(if kind == 2 {
                        Requirement::Gt(key.into(), n)
                    } else {
                        Requirement::Lt(key.into(), n)
                    })
                }
            };
        }
    }
    if !valid_key(p) {
        return Err(bad("invalid label key"));
    }
    Ok(Requirement::Exists(p.into()))
}

/// A field selector: `field=value`, `field==value` or `field!=value`, comma-separated.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FieldSelector(pub Vec<(String, bool, String)>);

/// Fields a field selector may name for a kind, as the real API server allows per resource.
fn supported_field(kind: &str, field: &str) -> bool {
    matches!(field, "metadata.name" | "metadata.namespace")
        || match kind {
            "Pod" => matches!(
                field,
                "status.phase"
                    | "spec.nodeName"
                    | "spec.serviceAccountName"
                    | "status.podIP"
                    | "spec.restartPolicy"
                    | "spec.schedulerName"
                    | "status.nominatedNodeName"
            ),
            "Event" => {
                field.starts_with("involvedObject.")
                    || matches!(field, "reason" | "type" | "source" | "reportingComponent")
            }
            "Secret" => field == "type",
            "Node" => field == "spec.unschedulable",
            "ReplicaSet" => field == "status.replicas",
            "Namespace" => field == "status.phase",
            "Service" => matches!(field, "spec.clusterIP" | "spec.type"),
            _ => false,
        }
}

impl FieldSelector {
    pub fn parse(s: &str, kind: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(FieldSelector::default());
        }
        let mut out = vec![];
        for part in s.split(',') {
            let (field, eq, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, true, v)
            } else {
                return Err(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                ));
            };
            let field = field.trim();
            if !supported_field(kind, field) {
                return Err(format!("field label not supported: {field}"));
            }
            out.push((field.to_string(), eq, value.trim().to_string()));
        }
        Ok(FieldSelector(out))
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(field, eq, want)| {
            let ptr = format!("/{}", field.replace('.', "/"));
            let got = match obj.pointer(&ptr) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Bool(b)) => b.to_string(),
                Some(Value::Number(n)) => n.to_string(),
                _ => String::new(),
            };
            (got == *want) == *eq
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn parses_every_operator() {
        let s = LabelSelector::parse(
            "app=reviews,version in (v2, v3),!legacy,tier!=db,env notin (prod),track",
        )
        .unwrap();
        assert_eq!(s.0.len(), 6);
        let l = labels(json!({"app": "reviews", "version": "v2", "tier": "web", "track": "x"}));
        assert!(s.matches(Some(&l)));
        let l2 = labels(json!({"app": "reviews", "version": "v1", "track": "x"}));
        assert!(!s.matches(Some(&l2)));
        assert!(LabelSelector::parse("").unwrap().matches(None));
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["app in v1", "=x", "a b=c", "app=in(valid", ",", "x>y"] {
            assert!(LabelSelector::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn field_selectors() {
        let f = FieldSelector::parse("metadata.name=a,status.phase!=Running", "Pod").unwrap();
        assert!(f.matches(&json!({"metadata": {"name": "a"}, "status": {"phase": "Pending"}})));
        assert!(!f.matches(&json!({"metadata": {"name": "a"}, "status": {"phase": "Running"}})));
        assert!(FieldSelector::parse("spec.foo=1", "Deployment").is_err());
    }
}
