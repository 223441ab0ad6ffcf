//! The MetalLB range from a real Docker network, created and removed by the test.

mod provision_common;

use std::time::Duration;

use playground::preflight::DockerEndpoint;
use playground::provision::{MetallbPool, kind_network_subnet};
use provision_common::create_network;

#[tokio::test]
async fn the_pool_is_computed_from_the_networks_ipam_subnet() {
    let endpoint = DockerEndpoint::from_env();
    for (subnet, pool) in [
        ("10.214.0.0/16", "10.214.255.200-10.214.255.250"),
        ("172.31.7.0/24", "172.31.7.200-172.31.7.250"),
    ] {
        let name = format!(
            "pg-metallb-{}-{}",
            std::process::id(),
            subnet.replace(['.', '/'], "-")
        );
        create_network(&name, subnet).await;
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
