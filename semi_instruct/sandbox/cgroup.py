"""Per-sandbox cgroups (v1 `memory` and `pids`): a bound on a case's processes *in total*.

RLIMIT_AS is per process, so forked children can each take the whole limit (pitfall 7 of
docs/sandbox.md); only a cgroup bounds the sum. Where cgroup v2 lacks the memory/pids
controllers (as on this kind of host) the v1 hierarchies still work, as root. Every sandbox gets its own
groups, nested under the host process's own groups so that an outer limit (a container's, a SLURM job's)
still applies. Unprivileged runs get no cgroup: `semi-instruct sandbox doctor` says so, per-process
rlimits and oom_score_adj remain, and the batch system's job cgroup is the backstop.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass
from pathlib import Path

PREFIX = "semi-instruct-sandbox"
CONTROLLERS = ("memory", "pids")


@dataclass(frozen=True)
class CgroupSupport:
    parents: dict[str, Path]  # controller -> our own group's directory; empty when unavailable
    reason: str = ""  # why not, when unavailable

    @property
    def available(self) -> bool:
        return set(self.parents) == set(CONTROLLERS)


def _v1_mounts() -> dict[str, tuple[str, Path]]:
    """controller -> (root of the mount within the hierarchy, mount point)."""
    mounts = {}
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            fields, (fstype, _source, options) = left.split(), right.split()[:3]
            if fstype == "cgroup":
                for controller in options.split(","):
                    mounts[controller] = (fields[3], Path(fields[4]))
    return mounts


def detect() -> CgroupSupport:
    if os.geteuid() != 0:
        return CgroupSupport({}, "not root: the cgroup v1 hierarchies are writable by root only")
    try:
        mounts = _v1_mounts()
        with open("/proc/self/cgroup", encoding="utf-8") as f:
            own = {
                c: path
                for _, controllers, path in (line.rstrip("\n").split(":", 2) for line in f)
                for c in controllers.split(",")
            }
    except OSError as exc:
        return CgroupSupport({}, f"cannot read cgroup information: {exc}")
    parents = {}
    for controller in CONTROLLERS:
        if controller not in mounts or controller not in own:
            return CgroupSupport(
                {}, f"no cgroup v1 `{controller}` hierarchy mounted (cgroup v2 delegation is not used)"
            )
        root, mount_point = mounts[controller]
        directory = mount_point / os.path.relpath(own[controller], root)
        if not os.access(directory, os.W_OK):
            return CgroupSupport({}, f"cgroup {directory} is not writable")
        _remove_stale(directory)
        parents[controller] = directory
    return CgroupSupport(parents)


def _remove_stale(parent: Path) -> None:
    """Groups left behind by executors that were killed (their owner pid is gone)."""
    for group in parent.glob(f"{PREFIX}-*"):
        owner = group.name.removeprefix(PREFIX + "-").split("-")[0]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            try:
                group.rmdir()
            except OSError:
                pass


class SandboxCgroup:
    """One sandbox's memory and pids groups; a process joins by writing its pid to `procs_files`."""

    _serial = itertools.count(1)

    def __init__(self, support: CgroupSupport) -> None:
        name = f"{PREFIX}-{os.getpid()}-{next(self._serial)}"
        self.dirs = {c: support.parents[c] / name for c in CONTROLLERS}
        for d in self.dirs.values():
            d.mkdir()
        self.procs_files = [d / "cgroup.procs" for d in self.dirs.values()]
        self.oom_control = self.dirs["memory"] / "memory.oom_control"
        self._limits: tuple[int, int] | None = None

    def limit(self, memory_bytes: int, processes: int) -> None:
        if self._limits == (memory_bytes, processes):
            return
        memory = self.dirs["memory"]
        files = [memory / "memory.limit_in_bytes"]
        if (memory / "memory.memsw.limit_in_bytes").exists():  # with swap accounting, bound swap too
            files.append(memory / "memory.memsw.limit_in_bytes")  # memsw must stay >= the RAM limit:
            if self._limits is not None and memory_bytes > self._limits[0]:
                files.reverse()  # raise memsw first, lower it last
        for path in files:
            path.write_text(str(memory_bytes))
        (self.dirs["pids"] / "pids.max").write_text(str(processes))
        self._limits = (memory_bytes, processes)

    def remove(self) -> None:
        """Remove the groups once their processes are gone (the kernel may take a moment to empty them)."""
        for d in self.dirs.values():
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
