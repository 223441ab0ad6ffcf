//! Request timeouts and retries on a service's routes (Istio's "Request timeouts" task and
//! the retries of its traffic management concepts). Both go on every route of the service's
//! VirtualService, which is made (sending everything to the service) when there is none.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::ActionError;
use super::backup::{ActionKind, ChangeBackup, TrafficChange};
use super::fault::check_duration;
use super::route::{base_virtual_service, read_service, run, vs_step};
use crate::istio::HttpRetry;

type Result<T, E = ActionError> = std::result::Result<T, E>;

/// Envoy's retry conditions (`x-envoy-retry-on` and, for gRPC, `x-envoy-retry-grpc-on`), the
/// words Istio's `retryOn` takes besides status codes.
pub const RETRY_ON: [&str; 16] = [
    "5xx",
    "gateway-error",
    "reset",
    "reset-before-request",
    "connect-failure",
    "envoy-ratelimited",
    "retriable-4xx",
    "refused-stream",
    "retriable-status-codes",
    "retriable-headers",
    "http3-post-connect-failure",
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
];

/// A timeout for every request to a service (None removes it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[ts(export)]
pub struct TimeoutPlan {
    pub service: String,
    pub namespace: String,
    /// `0.5s`, `3s`...; None clears the timeout.
    pub timeout: Option<String>,
}

/// Retries of failed requests to a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[ts(export)]
pub struct RetryPlan {
    pub service: String,
    pub namespace: String,
    /// Removes the retries (Istio's default applies again); the other fields must be empty.
    pub clear: bool,
    /// Tries after the first one.
    #[ts(type = "number | null")]
    pub attempts: Option<i64>,
    /// Time allowed to each try (`2s`).
    pub per_try_timeout: Option<String>,
    /// Conditions to retry on: Envoy's words or status codes.
    pub retry_on: Vec<String>,
}

/// Checks retry conditions: Envoy's words, or a status code (which Istio turns into
/// `retriable-status-codes`).
pub fn check_retry_on(conditions: &[String]) -> Result<()> {
    for c in conditions {
        let c = c.trim();
        let status = c.parse::<u16>().is_ok_and(|s| (100..=599).contains(&s));
        if !status && !RETRY_ON.contains(&c) {
            return Err(ActionError::UnknownRetryCondition {
                condition: c.into(),
            });
        }
    }
    Ok(())
}

/// The retry policy a plan asks for; None for a clear.
pub fn retry_policy(plan: &RetryPlan) -> Result<Option<HttpRetry>> {
    let empty =
        plan.attempts.is_none() && plan.per_try_timeout.is_none() && plan.retry_on.is_empty();
    if plan.clear {
        return if empty {
            Ok(None)
        } else {
            Err(ActionError::NothingToChange {
                what: "--clear removes the retries; give it alone".into(),
            })
        };
    }
    if empty {
        return Err(ActionError::NothingToChange {
            what: "no attempts, per-try timeout or retry conditions were given".into(),
        });
    }
    let attempts = plan
        .attempts
        .map(|a| {
            i32::try_from(a)
                .ok()
                .filter(|a| *a >= 0)
                .ok_or_else(|| ActionError::InvalidLimit {
                    what: "number of attempts".into(),
                    value: a,
                    bound: "0 or more".into(),
                })
        })
        .transpose()?;
    let per_try_timeout = plan
        .per_try_timeout
        .as_deref()
        .map(|t| check_duration("per-try timeout", t).map(|(d, _)| d))
        .transpose()?;
    check_retry_on(&plan.retry_on)?;
    let retry_on = (!plan.retry_on.is_empty()).then(|| {
        plan.retry_on
            .iter()
            .map(|c| c.trim())
            .collect::<Vec<_>>()
            .join(",")
    });
    Ok(Some(HttpRetry {
        attempts,
        per_try_timeout,
        retry_on,
        ..Default::default()
    }))
}

/// Validates, then sets (or clears) the timeout on every route of the service.
#[tracing::instrument(skip(client), fields(service = %plan.service, namespace = %plan.namespace))]
pub async fn apply_timeout(
    client: &::kube::Client,
    plan: &TimeoutPlan,
    dry_run: bool,
) -> Result<(TrafficChange, Option<ChangeBackup>)> {
    let timeout = plan
        .timeout
        .as_deref()
        .map(|t| check_duration("timeout", t).map(|(d, _)| d))
        .transpose()?;
    let facts = read_service(client, &plan.namespace, &plan.service).await?;
    if timeout.is_none() && facts.virtual_service.is_none() {
        return run(client, ActionKind::Timeout, Vec::new(), true).await;
    }
    let mut vs = base_virtual_service(&facts);
    for route in &mut vs.spec.http {
        route.timeout = timeout.clone();
    }
    let steps = vs_step(&vs, &facts).into_iter().collect();
    run(client, ActionKind::Timeout, steps, dry_run).await
}

/// Validates, then sets (or clears) the retries on every route of the service.
#[tracing::instrument(skip(client), fields(service = %plan.service, namespace = %plan.namespace))]
pub async fn apply_retries(
    client: &::kube::Client,
    plan: &RetryPlan,
    dry_run: bool,
) -> Result<(TrafficChange, Option<ChangeBackup>)> {
    let retries = retry_policy(plan)?;
    let facts = read_service(client, &plan.namespace, &plan.service).await?;
    if retries.is_none() && facts.virtual_service.is_none() {
        return run(client, ActionKind::Retries, Vec::new(), true).await;
    }
    let mut vs = base_virtual_service(&facts);
    for route in &mut vs.spec.http {
        route.retries = retries.clone();
    }
    let steps = vs_step(&vs, &facts).into_iter().collect();
    run(client, ActionKind::Retries, steps, dry_run).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The window checks retry conditions as the user types, against this same list:
    /// written for it next to the generated types (the committed copy must match).
    #[test]
    fn export_retry_conditions_for_the_window() {
        let dir = std::env::var_os("TS_RS_EXPORT_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/lib/generated")
            });
        let json = serde_json::to_string_pretty(&RETRY_ON).unwrap() + "\n";
        std::fs::write(dir.join("retryOn.json"), json).unwrap();
    }

    fn plan(attempts: Option<i64>, per_try: Option<&str>, on: &[&str], clear: bool) -> RetryPlan {
        RetryPlan {
            service: "ratings".into(),
            namespace: "default".into(),
            clear,
            attempts,
            per_try_timeout: per_try.map(Into::into),
            retry_on: on.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn retries_take_envoys_conditions_and_status_codes() {
        let r = retry_policy(&plan(
            Some(3),
            Some("2s"),
            &["5xx", "connect-failure", "503"],
            false,
        ))
        .unwrap()
        .unwrap();
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({"attempts": 3, "perTryTimeout": "2s", "retryOn": "5xx,connect-failure,503"})
        );
        let e = retry_policy(&plan(Some(3), None, &["5XX"], false)).unwrap_err();
        assert_eq!(e.code(), "unknown_retry_condition");
        assert!(e.hint().unwrap().contains("connect-failure"));
        let e = retry_policy(&plan(Some(3), None, &["999"], false)).unwrap_err();
        assert_eq!(e.code(), "unknown_retry_condition");
        let e = retry_policy(&plan(Some(-1), None, &[], false)).unwrap_err();
        assert_eq!(e.code(), "invalid_limit");
        let e = retry_policy(&plan(None, Some("2"), &[], false)).unwrap_err();
        assert_eq!(e.code(), "invalid_duration");
        let e = retry_policy(&plan(None, None, &[], false)).unwrap_err();
        assert_eq!(e.code(), "nothing_to_change");
        let e = retry_policy(&plan(Some(2), None, &[], true)).unwrap_err();
        assert_eq!(e.code(), "nothing_to_change");
        assert_eq!(retry_policy(&plan(None, None, &[], true)).unwrap(), None);
    }
}
