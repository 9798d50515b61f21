"""Run a command as an unprivileged user (nobody) wherever the clone sits.

A clone under a folder that only root may enter (mktemp -d makes 0700 folders, /root is 0700)
is out of nobody's reach, and so are the .venv and the sources in it. In a mount namespace of
its own, the topmost such folder is covered with a tmpfs that nobody may enter, and the clone
(and the Python installation, if it sat there too) is bind-mounted back at its own path; then
root's rights are dropped. The host's mounts and folders are untouched."""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

NOBODY = 65534


def _closed_ancestor(path: Path) -> Path | None:
    """The topmost folder above ``path`` that others may not search, or None."""
    closed = None
    for parent in reversed(path.parents):
        if not os.stat(parent).st_mode & 0o001:
            closed = parent
            break
    return closed


def run_as_nobody(argv: list[str], *, repo: Path, cwd: Path, env: dict, timeout: float):
    if not os.stat(repo.resolve()).st_mode & 0o001:
        # a folder above the clone can be covered (below); the clone's own mode travels with it
        pytest.skip(f"the clone {repo} itself may not be entered by other users (mode "
                    f"{os.stat(repo.resolve()).st_mode & 0o777:o}); clone into a folder that may be")
    keep = [repo.resolve(), Path(sys.base_prefix).resolve()]
    drop = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv]
    closed = _closed_ancestor(repo.resolve())
    if closed is None:
        return subprocess.run(drop, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    stash = Path(env.get("HOME", "/tmp")) / ".cc-unprivileged-mounts"
    script = ["set -e", "mount --make-rprivate /"]
    kept = [p for p in keep if closed == p or closed in p.parents]
    for i, path in enumerate(kept):
        script += [f"mkdir -p {stash}/{i}", f"mount --bind {shlex.quote(str(path))} {stash}/{i}"]
    script.append(f"mount -t tmpfs -o mode=0755 cc-unprivileged {shlex.quote(str(closed))}")
    for i, path in enumerate(kept):
        script += [f"mkdir -p {shlex.quote(str(path))}", f"mount --bind {stash}/{i} {shlex.quote(str(path))}"]
    script.append(f"cd {shlex.quote(str(cwd))}")
    script.append("exec " + shlex.join(drop))
    return subprocess.run(["unshare", "--mount", "sh", "-c", "\n".join(script)], env=env,
                          capture_output=True, text=True, timeout=timeout)
