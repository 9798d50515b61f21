# pytester runs the conformance suite in-process against lab profiles (tests/suite_runner.py);
# the API stand-in's fixtures (apiserver, kubeconfig, fakebin) are shared by every test module.
pytest_plugins = ["pytester", "tests.apiserver.fixtures"]
