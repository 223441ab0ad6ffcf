//! What a client proxy keeps about each upstream cluster (a service host, or one subset of
//! it): its connection pool with DestinationRule's circuit-breaker limits, and outlier
//! detection's view of every host (pod) behind it. Envoy keeps both per client proxy, so the
//! state here is keyed by the sending pod and the cluster.
//!
//! Time is real (`Instant`): a hop's request holds its place in the pool from when it is
//! admitted until its simulated duration has passed, which is when the sender's answer is
//! released too, so requests sent concurrently really overlap. Simplification, on purpose:
//! every hop of one outer request is admitted when that request arrives, not a few
//! simulated milliseconds later when the hop would start.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use playground_istio::{ConnectionPool, OutlierDetection};

/// A request admitted to a pool: it is served from `start` (later than its arrival when it
/// waited for a connection) to `end`.
#[derive(Debug, Clone, Copy)]
struct Admitted {
    id: u64,
    start: Instant,
    /// None while it is being served and its duration is not known yet.
    end: Option<Instant>,
}

#[derive(Debug, Default)]
struct HostHealth {
    consecutive_5xx: u32,
    consecutive_gateway: u32,
    ejections: u32,
    ejected_until: Option<Instant>,
}

#[derive(Debug, Default)]
struct ClusterState {
    requests: Vec<Admitted>,
    hosts: HashMap<String, HostHealth>,
}

/// A place in a pool, to be closed with [`Upstreams::finish`].
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    id: u64,
    /// How long the request waited for a connection.
    pub wait: Duration,
}

/// The limits of a pool as Envoy's circuit breakers apply them to HTTP/1.1: at most
/// `min(maxConnections, http2MaxRequests)` requests served at once, and
/// `http1MaxPendingRequests` more waiting for a connection. Istio leaves each unlimited
/// (2^32-1) when not set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub concurrent: usize,
    pub pending: usize,
}

impl Limits {
    pub fn of(pool: Option<&ConnectionPool>) -> Self {
        let limit = |v: Option<i32>| {
            v.filter(|n| *n > 0)
                .map(|n| n as usize)
                .unwrap_or(u32::MAX as usize)
        };
        let tcp = pool.and_then(|p| p.tcp.as_ref());
        let http = pool.and_then(|p| p.http.as_ref());
        Limits {
            concurrent: limit(tcp.and_then(|t| t.max_connections))
                .min(limit(http.and_then(|h| h.http2_max_requests))),
            pending: limit(http.and_then(|h| h.http1_max_pending_requests)),
        }
    }
}

/// Outlier detection's settings with Istio's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ejection {
    /// 0 turns the check off.
    pub consecutive_5xx: u32,
    pub consecutive_gateway: u32,
    pub base_time: Duration,
    pub max_percent: u32,
}

impl Ejection {
    pub fn of(od: &OutlierDetection) -> Self {
        Ejection {
            consecutive_5xx: od.consecutive_5xx_errors.unwrap_or(5),
            consecutive_gateway: od.consecutive_gateway_errors.unwrap_or(0),
            base_time: od
                .base_ejection_time
                .as_ref()
                .and_then(|d| d.to_std().ok())
                .unwrap_or(Duration::from_secs(30)),
            max_percent: od
                .max_ejection_percent
                .and_then(|p| u32::try_from(p).ok())
                .unwrap_or(10)
                .min(100),
        }
    }
}

#[derive(Debug, Default)]
pub struct Upstreams {
    clusters: Mutex<HashMap<(String, String), ClusterState>>,
    next_id: Mutex<u64>,
}

impl Upstreams {
    fn with<T>(&self, client: &str, cluster: &str, f: impl FnOnce(&mut ClusterState) -> T) -> T {
        let mut clusters = self.clusters.lock().unwrap_or_else(|e| e.into_inner());
        let state = clusters
            .entry((client.to_owned(), cluster.to_owned()))
            .or_default();
        f(state)
    }

    /// Admits a request now, or None when the pool overflows (Envoy's UO).
    pub fn admit(&self, client: &str, cluster: &str, limits: Limits) -> Option<Ticket> {
        let id = {
            let mut n = self.next_id.lock().unwrap_or_else(|e| e.into_inner());
            *n += 1;
            *n
        };
        let now = Instant::now();
        self.with(client, cluster, |st| {
            st.requests.retain(|r| r.end.is_none_or(|end| end > now));
            // A waiter whose connection frees up exactly now still counts once as waiting.
            let serving = st
                .requests
                .iter()
                .filter(|r| r.start <= now)
                .count()
                .min(limits.concurrent);
            let waiting = st.requests.len() - serving;
            let start = if serving < limits.concurrent {
                now
            } else if waiting < limits.pending {
                // Connections free up as requests end; waiters take them in turn.
                // One still being worked out (another thread, a moment ago) is taken to end
                // at once: a rare race, and waiting on an unknown end could wait forever.
                let mut ends: Vec<Instant> = st
                    .requests
                    .iter()
                    .map(|r| r.end.unwrap_or(r.start))
                    .collect();
                ends.sort();
                ends.get(waiting).copied().unwrap_or(now).max(now)
            } else {
                return None;
            };
            // Held until finish() says how long the request took.
            st.requests.push(Admitted {
                id,
                start,
                end: None,
            });
            Some(Ticket {
                id,
                wait: start - now,
            })
        })
    }

    /// The request of `ticket` was served for `served` after it got its connection.
    pub fn finish(&self, client: &str, cluster: &str, ticket: Ticket, served: Duration) {
        self.with(client, cluster, |st| {
            if let Some(r) = st.requests.iter_mut().find(|r| r.id == ticket.id) {
                r.end = Some(r.start + served);
            }
        });
    }

    /// Hosts currently ejected from `cluster` for `client`.
    pub fn ejected(&self, client: &str, cluster: &str) -> Vec<String> {
        let now = Instant::now();
        self.with(client, cluster, |st| {
            st.hosts
                .iter()
                .filter(|(_, h)| h.ejected_until.is_some_and(|t| t > now))
                .map(|(name, _)| name.clone())
                .collect()
        })
    }

    /// Counts an answer from `host` (one of `hosts_in_cluster` hosts) and ejects it when it
    /// has failed too many times in a row, within the ejection cap (which, as in Envoy,
    /// always allows one host).
    pub fn outcome(
        &self,
        client: &str,
        cluster: &str,
        host: &str,
        hosts_in_cluster: usize,
        status: u16,
        rule: Ejection,
    ) {
        let now = Instant::now();
        self.with(client, cluster, |st| {
            let ejected_now = st
                .hosts
                .values()
                .filter(|h| h.ejected_until.is_some_and(|t| t > now))
                .count();
            let h = st.hosts.entry(host.to_owned()).or_default();
            if status >= 500 {
                h.consecutive_5xx += 1;
            } else {
                h.consecutive_5xx = 0;
            }
            if (502..=504).contains(&status) {
                h.consecutive_gateway += 1;
            } else {
                h.consecutive_gateway = 0;
            }
            let tripped = (rule.consecutive_5xx > 0 && h.consecutive_5xx >= rule.consecutive_5xx)
                || (rule.consecutive_gateway > 0
                    && h.consecutive_gateway >= rule.consecutive_gateway);
            let cap = (hosts_in_cluster * rule.max_percent as usize / 100).max(1);
            if tripped && h.ejected_until.is_none_or(|t| t <= now) && ejected_now < cap {
                h.ejections += 1;
                h.ejected_until = Some(now + rule.base_time * h.ejections);
                h.consecutive_5xx = 0;
                h.consecutive_gateway = 0;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_of_one_queues_one_and_refuses_the_third() {
        let u = Upstreams::default();
        let limits = Limits {
            concurrent: 1,
            pending: 1,
        };
        let a = u.admit("c", "x", limits).expect("served");
        assert_eq!(a.wait, Duration::ZERO);
        let b = u.admit("c", "x", limits).expect("queued");
        assert!(u.admit("c", "x", limits).is_none(), "overflow");
        assert!(u.admit("other", "x", limits).is_some(), "per client");
        u.finish("c", "x", a, Duration::ZERO);
        u.finish("c", "x", b, Duration::ZERO);
        assert!(u.admit("c", "x", limits).is_some(), "free again");
    }

    #[test]
    fn consecutive_errors_eject_within_the_cap() {
        let u = Upstreams::default();
        let rule = Ejection {
            consecutive_5xx: 2,
            consecutive_gateway: 0,
            base_time: Duration::from_secs(60),
            max_percent: 10,
        };
        u.outcome("c", "x", "a", 4, 500, rule);
        u.outcome("c", "x", "a", 4, 200, rule);
        u.outcome("c", "x", "a", 4, 500, rule);
        assert!(u.ejected("c", "x").is_empty(), "a success resets the count");
        u.outcome("c", "x", "a", 4, 503, rule);
        assert_eq!(u.ejected("c", "x"), vec!["a".to_string()]);
        u.outcome("c", "x", "b", 4, 500, rule);
        u.outcome("c", "x", "b", 4, 500, rule);
        assert_eq!(u.ejected("c", "x").len(), 1, "10 % of 4 still lets one go");
    }
}
