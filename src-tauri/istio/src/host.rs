//! The one place where a host written in a VirtualService, DestinationRule or Gateway is
//! turned into the Kubernetes Service it names.

use std::fmt;

/// The cluster's DNS domain. kind and the simulated cluster use the default.
pub const CLUSTER_DOMAIN: &str = "cluster.local";

/// What a host names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResolvedHost {
    /// A Kubernetes Service of the cluster.
    Service { name: String, namespace: String },
    /// Anything else, kept as written: a name outside the cluster (`bookinfo.example.com`,
    /// `www.google.com`) or a wildcard (`*`, `*.example.com`), which [`host_matches`]
    /// compares with concrete names.
    External(String),
}

impl ResolvedHost {
    /// `name.namespace.svc.cluster.local` for a Service, the host as written otherwise.
    pub fn fqdn(&self) -> String {
        match self {
            Self::Service { name, namespace } => {
                format!("{name}.{namespace}.svc.{CLUSTER_DOMAIN}")
            }
            Self::External(host) => host.clone(),
        }
    }

    /// `(namespace, name)` of the Service, in the order the mesh model keys objects.
    pub fn service(&self) -> Option<(&str, &str)> {
        match self {
            Self::Service { name, namespace } => Some((namespace, name)),
            Self::External(_) => None,
        }
    }

    /// True when this is the Service `name` in `namespace`.
    pub fn is_service(&self, name: &str, namespace: &str) -> bool {
        self.service() == Some((namespace, name))
    }
}

impl fmt::Display for ResolvedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.fqdn())
    }
}

/// Resolves `host`, as written in an object in `namespace`:
///
/// | written                            | names                              |
/// |------------------------------------|------------------------------------|
/// | `reviews`                          | Service `reviews` in `namespace`   |
/// | `reviews.prod`                     | Service `reviews` in `prod`        |
/// | `reviews.prod.svc`                 | Service `reviews` in `prod`        |
/// | `reviews.prod.svc.cluster.local`   | Service `reviews` in `prod`        |
/// | anything else, wildcards included  | `External`, as written             |
///
/// Istio itself expands only the short name and reads `reviews.prod` literally in config;
/// the two- and three-label forms are accepted because they are how pods address a
/// Service through DNS search paths (and Envoy lists them as domains of the Service's
/// routes), which is how newcomers write them. A two-label outside name (`example.com`)
/// reads as Service `example` in namespace `com`, which the caller will not find.
pub fn resolve_host(host: &str, namespace: &str) -> ResolvedHost {
    let labels: Vec<&str> = host.split('.').collect();
    let service = |name: &str, ns: &str| ResolvedHost::Service {
        name: name.to_owned(),
        namespace: ns.to_owned(),
    };
    let valid = !host.contains('*') && labels.iter().all(|l| !l.is_empty());
    match labels.as_slice() {
        _ if !valid => ResolvedHost::External(host.to_owned()),
        [name] => service(name, namespace),
        [name, ns] | [name, ns, "svc"] => service(name, ns),
        [name, ns, "svc", rest @ ..] if rest.join(".") == CLUSTER_DOMAIN => service(name, ns),
        _ => ResolvedHost::External(host.to_owned()),
    }
}

/// True when `host`, written in an object in `object_namespace`, names the Service
/// `service` in `service_namespace`. Wildcards name no Service here: a `*.example.com`
/// VirtualService is not "the VirtualService of" any one Service.
pub fn names_service(
    host: &str,
    object_namespace: &str,
    service: &str,
    service_namespace: &str,
) -> bool {
    resolve_host(host, object_namespace).is_service(service, service_namespace)
}

/// True when `pattern` (a Gateway or VirtualService host, possibly `*` or `*.example.com`)
/// covers the concrete host `host` (a request's authority without its port). DNS names
/// compare without regard to case; `*.example.com` covers any name ending in
/// `.example.com`, as Envoy's wildcard domains do.
pub fn host_matches(pattern: &str, host: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let host = host.to_ascii_lowercase();
    let pattern = pattern.to_ascii_lowercase();
    match pattern.strip_prefix('*') {
        Some(suffix) => host.len() > suffix.len() && host.ends_with(&suffix),
        None => host == pattern,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(name: &str, namespace: &str) -> ResolvedHost {
        ResolvedHost::Service {
            name: name.into(),
            namespace: namespace.into(),
        }
    }

    fn ext(host: &str) -> ResolvedHost {
        ResolvedHost::External(host.into())
    }

    #[test]
    fn every_form_of_host_resolves_to_one_answer() {
        for (host, from_ns, want) in [
            ("reviews", "default", svc("reviews", "default")),
            ("reviews", "shop", svc("reviews", "shop")),
            ("reviews.prod", "default", svc("reviews", "prod")),
            ("reviews.prod.svc", "default", svc("reviews", "prod")),
            (
                "reviews.prod.svc.cluster.local",
                "default",
                svc("reviews", "prod"),
            ),
            // Three labels that are not `.svc`: a name outside the cluster, not Service
            // `bookinfo` in namespace `example` (the bug this function replaces).
            (
                "bookinfo.example.com",
                "default",
                ext("bookinfo.example.com"),
            ),
            ("www.google.com", "default", ext("www.google.com")),
            ("*", "default", ext("*")),
            ("*.example.com", "default", ext("*.example.com")),
            (
                "*.prod.svc.cluster.local",
                "default",
                ext("*.prod.svc.cluster.local"),
            ),
            // Another cluster domain, or too many labels before `.svc`.
            (
                "reviews.prod.svc.other.domain",
                "default",
                ext("reviews.prod.svc.other.domain"),
            ),
            (
                "a.reviews.prod.svc.cluster.local",
                "default",
                ext("a.reviews.prod.svc.cluster.local"),
            ),
            ("10.96.0.10", "default", ext("10.96.0.10")),
            // Malformed: empty labels are never a Service.
            ("reviews.", "default", ext("reviews.")),
            (".prod", "default", ext(".prod")),
            ("", "default", ext("")),
        ] {
            assert_eq!(resolve_host(host, from_ns), want, "{host:?} from {from_ns}");
        }
    }

    #[test]
    fn a_service_host_qualifies_fully() {
        assert_eq!(
            resolve_host("reviews", "default").fqdn(),
            "reviews.default.svc.cluster.local"
        );
        assert_eq!(resolve_host("*.example.com", "x").fqdn(), "*.example.com");
        assert_eq!(
            resolve_host("reviews.prod", "default").service(),
            Some(("prod", "reviews"))
        );
    }

    #[test]
    fn names_service_answers_for_each_form_and_never_for_wildcards() {
        assert!(names_service("reviews", "default", "reviews", "default"));
        assert!(names_service(
            "reviews.default.svc.cluster.local",
            "prod",
            "reviews",
            "default"
        ));
        assert!(!names_service("reviews", "prod", "reviews", "default"));
        assert!(!names_service("ratings", "default", "reviews", "default"));
        assert!(!names_service("*", "default", "reviews", "default"));
        assert!(!names_service(
            "*.default.svc.cluster.local",
            "default",
            "reviews",
            "default"
        ));
        assert!(!names_service(
            "reviews.example.com",
            "default",
            "reviews",
            "example"
        ));
    }

    #[test]
    fn wildcard_hosts_cover_names_the_way_envoy_does() {
        assert!(host_matches("*", "anything.at.all"));
        assert!(host_matches("*.example.com", "bookinfo.example.com"));
        assert!(host_matches("*.example.com", "a.b.example.com"));
        assert!(host_matches("*.Example.com", "BOOKINFO.example.COM"));
        assert!(!host_matches("*.example.com", "example.com"));
        assert!(!host_matches("*.example.com", "badexample.com"));
        assert!(host_matches("bookinfo.example.com", "bookinfo.example.com"));
        assert!(!host_matches("bookinfo.example.com", "other.example.com"));
    }
}
