# pytester runs the conformance suite in-process against lab profiles (tests/suite_runner.py).
pytest_plugins = ["pytester"]
