"""A pytest plugin for the project's tests: the process that writes the reports sends itself a real
signal (CC_TEST_INTERRUPT_SIGNAL=INT|TERM), as a user's Ctrl-C or a CI cancel would, at a point
the test chooses: after N check reports (CC_TEST_INTERRUPT_AFTER=N), or at CC_TEST_INTERRUPT_AT=
last-check (right after the last check), sessionfinish (while the reports are being written) or
unconfigure (during tear-down, after them)."""
import os
import signal

_seen = 0
_items = 0


def _send():
    os.kill(os.getpid(), getattr(signal, "SIG" + os.environ.get("CC_TEST_INTERRUPT_SIGNAL", "INT")))


def pytest_collection_finish(session):
    global _items
    _items = len(session.items)


def pytest_runtest_logreport(report):
    global _seen
    if report.when != "teardown":
        return
    _seen += 1
    after = int(os.environ.get("CC_TEST_INTERRUPT_AFTER", "0") or 0)
    at_last = os.environ.get("CC_TEST_INTERRUPT_AT") == "last-check" and _seen == _items
    if (after and _seen == after) or at_last:
        _send()


def pytest_sessionfinish(session):
    if os.environ.get("CC_TEST_INTERRUPT_AT") == "sessionfinish":
        _send()


def pytest_unconfigure(config):
    if os.environ.get("CC_TEST_INTERRUPT_AT") == "unconfigure":
        _send()
