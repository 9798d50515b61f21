"""The transports behind ``calico_conformance.executor.Executor`` for real clusters: ``docker exec`` into a
kind node container, ``kubectl exec`` into a privileged hostNetwork pod, and SSH. Each is about 50
lines; ``background`` runs a long command (a capture) on any of them.

Every transport reports a command the way the node ran it (its own argv, without the transport's
wrapper) and raises ``ExecutorError`` when the transport itself fails, so a check can tell "the
node said no" from "we could not ask the node".
"""
