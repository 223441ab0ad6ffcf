//! Values that several Istio kinds share: durations, percentages, string matches, port and
//! workload selectors, and the enums Istio writes as upper-case words.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Label maps (`version: v1`), sorted so output is stable.
pub type Labels = BTreeMap<String, String>;

/// Fields this crate does not model, kept so a read-modify-write sends them back unchanged.
pub type Extra = Map<String, Value>;

/// Defines an enum of the upper-case words Istio uses (`STRICT`, `ISTIO_MUTUAL`), with an
/// `Other` variant that keeps any word this crate does not know (a newer Istio's), so
/// reading and writing an object never changes it.
macro_rules! istio_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(from = "String", into = "String")]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A word this crate does not know, kept as written.
            Other(String),
        }

        impl $name {
            /// The word as Istio writes it.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $text, )+
                    Self::Other(s) => s,
                }
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                match s.as_str() {
                    $( $text => Self::$variant, )+
                    _ => Self::Other(s),
                }
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                match v {
                    $name::Other(s) => s,
                    other => other.as_str().to_owned(),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use istio_enum;

/// A duration as Istio writes it (`7s`, `0.5s`, `100ms`, `1m30s`), keeping the text so a
/// round trip writes back exactly what was read. Reading never fails; [`Duration::to_std`]
/// says whether the text is a duration Istio accepts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Duration(String);

impl Duration {
    /// A duration from a time span, written the way Istio's docs write them (`7s`, `100ms`,
    /// `1.5s`).
    pub fn from_std(d: std::time::Duration) -> Self {
        let nanos = d.subsec_nanos();
        let text = if nanos == 0 {
            format!("{}s", d.as_secs())
        } else if d.as_secs() == 0 && nanos.is_multiple_of(1_000_000) {
            format!("{}ms", nanos / 1_000_000)
        } else {
            let frac = format!("{nanos:09}");
            format!("{}.{}s", d.as_secs(), frac.trim_end_matches('0'))
        };
        Self(text)
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The time span, or why the text is not a duration Istio accepts.
    pub fn to_std(&self) -> Result<std::time::Duration> {
        parse_go_duration(&self.0).map_err(|reason| Error::Duration {
            text: self.0.clone(),
            reason,
        })
    }
}

impl FromStr for Duration {
    type Err = Error;

    /// Checks the text, so a duration typed by a person is refused before it is written.
    fn from_str(s: &str) -> Result<Self> {
        let d = Self(s.to_owned());
        d.to_std()?;
        Ok(d)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses Go's `time.ParseDuration` grammar (`[-+]?([0-9]*(\.[0-9]*)?unit)+` or `0`), which
/// is what Istio's CRD validation (CEL `duration()`) and its config loader accept.
///
/// Written here because no crate reads exactly this: `humantime` takes whole numbers only
/// (no `0.5s`) and adds units Istio refuses (`days`), and `go-parse-duration` 0.1 mixes
/// character and byte offsets (so `µs` fails) and loops forever on a fraction longer than
/// 18 digits.
fn parse_go_duration(text: &str) -> std::result::Result<std::time::Duration, &'static str> {
    let (negative, mut s) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if s == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    if s.is_empty() {
        return Err("it is empty");
    }
    let not_digit = |c: char| !c.is_ascii_digit();
    let mut total: u128 = 0;
    while !s.is_empty() {
        let (whole, rest) = s.split_at(s.find(not_digit).unwrap_or(s.len()));
        let (frac, rest) = match rest.strip_prefix('.') {
            Some(r) => r.split_at(r.find(not_digit).unwrap_or(r.len())),
            None => ("", rest),
        };
        if whole.is_empty() && frac.is_empty() {
            return Err("a number is missing");
        }
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let (unit, rest) = rest.split_at(unit_len);
        let per: u128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err("the unit is missing"),
            _ => return Err("the unit is not one of ns, us, ms, s, m, h"),
        };
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| "it is too long")?
        };
        // Digits past the 18th are below a nanosecond even for hours: dropping them keeps
        // the product in range, and Go truncates them too.
        let frac = &frac[..frac.len().min(18)];
        let frac_nanos = if frac.is_empty() {
            0
        } else {
            let digits: u128 = frac.parse().map_err(|_| "it is too long")?;
            digits * per / 10u128.pow(frac.len() as u32)
        };
        total = whole
            .checked_mul(per)
            .and_then(|w| w.checked_add(frac_nanos))
            .and_then(|v| v.checked_add(total))
            .ok_or("it is too long")?;
        s = rest;
    }
    // Go keeps durations in an i64 of nanoseconds (about 292 years).
    if total > i64::MAX as u128 {
        return Err("it is too long");
    }
    if negative && total > 0 {
        return Err("it is negative");
    }
    Ok(std::time::Duration::from_nanos(total as u64))
}

/// A number Istio reads as a double (a percentage), kept as it was written (`100` or
/// `100.0`) so a round trip does not change the object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Double(serde_json::Number);

impl Double {
    /// None for NaN and infinities, which JSON cannot carry.
    pub fn new(v: f64) -> Option<Self> {
        serde_json::Number::from_f64(v).map(Self)
    }

    pub fn get(&self) -> f64 {
        self.0.as_f64().unwrap_or(0.0)
    }
}

impl From<u32> for Double {
    fn from(v: u32) -> Self {
        Self(v.into())
    }
}

/// Istio's `Percent` message: `{value: 12.5}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Percent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Double>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Percent {
    /// None for NaN and infinities.
    pub fn new(value: f64) -> Option<Self> {
        Some(Self {
            value: Some(Double::new(value)?),
            extra: Extra::new(),
        })
    }

    /// The percentage; an empty message means 0, as in protobuf.
    pub fn get(&self) -> f64 {
        self.value.as_ref().map_or(0.0, Double::get)
    }
}

/// A string condition on a URI, header, query parameter, method or authority. Istio allows
/// one of `exact`, `prefix` and `regex`; an empty match (`{}`) on a header asks only that
/// the header be present.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StringMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// RE2 syntax, matched against the whole value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// What a [`StringMatch`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringRule<'a> {
    Exact(&'a str),
    Prefix(&'a str),
    Regex(&'a str),
    /// No condition on the value: it only has to be there.
    Present,
}

impl StringMatch {
    pub fn exact(v: impl Into<String>) -> Self {
        Self {
            exact: Some(v.into()),
            ..Self::default()
        }
    }

    pub fn prefix(v: impl Into<String>) -> Self {
        Self {
            prefix: Some(v.into()),
            ..Self::default()
        }
    }

    pub fn regex(v: impl Into<String>) -> Self {
        Self {
            regex: Some(v.into()),
            ..Self::default()
        }
    }

    /// The condition; when an invalid object sets more than one, `exact` wins, then
    /// `prefix`.
    pub fn rule(&self) -> StringRule<'_> {
        if let Some(v) = &self.exact {
            StringRule::Exact(v)
        } else if let Some(v) = &self.prefix {
            StringRule::Prefix(v)
        } else if let Some(v) = &self.regex {
            StringRule::Regex(v)
        } else {
            StringRule::Present
        }
    }
}

/// A port by number (`port: {number: 9080}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortSelector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<u32>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl PortSelector {
    pub fn number(n: u32) -> Self {
        Self {
            number: Some(n),
            extra: Extra::new(),
        }
    }
}

/// The pods a policy applies to (`selector: {matchLabels: {app: reviews}}`); no selector
/// means every workload of the namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSelector {
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub match_labels: Labels,
    #[serde(flatten)]
    pub extra: Extra,
}

pub(crate) fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// True when every label of `selector` is on `labels` (an empty selector selects all).
pub fn selects(selector: &Labels, labels: &Labels) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration as Std;

    #[test]
    fn durations_read_like_go_and_istio() {
        let ok = |t: &str| t.parse::<Duration>().unwrap().to_std().unwrap();
        assert_eq!(ok("7s"), Std::from_secs(7));
        assert_eq!(ok("0.5s"), Std::from_millis(500));
        assert_eq!(ok(".5s"), Std::from_millis(500));
        assert_eq!(ok("100ms"), Std::from_millis(100));
        assert_eq!(ok("1m30s"), Std::from_secs(90));
        assert_eq!(ok("1.5h"), Std::from_secs(5400));
        assert_eq!(ok("250us"), Std::from_micros(250));
        assert_eq!(ok("250\u{b5}s"), Std::from_micros(250));
        assert_eq!(ok("3ns"), Std::from_nanos(3));
        assert_eq!(ok("0"), Std::ZERO);
        assert_eq!(ok("+2s"), Std::from_secs(2));
        assert_eq!(ok("0.0000000000000000000001s"), Std::ZERO);
        for (bad, why) in [
            ("", "empty"),
            ("7", "unit is missing"),
            ("7 s", "unit is not one of"),
            ("7sec", "unit is not one of"),
            ("2d", "unit is not one of"),
            ("s", "number is missing"),
            (".s", "number is missing"),
            ("-1s", "negative"),
            ("99999999999999999999999h", "too long"),
            ("3000000h", "too long"),
        ] {
            let err = bad.parse::<Duration>().unwrap_err().to_string();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn durations_written_from_a_time_span_read_back_the_same() {
        for (d, text) in [
            (Std::from_secs(7), "7s"),
            (Std::from_millis(100), "100ms"),
            (Std::from_millis(1500), "1.5s"),
            (Std::from_micros(250), "0.00025s"),
            (Std::ZERO, "0s"),
        ] {
            let written = Duration::from_std(d);
            assert_eq!(written.as_str(), text);
            assert_eq!(written.to_std().unwrap(), d);
        }
    }

    #[test]
    fn a_bad_duration_is_kept_when_read_and_refused_when_used() {
        let d: Duration = serde_json::from_value(serde_json::json!("soon")).unwrap();
        assert_eq!(serde_json::to_value(&d).unwrap(), "soon");
        assert!(d.to_std().is_err());
    }

    #[test]
    fn percentages_keep_how_they_were_written() {
        for v in [
            serde_json::json!({"value": 100}),
            serde_json::json!({"value": 12.5}),
        ] {
            let p: Percent = serde_json::from_value(v.clone()).unwrap();
            assert_eq!(serde_json::to_value(&p).unwrap(), v);
        }
        let p: Percent = serde_json::from_value(serde_json::json!({"value": 100})).unwrap();
        assert_eq!(p.get(), 100.0);
        assert_eq!(Percent::new(0.1).unwrap().get(), 0.1);
        assert!(Percent::new(f64::NAN).is_none());
    }

    #[test]
    fn string_matches_say_what_they_ask() {
        let m: StringMatch = serde_json::from_value(serde_json::json!({"prefix": "/api"})).unwrap();
        assert_eq!(m.rule(), StringRule::Prefix("/api"));
        let m: StringMatch = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(m.rule(), StringRule::Present);
        assert_eq!(
            StringMatch::regex("v[12]").rule(),
            StringRule::Regex("v[12]")
        );
    }
}
