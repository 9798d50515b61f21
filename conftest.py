# The suite's pytest plugin: options (--target, --lab-dataplane, ...), the target fixtures, and
# the reporting hooks (check IDs and target facts in JUnit and HTML). See fixtures/plugin.py.
pytest_plugins = ["fixtures.plugin"]
