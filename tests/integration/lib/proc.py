"""Other processes as /proc shows them: who they run as, their parent, their children."""

from pathlib import Path


def status_field(pid, name):
    """The value of a line of /proc/PID/status (e.g. "CapEff", "NoNewPrivs")."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {name} in /proc/{pid}/status")


def proc_uids(pid):
    """Real, effective, saved and filesystem uid of a process."""
    return [int(u) for u in status_field(pid, "Uid").split()]


def proc_gids(pid):
    return [int(g) for g in status_field(pid, "Gid").split()]


def proc_groups(pid):
    return [int(g) for g in status_field(pid, "Groups").split()]


def proc_parent(pid):
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def _processes(comm):
    """/proc/PID directories of the processes named `comm`."""
    for proc_dir in Path("/proc").iterdir():
        if not proc_dir.name.isdigit():
            continue
        try:
            if (proc_dir / "comm").read_text().strip() == comm:
                yield proc_dir
        except OSError:
            continue


def find_process_with_arg(arg, comm):
    for proc_dir in _processes(comm):
        try:
            if arg in (proc_dir / "cmdline").read_bytes().decode(errors="replace").split("\0"):
                return int(proc_dir.name)
        except OSError:
            continue
    return None


def find_process_with_env(entry, comm):
    for proc_dir in _processes(comm):
        try:
            if entry.encode() in (proc_dir / "environ").read_bytes().split(b"\0"):
                return int(proc_dir.name)
        except OSError:
            continue
    return None


def children(pid, comm):
    found = []
    for proc_dir in _processes(comm):
        try:
            if proc_parent(int(proc_dir.name)) == pid:
                found.append(int(proc_dir.name))
        except OSError:
            continue
    return found
