"""The component versions, in one place. Why these: docs/real-calico.md."""
from __future__ import annotations

# The line Calico v3.29 builds against (issue 11); the newest v1.30 patch on the module proxy.
KUBERNETES = "v1.30.14"
# Staging modules k8s.io/X are published as v0.<minor>.<patch> for kubernetes v1.<minor>.<patch>.
STAGING = "v0." + KUBERNETES.split(".", 1)[1]

# Felix is built from Calico's source, not from this module (realcalico/versions.py).
CALICO_MODULE = "github.com/projectcalico/calico"
# The only Calico module version the proxy serves: the release-v3.28 branch (v3.28.4+11). Its tree
# has the Calico CRDs (libcalico-go/config/crd) and the operator manifests (manifests/).
CALICO_CRDS = "v1.11.0-cni-plugin.0.20250813170300-a0db560f0520"
CALICO_CRDS_DESCRIBES = "v3.28 (release-v3.28 branch, v3.28.4+11)"

# Debian 12's etcd-server (3.4.23) is accepted by kube-apiserver 1.30 (measured: docs/real-calico.md);
# where no etcd is installed, this one is built from go.etcd.io/etcd/server/v3.
ETCD = "v3.5.17"
ETCD_MIN_SYSTEM = (3, 4)
