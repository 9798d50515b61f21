"""Real Kubernetes (and as much of real Calico as the Go module proxy serves) for the lab and the
project's tests: components built as Go modules into a cache outside the repo (``build``), and a
real etcd + kube-apiserver on loopback made for one run (``controlplane``). docs/real-calico.md."""
