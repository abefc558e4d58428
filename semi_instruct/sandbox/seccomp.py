"""The seccomp filter every sandbox runs under (built on the host with libseccomp, loaded by `bwrap --seccomp`).

Default: allow (threads, multiprocessing and subprocess keep working, pitfall 10). Denied with EPERM:
- channels across sandboxes or to the host: ptrace, process_vm_*, pidfd_getfd, kcmp, io_uring, vsock
  and other exotic socket families, keyrings;
- anything that would outlive a case inside a long-lived sandbox: System V IPC objects and POSIX
  message queues (files in /tmp and /dev/shm are wiped between cases);
- (re)mounting, namespaces, chroot, bpf, perf, userfaultfd, modules, kexec, reboot, swap, ...;
- changing *another* process's rlimits, priority, scheduling or memory placement (same-uid processes may;
  the harness also checks its own state after every case).
Syscalls of other ABIs (i386, x32) are killed by libseccomp's default bad-arch action.
"""

from __future__ import annotations

import errno
import tempfile

DENIED = (
    # tracing and cross-process memory / fd access
    "ptrace process_vm_readv process_vm_writev pidfd_getfd kcmp "
    # io_uring bypasses the syscall filter for the operations it performs
    "io_uring_setup io_uring_enter io_uring_register "
    # kernel keyrings are shared by every process of a uid
    "keyctl add_key request_key "
    # objects that survive their creator inside a long-lived sandbox
    "shmget msgget semget mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr "
    # mounts and namespaces
    "mount umount2 pivot_root chroot unshare setns mount_setattr open_tree move_mount fsopen fsconfig "
    "fsmount fspick "
    # kernel attack surface a program never needs
    "bpf perf_event_open userfaultfd kexec_load kexec_file_load init_module finit_module delete_module "
    "reboot swapon swapoff acct quotactl syslog lookup_dcookie name_to_handle_at open_by_handle_at "
    "iopl ioperm vhangup"
).split()

# (syscall, argument index) that must name the calling process itself (0), else EPERM.
SELF_ONLY = (
    ("sched_setaffinity", 0),
    ("sched_setscheduler", 0),
    ("sched_setparam", 0),
    ("sched_setattr", 0),
    ("setpriority", 1),
    ("ioprio_set", 1),
    ("migrate_pages", 0),
    ("move_pages", 0),
)

AF_NETLINK = 16  # families above it (packet, vsock, bluetooth, alg, xdp, ...) are denied
AF_DENIED_LOW = (3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15)  # ax25, ipx, appletalk, ..., key


class SeccompUnavailable(RuntimeError):
    pass


def build_filter() -> bytes:
    """The filter as a BPF program; raises SeccompUnavailable when libseccomp can't be used here."""
    try:
        import pyseccomp as sc
    except (ImportError, RuntimeError) as exc:  # RuntimeError: the module found no libseccomp.so
        raise SeccompUnavailable(
            f"cannot build a seccomp filter ({exc}); install libseccomp (Debian: `apt-get install "
            "libseccomp2`) and the `pyseccomp` package (a dependency of this project)"
        ) from exc
    deny = sc.ERRNO(errno.EPERM)
    filt = sc.SyscallFilter(defaction=sc.ALLOW)
    for name in DENIED:
        try:
            filt.add_rule(deny, name)
        except (ValueError, RuntimeError, OSError):  # not a syscall on this architecture (e.g. iopl)
            continue
    for name, arg in SELF_ONLY:
        filt.add_rule(deny, name, sc.Arg(arg, sc.NE, 0))
    # prlimit64(pid, resource, new, old): reading others' limits is harmless, setting them is not
    filt.add_rule(deny, "prlimit64", sc.Arg(0, sc.NE, 0), sc.Arg(2, sc.NE, 0))
    filt.add_rule(sc.ERRNO(errno.EAFNOSUPPORT), "socket", sc.Arg(0, sc.GT, AF_NETLINK))
    for family in AF_DENIED_LOW:
        filt.add_rule(sc.ERRNO(errno.EAFNOSUPPORT), "socket", sc.Arg(0, sc.EQ, family))
    with tempfile.TemporaryFile() as sink:
        filt.export_bpf(sink)
        sink.seek(0)
        return sink.read()
