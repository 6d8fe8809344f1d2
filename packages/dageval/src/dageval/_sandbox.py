"""The sandbox around one file's load. Stdlib only: `_worker.py` imports it in the runtime's own python.

Layers, each reported by name when the kernel allowed it:
- `pid`, `mount`, `net`, `ipc`: new namespaces (as root; inside a user namespace otherwise);
- `filesystem`: a fresh root that holds only what the import needs, read-only (/usr, /etc, the /lib links, the
  runtime and the Python it was made from, the file's own folder), with empty /tmp, /var/tmp and /dev/shm, a few
  device nodes and the namespace's own /proc. The host's /run, /var, /home, the other samples, the runtimes
  folder and its lock files are not there at all, so neither their sockets nor their writable corners are;
- `init`: PID 1 of the namespace is a small waiter and the loader its child, so abort() or a segfault kills
  the loader as it would any process (signals to a namespace's PID 1 are ignored), and the waiter tells the
  worker how it ended. As root the worker's own fork is PID 1 (`fork_as_pid1`): no process in between;
- `uid`: as root, an unprivileged uid of the worker's own, so the process limit counts this file alone;
- `cgroup` or `nproc`: memory capped for the file's whole process tree: a cgroup v2 with memory.max where one
  can be made, else RLIMIT_NPROC 1 (no fork, no thread) so that the per-process address-space limit is the total.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import resource
import signal
from pathlib import Path

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = (
    1,
    2,
    4,
    8,
    32,
    4096,
    16384,
    1 << 18,
)
MNT_DETACH = 2
PR_SET_PDEATHSIG = 1
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}
# Far above any account's uid: one per worker (uid = base + the worker's pid), so that RLIMIT_NPROC, which the
# kernel counts per uid, counts this file's processes and no one else's.
UID_BASE = 1_900_000_000
SYSTEM = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
SCRATCH = ("/tmp", "/var/tmp", "/dev/shm")
_libc = ctypes.CDLL(None, use_errno=True)


class SandboxError(Exception):
    """A layer the kernel allowed could not be set up for this file: the file is not loaded."""


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise SandboxError(f"{what}: {os.strerror(errno)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = [None if x is None else x.encode() for x in (source, target, fstype, data)]
    _check(_libc.mount(enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3]), f"mount {target}")


def die_with_parent() -> None:
    """A worker killed from outside (the parent's wall-clock bound) takes this process with it."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def own_pid_namespace() -> int | None:
    """As root: a descriptor of this process's PID namespace, with which `fork_as_pid1` can give each fork a
    new namespace of its own and come back (a second unshare of CLONE_NEWPID needs the first undone); None
    where that is not allowed (then `namespaces` makes one in an extra process)."""
    if os.geteuid() != 0:
        return None
    own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    if _libc.unshare(CLONE_NEWPID) == 0 and _libc.setns(own, CLONE_NEWPID) == 0:
        return own
    os.close(own)
    return None


def fork_as_pid1(own: int) -> int:
    """Fork a child that is PID 1 of a new PID namespace; the caller stays where it was."""
    _check(_libc.unshare(CLONE_NEWPID), "unshare a PID namespace")
    pid = os.fork()
    if pid:
        _check(_libc.setns(own, CLONE_NEWPID), "return to the worker's PID namespace")
    return pid


def namespaces(pid1: bool) -> list[str]:
    """Enter new namespaces; returns which. `pid1`: this process is PID 1 of a new one already; else a new PID
    namespace applies to the next fork."""
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | (0 if pid1 else CLONE_NEWPID)
    if os.geteuid() == 0 and _libc.unshare(flags) == 0:
        return ["pid", "mount", "net", "ipc", "uid"]
    uid, gid = os.geteuid(), os.getegid()
    if _libc.unshare(CLONE_NEWUSER | flags) == 0:  # an unprivileged user: the same, inside a user namespace
        with contextlib.suppress(OSError):
            Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
        Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
        return ["pid", "mount", "net", "ipc"]
    return ["net"] if _libc.unshare(CLONE_NEWNET) == 0 else []


def _outermost(paths: list[str]) -> list[str]:
    kept: list[str] = []
    for path in sorted({str(Path(p).resolve()) for p in paths if Path(p).is_dir()}):
        if not any(path == k or path.startswith(k + "/") for k in kept):
            kept.append(path)
    return kept


def _read_only(target: str) -> None:
    flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV
    try:
        _mount(None, target, None, flags)
    except SandboxError:  # in a user namespace the source's own flags are locked and must be repeated
        held = os.statvfs(target).f_flag & (MS_NOEXEC | 1024 | 2048)  # noexec, noatime, nodiratime
        _mount(None, target, None, flags | held)


def _bind(fd: int, target: str, *, directory: bool, read_only: bool) -> None:
    if directory:
        Path(target).mkdir(mode=0o755, parents=True, exist_ok=True)
    else:
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
    _mount(f"/proc/self/fd/{fd}", target, None, MS_BIND)  # not recursive: no host mount beneath comes along
    if read_only:
        _read_only(target)


def enter_root(keep: list[str]) -> None:
    """Build the new root in a tmpfs mounted over /tmp (private to this mount namespace) and move into it.

    `keep` (folders) are bound read-only at their own paths. Sources are opened before anything is mounted,
    since a kept folder may itself lie under /tmp."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    system = [p for p in SYSTEM if Path(p).is_symlink() or Path(p).exists()]
    links = {p: str(Path(p).readlink()) for p in system if Path(p).is_symlink()}
    folders = _outermost([p for p in system if p not in links] + keep)
    devices = [d for d in DEVICES if Path(d).exists()]
    handles = {path: os.open(path, os.O_PATH) for path in folders + devices}
    try:
        new = "/tmp"
        _mount("tmpfs", new, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
        for path, target in links.items():
            Path(new + path).symlink_to(target)
        # Parents before children: a kept folder under /tmp lands on top of the fresh /tmp.
        steps = sorted([*((p, "scratch") for p in SCRATCH), *((p, "bind") for p in folders)])
        for path, kind in steps:
            if kind == "scratch":
                Path(new + path).mkdir(mode=0o755, parents=True, exist_ok=True)
                _mount("tmpfs", new + path, "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777")
            else:
                _bind(handles[path], new + path, directory=True, read_only=True)
        for device in devices:
            _bind(handles[device], new + device, directory=False, read_only=False)
        for name, target in (("fd", "/proc/self/fd"), ("stdin", "fd/0"), ("stdout", "fd/1"), ("stderr", "fd/2")):
            Path(f"{new}/dev/{name}").symlink_to(target)
        Path(new + "/proc").mkdir(mode=0o555)
        # This PID namespace's own /proc: no other process is visible.
        _mount("proc", new + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    finally:
        for fd in handles.values():
            os.close(fd)
    os.chdir(new)
    number = SYS_PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise SandboxError(f"pivot_root: unknown system call number on {platform.machine()}")
    _check(_libc.syscall(number, b".", b"."), "pivot_root")
    _check(_libc.umount2(b".", MNT_DETACH), "detach the old root")  # the host's tree is gone, not just hidden
    os.chdir("/")
    _mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def drop_privileges(uid: int) -> None:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def run_as_init(status_fd: int) -> None:
    """In PID 1 of the new namespace: fork the loader and return in it; here, reap every process until the
    loader ends, tell the worker how it ended (on `status_fd`, which the loader does not keep), and exit, which
    kills whatever is left."""
    loader = os.fork()
    if loader == 0:
        os.close(status_fd)
        return
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(70)
        if pid == loader:
            break
    if os.WIFSIGNALED(status):
        os.write(status_fd, f"signal {os.WTERMSIG(status)}".encode())
    else:
        os.write(status_fd, f"exit {os.WEXITSTATUS(status)}".encode())
    os._exit(0)


def set_limits(limits: dict[str, int], nproc: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limits["memory"], limits["memory"]))
    resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu"], limits["cpu"] + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["fsize"], limits["fsize"]))
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash ends at once, without writing its memory out


def memory_cgroup(memory: int, nproc: int) -> str | None:
    """A cgroup v2 of this worker's own, capping memory (and processes) for a file's whole tree; None where
    none can be made: not root, no cgroup v2, or its memory controller not offered at the hierarchy's root.

    It is made at the root of the hierarchy (where root may enable controllers while processes live there),
    not under the worker's own cgroup, which holds processes and so may not hand controllers down."""
    if os.geteuid() != 0:
        return None
    try:
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
        top = Path(next(line.split()[4] for line in mounts if " - cgroup2 " in line))
        if "memory" not in (top / "cgroup.controllers").read_text().split():
            return None
        if "memory" not in (top / "cgroup.subtree_control").read_text().split():
            (top / "cgroup.subtree_control").write_text("+memory")  # refused below a container's own root
        with contextlib.suppress(OSError):
            (top / "cgroup.subtree_control").write_text("+pids")
        group = top / f"dageval-{os.getpid()}"
        group.mkdir(exist_ok=True)
    except (OSError, StopIteration):
        return None
    try:
        (group / "memory.max").write_text(str(memory))
    except OSError:
        remove_cgroup(str(group))
        return None
    with contextlib.suppress(OSError):  # without swap accounting there is no swap to limit
        (group / "memory.swap.max").write_text("0")
    with contextlib.suppress(OSError):
        (group / "pids.max").write_text(str(nproc))
    return str(group)


def join(group: str) -> None:
    """Move this process (and so all it will start) into the cgroup."""
    Path(group, "cgroup.procs").write_text(str(os.getpid()))


def remove_cgroup(group: str | None) -> None:
    if group:
        with contextlib.suppress(OSError):
            Path(group).rmdir()
