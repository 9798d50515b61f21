"""What a kubelet would write, for a control plane that has none: every Pod bound to a node is
reported Running and Ready, with the node's InternalIP as hostIP and, for pods that are not
hostNetwork, the IP the caller gives (the lab knows where its workload really listens)."""
from __future__ import annotations

import threading
from typing import Callable

from calico_conformance.realk8s import apply


class PodStatusWriter:
    def __init__(self, kubeconfig: str, *, pod_ip: Callable[[dict], str] | str = "127.0.0.1",
                 interval: float = 0.2):
        self.kubeconfig, self.interval = kubeconfig, interval
        self.pod_ip = pod_ip if callable(pod_ip) else (lambda pod, ip=pod_ip: ip)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cc-pod-status", daemon=True)
        self.errors: list[str] = []

    def __enter__(self) -> "PodStatusWriter":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        dyn = apply.client(self.kubeconfig)
        pods = dyn.resources.get(api_version="v1", kind="Pod")
        nodes = dyn.resources.get(api_version="v1", kind="Node")
        while not self._stop.wait(self.interval):
            try:
                for pod in pods.get().to_dict().get("items") or []:
                    if pod["spec"].get("nodeName") and (pod.get("status") or {}).get("phase") != "Running":
                        self._start(pods, nodes, pod)
            except Exception as exc:       # keep going; a test that waits on a pod reports the timeout
                self.errors.append(str(exc).splitlines()[0])

    def _start(self, pods, nodes, pod: dict) -> None:
        node = nodes.get(name=pod["spec"]["nodeName"]).to_dict()
        host_ip = next((a["address"] for a in (node.get("status") or {}).get("addresses") or []
                        if a["type"] == "InternalIP"), "127.0.0.1")
        ip = host_ip if pod["spec"].get("hostNetwork") else self.pod_ip(pod)
        now = "2026-01-01T00:00:00Z"
        status = {"phase": "Running", "hostIP": host_ip, "hostIPs": [{"ip": host_ip}], "podIP": ip,
                  "podIPs": [{"ip": ip}], "startTime": now,
                  "conditions": [{"type": t, "status": "True", "lastTransitionTime": now}
                                 for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
                  "containerStatuses": [{"name": c["name"], "image": c["image"], "imageID": "", "ready": True,
                                         "restartCount": 0, "started": True, "state": {"running": {"startedAt": now}}}
                                        for c in pod["spec"]["containers"]]}
        pods.status.patch(body={"status": status}, name=pod["metadata"]["name"],
                          namespace=pod["metadata"]["namespace"], content_type="application/merge-patch+json")
