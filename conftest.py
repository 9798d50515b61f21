# The suite's pytest plugin: options (--target, --lab-dataplane, ...), the fixtures in fixtures/,
# and the reporting hooks. Installed, it loads through its pytest11 entry point; naming it here
# too keeps a clone working where plugin autoloading is off (PYTEST_DISABLE_PLUGIN_AUTOLOAD).
# See src/calico_conformance/plugin.py.
pytest_plugins = ["calico_conformance.plugin"]
