"""Felix settings are read from every place felix reads them, ranked as felix ranks them
(docs/upstream-truths.md, row felix-config-precedence), and case-insensitively like felix."""
from calico_conformance.clusterfacts import felix_env, felix_settings


def _felix(name, **spec):
    return {"metadata": {"name": name}, "spec": spec}


def _calico_node(**env):
    return {"spec": {"template": {"spec": {"containers": [
        {"name": "calico-node", "env": [{"name": k, "value": v} for k, v in env.items()]}]}}}}


def test_lower_case_dsr_is_dsr():
    assert felix_settings(_felix("default", bpfExternalServiceMode="dsr"), None).external_service_mode == "DSR"


def test_node_config_overrides_default():
    s = felix_settings(_felix("default", bpfExternalServiceMode="Tunnel"), None,
                       node_felix=_felix("node.node2", bpfExternalServiceMode="DSR"))
    assert (s.external_service_mode, s.external_service_mode_source) == ("DSR", "FelixConfiguration node.node2")


def test_calico_node_environment_overrides_both():
    env = felix_env(_calico_node(FELIX_BPFExternalServiceMode="dsr", FELIX_BPFDSROPTOUTCIDRS="10.0.0.0/8, 192.0.2.0/24"))
    s = felix_settings(_felix("default", bpfExternalServiceMode="Tunnel"), None,
                       node_felix=_felix("node.node2", bpfExternalServiceMode="Tunnel"), env=env)
    assert s.external_service_mode == "DSR" and s.external_service_mode_source == "calico-node environment"
    assert s.dsr_optout_cidrs == ("10.0.0.0/8", "192.0.2.0/24")


def test_empty_values_do_not_count():
    s = felix_settings(_felix("default", bpfExternalServiceMode="DSR"), None,
                       node_felix=_felix("node.a", bpfExternalServiceMode=""))
    assert s.external_service_mode == "DSR"


def test_opted_out_client_is_recognised():
    import importlib.util
    from calico_conformance.paths import suite_dir
    spec = importlib.util.spec_from_file_location("nodeport_checks", suite_dir() / "test_nodeport.py")
    checks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(checks)
    assert checks.dsr_optout("172.31.0.100", ("10.0.0.0/8", "172.31.0.0/24")) == "172.31.0.0/24"
    assert checks.dsr_optout("172.31.0.100", ("10.0.0.0/8", "bogus")) is None


def test_ipv6_support_follows_what_the_operator_renders_when_nothing_sets_it():
    v4_only = {"spec": {"calicoNetwork": {"nodeAddressAutodetectionV4": {"firstFound": True}}}}
    dual = {"spec": {"calicoNetwork": {"nodeAddressAutodetectionV4": {"firstFound": True},
                                       "nodeAddressAutodetectionV6": {"firstFound": True}}}}
    assert felix_settings(None, v4_only).ipv6_support is False
    assert felix_settings(None, dual).ipv6_support is True
    assert felix_settings(None, None).ipv6_support is True            # felix's own default
    env = felix_env(_calico_node(FELIX_IPV6SUPPORT="true"))
    assert felix_settings(None, v4_only, env=env).ipv6_support is True   # what calico-node has wins
    assert felix_settings(_felix("default", ipv6Support=False), dual).ipv6_support is False


def test_nftables_mode_is_read_from_felix_configuration_and_environment():
    assert felix_settings(_felix("default", nftablesMode="Enabled"), None).nftables_mode == "Enabled"
    env = felix_env(_calico_node(FELIX_NFTABLESMODE="enabled"))
    assert felix_settings(None, None, env=env).nftables_mode == "Enabled"
    assert felix_settings(None, None).nftables_mode == "Disabled"
