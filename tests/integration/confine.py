#!/usr/bin/python3
"""Run a command under the system-call limits of a systemd unit, without systemd.

    confine.py UNIT -- COMMAND [ARGS...]

systemd is not PID 1 in the test sandbox, so a unit cannot be started there. This reads the
unit's SystemCallFilter= lines (allow list or deny list, `~` removing, in order, groups
expanded by `systemd-analyze syscall-filter` as systemd expands them), SystemCallErrorNumber=
and RestrictAddressFamilies=, loads the same seccomp filter (libseccomp, python3-seccomp) and
execs COMMAND. As systemd does, a filtered call fails with SystemCallErrorNumber (or kills the
process without it), and socket() of a family not listed fails with EAFNOSUPPORT. The
capability bounding set and NoNewPrivileges are setpriv's job (test_systemd.py runs this under
it); the mount options (ProtectSystem=, ProtectHome=, PrivateTmp=, ...) are not emulated.
Runs with /usr/bin/python3, the interpreter Debian's python3-seccomp is built for.
"""

import errno
import os
import socket
import subprocess
import sys

import seccomp


def unit_values(unit, key):
    """Every value of KEY= in the unit's [Service] section, in order."""
    values, section = [], None
    with open(unit, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line.startswith("["):
                section = line
            elif section == "[Service]" and line.startswith(key + "="):
                values.append(line[len(key) + 1:])
    return values


def expand(name, seen=None):
    """A syscall group (@name) as the system calls systemd puts in it."""
    if not name.startswith("@"):
        return {name}
    seen = seen if seen is not None else set()
    if name in seen:
        return set()
    seen.add(name)
    out = subprocess.run(["systemd-analyze", "syscall-filter", name], check=True,
                         capture_output=True, text=True).stdout
    calls = set()
    for line in out.splitlines()[1:]:
        word = line.split("#", 1)[0].strip()
        if word:
            calls |= expand(word, seen)
    return calls


def allowed_syscalls(lines):
    """(allow_list, names) from SystemCallFilter= lines: the first line sets the mode."""
    allow_list, names = None, set()
    for value in lines:
        if not value:
            allow_list, names = None, set()
            continue
        negated = value.startswith("~")
        calls = set().union(*(expand(w) for w in value.lstrip("~").split()))
        if allow_list is None:
            allow_list = not negated
        if negated == (not allow_list):   # same sense as the list: add to it
            names |= calls
        else:
            names -= calls
    return allow_list, names


def add_rule(f, action, name, *args):
    try:
        f.add_rule(action, name, *args)
    except (RuntimeError, ValueError):
        pass   # not a system call on this architecture


def build_filter(unit):
    allow_list, names = allowed_syscalls(unit_values(unit, "SystemCallFilter"))
    err = (unit_values(unit, "SystemCallErrorNumber") or [""])[-1]
    deny = seccomp.ERRNO(getattr(errno, err)) if err else seccomp.KILL_PROCESS
    families = (unit_values(unit, "RestrictAddressFamilies") or [""])[-1].split()
    f = seccomp.SyscallFilter(defaction=deny if allow_list else seccomp.ALLOW)
    for name in names:
        if name == "socket" and families:
            continue
        add_rule(f, seccomp.ALLOW if allow_list else deny, name)
    if families:
        # All conditional, so that no unconditional socket rule hides them.
        allowed = sorted(getattr(socket, fam) for fam in families)
        for fam in allowed:
            add_rule(f, seccomp.ALLOW, "socket", seccomp.Arg(0, seccomp.EQ, fam))
        for fam in range(0, allowed[-1]):
            if fam not in allowed:
                add_rule(f, seccomp.ERRNO(errno.EAFNOSUPPORT), "socket",
                         seccomp.Arg(0, seccomp.EQ, fam))
        add_rule(f, seccomp.ERRNO(errno.EAFNOSUPPORT), "socket",
                 seccomp.Arg(0, seccomp.GT, allowed[-1]))
    return f


def main(argv):
    if len(argv) < 4 or argv[2] != "--":
        sys.exit("usage: confine.py UNIT -- COMMAND [ARGS...]")
    build_filter(argv[1]).load()
    os.execvp(argv[3], argv[3:])


if __name__ == "__main__":
    main(sys.argv)
