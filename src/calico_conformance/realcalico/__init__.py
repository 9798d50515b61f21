"""Real Calico for the lab: calico-felix and its BPF objects built from Calico's source (a release
archive, a checkout, or GitHub's tarball of the tag) into the cache (``build``), where the source
comes from (``source``), the tags this project builds (``versions``) and the Debian packages building
and running felix need (``packages``). docs/real-calico.md."""
