"""The first process of a sandbox (see sandbox.py): confine, then run the program.

Run as `python -I -S sandbox_init.py CONFIG_JSON` in a new session with an empty
environment; stdlib only, and nothing of the harness is imported. Steps:

1. new namespaces: mount, IPC, PID, network (a network with no interfaces but loopback,
   down), and a user namespace when not root, mapping the caller's own uid;
2. a size-limited tmpfs over the work folder, the program written into it, and every other
   mount made read-only;
3. fork: the child is PID 1 of the new PID namespace (the harness is not visible from it,
   and when it exits the kernel kills whatever it left behind). It mounts a /proc of its
   own and forks the program's process, which sets the resource limits, drops to nobody
   when root, and execs Python on the program. Each parent exits as its child did; when
   a parent dies, its child gets SIGKILL.

Exit status 125 with "sandbox: ..." on stderr: a confinement the kernel refused.
"""

import ctypes
import json
import os
import resource
import signal
import sys

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER = 0x00020000, 0x08000000, 0x10000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
PR_SET_PDEATHSIG = 1
NOBODY = 65534
REFUSED = 125

libc = ctypes.CDLL(None, use_errno=True)


def refuse(message):
    """Exit with a refusal the parent reads as the reason."""
    os.write(2, f"sandbox: {message}\n".encode())
    os._exit(REFUSED)


def call(fn, *args, what):
    """Call a libc function; a failure is a refusal naming `what`."""
    if fn(*args) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source, target, fstype, flags, data=None):
    """mount(2), refusing on failure."""
    enc = (lambda s: s.encode() if isinstance(s, str) else s)
    call(libc.mount, enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data),
         what=f"mount {target}")


def mount_points():
    """The mount points of this namespace, deepest last."""
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4].replace("\\040", " ") for line in f]
    return list(dict.fromkeys(points))


def keep_flags(point):
    """A bind remount must restate the flags a user namespace locked on the mount."""
    st = os.statvfs(point).f_flag
    out = 0
    for st_flag, ms_flag in ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC),
                             (os.ST_NOATIME, MS_NOATIME), (os.ST_NODIRATIME, MS_NODIRATIME),
                             (os.ST_RELATIME, MS_RELATIME)):
        if st & st_flag:
            out |= ms_flag
    return out


def read_only_except(work):
    """Remount every filesystem read-only except the program's work folder."""
    for point in mount_points():
        if point == work or point.startswith(work + "/") or point.startswith("/proc"):
            continue
        try:
            mount(None, point, None, MS_BIND | MS_REMOUNT | MS_RDONLY | keep_flags(point))
        except OSError:
            pass   # checked below: a mount left writable refuses the run
    for point in mount_points():
        if point == work or point.startswith(work + "/") or point.startswith(("/proc", "/sys")):
            continue
        try:
            writable = not os.statvfs(point).f_flag & os.ST_RDONLY
        except OSError:
            continue   # not reachable from here, so not writable either
        if writable:
            refuse(f"cannot make {point} read-only (accept the risk 'filesystem' to run anyway)")


def expose(prefix, work):
    """As root the program runs as nobody, who may not reach the interpreter (pyenv keeps it
    under /root, mode 0700): mount an empty tmpfs over the first folder nobody cannot enter
    (hiding the rest of it) and bind the interpreter's prefix back at its own path."""
    parts = prefix.strip("/").split("/")
    blocked = next((p for p in ("/" + "/".join(parts[:i]) for i in range(1, len(parts) + 1))
                    if not os.stat(p).st_mode & 0o001), None)
    if blocked is None:
        return
    stash = os.path.join(work, ".prefix")
    os.mkdir(stash)
    mount(prefix, stash, None, MS_BIND | MS_REC)
    mount("tmpfs", blocked, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755")
    os.makedirs(prefix, exist_ok=True)
    mount(stash, prefix, None, MS_BIND | MS_REC)
    call(libc.umount2, stash.encode(), 2, what=f"umount {stash}")   # MNT_DETACH
    os.rmdir(stash)


def limits(cfg):
    """Set the program's CPU, memory, file and process limits."""
    cpu, mem, fsize, nproc = cfg["cpu_seconds"], cfg["memory_bytes"], cfg["file_bytes"], cfg["processes"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))


def main():
    """Confine this process, drop to nobody, then run the program."""
    cfg = json.loads(sys.argv[1])
    work, isolate = cfg["work"], set(cfg["isolate"])
    with open(os.path.join(work, "program.py"), "rb") as f:
        program = f.read()
    root = os.geteuid() == 0
    uid, gid = os.getuid(), os.getgid()

    flags = CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNS
    if "network" in isolate:
        flags |= CLONE_NEWNET
    if not root:
        flags |= CLONE_NEWUSER
    cfg["namespaces"] = True
    try:
        call(libc.unshare, flags, what="unshare")
        if not root:
            for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
                with open(f"/proc/self/{name}", "w") as f:
                    f.write(text)
    except OSError as e:
        if isolate:
            refuse(f"the kernel refused new namespaces ({e.strerror}); "
                   f"accept the risks {sorted(isolate)} to run without them")
        cfg["namespaces"] = False    # every risk accepted: limits and, as root, nobody only

    if cfg["namespaces"]:
        try:
            mount(None, "/", None, MS_REC | MS_PRIVATE)
            if "filesystem" in isolate:
                owner = f",uid={NOBODY},gid={NOBODY}" if root else ""
                mount("tmpfs", work, "tmpfs", MS_NOSUID | MS_NODEV, f"size={cfg['work_bytes']},mode=0700{owner}")
            if root:
                expose(cfg["prefix"], work)
        except OSError as e:
            refuse(f"cannot set up the mounts ({e}); accept the risk 'filesystem' to run anyway")
        if "filesystem" in isolate:
            read_only_except(work)
    path = os.path.join(work, "program.py")
    with open(path, "wb") as f:
        f.write(program)
    if root:
        os.chown(path, NOBODY, NOBODY)
        os.chown(work, NOBODY, NOBODY)

    nproc = cfg["processes"]
    if not root:   # RLIMIT_NPROC counts every process of the uid, the harness's too
        nproc += sum(1 for p in os.listdir("/proc") if p.isdigit() and os.stat(f"/proc/{p}").st_uid == uid)
    cfg["processes"] = nproc

    pid = os.fork()
    if pid == 0:
        init(cfg, root)
    relay(pid, announce=True)


def init(cfg, root):
    """PID 1 of the namespace: its own /proc, then the program as PID 2, whose parent it is
    (as root, one the program, being nobody, may not signal)."""
    try:
        call(libc.prctl, PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0, what="prctl")
        if cfg["namespaces"]:
            try:
                mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
            except OSError:   # e.g. a container masks parts of /proc: hide all of it instead
                mount("tmpfs", "/proc", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, "size=4k")
        pid = os.fork()
    except BaseException as e:
        os.write(2, f"sandbox: {type(e).__name__}: {e}\n".encode())
        os._exit(REFUSED)
    if pid == 0:
        try:
            os.chdir(cfg["work"])
            limits(cfg)
            if root:
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
            call(libc.prctl, PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0, what="prctl")
            os.execve(cfg["python"], [cfg["python"], "-I", "-B", "program.py"], {})
        except BaseException as e:   # before exec: nothing of the program has run
            os.write(2, f"sandbox: {type(e).__name__}: {e}\n".encode())
            os._exit(REFUSED)
    relay(pid, announce=False)


def relay(pid, announce):
    """Wait for the child and exit as it did (128 + signal when a signal ended it)."""
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        if announce:
            os.write(2, f"\nsandbox: killed by {signal.Signals(os.WTERMSIG(status)).name}\n".encode())
        os._exit(128 + os.WTERMSIG(status))
    code = os.WEXITSTATUS(status)
    if announce and code > 128:
        os.write(2, f"\nsandbox: killed by {signal.Signals(code - 128).name}\n".encode())
    os._exit(code)

if __name__ == "__main__":
    main()
