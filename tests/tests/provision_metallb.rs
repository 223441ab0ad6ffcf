//! The MetalLB range from a real Docker network, created and removed by the test.

mod provision_common;

use std::time::Duration;

use playground::preflight::DockerEndpoint;
use playground::provision::{MetallbPool, kind_network_subnet};
use provision_common::{create_network, subnets_16};

#[tokio::test]
async fn the_pool_is_computed_from_the_networks_ipam_subnet() {
    let endpoint = DockerEndpoint::from_env();
    // A /16 as kind's own network and a /24; the first free of each kind on this engine.
    let slash_24: Vec<(String, String)> = (7..40)
        .map(|n| {
            (
                format!("172.31.{n}.0/24"),
                format!("172.31.{n}.200-172.31.{n}.250"),
            )
        })
        .collect();
    for (shape, candidates) in [("16", subnets_16(214..240)), ("24", slash_24)] {
        let name = format!("pg-metallb-{}-{shape}", std::process::id());
        let (subnet, pool) = create_network(&name, &candidates).await;
        let found = kind_network_subnet(&endpoint, &name).await;
        let docker = endpoint.client(Duration::from_secs(10)).unwrap();
        docker.remove_network(&name).await.unwrap();
        let found = found.unwrap().expect("the network exists");
        assert_eq!(found.to_string(), subnet);
        assert_eq!(MetallbPool::for_subnet(found).unwrap().to_string(), pool);
    }
}

#[tokio::test]
async fn a_missing_network_is_none_not_an_error() {
    let found = kind_network_subnet(&DockerEndpoint::from_env(), "pg-no-such-network-xyz").await;
    assert_eq!(found.unwrap(), None);
}
