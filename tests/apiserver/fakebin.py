"""Fake external tools for the tests, written into a directory put first on PATH: ``ssh``,
``docker``, ``kubectl`` (exec only; anything else goes to the real kubectl) and ``kind``. Each
records its argv (one JSON line per call in $FAKEBIN_LOG) and runs the node-side command on this
machine, the way the real tool would run it on the node. They are external programs standing in
for external programs; none of the project's functions is replaced."""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

_PRELUDE = f"""#!{sys.executable}
import json, os, subprocess, sys
args = sys.argv[1:]
with open(os.environ["FAKEBIN_LOG"], "a") as log:
    log.write(json.dumps([os.path.basename(sys.argv[0])] + args) + "\\n")
def run(argv):
    try:
        sys.exit(subprocess.call(argv))
    except FileNotFoundError:
        print(f"sh: 1: {{argv[0]}}: not found", file=sys.stderr)
        sys.exit(127)
"""

SSH = _PRELUDE + """
i = 0
while i < len(args) and args[i].startswith("-") and args[i] != "--":
    i += 2 if args[i] in ("-o", "-p", "-i", "-l") else 1
host = args[i]
rest = args[i + 1:]
if rest[:1] == ["--"]:
    rest = rest[1:]
if host == "unreachable.invalid":
    print(f"ssh: Could not resolve hostname {host}: Name or service not known", file=sys.stderr)
    sys.exit(255)
# the remote side runs the command line through a shell, as sshd does
sys.exit(subprocess.call(["sh", "-c", " ".join(rest)]))
"""

DOCKER = _PRELUDE + """
if args[:1] == ["info"]:
    if os.environ.get("FAKE_DOCKER_ENGINE") == "down":
        print("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
              file=sys.stderr)
        sys.exit(1)
    print("27.3.1")
    sys.exit(0)
if args[:1] == ["exec"]:
    rest = args[1:]
    while rest and rest[0].startswith("-"):
        rest = rest[1:]
    container, argv = rest[0], rest[1:]
    if container == "missing":
        print(f"Error response from daemon: No such container: {container}", file=sys.stderr)
        sys.exit(1)
    try:
        sys.exit(subprocess.call(argv))
    except FileNotFoundError:
        print(f'OCI runtime exec failed: exec failed: unable to start container process: exec: "{argv[0]}": '
              'executable file not found in $PATH: unknown', file=sys.stderr)
        sys.exit(127)
print(f"fake docker: unsupported {args}", file=sys.stderr)
sys.exit(2)
"""

KUBECTL = _PRELUDE + """
if "exec" in args:
    argv = args[args.index("--") + 1:]
    pod = args[args.index("-n") + 2]
    if pod == "missing":
        print(f'Error from server (NotFound): pods "{pod}" not found', file=sys.stderr)
        sys.exit(1)
    try:
        sys.exit(subprocess.call(argv))
    except FileNotFoundError:
        print(f'error: Internal error occurred: error executing command in container: failed to exec in container: '
              f'failed to start exec: OCI runtime exec failed: exec: "{argv[0]}": executable file not found in $PATH',
              file=sys.stderr)
        sys.exit(1)
os.execv(os.environ["REAL_KUBECTL"], ["kubectl"] + args)
"""

KIND = _PRELUDE + """
state = os.environ["FAKE_KIND_STATE"]
os.makedirs(state, exist_ok=True)
def opt(name):
    return args[args.index(name) + 1] if name in args else None
if args[:2] == ["get", "clusters"]:
    names = sorted(f[:-5] for f in os.listdir(state) if f.endswith(".yaml"))
    print("\\n".join(names) if names else "No kind clusters found.")
elif args[:2] == ["create", "cluster"]:
    name = opt("--name")
    with open(opt("--config")) as src, open(os.path.join(state, name + ".yaml"), "w") as dst:
        dst.write(src.read())
    with open(os.environ["FAKE_KIND_KUBECONFIG"]) as src, open(opt("--kubeconfig"), "w") as dst:
        dst.write(src.read())
    print(f"Creating cluster {name!r} ...")
elif args[:2] == ["delete", "cluster"]:
    os.remove(os.path.join(state, opt("--name") + ".yaml"))
elif args[:2] == ["get", "kubeconfig"]:
    print(open(os.environ["FAKE_KIND_KUBECONFIG"]).read())
elif args[:2] == ["load", "docker-image"]:
    print(f"Image: {args[-1]!r} loaded")
else:
    print(f"fake kind: unsupported {args}", file=sys.stderr)
    sys.exit(2)
"""


class FakeBin:
    def __init__(self, root: Path, tools=("ssh", "docker", "kubectl", "kind")):
        self.dir = root / "fakebin"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log = root / "fakebin.log"
        self.log.touch()
        sources = {"ssh": SSH, "docker": DOCKER, "kubectl": KUBECTL, "kind": KIND}
        for tool in tools:
            path = self.dir / tool
            path.write_text(sources[tool])
            path.chmod(0o755)
        self.env = {"FAKEBIN_LOG": str(self.log), "REAL_KUBECTL": shutil.which("kubectl") or "/usr/bin/kubectl",
                    "FAKE_KIND_STATE": str(root / "kind-state")}

    def install(self, monkeypatch) -> "FakeBin":
        """Put the fakes first on PATH for this test (an environment change, not a mock)."""
        for key, value in self.env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("PATH", f"{self.dir}{os.pathsep}{os.environ['PATH']}")
        return self

    def calls(self, tool: str | None = None) -> list[list[str]]:
        out = [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]
        return [c[1:] for c in out if tool is None or c[0] == tool]
