"""A pytest plugin for the project's tests: after N check reports the process that writes the
reports sends itself a real signal (CC_TEST_INTERRUPT_AFTER=N, CC_TEST_INTERRUPT_SIGNAL=INT|TERM),
as a user's Ctrl-C or a CI cancel would, at a point the test chooses."""
import os
import signal

_seen = 0


def pytest_runtest_logreport(report):
    global _seen
    after = int(os.environ.get("CC_TEST_INTERRUPT_AFTER", "0") or 0)
    if not after or report.when != "teardown":
        return
    _seen += 1
    if _seen == after:
        sig = getattr(signal, "SIG" + os.environ.get("CC_TEST_INTERRUPT_SIGNAL", "INT"))
        os.kill(os.getpid(), sig)
