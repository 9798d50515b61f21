"""A real cluster whose node commands go through a privileged hostNetwork agent pod per node
(``kubectl exec``): what ``--target kubeconfig`` is, and what kind and ssh build on (they change
only ``node_executor``). A new cluster kind subclasses ``AgentPodTarget``."""
from __future__ import annotations

import os

from calico_conformance.executors.kubectl import KubectlExecutor
from calico_conformance.targets.cluster import ClusterTarget
from calico_conformance.workloads import pods


class AgentPodTarget(ClusterTarget):
    def __init__(self, kube, *, agent_image: str, **kw):
        super().__init__(kube, **kw)
        self.agent_image = agent_image

    def node_executor(self, node: dict):
        self.ensure_namespace()
        name = node["metadata"]["name"]
        pod = pods.agent_pod(self.namespace, name, self.agent_image)
        if self.kube.get("v1", "Pod", pod["metadata"]["name"], self.namespace) is None:
            self.kube.create(pod)
        self._wait_pod(pod["metadata"]["name"])
        # kubectl takes one --kubeconfig file; a KUBECONFIG list it reads from the environment itself
        path = self.kube.kubeconfig if self.kube.kubeconfig and os.pathsep not in self.kube.kubeconfig else None
        return KubectlExecutor(pod["metadata"]["name"], self.namespace, container="agent", name=name,
                               kubeconfig=path, context=self.kube.context)
