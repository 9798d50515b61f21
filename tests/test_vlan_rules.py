"""When felix copes with a tagged VLAN device, by version and bpfDataIfacePattern
(docs/upstream-truths.md, rows vlan-v3.29-pattern and vlan-v3.30-trees)."""
import pytest

from calico_conformance.probes.links import vlan_workable

DEFAULT_V329 = (r"^((en|wl|ww|sl|ib)[Popsx].*|(eth|wlan|wwan|bond).*|tunl0$|vxlan.calico$|"
                r"vxlan-v6.calico$|wireguard.cali$|wg-v6.cali$)")


@pytest.mark.parametrize("version, pattern, workable", [
    ((3, 30), None, True),                        # device trees: TC on the VLAN device
    ((3, 31), DEFAULT_V329, True),
    ((3, 29), None, False),                       # felix's default takes both eth1 and eth1.100
    ((3, 29), DEFAULT_V329, False),
    ((3, 29), r"^(eth1\.100|vxlan\.calico)$", True),   # the VLAN device in, its parent out
    ((3, 29), r"^eth1", False),                   # parent in too
    ((3, 29), r"([", False),                      # a pattern felix would reject helps nobody
    (None, None, False),                          # unknown version: the stricter rule
])
def test_vlan_device_is_workable_only_where_felix_copes(version, pattern, workable):
    assert (vlan_workable("eth1.100", "eth1", version, pattern) is not None) is workable


@pytest.mark.parametrize("version, device, pattern, workable", [
    ((3, 30), "bond0.100", None, True),           # the default takes bondN.VID and ethN.VID ...
    ((3, 30), "vlan100", None, False),            # ... but not vlan100: felix ignores it, the parent keeps full programs
    ((3, 31), "vlan100", r"^(eth|vlan).*", True),   # unless the pattern takes it
])
def test_from_v3_30_the_vlan_device_must_match_the_data_interface_pattern(version, device, pattern, workable):
    """vlan-v3.30-trees: the tree's root gets the programs only where felix takes it at all."""
    assert (vlan_workable(device, "eth1", version, pattern) is not None) is workable
