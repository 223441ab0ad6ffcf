//! The simulated cluster: a Kubernetes API server, controller and Bookinfo data plane (in progress).
