//! MetalLB's address pool, computed from the `kind` Docker network.
//!
//! The rule: addresses .200 to .250 of the last /24 of the network's IPv4 subnet. Docker
//! hands container addresses out from the start of the subnet, so the end stays free.
//! 172.18.0.0/16 gives 172.18.255.200-172.18.255.250; 172.17.1.0/24 gives
//! 172.17.1.200-172.17.1.250.

use std::net::Ipv4Addr;
use std::time::Duration;

use bollard::query_parameters::InspectNetworkOptions;

use super::Error;
use crate::preflight::DockerEndpoint;

/// The pool manifest this project writes; `${POOL_FIRST}` and `${POOL_LAST}` are filled in.
pub const POOL_TEMPLATE: &str = include_str!("../../../../manifests/metallb-pool.yaml");

/// An IPv4 subnet, `a.b.c.d/len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl std::str::FromStr for Ipv4Subnet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("{s} is not a subnet (a.b.c.d/len)"))?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("{s} is not an IPv4 subnet"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("{s} has an invalid prefix length"))?;
        Ok(Ipv4Subnet { addr, prefix })
    }
}

impl std::fmt::Display for Ipv4Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The first and last address MetalLB may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetallbPool {
    pub first: Ipv4Addr,
    pub last: Ipv4Addr,
}

impl std::fmt::Display for MetallbPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

impl MetallbPool {
    /// The pool rule (see the module comment). Subnets smaller than a /24 are refused: the
    /// range would not fit.
    pub fn for_subnet(subnet: Ipv4Subnet) -> Result<Self, String> {
        if subnet.prefix > 24 {
            return Err(format!(
                "{subnet} is smaller than a /24, too small for a separate MetalLB range"
            ));
        }
        let mask: u32 = if subnet.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - subnet.prefix)
        };
        let broadcast = (u32::from(subnet.addr) & mask) | !mask;
        let last_24 = broadcast & 0xFFFF_FF00;
        Ok(MetallbPool {
            first: Ipv4Addr::from(last_24 | 200),
            last: Ipv4Addr::from(last_24 | 250),
        })
    }

    /// The IPAddressPool and L2Advertisement YAML for this range.
    pub fn manifest(&self) -> String {
        POOL_TEMPLATE
            .replace("${POOL_FIRST}", &self.first.to_string())
            .replace("${POOL_LAST}", &self.last.to_string())
    }
}

/// The first IPv4 subnet of a Docker network's IPAM config; `Ok(None)` when the network does
/// not exist (kind creates it with the first cluster).
#[tracing::instrument(skip(docker))]
pub async fn kind_network_subnet(
    docker: &DockerEndpoint,
    network: &str,
) -> Result<Option<Ipv4Subnet>, Error> {
    let client = docker
        .client(Duration::from_secs(10))
        .map_err(|e| Error::Docker(e.to_string()))?;
    let inspected = match client
        .inspect_network(network, None::<InspectNetworkOptions>)
        .await
    {
        Ok(n) => n,
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => return Ok(None),
        Err(e) => return Err(Error::Docker(e.to_string())),
    };
    let subnets: Vec<String> = inspected
        .ipam
        .and_then(|ipam| ipam.config)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| c.subnet)
        .collect();
    subnets
        .iter()
        .find_map(|s| s.parse::<Ipv4Subnet>().ok())
        .map(Some)
        .ok_or_else(|| Error::Network {
            network: network.to_string(),
            reason: format!(
                "has no IPv4 subnet (found: {})",
                if subnets.is_empty() {
                    "none".to_string()
                } else {
                    subnets.join(", ")
                }
            ),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(s: &str) -> Result<String, String> {
        MetallbPool::for_subnet(s.parse()?).map(|p| p.to_string())
    }

    #[test]
    fn the_pool_is_200_to_250_of_the_last_slash_24() {
        assert_eq!(
            pool("172.18.0.0/16").unwrap(),
            "172.18.255.200-172.18.255.250"
        );
        assert_eq!(pool("172.17.1.0/24").unwrap(), "172.17.1.200-172.17.1.250");
        assert_eq!(pool("10.89.0.0/20").unwrap(), "10.89.15.200-10.89.15.250");
        // A subnet written with host bits set still gives its own last /24.
        assert_eq!(
            pool("192.168.5.7/22").unwrap(),
            "192.168.7.200-192.168.7.250"
        );
    }

    #[test]
    fn small_or_malformed_subnets_are_refused() {
        assert!(
            pool("172.18.0.0/25")
                .unwrap_err()
                .contains("smaller than a /24")
        );
        assert!(pool("fc00:f853:ccd:e793::/64").is_err());
        assert!(pool("172.18.0.0").is_err());
        assert!(pool("172.18.0.0/33").is_err());
    }

    #[test]
    fn the_manifest_names_the_range_and_nothing_is_left_unfilled() {
        let yaml = MetallbPool::for_subnet("172.18.0.0/16".parse().unwrap())
            .unwrap()
            .manifest();
        assert!(yaml.contains("- 172.18.255.200-172.18.255.250"), "{yaml}");
        assert!(!yaml.contains("${"), "{yaml}");
        let docs = crate::kube::apply::parse_documents("pool", &yaml).unwrap();
        let kinds: Vec<_> = docs
            .iter()
            .map(|d| d.types.as_ref().unwrap().kind.as_str())
            .collect();
        assert_eq!(kinds, ["IPAddressPool", "L2Advertisement"]);
    }
}
