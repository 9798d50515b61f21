"""What a run knows of the cluster under test: Felix's settings, each node's kernel and
architecture, and the cluster's versions. Every layer may read these; they import nothing."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class FelixSettings:
    """The Felix configuration values the checks depend on (FelixConfiguration ``default``)."""
    bpf_enabled: bool | None = None
    external_service_mode: str = "Tunnel"        # bpfExternalServiceMode: Tunnel (default) or DSR
    kube_proxy_iptables_cleanup: bool = True     # bpfKubeProxyIptablesCleanupEnabled
    vxlan_port: int = 4789                       # vxlanPort
    vxlan_vni: int = 4096                        # vxlanVNI
    bpf_data_iface_pattern: str | None = None    # bpfDataIfacePattern (None: felix's default)
    dsr_optout_cidrs: tuple[str, ...] = ()       # bpfDSROptoutCIDRs (v3.26+): these clients get Tunnel
    # ipv6Support: felix programs (and cleans) IPv6 tables only when it is on. felix's own default
    # is true; the manifests and the operator set it false on a cluster without an IPv6 pool.
    ipv6_support: bool = True
    nftables_mode: str = "Disabled"              # NFTablesMode: Enabled, Disabled (v3.29+)
    # where external_service_mode came from, as felix ranks its sources: an environment variable
    # of calico-node, FelixConfiguration node.<name>, FelixConfiguration default, felix's default
    external_service_mode_source: str = "default"


@dataclass(frozen=True)
class NodeFacts:
    name: str
    kernel: str = ""
    arch: str = ""
    os_image: str = ""

    # As a flat property (JUnit, and the facts xdist workers send): "node.NAME" = this.
    def property_value(self) -> str:
        return f"kernel={self.kernel} arch={self.arch} os={self.os_image}"

    @classmethod
    def from_property(cls, key: str, value: str) -> "NodeFacts":
        kernel, _, rest = value.removeprefix("kernel=").partition(" arch=")
        arch, _, os_image = rest.partition(" os=")
        return cls(key.removeprefix("node."), kernel, arch, os_image)


@dataclass(frozen=True)
class ClusterFacts:
    target: str
    calico_version: str | None = None
    kubernetes_version: str | None = None
    distribution: str | None = None
    datastore: str | None = None                 # "kubernetes" or "etcd"
    felix: FelixSettings = field(default_factory=FelixSettings)
    nodes: tuple[NodeFacts, ...] = ()
    is_lab: bool = False
    lab_profile: str | None = None
    # Felix settings where one node's differ from ``felix`` (FelixConfiguration node.<name>)
    node_felix: tuple[tuple[str, FelixSettings], ...] = ()
    # the real felix a lab profile ran, as felix reported itself and where it was built from
    # ("felix v3.29.7, commit 82fd18c2, built from calico-v3.29.7.tar.xz"); None: emulated
    lab_felix: str | None = None

    def felix_for(self, node: str) -> FelixSettings:
        """The settings felix runs with on ``node`` (per-node configuration over the global)."""
        return dict(self.node_felix).get(node, self.felix)

    def as_properties(self) -> dict[str, str]:
        """Flat, secret-free key/values for JUnit and the HTML report header."""
        props = {
            "target": self.target,
            "calico_version": self.calico_version or "unknown",
            "kubernetes_version": self.kubernetes_version or "unknown",
            "distribution": self.distribution or "unknown",
            "datastore": self.datastore or "unknown",
        }
        for key, value in asdict(self.felix).items():
            props[f"felix.{key}"] = str(value)
        for node in self.nodes:
            props[f"node.{node.name}"] = node.property_value()
        if self.is_lab:
            props["lab_profile"] = self.lab_profile or ""
            kernel = self.nodes[0].kernel if self.nodes else "unknown"
            props["lab_notice"] = (REAL_FELIX_NOTICE.format(felix=self.lab_felix, kernel=kernel) if self.lab_felix
                                   else LAB_NOTICE)
            if self.lab_felix:
                props["lab_felix"] = self.lab_felix
        return props


LAB_NOTICE = ("This run used the reference lab: network namespaces that emulate a dataplane. "
              "It checks the conformance suite itself, not Calico.")
REAL_FELIX_NOTICE = ("This run used the reference lab with real {felix} on every node, in network namespaces "
                     "on Linux {kernel}: it judges that felix on that kernel, not a cluster's installation of it.")
