"""The suite's own in-cluster objects, all in its namespace: the echo backend (a python image
running ``src/calico_conformance/workloads/echo.py`` from a ConfigMap, pinned to one node), its NodePort Service
(and a second with externalTrafficPolicy: Local),
and the node agents (privileged hostNetwork pods, one per node, for kubectl exec)."""
from __future__ import annotations

import re
from pathlib import Path

from calico_conformance.workloads import echo

LABEL = {"app.kubernetes.io/managed-by": "calico-conformance"}
ECHO_PORT = 8080
ECHO_NAME = "cc-echo"
ECHO_LOCAL_NAME = "cc-echo-local"
# Every node, control plane included: the agents must run where the checks look.
TOLERATE_ALL = [{"operator": "Exists"}]


def dns_name(prefix: str, node: str) -> str:
    name = re.sub(r"[^a-z0-9-]", "-", f"{prefix}-{node}".lower()).strip("-")
    return name[:63].rstrip("-")


def namespace(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {**LABEL, "pod-security.kubernetes.io/enforce": "privileged"}}}


def echo_objects(ns: str, node: str, image: str) -> list[dict]:
    labels = {**LABEL, "app": ECHO_NAME}
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": ECHO_NAME, "namespace": ns, "labels": LABEL},
          "data": {"echo.py": Path(echo.__file__).read_text()}}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": ECHO_NAME, "namespace": ns, "labels": labels},
           "spec": {"nodeName": node, "tolerations": TOLERATE_ALL, "restartPolicy": "Always",
                    "containers": [{"name": "echo", "image": image, "imagePullPolicy": "IfNotPresent",
                                    # echo.py listens on IPv4 and IPv6 where the pod has both
                                    "command": ["python3", "/echo/echo.py", "--port", str(ECHO_PORT)],
                                    "ports": [{"containerPort": ECHO_PORT, "protocol": "TCP"}],
                                    "readinessProbe": {"tcpSocket": {"port": ECHO_PORT}, "periodSeconds": 2},
                                    "volumeMounts": [{"name": "script", "mountPath": "/echo"}]}],
                    "volumes": [{"name": "script", "configMap": {"name": ECHO_NAME}}]}}
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": ECHO_NAME, "namespace": ns, "labels": LABEL},
           # PreferDualStack: both families where the cluster has them (a dual-stack NodePort to
           # probe over IPv6), one elsewhere; without it Kubernetes makes the Service single-stack,
           # and felix programs services per family (felix/bpf/proxy, per-family syncers).
           "spec": {"type": "NodePort", "externalTrafficPolicy": "Cluster", "selector": {"app": ECHO_NAME},
                    "ipFamilyPolicy": "PreferDualStack",
                    "ports": [{"name": "http", "port": 80, "targetPort": ECHO_PORT, "protocol": "TCP"}]}}
    # The same backend behind externalTrafficPolicy: Local (IPv4 only: the check probes IPv4)
    local = {"apiVersion": "v1", "kind": "Service",
             "metadata": {"name": ECHO_LOCAL_NAME, "namespace": ns, "labels": LABEL},
             "spec": {"type": "NodePort", "externalTrafficPolicy": "Local", "selector": {"app": ECHO_NAME},
                      "ports": [{"name": "http", "port": 80, "targetPort": ECHO_PORT, "protocol": "TCP"}]}}
    return [cm, pod, svc, local]


def agent_pod(ns: str, node: str, image: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": dns_name("cc-agent", node), "namespace": ns,
                         "labels": {**LABEL, "app": "cc-agent"}},
            "spec": {"nodeName": node, "hostNetwork": True, "hostPID": True, "tolerations": TOLERATE_ALL,
                     "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "agent", "image": image, "imagePullPolicy": "IfNotPresent",
                                     "command": ["sleep", "infinity"],
                                     "securityContext": {"privileged": True}}]}}
