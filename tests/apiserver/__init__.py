"""A stand-in for the Kubernetes API server (``server.FakeApiServer``), realistic seeds of
several distributions (``seeds``), controllers that move state the way a cluster would
(``sims``), kubeconfigs pointing at it (``kubeconfig``), and fake node-side CLIs (``fakebin``)."""
