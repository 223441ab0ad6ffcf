//! Fault injection (Istio's "Fault injection" task): a fixed delay or an HTTP abort on a
//! service's routes, for a share of the requests, optionally only for one user.
//!
//! With a user, the fault goes on the route that matches that user's header (made, with the
//! default route's destinations, when there is none); without one, on every route. The
//! result says, as typed data, what the learner should see on the product page.

use std::time::Duration as StdDuration;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::ActionError;
use super::backup::{ActionKind, ChangeBackup, TrafficChange};
use super::route::{
    USER_HEADER, base_virtual_service, check_header, default_route, header_match, read_service,
    run, vs_step,
};
use crate::istio::{Double, Duration, FaultAbort, FaultDelay, HttpFault, HttpRoute, Percent};

type Result<T, E = ActionError> = std::result::Result<T, E>;

/// The fault to inject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", tag = "type")]
#[ts(export)]
pub enum FaultKind {
    /// Hold requests this long before forwarding them (`7s`, `500ms`).
    Delay { delay: String },
    /// Answer at once with this HTTP status instead of forwarding.
    Abort {
        #[ts(type = "number")]
        status: i64,
    },
}

/// A fault on a service's routes, or (`fault: None`) the removal of the faults there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[ts(export)]
pub struct FaultPlan {
    pub service: String,
    pub namespace: String,
    /// None clears the faults (of the user's route with `user`, else of every route).
    pub fault: Option<FaultKind>,
    /// Share of the requests affected, 0 to 100.
    pub percent: f64,
    /// Only this user's requests (the header's value).
    pub user: Option<String>,
    /// The header compared with `user`; `end-user` when not given.
    pub header: Option<String>,
}

/// What a fault does to Bookinfo's product page, with the numbers that explain it. The text
/// is written by the UI and the CLI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase", tag = "type")]
#[ts(export)]
pub enum FaultEffect {
    /// The classic lesson: a delay reaching reviews' call to ratings (or reviews itself) is
    /// longer than productpage waits for reviews, so productpage gives up first (after its
    /// timeout and one retry) and the page says reviews are unavailable, although reviews
    /// v2 itself would have waited `reviewsTimeoutMs` for ratings.
    ProductpageGivesUp {
        service: String,
        #[ts(type = "number")]
        delay_ms: u64,
        #[ts(type = "number")]
        productpage_timeout_ms: u64,
        productpage_attempts: u32,
        /// About how long the page takes: every attempt runs into the timeout.
        #[ts(type = "number")]
        page_wait_ms: u64,
        #[ts(type = "number")]
        reviews_timeout_ms: u64,
    },
    /// A delay shorter than every timeout on the way: the page is only slower.
    Slower {
        service: String,
        #[ts(type = "number")]
        delay_ms: u64,
    },
    /// An abort on ratings: reviews v2 and v3 show "Ratings service is currently
    /// unavailable" (reviews v1 does not call ratings).
    RatingsUnavailable { status: u16 },
    /// An abort on reviews or details: the page shows that part as unavailable.
    PartUnavailable { service: String, status: u16 },
    /// An abort on the page itself: the browser gets the status.
    PageFails { status: u16 },
    /// A service outside Bookinfo: its callers get the delay or the status.
    Other { service: String },
}

/// Bookinfo's productpage waits this long for reviews...
pub const PRODUCTPAGE_REVIEWS_TIMEOUT: StdDuration = StdDuration::from_secs(3);
/// ...and tries this many times in all.
pub const PRODUCTPAGE_REVIEWS_ATTEMPTS: u32 = 2;
/// reviews v2 waits this long for ratings (v3: 2.5 s).
pub const REVIEWS_V2_RATINGS_TIMEOUT: StdDuration = StdDuration::from_secs(10);

/// The share of requests, checked.
pub fn check_percent(raw: f64) -> Result<f64> {
    if raw.is_finite() && (0.0..=100.0).contains(&raw) {
        Ok(raw)
    } else {
        Err(ActionError::InvalidPercent {
            raw: raw.to_string(),
        })
    }
}

/// A duration typed by a person, checked: one Istio accepts, and more than zero.
pub fn check_duration(what: &str, raw: &str) -> Result<(Duration, StdDuration)> {
    let bad = |reason: String| ActionError::InvalidDuration {
        what: what.into(),
        raw: raw.into(),
        reason,
    };
    let why = |e: crate::istio::Error| match e {
        crate::istio::Error::Duration { reason, .. } => bad(reason.into()),
        other => bad(other.to_string()),
    };
    let d: Duration = raw.trim().parse().map_err(why)?;
    let std = d.to_std().map_err(why)?;
    if std.is_zero() {
        return Err(bad("it is zero".into()));
    }
    Ok((d, std))
}

/// An abort status, checked.
pub fn check_status(status: i64) -> Result<u16> {
    u16::try_from(status)
        .ok()
        .filter(|s| (200..=599).contains(s))
        .ok_or(ActionError::InvalidHttpStatus { status })
}

/// Checks everything that needs no cluster.
pub fn validate(plan: &FaultPlan) -> Result<Option<HttpFault>> {
    if let Some(user) = &plan.user {
        check_header(plan.header.as_deref().unwrap_or(USER_HEADER), Some(user))?;
    }
    let Some(kind) = &plan.fault else {
        return Ok(None);
    };
    let percent = check_percent(plan.percent)?;
    // Whole numbers are written as Istio's samples write them (`value: 100`).
    let percentage = if percent.fract() == 0.0 {
        Some(Percent {
            value: Some(Double::from(percent as u32)),
            ..Default::default()
        })
    } else {
        Percent::new(percent)
    };
    Ok(Some(match kind {
        FaultKind::Delay { delay } => {
            let (d, _) = check_duration("delay", delay)?;
            HttpFault {
                delay: Some(FaultDelay {
                    fixed_delay: Some(d),
                    percentage,
                    ..Default::default()
                }),
                ..Default::default()
            }
        }
        FaultKind::Abort { status } => HttpFault {
            abort: Some(FaultAbort {
                http_status: Some(i32::from(check_status(*status)?)),
                percentage,
                ..Default::default()
            }),
            ..Default::default()
        },
    }))
}

/// What the fault does to the product page (a plan that passed validation).
pub fn effect(plan: &FaultPlan) -> Option<FaultEffect> {
    let service = plan.service.clone();
    Some(match plan.fault.as_ref()? {
        FaultKind::Delay { delay } => {
            let (_, d) = check_duration("delay", delay).ok()?;
            let delay_ms = d.as_millis() as u64;
            let on_reviews_path = matches!(service.as_str(), "ratings" | "reviews");
            if on_reviews_path && d >= PRODUCTPAGE_REVIEWS_TIMEOUT {
                FaultEffect::ProductpageGivesUp {
                    service,
                    delay_ms,
                    productpage_timeout_ms: PRODUCTPAGE_REVIEWS_TIMEOUT.as_millis() as u64,
                    productpage_attempts: PRODUCTPAGE_REVIEWS_ATTEMPTS,
                    page_wait_ms: (PRODUCTPAGE_REVIEWS_TIMEOUT * PRODUCTPAGE_REVIEWS_ATTEMPTS)
                        .as_millis() as u64,
                    reviews_timeout_ms: REVIEWS_V2_RATINGS_TIMEOUT.as_millis() as u64,
                }
            } else if matches!(
                service.as_str(),
                "ratings" | "reviews" | "details" | "productpage"
            ) {
                FaultEffect::Slower { service, delay_ms }
            } else {
                FaultEffect::Other { service }
            }
        }
        FaultKind::Abort { status } => {
            let status = u16::try_from(*status).ok()?;
            match service.as_str() {
                "ratings" => FaultEffect::RatingsUnavailable { status },
                "reviews" | "details" => FaultEffect::PartUnavailable { service, status },
                "productpage" => FaultEffect::PageFails { status },
                _ => FaultEffect::Other { service },
            }
        }
    })
}

/// The routes with the fault set (or cleared) where the plan says.
fn with_fault(
    plan: &FaultPlan,
    fault: Option<HttpFault>,
    mut http: Vec<HttpRoute>,
) -> Vec<HttpRoute> {
    match &plan.user {
        Some(user) => {
            let m = header_match(plan.header.as_deref().unwrap_or(USER_HEADER), user);
            let at = match http.iter().position(|r| r.matches == [m.clone()]) {
                Some(i) => Some(i),
                None if fault.is_some() => {
                    // The user's requests go where everyone's go, now with the fault.
                    let destinations = default_route(&http)
                        .map(|r| r.route.clone())
                        .unwrap_or_default();
                    http.insert(
                        0,
                        HttpRoute {
                            matches: vec![m],
                            route: destinations,
                            ..Default::default()
                        },
                    );
                    Some(0)
                }
                None => None,
            };
            if let Some(i) = at {
                http[i].fault = fault;
            }
        }
        None => {
            for route in &mut http {
                route.fault = fault.clone();
            }
        }
    }
    http
}

/// The fault's change and its effect on the page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct FaultChange {
    pub change: TrafficChange,
    /// None for a clear, or a fault whose effect is not known.
    pub effect: Option<FaultEffect>,
}

/// Validates, then applies (or with `dry_run` only shows) the fault.
#[tracing::instrument(skip(client), fields(service = %plan.service, namespace = %plan.namespace))]
pub async fn apply(
    client: &::kube::Client,
    plan: &FaultPlan,
    dry_run: bool,
) -> Result<(FaultChange, Option<ChangeBackup>)> {
    let fault = validate(plan)?;
    let facts = read_service(client, &plan.namespace, &plan.service).await?;
    let mut vs = base_virtual_service(&facts);
    if fault.is_none() && facts.virtual_service.is_none() {
        // Nothing to clear: writing a new VirtualService would be a change of its own.
        return run(client, ActionKind::Fault, Vec::new(), true)
            .await
            .map(|(change, _)| {
                (
                    FaultChange {
                        change,
                        effect: None,
                    },
                    None,
                )
            });
    }
    vs.spec.http = with_fault(plan, fault, std::mem::take(&mut vs.spec.http));
    let steps = vs_step(&vs, &facts).into_iter().collect();
    let (change, backup) = run(client, ActionKind::Fault, steps, dry_run).await?;
    Ok((
        FaultChange {
            change,
            effect: effect(plan),
        },
        backup,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::route::tests::facts;

    fn plan(fault: Option<FaultKind>, percent: f64, user: Option<&str>) -> FaultPlan {
        FaultPlan {
            service: "ratings".into(),
            namespace: "default".into(),
            fault,
            percent,
            user: user.map(Into::into),
            header: None,
        }
    }

    fn delay(d: &str) -> Option<FaultKind> {
        Some(FaultKind::Delay { delay: d.into() })
    }

    #[test]
    fn percentages_delays_and_statuses_out_of_range_are_refused() {
        for p in [-1.0, 100.5, f64::NAN, f64::INFINITY] {
            let e = validate(&plan(delay("7s"), p, None)).unwrap_err();
            assert_eq!(e.code(), "invalid_percent", "{p}");
        }
        validate(&plan(delay("7s"), 12.5, None)).unwrap();
        for (d, words) in [
            ("7", "unit is missing"),
            ("soon", ""),
            ("0s", "zero"),
            ("-1s", "negative"),
        ] {
            let e = validate(&plan(delay(d), 100.0, None)).unwrap_err();
            assert_eq!(e.code(), "invalid_duration", "{d}");
            assert!(e.to_string().contains(words), "{d}: {e}");
        }
        for s in [0, 199, 600, -500] {
            let e = validate(&plan(Some(FaultKind::Abort { status: s }), 50.0, None)).unwrap_err();
            assert_eq!(e.code(), "invalid_http_status", "{s}");
        }
        let e = validate(&plan(delay("7s"), 100.0, Some("bad\nuser"))).unwrap_err();
        assert_eq!(e.code(), "invalid_header");
    }

    #[test]
    fn the_delay_for_jason_goes_on_his_route_like_istios_sample() {
        let p = plan(delay("7s"), 100.0, Some("jason"));
        let fault = validate(&p).unwrap();
        let f = facts("ratings", &["v1"]);
        let vs = base_virtual_service(&f);
        let http = with_fault(&p, fault, vs.spec.http);
        assert_eq!(
            serde_json::to_value(&http).unwrap(),
            serde_json::json!([
                {"match": [{"headers": {"end-user": {"exact": "jason"}}}],
                 "route": [{"destination": {"host": "ratings"}}],
                 "fault": {"delay": {"fixedDelay": "7s", "percentage": {"value": 100}}}},
                {"route": [{"destination": {"host": "ratings"}}]}])
        );
        // Clearing his fault leaves his route without one.
        let cleared = with_fault(&plan(None, 0.0, Some("jason")), None, http.clone());
        assert!(cleared.iter().all(|r| r.fault.is_none()));
        // Without a user, every route gets it.
        let all = with_fault(
            &plan(None, 0.0, None),
            validate(&plan(Some(FaultKind::Abort { status: 500 }), 50.0, None)).unwrap(),
            http,
        );
        assert!(
            all.iter()
                .all(|r| r.fault.as_ref().unwrap().abort.is_some())
        );
    }

    #[test]
    fn the_classic_lesson_is_explained_with_its_numbers() {
        let e = effect(&plan(delay("7s"), 100.0, Some("jason"))).unwrap();
        assert_eq!(
            e,
            FaultEffect::ProductpageGivesUp {
                service: "ratings".into(),
                delay_ms: 7000,
                productpage_timeout_ms: 3000,
                productpage_attempts: 2,
                page_wait_ms: 6000,
                reviews_timeout_ms: 10000,
            }
        );
        assert_eq!(
            effect(&plan(delay("2s"), 100.0, None)).unwrap(),
            FaultEffect::Slower {
                service: "ratings".into(),
                delay_ms: 2000
            }
        );
        assert_eq!(
            effect(&plan(Some(FaultKind::Abort { status: 500 }), 100.0, None)).unwrap(),
            FaultEffect::RatingsUnavailable { status: 500 }
        );
        assert_eq!(effect(&plan(None, 0.0, None)), None);
    }
}
