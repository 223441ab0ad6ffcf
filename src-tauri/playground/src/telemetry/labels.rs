//! The labels of Istio's standard metrics that a traffic refresh reads, borrowed from the
//! answer's text. An answer for a large mesh is megabytes of label maps: reading only these
//! labels, without a map and without copying their values, is most of what keeps a refresh
//! cheap (values with JSON escapes, which Istio's labels do not normally have, are copied).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};

use super::prometheus::Text;

/// Declares the labels once: the enum, its count, and the match from a label's name.
macro_rules! labels {
    ($($variant:ident = $name:literal,)*) => {
        /// A label of `istio_requests_total` (and the histograms') that the refresh reads.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(super) enum Label {
            $($variant,)*
        }

        impl Label {
            pub(super) const ALL: [Label; [$($name,)*].len()] = [$(Label::$variant,)*];
            const COUNT: usize = Label::ALL.len();

            #[cfg(test)]
            pub(super) fn name(self) -> &'static str {
                match self {
                    $(Label::$variant => $name,)*
                }
            }

            fn from_name(name: &str) -> Option<Label> {
                match name {
                    $($name => Some(Label::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

labels! {
    SourceWorkloadNamespace = "source_workload_namespace",
    SourceWorkload = "source_workload",
    SourceCanonicalService = "source_canonical_service",
    SourceCanonicalRevision = "source_canonical_revision",
    DestinationService = "destination_service",
    DestinationServiceName = "destination_service_name",
    DestinationServiceNamespace = "destination_service_namespace",
    DestinationWorkloadNamespace = "destination_workload_namespace",
    DestinationWorkload = "destination_workload",
    DestinationCanonicalService = "destination_canonical_service",
    DestinationCanonicalRevision = "destination_canonical_revision",
    Reporter = "reporter",
    ResponseCode = "response_code",
    ResponseFlags = "response_flags",
    ConnectionSecurityPolicy = "connection_security_policy",
}

/// A sample's values of the [`Label`]s; a label the sample lacks reads as empty, as a
/// missing label does in PromQL.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct EdgeLabels<'a>([Cow<'a, str>; Label::COUNT]);

impl<'a> EdgeLabels<'a> {
    pub(super) fn get(&self, label: Label) -> &str {
        &self.0[label as usize]
    }

    /// Labels given as (name, value) pairs; names that are not [`Label`]s are left out, as
    /// the parse leaves them out.
    #[cfg(test)]
    pub(super) fn from_pairs(pairs: &[(&'a str, &'a str)]) -> Self {
        let mut out = EdgeLabels::default();
        for (name, value) in pairs {
            if let Some(label) = Label::from_name(name) {
                out.0[label as usize] = Cow::Borrowed(value);
            }
        }
        out
    }

    /// Whether a value was copied out of the answer rather than borrowed.
    #[cfg(test)]
    pub(super) fn is_copied(&self, label: Label) -> bool {
        matches!(self.0[label as usize], Cow::Owned(_))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for EdgeLabels<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Labels<'a>(PhantomData<EdgeLabels<'a>>);

        impl<'de: 'a, 'a> Visitor<'de> for Labels<'a> {
            type Value = EdgeLabels<'a>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of label names to string values")
            }

            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut out = EdgeLabels::default();
                while let Some(Text(name)) = map.next_key::<Text<'de>>()? {
                    // Every value is read as a string, the labels not kept too, so an answer
                    // that is not a label map is refused as it was with a map of strings;
                    // a label given twice keeps its last value, as such a map does.
                    let Text(value) = map.next_value::<Text<'de>>()?;
                    if let Some(label) = Label::from_name(&name) {
                        out.0[label as usize] = value;
                    }
                }
                Ok(out)
            }
        }

        deserializer.deserialize_map(Labels(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_borrowed_unless_escaped_and_others_are_skipped() {
        let body = r#"{"source_workload":"a-v1","le":"0.5","destination_workload":"caf\u00e9 \"x\"","reporter":"source","reporter":"destination"}"#;
        let l: EdgeLabels<'_> = serde_json::from_str(body).unwrap();
        assert_eq!(l.get(Label::SourceWorkload), "a-v1");
        assert!(!l.is_copied(Label::SourceWorkload));
        assert_eq!(l.get(Label::DestinationWorkload), "café \"x\"");
        assert!(l.is_copied(Label::DestinationWorkload));
        assert_eq!(l.get(Label::Reporter), "destination", "the last value wins");
        assert_eq!(l.get(Label::ResponseCode), "", "a missing label is empty");
        assert!(serde_json::from_str::<EdgeLabels<'_>>(r#"{"le":1}"#).is_err());
        assert!(serde_json::from_str::<EdgeLabels<'_>>(r#"["a"]"#).is_err());
    }

    #[test]
    fn every_label_is_found_by_its_name() {
        for (i, l) in Label::ALL.into_iter().enumerate() {
            assert_eq!(l as usize, i, "the array is indexed by the enum");
            assert_eq!(Label::from_name(l.name()), Some(l));
        }
        assert_eq!(Label::from_name("le"), None);
        // The key labels the queries group by are among them.
        for k in super::super::queries::KEY_LABELS.split(',') {
            assert!(Label::from_name(k).is_some(), "{k}");
        }
    }
}
