"""Realistic cluster objects, as each distribution creates them (trimmed to what matters)."""
from __future__ import annotations

from pathlib import Path

import yaml

OPERATOR_MANIFEST = Path(__file__).parents[1] / "data" / "tigera-operator-mini.yaml"

KUBE_PROXY_CONFIG = """\
apiVersion: kubeproxy.config.k8s.io/v1alpha1
bindAddress: 0.0.0.0
bindAddressHardFail: false
clientConnection:
  acceptContentTypes: ""
  burst: 0
  contentType: ""
  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
  qps: 0
clusterCIDR: 192.168.0.0/16
configSyncPeriod: 0s
conntrack:
  maxPerCore: null
  min: null
  tcpBeLiberal: false
  tcpCloseWaitTimeout: null
  tcpEstablishedTimeout: null
  udpStreamTimeout: 0s
  udpTimeout: 0s
detectLocal:
  bridgeInterface: ""
  interfaceNamePrefix: ""
detectLocalMode: ""
enableProfiling: false
healthzBindAddress: ""
hostnameOverride: ""
iptables:
  localhostNodePorts: null
  masqueradeAll: false
  masqueradeBit: null
  minSyncPeriod: 0s
  syncPeriod: 0s
ipvs:
  excludeCIDRs: null
  minSyncPeriod: 0s
  scheduler: ""
  strictARP: false
  syncPeriod: 0s
  tcpFinTimeout: 0s
  tcpTimeout: 0s
  udpTimeout: 0s
kind: KubeProxyConfiguration
logging:
  flushFrequency: 0
  options:
    json:
      infoBufferSize: "0"
    text:
      infoBufferSize: "0"
  verbosity: 0
metricsBindAddress: ""
mode: MODE
nftables:
  masqueradeAll: false
  masqueradeBit: null
  minSyncPeriod: 0s
  syncPeriod: 0s
nodePortAddresses: null
oomScoreAdj: null
portRange: ""
showHiddenMetricsForAlphaFeatures: false
winkernel:
  enableDSR: false
  forwardHealthCheckVip: false
  networkName: ""
  rootHnsEndpointName: ""
  sourceVip: ""
"""

KUBE_PROXY_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
    server: https://SERVER
  name: default
contexts:
- context:
    cluster: default
    namespace: default
    user: default
  name: default
current-context: default
users:
- name: default
  user:
    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token
"""


def ns(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def node(name: str, ip: str, *, control_plane: bool = False, labels: dict | None = None,
         annotations: dict | None = None, provider_id: str | None = None, kernel: str = "6.8.0-47-generic",
         os_image: str = "Ubuntu 24.04.1 LTS", arch: str = "amd64", kubelet: str = "v1.31.2",
         pod_cidr: str | None = None) -> dict:
    lbl = {"kubernetes.io/arch": arch, "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
           "beta.kubernetes.io/arch": arch, "beta.kubernetes.io/os": "linux", **(labels or {})}
    if control_plane:
        lbl["node-role.kubernetes.io/control-plane"] = ""
    spec = {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]} if pod_cidr else {}
    if provider_id:
        spec["providerID"] = provider_id
    if control_plane:
        spec["taints"] = [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": lbl, "annotations": {
                "node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                **(annotations or {})}},
            "spec": spec,
            "status": {"addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
                       "nodeInfo": {"architecture": arch, "kernelVersion": kernel, "osImage": os_image,
                                    "kubeletVersion": kubelet, "containerRuntimeVersion": "containerd://1.7.22",
                                    "operatingSystem": "linux", "kubeProxyVersion": ""},
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def kube_proxy_daemonset(image: str = "registry.k8s.io/kube-proxy:v1.31.2", labels: dict | None = None,
                         configmap: str = "kube-proxy") -> dict:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "kube-proxy", "namespace": "kube-system", "generation": 1,
                         "labels": {"k8s-app": "kube-proxy", **(labels or {})}},
            "spec": {"revisionHistoryLimit": 10, "selector": {"matchLabels": {"k8s-app": "kube-proxy"}},
                     "template": {"metadata": {"labels": {"k8s-app": "kube-proxy"}}, "spec": {
                         "containers": [{"name": "kube-proxy", "image": image, "imagePullPolicy": "IfNotPresent",
                                         "command": ["/usr/local/bin/kube-proxy",
                                                     "--config=/var/lib/kube-proxy/config.conf",
                                                     "--hostname-override=$(NODE_NAME)"],
                                         "env": [{"name": "NODE_NAME", "valueFrom": {
                                             "fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}}],
                                         "securityContext": {"privileged": True},
                                         "volumeMounts": [{"mountPath": "/var/lib/kube-proxy", "name": "kube-proxy"},
                                                          {"mountPath": "/run/xtables.lock", "name": "xtables-lock"},
                                                          {"mountPath": "/lib/modules", "name": "lib-modules",
                                                           "readOnly": True}]}],
                         "dnsPolicy": "ClusterFirst", "hostNetwork": True,
                         "nodeSelector": {"kubernetes.io/os": "linux"},
                         "priorityClassName": "system-node-critical", "serviceAccountName": "kube-proxy",
                         "tolerations": [{"operator": "Exists"}],
                         "volumes": [{"name": "kube-proxy", "configMap": {"name": configmap}},
                                     {"name": "xtables-lock", "hostPath": {"path": "/run/xtables.lock",
                                                                           "type": "FileOrCreate"}},
                                     {"name": "lib-modules", "hostPath": {"path": "/lib/modules"}}]}},
                     "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}},
            "status": {"desiredNumberScheduled": 3, "numberReady": 3, "updatedNumberScheduled": 3,
                       "numberAvailable": 3, "observedGeneration": 1}}


def kube_proxy_configmap(mode: str = '""', server: str = "cp.example.internal:6443") -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "kube-proxy", "namespace": "kube-system", "labels": {"app": "kube-proxy"}},
            "data": {"config.conf": KUBE_PROXY_CONFIG.replace("mode: MODE", f"mode: {mode}"),
                     "kubeconfig.conf": KUBE_PROXY_KUBECONFIG.replace("SERVER", server)}}


def kubeadm_config(endpoint: str | None = "cp.example.internal:6443") -> dict:
    cfg = {"apiServer": {}, "apiVersion": "kubeadm.k8s.io/v1beta4", "certificatesDir": "/etc/kubernetes/pki",
           "clusterName": "kubernetes", "controllerManager": {}, "dns": {},
           "etcd": {"local": {"dataDir": "/var/lib/etcd"}}, "imageRepository": "registry.k8s.io",
           "kind": "ClusterConfiguration", "kubernetesVersion": "v1.31.2",
           "networking": {"dnsDomain": "cluster.local", "podSubnet": "192.168.0.0/16",
                          "serviceSubnet": "10.96.0.0/12"}, "proxy": {}, "scheduler": {}}
    if endpoint:
        cfg["controlPlaneEndpoint"] = endpoint
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
            "data": {"ClusterConfiguration": yaml.safe_dump(cfg)}}


def service(namespace: str, name: str, ip: str, port: int = 443, labels: dict | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace,
                                                               "labels": labels or {}},
            "spec": {"type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip],
                     "ports": [{"name": "https", "port": port, "protocol": "TCP", "targetPort": 6443}]}}


def pod(namespace: str, name: str, ip: str, node_name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
            "spec": {"nodeName": node_name, "containers": [{"name": "c", "image": "registry.k8s.io/coredns/coredns:v1.11.3"}]},
            "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}}


def _base(nodes: list[dict]) -> list[dict]:
    return [ns("default"), ns("kube-system"), ns("kube-public"), ns("kube-node-lease"), *nodes,
            service("default", "kubernetes", "10.96.0.1", labels={"component": "apiserver", "provider": "kubernetes"}),
            service("kube-system", "kube-dns", "10.96.0.10", 53),
            pod("kube-system", "coredns-7c65d6cfc9-abcde", "192.168.10.2", nodes[-1]["metadata"]["name"])]


def kubeadm(*, mode: str = '""', endpoint: str | None = "cp.example.internal:6443", ips=("10.0.0.10", "10.0.0.11", "10.0.0.12"),
            kube_proxy: bool = True) -> list[dict]:
    nodes = [node("cp1", ips[0], control_plane=True, pod_cidr="192.168.0.0/24",
                  annotations={"kubeadm.alpha.kubernetes.io/cri-socket": "unix:///var/run/containerd/containerd.sock"}),
             node("worker1", ips[1], pod_cidr="192.168.1.0/24"),
             node("worker2", ips[2], pod_cidr="192.168.2.0/24")]
    objs = _base(nodes) + [kubeadm_config(endpoint)]
    if kube_proxy:
        objs += [kube_proxy_daemonset(), kube_proxy_configmap(mode, endpoint or f"{ips[0]}:6443")]
    return objs


EKS_HOST = "60F939227672BC3D5A1B3EC9744B2B21.gr7.us-west-2.eks.amazonaws.com"
AKS_HOST = "mycalicocl-calicodemorg-03a087-36558dbb.hcp.canadaeast.azmk8s.io"


def eks(*, bottlerocket: bool = False, aws_node: bool = True) -> list[dict]:
    os_image, kernel = (("Bottlerocket OS 1.26.1 (aws-k8s-1.31)", "6.1.112") if bottlerocket
                        else ("Amazon Linux 2023.6.20241010", "6.1.112-122.189.amzn2023.x86_64"))
    nodes = [node(f"ip-192-168-{i}-10.us-west-2.compute.internal", f"192.168.{i}.10", kernel=kernel,
                  os_image=os_image, kubelet="v1.31.0-eks-a737599",
                  provider_id=f"aws:///us-west-2{'abc'[i]}/i-0abc{i}def456789",
                  labels={"eks.amazonaws.com/nodegroup": "ng-1", "eks.amazonaws.com/capacityType": "ON_DEMAND",
                          "topology.kubernetes.io/region": "us-west-2"}) for i in range(2)]
    objs = _base(nodes)
    objs[4 + len(nodes)] = service("default", "kubernetes", "10.100.0.1")
    objs += [kube_proxy_daemonset("602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/kube-proxy:v1.31.0-minimal-eksbuild.3",
                                  labels={"eks.amazonaws.com/component": "kube-proxy"}, configmap="kube-proxy-config"),
             {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-proxy-config", "namespace": "kube-system"},
              "data": {"config": KUBE_PROXY_CONFIG.replace("mode: MODE", 'mode: "iptables"')}}]
    if aws_node:
        objs.append({"apiVersion": "apps/v1", "kind": "DaemonSet",
                     "metadata": {"name": "aws-node", "namespace": "kube-system", "labels": {"k8s-app": "aws-node"}},
                     "spec": {"selector": {"matchLabels": {"k8s-app": "aws-node"}}, "template": {
                         "metadata": {"labels": {"k8s-app": "aws-node"}},
                         "spec": {"containers": [{"name": "aws-node",
                                                  "image": "602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:v1.18.5"}]}}}})
    return objs


def aks() -> list[dict]:
    nodes = [node(f"aks-nodepool1-12345678-vmss00000{i}", f"10.224.0.{4 + i}", kernel="5.15.0-1073-azure",
                  os_image="Ubuntu 22.04.5 LTS",
                  provider_id=f"azure:///subscriptions/0000/resourceGroups/mc_rg/providers/Microsoft.Compute/"
                              f"virtualMachineScaleSets/aks-nodepool1-12345678-vmss/virtualMachines/{i}",
                  labels={"kubernetes.azure.com/cluster": "MC_rg_calico_canadaeast",
                          "kubernetes.azure.com/agentpool": "nodepool1", "agentpool": "nodepool1"})
             for i in range(2)]
    return _base(nodes) + [kube_proxy_daemonset("mcr.microsoft.com/oss/kubernetes/kube-proxy:v1.30.5",
                                                 labels={"addonmanager.kubernetes.io/mode": "Reconcile"})]


def openshift() -> list[dict]:
    nodes = [node(f"master-{i}", f"10.0.1.{10 + i}", control_plane=True, kernel="5.14.0-427.40.1.el9_4.x86_64",
                  os_image="Red Hat Enterprise Linux CoreOS 417.94.202410090854-0",
                  labels={"node.openshift.io/os_id": "rhcos", "node-role.kubernetes.io/master": ""},
                  annotations={"machineconfiguration.openshift.io/state": "Done"}) for i in range(3)]
    crds = [crd("networks", "operator.openshift.io", "Network"), crd("infrastructures", "config.openshift.io", "Infrastructure")]
    return _base(nodes) + crds + [
        {"apiVersion": "config.openshift.io/v1", "kind": "Infrastructure", "metadata": {"name": "cluster"},
         "spec": {}, "status": {"apiServerURL": "https://api.ocp1.example.com:6443",
                                "apiServerInternalURI": "https://api-int.ocp1.example.com:6443",
                                "infrastructureName": "ocp1-x7k2p", "platform": "None"}},
        {"apiVersion": "operator.openshift.io/v1", "kind": "Network", "metadata": {"name": "cluster"},
         "spec": {"clusterNetwork": [{"cidr": "10.128.0.0/14", "hostPrefix": 23}],
                  "defaultNetwork": {"type": "Calico"}, "serviceNetwork": ["172.30.0.0/16"]}}]


def kind(name: str = "cc", *, ip_prefix: str = "172.18.0", kube_proxy: bool = False) -> list[dict]:
    """kind's nodes; ``ip_prefix="127.0.0"`` puts every node on 127.0.0.1 for tests that connect."""
    names = [f"{name}-control-plane", f"{name}-worker", f"{name}-worker2"]
    nodes = [node(n, f"{ip_prefix}.{1 + i}" if ip_prefix != "127.0.0" else "127.0.0.1", control_plane=(i == 0),
                  provider_id=f"kind://docker/{name}/{n}", os_image="Debian GNU/Linux 12 (bookworm)",
                  pod_cidr=f"192.168.{i}.0/24") for i, n in enumerate(names)]
    objs = _base(nodes) + [kubeadm_config(f"{name}-control-plane:6443")]
    if kube_proxy:
        objs += [kube_proxy_daemonset(), kube_proxy_configmap('iptables', f"{name}-control-plane:6443")]
    return objs


def gke() -> list[dict]:
    return _base([node("gke-c1-default-pool-1234-abcd", "10.128.0.2",
                       labels={"cloud.google.com/gke-nodepool": "default-pool", "cloud.google.com/gke-os-distribution": "cos"},
                       provider_id="gce://proj/us-central1-a/gke-c1-default-pool-1234-abcd")])


def rke() -> list[dict]:
    return _base([node("rke-node-1", "10.1.0.5", control_plane=True,
                       annotations={"rke.cattle.io/external-ip": "10.1.0.5", "rke.cattle.io/internal-ip": "10.1.0.5"})])


def crd(plural: str, group: str, kind: str) -> dict:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}"},
            "spec": {"group": group, "scope": "Cluster", "names": {"kind": kind, "plural": plural},
                     "versions": [{"name": "v1", "served": True, "storage": True}]}}


def operator_objects() -> list[dict]:
    return [d for d in yaml.safe_load_all(OPERATOR_MANIFEST.read_text()) if d]


def calico_iptables(*, operator_pod: bool = True) -> list[dict]:
    """An operator-installed Calico in iptables mode, as its switch-over patch finds it."""
    objs = operator_objects()
    objs.append({"apiVersion": "operator.tigera.io/v1", "kind": "Installation", "metadata": {"name": "default"},
                 "spec": {"variant": "Calico", "calicoNetwork": {
                     "linuxDataplane": "Iptables", "hostPorts": "Enabled", "bgp": "Enabled",
                     "ipPools": [{"name": "default-ipv4-ippool", "cidr": "192.168.0.0/16", "blockSize": 26,
                                  "encapsulation": "VXLANCrossSubnet", "natOutgoing": "Enabled", "nodeSelector": "all()"}]}},
                 "status": {"calicoVersion": "v3.29.1"}})
    objs.append({"apiVersion": "operator.tigera.io/v1", "kind": "TigeraStatus", "metadata": {"name": "calico"},
                 "spec": {}, "status": {"conditions": [{"type": "Available", "status": "True"}]}})
    if operator_pod:
        objs.append({"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": "tigera-operator-5fb55776df-7xk2p", "namespace": "tigera-operator",
            "labels": {"k8s-app": "tigera-operator", "name": "tigera-operator"}},
            "spec": {"hostNetwork": True, "containers": [{"name": "tigera-operator", "image": "quay.io/tigera/operator:v1.36.2"}]},
            "status": {"phase": "Running"}})
    return objs
