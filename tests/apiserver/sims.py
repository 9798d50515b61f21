"""Controllers for the stand-in: what the operator, the kubelet, the service allocator and the
DaemonSet controller would do, driven by the requests the code under test makes."""
from __future__ import annotations

import copy
import itertools


def _conditions(available: str, progressing: str, degraded: str, message: str = "") -> list[dict]:
    t = "2025-01-01T00:00:00Z"
    return [{"type": "Available", "status": available, "lastTransitionTime": t, "reason": "", "message": ""},
            {"type": "Progressing", "status": progressing, "lastTransitionTime": t, "reason": "", "message": ""},
            {"type": "Degraded", "status": degraded, "lastTransitionTime": t,
             "reason": "PodFailure" if degraded == "True" else "", "message": message}]


def operator(server, *, reads: int = 3, degraded: str | None = None, calico_version: str = "v3.29.1",
             degraded_message: str = "Pod calico-system/calico-node-x2x9q has crash looping container: calico-node"):
    """The Tigera operator: after the Installation is created or changed, TigeraStatus objects go
    Progressing, then Available (or ``degraded`` goes Degraded) after ``reads`` reads; when all are
    Available the Installation's status reports the rolled-out spec and calico-node exists."""
    state = {"reads": 0}

    def rollout(srv, inst):
        state["reads"] = 0
        names = ["calico"] + (["apiserver"] if srv.get("operator.tigera.io/v1", "APIServer", "default") else [])
        for name in names:
            srv.put({"apiVersion": "operator.tigera.io/v1", "kind": "TigeraStatus", "metadata": {"name": name},
                     "spec": {}, "status": {"conditions": _conditions("False", "True", "False")}})

    def on_read(srv, obj):
        state["reads"] += 1
        if state["reads"] < reads * len(srv.all("operator.tigera.io/v1", "TigeraStatus")):
            return
        for ts in srv.all("operator.tigera.io/v1", "TigeraStatus"):
            name = ts["metadata"]["name"]
            ts["status"]["conditions"] = (_conditions("False", "False", "True", degraded_message)
                                          if name == degraded else _conditions("True", "False", "False"))
            srv.put(ts)
        if degraded:
            return
        inst = srv.get("operator.tigera.io/v1", "Installation", "default")
        if inst and (inst.get("status") or {}).get("computed") != inst["spec"]:
            inst["status"] = {"calicoVersion": calico_version, "computed": copy.deepcopy(inst["spec"])}
            srv.put(inst)
            _calico_node(srv, calico_version, inst)

    server.react("create", "Installation", rollout)
    server.react("update", "Installation", rollout)
    server.react("create", "APIServer", lambda srv, obj: rollout(srv, None))
    server.react("read", "TigeraStatus", on_read)


def _calico_node(srv, version, inst):
    if not srv.get("v1", "Namespace", "calico-system"):
        srv.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "calico-system"}})
    srv.put({"apiVersion": "apps/v1", "kind": "DaemonSet",
             "metadata": {"name": "calico-node", "namespace": "calico-system"},
             "spec": {"selector": {"matchLabels": {"k8s-app": "calico-node"}}, "template": {
                 "metadata": {"labels": {"k8s-app": "calico-node"}},
                 "spec": {"containers": [{"name": "calico-node", "image": f"docker.io/calico/node:{version}",
                                          "env": [{"name": "DATASTORE_TYPE", "value": "kubernetes"}]}]}}}})
    bpf = inst["spec"].get("calicoNetwork", {}).get("linuxDataplane") == "BPF"
    if srv._served_kind("crd.projectcalico.org/v1", "FelixConfiguration"):
        fc = srv.get("crd.projectcalico.org/v1", "FelixConfiguration", "default") or {
            "apiVersion": "crd.projectcalico.org/v1", "kind": "FelixConfiguration", "metadata": {"name": "default"},
            "spec": {}}
        fc["spec"]["bpfEnabled"] = bpf
        srv.put(fc)


def kubelet(server, *, pod_ip: str = "127.0.0.1"):
    """Pods start at once: Running, Ready, with ``pod_ip`` (hostNetwork pods get the node's IP)."""
    def start(srv, pod):
        node = srv.get("v1", "Node", pod["spec"].get("nodeName", "")) or {}
        host_ip = next((a["address"] for a in (node.get("status") or {}).get("addresses", [])
                        if a["type"] == "InternalIP"), "127.0.0.1")
        ip = host_ip if pod["spec"].get("hostNetwork") else pod_ip
        pod["status"] = {"phase": "Running", "hostIP": host_ip, "podIP": ip, "podIPs": [{"ip": ip}],
                         "conditions": [{"type": "Ready", "status": "True"}],
                         "containerStatuses": [{"name": c["name"], "ready": True, "state": {"running": {}}}
                                               for c in pod["spec"]["containers"]]}
        srv.put(pod)
    server.react("create", "Pod", start)


def services(server, *, node_port: int | None = None):
    """ClusterIPs and NodePorts are allocated on create (``node_port`` for the first NodePort)."""
    ips = itertools.count(100)
    ports = itertools.count(30080)

    def allocate(srv, svc):
        spec = svc["spec"]
        spec.setdefault("clusterIP", f"10.96.0.{next(ips)}")
        spec["clusterIPs"] = [spec["clusterIP"]]
        if spec.get("type") == "NodePort":
            for port in spec["ports"]:
                port.setdefault("nodePort", node_port or next(ports))
        srv.put(svc)
    server.react("create", "Service", allocate)


def daemonsets(server):
    """A changed DaemonSet rolls out at once."""
    def roll(srv, ds):
        n = len(srv.all("v1", "Node"))
        ds["status"] = {"observedGeneration": ds["metadata"]["generation"], "desiredNumberScheduled": n,
                        "updatedNumberScheduled": n, "numberAvailable": n, "numberUnavailable": 0}
        srv.put(ds)
    server.react("update", "DaemonSet", roll)


def all_of(server, **operator_kw):
    operator(server, **operator_kw)
    kubelet(server)
    services(server)
    daemonsets(server)
