"""Every exit code the commands document, in one place (README, `run --help`, docs/preflight.md)."""

# `calico-conformance run` (and plain pytest on the suite): one per verdict, the same with and
# without -n, and what summary.json says in `exit_code`.
CONFORMANT = 0
NOT_CONFORMANT = 1
USAGE = 2               # bad option, not root, unreachable target, reports directory in use
UNSUPPORTED = 3         # only support-matrix (SUP-*) checks failed
INCOMPLETE = 4          # a check could not be judged (it could not see), or checks never ran
# 5 is pytest's "no tests collected"; `run` says that in one line and exits USAGE.
PARTIAL = 6             # only a selection of the checks ran (-k, -m, --check, --deselect, a path)
INTERRUPTED = 130       # Ctrl-C or SIGTERM (128 + SIGINT, as shells report it)

RUN = {"conformant": CONFORMANT, "not conformant": NOT_CONFORMANT, "unsupported": UNSUPPORTED,
       "partial": PARTIAL, "incomplete": INCOMPLETE, "interrupted": INTERRUPTED}

# `calico-conformance preflight`: the support matrix's verdict (usage errors are USAGE too).
PREFLIGHT = {"supported": 0, "unsupported": 1, "unknown": 3}
