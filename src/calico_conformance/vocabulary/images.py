"""The container images the real-cluster targets run, where no option names others."""

# The echo backend runs the project's own echo server in it (workloads/pods.py): it needs python3.
ECHO_IMAGE = "python:3.12-alpine"
# The privileged per-node agent pods (node commands through kubectl exec): tcpdump, ip, iptables, nft.
NODE_AGENT_IMAGE = "nicolaka/netshoot:v0.13"
