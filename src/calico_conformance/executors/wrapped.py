"""What docker exec, kubectl exec and SSH share: wrap the argv for the transport, run it here, tell
a transport failure or a missing tool from the command's own answer, and report the command as the
node ran it. A transport states only what differs: its wrapper, its ``where``, its failure markers
and its missing-tool hint."""
from __future__ import annotations

from calico_conformance.executor import DEFAULT_TIMEOUT, Result, run_local
from calico_conformance.vocabulary.errors import ExecutorError


class WrappedExecutor:
    name: str
    # What the transport prints when it, not the command, failed (checked only on a non-zero exit).
    transport_errors: tuple[str, ...] = ()

    def argv(self, argv) -> list[str]:
        """The local command that runs ``argv`` on the node."""
        raise NotImplementedError

    @property
    def where(self) -> str:
        raise NotImplementedError

    def transport_failure(self, result: Result) -> str | None:
        """The error message if the transport failed, else None."""
        err = result.stderr
        if result.rc != 0 and any(marker in err for marker in self.transport_errors):
            first = (err.strip().splitlines() or [""])[0]
            return f"cannot run on {self.where}: {first}"
        return None

    def missing_tool(self, argv: tuple[str, ...], result: Result) -> str | None:
        """The error message if ``argv[0]`` is not on the node, else None."""
        return None

    def run(self, argv, *, timeout=DEFAULT_TIMEOUT, input=None) -> Result:
        argv = tuple(argv)
        if not argv:
            raise ValueError("empty command")
        result = run_local(self.argv(argv), timeout=timeout, input=input, where=self.where)
        message = self.transport_failure(result) or self.missing_tool(argv, result)
        if message:
            raise ExecutorError(message)
        return Result(argv, result.rc, result.stdout, result.stderr)
