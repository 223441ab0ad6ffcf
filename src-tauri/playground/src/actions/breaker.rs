//! Circuit breaking (Istio's "Circuit breaking" task): a connection pool and outlier
//! detection in the traffic policy of the service's DestinationRule. Its subsets, and any
//! other part of its policy, are kept.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::ActionError;
use super::backup::{ActionKind, ChangeBackup, Step, TrafficChange, for_apply};
use super::fault::{check_duration, check_percent};
use super::route::{host_of, read_service, run};
use crate::istio::{
    ConnectionPool, DestinationRule, DestinationRuleSpec, HttpPool, OutlierDetection, TcpPool,
};

type Result<T, E = ActionError> = std::result::Result<T, E>;

/// Limits that make the breaker trip. Unset fields are left out of the policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[ts(export)]
pub struct BreakerPlan {
    pub service: String,
    pub namespace: String,
    /// Removes the connection pool and outlier detection; the other fields must be empty.
    pub clear: bool,
    /// `connectionPool.tcp.maxConnections`.
    #[ts(type = "number | null")]
    pub max_connections: Option<i64>,
    /// `connectionPool.http.http1MaxPendingRequests`.
    #[ts(type = "number | null")]
    pub max_pending_requests: Option<i64>,
    /// `connectionPool.http.maxRequestsPerConnection`.
    #[ts(type = "number | null")]
    pub max_requests_per_connection: Option<i64>,
    /// `outlierDetection.consecutive5xxErrors`.
    #[ts(type = "number | null")]
    pub consecutive_5xx_errors: Option<i64>,
    /// `outlierDetection.interval` (`1s`).
    pub interval: Option<String>,
    /// `outlierDetection.baseEjectionTime` (`3m`).
    pub base_ejection_time: Option<String>,
    /// `outlierDetection.maxEjectionPercent`, 0 to 100.
    #[ts(type = "number | null")]
    pub max_ejection_percent: Option<i64>,
}

impl BreakerPlan {
    fn is_empty(&self) -> bool {
        self.max_connections.is_none()
            && self.max_pending_requests.is_none()
            && self.max_requests_per_connection.is_none()
            && self.consecutive_5xx_errors.is_none()
            && self.interval.is_none()
            && self.base_ejection_time.is_none()
            && self.max_ejection_percent.is_none()
    }
}

fn at_least_one(what: &str, v: Option<i64>) -> Result<Option<i32>> {
    v.map(|n| {
        i32::try_from(n)
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| ActionError::InvalidLimit {
                what: what.into(),
                value: n,
                bound: "at least 1".into(),
            })
    })
    .transpose()
}

/// The connection pool and outlier detection a plan asks for (None, None for a clear).
pub fn policy(plan: &BreakerPlan) -> Result<(Option<ConnectionPool>, Option<OutlierDetection>)> {
    if plan.clear {
        return if plan.is_empty() {
            Ok((None, None))
        } else {
            Err(ActionError::NothingToChange {
                what: "--clear removes the circuit breaker; give it alone".into(),
            })
        };
    }
    if plan.is_empty() {
        return Err(ActionError::NothingToChange {
            what: "no connection limit or outlier detection setting was given".into(),
        });
    }
    let max_connections = at_least_one("max connections", plan.max_connections)?;
    let pending = at_least_one("max pending requests", plan.max_pending_requests)?;
    let per_conn = at_least_one(
        "max requests per connection",
        plan.max_requests_per_connection,
    )?;
    let consecutive =
        at_least_one("consecutive 5xx errors", plan.consecutive_5xx_errors)?.map(|n| n as u32);
    let interval = plan
        .interval
        .as_deref()
        .map(|t| check_duration("interval", t).map(|(d, _)| d))
        .transpose()?;
    let ejection = plan
        .base_ejection_time
        .as_deref()
        .map(|t| check_duration("base ejection time", t).map(|(d, _)| d))
        .transpose()?;
    let max_ejection = plan
        .max_ejection_percent
        .map(|p| {
            check_percent(p as f64)
                .map(|_| p as i32)
                .map_err(|_| ActionError::InvalidLimit {
                    what: "max ejection percent".into(),
                    value: p,
                    bound: "from 0 to 100".into(),
                })
        })
        .transpose()?;
    let pool = (max_connections.is_some() || pending.is_some() || per_conn.is_some()).then(|| {
        ConnectionPool {
            tcp: max_connections.map(|m| TcpPool {
                max_connections: Some(m),
                ..Default::default()
            }),
            http: (pending.is_some() || per_conn.is_some()).then(|| HttpPool {
                http1_max_pending_requests: pending,
                max_requests_per_connection: per_conn,
                ..Default::default()
            }),
            ..Default::default()
        }
    });
    let outlier = (consecutive.is_some()
        || interval.is_some()
        || ejection.is_some()
        || max_ejection.is_some())
    .then(|| OutlierDetection {
        consecutive_5xx_errors: consecutive,
        interval,
        base_ejection_time: ejection,
        max_ejection_percent: max_ejection,
        ..Default::default()
    });
    Ok((pool, outlier))
}

/// Validates, then writes (or with `dry_run` only shows) the DestinationRule.
#[tracing::instrument(skip(client), fields(service = %plan.service, namespace = %plan.namespace))]
pub async fn apply(
    client: &::kube::Client,
    plan: &BreakerPlan,
    dry_run: bool,
) -> Result<(TrafficChange, Option<ChangeBackup>)> {
    let (pool, outlier) = policy(plan)?;
    let facts = read_service(client, &plan.namespace, &plan.service).await?;
    let current = facts.destination_rule.clone();
    if plan.clear && current.is_none() {
        return run(client, ActionKind::Breaker, Vec::new(), true).await;
    }
    let mut dr = match &current {
        Some(d) => for_apply(d),
        None => DestinationRule::new(
            facts.service.clone(),
            facts.namespace.clone(),
            DestinationRuleSpec {
                host: host_of(&facts),
                ..Default::default()
            },
        ),
    };
    let mut tp = dr.spec.traffic_policy.take().unwrap_or_default();
    tp.connection_pool = pool;
    tp.outlier_detection = outlier;
    dr.spec.traffic_policy = (tp != Default::default()).then_some(tp);
    let unchanged = current.as_ref().is_some_and(|c| for_apply(c) == dr);
    let steps = if unchanged {
        Vec::new()
    } else if plan.clear {
        vec![Step::replace(&dr, current)]
    } else {
        vec![Step::apply(&dr, current)]
    };
    run(client, ActionKind::Breaker, steps, dry_run).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> BreakerPlan {
        BreakerPlan {
            service: "httpbin".into(),
            namespace: "default".into(),
            clear: false,
            max_connections: Some(1),
            max_pending_requests: Some(1),
            max_requests_per_connection: Some(1),
            consecutive_5xx_errors: Some(1),
            interval: Some("1s".into()),
            base_ejection_time: Some("3m".into()),
            max_ejection_percent: Some(100),
        }
    }

    #[test]
    fn the_circuit_breaking_task_policy_is_written_as_istio_writes_it() {
        let (pool, outlier) = policy(&task()).unwrap();
        assert_eq!(
            serde_json::to_value(&pool).unwrap(),
            serde_json::json!({"tcp": {"maxConnections": 1},
                "http": {"http1MaxPendingRequests": 1, "maxRequestsPerConnection": 1}})
        );
        assert_eq!(
            serde_json::to_value(&outlier).unwrap(),
            serde_json::json!({"consecutive5xxErrors": 1, "interval": "1s",
                "baseEjectionTime": "3m", "maxEjectionPercent": 100})
        );
    }

    #[test]
    fn limits_out_of_range_are_refused() {
        for (p, code) in [
            (
                BreakerPlan {
                    max_connections: Some(0),
                    ..task()
                },
                "invalid_limit",
            ),
            (
                BreakerPlan {
                    max_pending_requests: Some(-3),
                    ..task()
                },
                "invalid_limit",
            ),
            (
                BreakerPlan {
                    max_ejection_percent: Some(101),
                    ..task()
                },
                "invalid_limit",
            ),
            (
                BreakerPlan {
                    interval: Some("1".into()),
                    ..task()
                },
                "invalid_duration",
            ),
            (
                BreakerPlan {
                    base_ejection_time: Some("0s".into()),
                    ..task()
                },
                "invalid_duration",
            ),
            (
                BreakerPlan {
                    clear: true,
                    ..task()
                },
                "nothing_to_change",
            ),
            (
                BreakerPlan {
                    service: "x".into(),
                    namespace: "default".into(),
                    ..Default::default()
                },
                "nothing_to_change",
            ),
        ] {
            assert_eq!(policy(&p).unwrap_err().code(), code, "{p:?}");
        }
    }
}
