"""calico-conformance: targets, the reference lab, probes, evidence decoding and the pytest plugin."""
