/// Why an Istio object or one of its values could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The object is of another kind than the one asked for (a Gateway read as a
    /// VirtualService).
    #[error("expected a {expected} ({group}), got {found}")]
    WrongKind {
        expected: &'static str,
        group: &'static str,
        /// `apiVersion` and `kind` as the object gives them.
        found: String,
    },
    /// The object does not have the shape of its kind (a field of the wrong type).
    #[error("this {kind} cannot be read: {source}")]
    Shape {
        kind: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// A duration is not written the way Istio reads durations (`7s`, `0.5s`, `100ms`).
    #[error("{text:?} is not a duration ({reason}); write it like 7s, 0.5s or 100ms")]
    Duration { text: String, reason: &'static str },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
