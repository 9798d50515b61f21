"""A thin layer over the official ``kubernetes`` client: connect from a kubeconfig, read and write
objects as plain dicts, wait with deadlines. ``kubernetes`` is imported inside functions only, so
``--help`` and the lab never pay for it.

    kube = connect(kubeconfig, context)       # TargetError with what to do if it cannot
    kube.get("v1", "ConfigMap", "kube-proxy", "kube-system")   # dict or None
"""
from calico_conformance.k8s.client import Conflict, Kube, connect, obj_ref
from calico_conformance.k8s.resources import Ref
from calico_conformance.k8s.wait import wait_until

__all__ = ["Conflict", "Kube", "Ref", "connect", "obj_ref", "wait_until"]
