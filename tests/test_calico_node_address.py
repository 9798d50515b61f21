"""The NodePort tunnel's outer destination is Calico's own node address (the annotation
calico-node sets), not necessarily the InternalIP: multi-NIC nodes (docs/upstream-truths.md,
row nodeport-outer-addresses)."""
from calico_conformance.targets.base import Node
from calico_conformance.targets.cluster import calico_address, internal_ip

MULTI_NIC = {"metadata": {"name": "n1", "annotations": {"projectcalico.org/IPv4Address": "10.1.0.11/24",
                                                        "projectcalico.org/IPv6Address": "fd00:1::11/64"}},
             "status": {"addresses": [{"type": "InternalIP", "address": "192.168.0.11"}]}}


def test_calico_address_comes_from_the_annotation_without_its_prefix():
    assert calico_address(MULTI_NIC, "IPv4") == "10.1.0.11"
    assert calico_address(MULTI_NIC, "IPv6") == "fd00:1::11"
    assert internal_ip(MULTI_NIC) == "192.168.0.11"


def test_felix_address_prefers_calico_s_and_falls_back_to_the_internal_ip():
    with_annotation = Node("n1", "192.168.0.11", executor=None, uplink="eth0", calico_address="10.1.0.11")
    without = Node("n2", "192.168.0.12", executor=None, uplink="eth0")
    assert with_annotation.felix_address == "10.1.0.11" and without.felix_address == "192.168.0.12"
    assert calico_address({"metadata": {"name": "n2"}}, "IPv4") is None
