#!/usr/bin/env bash
# libvirt-lab.sh - a real libvirtd with CloudStack-like QEMU domains for the
# pulse-sensor integration tests.
#
#   libvirt-lab.sh install              apt-get what the lab needs (only what is missing)
#   libvirt-lab.sh up                   start virtlogd + libvirtd, define and start the domains
#   libvirt-lab.sh down                 remove domains, images, taps; stop the daemons `up` started
#   libvirt-lab.sh start-domain NAME    start a lab domain (with some disk and NIC traffic)
#   libvirt-lab.sh destroy-domain NAME  power a lab domain off (it stays defined)
#   libvirt-lab.sh stop-daemon          stop libvirtd only (SIGTERM, SIGKILL after 10 s): the
#                                       QEMU domains keep running, clients lose their connection
#   libvirt-lab.sh start-daemon         start libvirtd again and wait until virsh answers; it
#                                       takes the running domains back
#   libvirt-lab.sh status               show what is defined and running
#   libvirt-lab.sh scale N              make exactly N extra small domains exist and run paused
#                                       (pulse-bench-001…, one qcow2 disk and one tap each) for
#                                       the benchmarks; `scale 0` and `down` remove them
#   libvirt-lab.sh scale N --running    the same, but running CloudStack-like idle guests: 1 vCPU,
#                                       32 MiB, a virtio qcow2 disk, a tap, a virtio memballoon;
#                                       fixtures/halt-bootsector.S parks the vCPU in `hlt` with
#                                       interrupts off, so they cost next to nothing under TCG.
#                                       Domains of the other kind are replaced.
#
# The domains are described by fixtures/lab.json and fixtures/<name>.xml.
# They have no OS: their root disk carries fixtures/bootsector.S, which does
# a little disk IO every second, so block counters are real and growing.
# Taps get a few frames from the host side (AF_PACKET on that tap only) and
# QEMU's `announce_self` sends a few frames from the guest side, so both
# directions of the net counters are non-zero.  No traffic leaves the taps.
#
# Domains use KVM when /dev/kvm works, TCG otherwise; PULSE_LAB_VIRT=qemu
# forces TCG (under nested virtualization it boots the BIOS faster than KVM).
#
# State goes to ${PULSE_IT_STATE:-/tmp/pulse-it}: lab.env (shell variables,
# written last by `up`, so its presence means "lab is up"), lab.json (what
# pulse_check.py compares against) and lab.pids (daemons `up` started).
#
# One lab per machine: libvirtd and the domains are global, whatever the state
# directory; `down` removes the domains even if another state directory's `up`
# defined them, and stops only the daemons its own `up` started.
# Everything is bounded in time.  Only loopback and the lab's own taps are used.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FIXTURES="$HERE/fixtures"
STATE="${PULSE_IT_STATE:-/tmp/pulse-it}"
URI="qemu:///system"
SPEC="$FIXTURES/lab.json"

log() { echo "libvirt-lab: $*" >&2; }
die() { log "error: $*"; exit 1; }

virsh_() { timeout 60 virsh -q -c "$URI" "$@"; }

# wait_for SECONDS DESCRIPTION CMD... : poll CMD every 0.2 s until it succeeds.
wait_for() {
    local secs=$1 what=$2; shift 2
    local deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            log "timed out after ${secs}s waiting for $what"
            return 1
        fi
        sleep 0.2
    done
}

# spec QUERY: print lines from fixtures/lab.json (small python, stdlib only).
spec() {
    /usr/bin/python3 - "$SPEC" "$1" "${2:-}" <<'EOF'
import json, sys
spec = json.load(open(sys.argv[1]))
q, arg = sys.argv[2], sys.argv[3]
doms = {d["name"]: d for d in spec["domains"]}
if q == "domains":
    print(" ".join(doms))
elif q == "state":
    print(doms[arg]["initial_state"])
elif q == "images":
    for i in spec["images"]:
        print(i["path"], i["format"], i["size"], "boot" if i["boot"] else "-",
              i.get("preallocation", "off"))
elif q == "pools":
    print("\n".join(spec["pools"]))
elif q == "block-devices":
    for b in spec.get("block_devices", []):
        print(b["link"], b["backing"], b["size"])
elif q == "extra-files":
    print("\n".join(spec["extra_files"]))
elif q == "macs":
    for n in doms[arg]["nics"]:
        print(n["mac"])
elif q == "fixed-taps":
    for d in doms.values():
        for n in d["nics"]:
            if n["target"]:
                print(n["target"])
elif q == "disks":
    for d in doms[arg]["disks"]:
        print(d["target"], d["source"])
else:
    sys.exit("unknown query " + q)
EOF
}

is_lab_domain() {
    local d
    for d in $(spec domains); do [[ "$d" == "$1" ]] && return 0; done
    return 1
}

# ---------------------------------------------------------------- install
PACKAGES=(libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
          qemu-system-x86 qemu-utils iproute2 openssh-server openssh-client
          netcat-openbsd binutils python3 python3-pytest python3-seccomp)

cmd_install() {
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$p")
    done
    if ((${#missing[@]} == 0)); then
        log "all packages present"
        return 0
    fi
    log "installing: ${missing[*]}"
    # Keep package scripts from starting services (sshd on port 22, ...):
    # the lab starts its own daemons on its own terms.
    local policy_added=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        policy_added=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    local rc=0
    timeout 300 apt-get update -qq || rc=$?
    if ((rc == 0)); then
        timeout 600 apt-get install -y -qq --no-install-recommends "${missing[@]}" || rc=$?
    fi
    if ((policy_added)); then rm -f /usr/sbin/policy-rc.d; fi
    ((rc == 0)) || die "apt-get failed ($rc)"
}

# ---------------------------------------------------------------- daemons
# set_conf FILE KEY VALUE: make FILE contain exactly one active "KEY = VALUE".
set_conf() {
    local file=$1 key=$2 value=$3
    touch "$file"
    if grep -Eq "^[[:space:]]*${key}[[:space:]]*=" "$file"; then
        sed -Ei "s|^[[:space:]]*${key}[[:space:]]*=.*|${key} = ${value}|" "$file"
    else
        echo "${key} = ${value}" >>"$file"
    fi
}

configure_libvirt() {
    mkdir -p /var/log/libvirt /var/run/libvirt /var/lib/libvirt/qemu \
             /var/lib/libvirt/images /etc/libvirt "$STATE"
    local conf=/etc/libvirt/qemu.conf
    # This sandbox has no usable cgroup delegation, no mount namespaces for
    # QEMU and no AppArmor/SELinux: QEMU runs as root with all of that off.
    set_conf "$conf" security_driver '"none"'
    set_conf "$conf" cgroup_controllers '[ ]'
    set_conf "$conf" namespaces '[ ]'
    set_conf "$conf" user '"root"'
    set_conf "$conf" group '"root"'
    # libvirtd refuses to start when the Debian default user/groups are absent.
    getent group kvm >/dev/null || groupadd -r kvm
    getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
    getent passwd libvirt-qemu >/dev/null ||
        useradd -r -g libvirt-qemu -G kvm -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
}

pid_alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }
pidfile_pid() { [[ -r "$1" ]] && tr -dc '0-9' <"$1" || true; }

start_daemons() {
    local pids="$STATE/lab.pids"
    touch "$pids"
    if ! pid_alive "$(pidfile_pid /run/virtlogd.pid)"; then
        log "starting virtlogd"
        virtlogd -d
        wait_for 10 "virtlogd pidfile" pid_alive_file /run/virtlogd.pid
        echo "virtlogd $(pidfile_pid /run/virtlogd.pid)" >>"$pids"
    fi
    if ! pid_alive "$(pidfile_pid /run/libvirtd.pid)"; then
        log "starting libvirtd"
        libvirtd -d
        wait_for 10 "libvirtd pidfile" pid_alive_file /run/libvirtd.pid ||
            die "libvirtd did not start; run 'libvirtd -v' in the foreground to see why"
        echo "libvirtd $(pidfile_pid /run/libvirtd.pid)" >>"$pids"
    fi
    wait_for 30 "virsh version" timeout 10 virsh -c "$URI" version ||
        die "libvirtd does not answer on $URI"
}
pid_alive_file() { pid_alive "$(pidfile_pid "$1")"; }

# KVM when /dev/kvm really works (it does in some sandboxes), TCG otherwise.
# PULSE_LAB_VIRT=qemu forces TCG.
virt_type() {
    if [[ "${PULSE_LAB_VIRT:-}" == qemu || "${PULSE_LAB_VIRT:-}" == kvm ]]; then
        echo "$PULSE_LAB_VIRT"; return
    fi
    if [[ -c /dev/kvm ]] && echo quit | timeout 20 qemu-system-x86_64 -accel kvm -M pc \
            -nodefaults -display none -S -monitor stdio >/dev/null 2>&1; then
        echo kvm
    else
        echo qemu
    fi
}

# ---------------------------------------------------------------- images/domains
# build_bootsector [NAME]: fixtures/NAME.S (default bootsector) -> $STATE/NAME.bin, 512 bytes.
build_bootsector() {
    local name=${1:-bootsector}
    local out="$STATE/$name.bin"
    if [[ ! -s "$out" ]]; then
        as --32 -o "$STATE/$name.o" "$FIXTURES/$name.S"
        ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o "$out" "$STATE/$name.o"
        rm -f "$STATE/$name.o"
    fi
    [[ $(stat -c %s "$out") == 512 ]] || die "$name is not 512 bytes"
}

create_images() {
    local path fmt size boot prealloc
    while read -r path fmt size boot prealloc; do
        [[ -e "$path" ]] && continue
        mkdir -p "$(dirname "$path")"
        qemu-img create -q -f "$fmt" -o "preallocation=$prealloc" "$path" "$size"
        if [[ "$boot" == boot ]]; then
            timeout 30 qemu-io -f "$fmt" -c "write -s $STATE/bootsector.bin 0 512" "$path" >/dev/null
        fi
    done < <(spec images)
}

# Block disks: a loop device over a sparse file, reached through
# /dev/<vg>/<lv> like a CLVM volume.
create_block_devices() {
    local link backing size loop
    while read -r link backing size; do
        if [[ -b "$link" ]]; then continue; fi
        [[ -e "$backing" ]] || truncate -s "$size" "$backing"
        loop=$(losetup -j "$backing" | head -1 | cut -d: -f1)
        [[ -n "$loop" ]] || loop=$(losetup --find --show "$backing")
        mkdir -p "$(dirname "$link")"
        ln -sfn "$loop" "$link"
    done < <(spec block-devices)
}

remove_block_devices() {
    local link backing size loop
    while read -r link backing size; do
        rm -f -- "$link"
        rmdir -- "$(dirname "$link")" 2>/dev/null || true
        [[ -e "$backing" ]] || continue
        for loop in $(losetup -j "$backing" | cut -d: -f1); do
            losetup -d "$loop" || true
        done
    done < <(spec block-devices)
}

domain_state() { virsh_ domstate "$1" 2>/dev/null | head -1 || true; }

# (Re)define from the fixture: a running domain keeps its live config and
# picks the new one up at its next start.
define_domain() {
    local name=$1 vt=$2
    sed -e "s|@DOMTYPE@|$vt|" -e "s|@EMULATOR@|$(command -v qemu-system-x86_64)|" \
        "$FIXTURES/$name.xml" >"$STATE/$name.xml"
    virsh_ define "$STATE/$name.xml" >/dev/null
}

# blk_stat DOMAIN FIELD: sum of block.N.FIELD over the domain's disks.
blk_stat() {
    virsh_ domstats --raw --block "$1" |
        awk -F= -v f="$2" '$1 ~ "^ *block\\.[0-9]+\\." f "$" {s += $2} END {print s + 0}'
}
has_disk_io() { (($(blk_stat "$1" wr.reqs) > 0)); }

# Frames to and from the domain's NICs, on its taps only.
net_traffic() {
    local name=$1 tap mac
    while read -r tap mac; do
        [[ -n "$tap" && "$tap" != - ]] || continue
        grep -qx "$tap" "$STATE/lab.taps" 2>/dev/null || echo "$tap" >>"$STATE/lab.taps"
        ip link set dev "$tap" up
        # host -> guest: a few frames to the guest's MAC with the IEEE "local
        # experimental" ethertype, sent with a packet socket bound to the tap.
        # (Until a guest driver sets up its NIC, QEMU takes only the first.)
        timeout 10 /usr/bin/python3 - "$tap" "$mac" <<'EOF'
import socket, sys
tap, mac = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((tap, 0))
dst = bytes.fromhex(mac.replace(":", ""))
src = bytes.fromhex("0a5e00000001")
for i in range(5):
    s.send(dst + src + b"\x88\xb5" + b"pulse-it %d " % i + b"\0" * 64)
EOF
    done < <(virsh_ domiflist "$name" | awk '{print $1, $NF}')
    # guest -> host: QEMU sends gratuitous RARPs from each NIC.
    virsh_ qemu-monitor-command "$name" --hmp announce_self >/dev/null
}

# start_domain NAME [paused]: start it, wait until the guest did disk IO,
# push some frames, then pause it if asked.
start_domain() {
    local name=$1 want=${2:-running} st
    st=$(domain_state "$name")
    case "$st" in
        running) ;;
        paused) virsh_ resume "$name" >/dev/null ;;
        *) virsh_ start "$name" >/dev/null ;;
    esac
    wait_for 60 "disk IO in $name" has_disk_io "$name" ||
        die "$name shows no disk IO in 'virsh domstats --block'"
    net_traffic "$name"
    sleep 1    # let the announce rounds go out before a pause freezes QEMU's timers
    if [[ "$want" == paused ]]; then
        virsh_ suspend "$name" >/dev/null
    fi
}

destroy_domain() {
    local st
    st=$(domain_state "$1")
    if [[ "$st" != "shut off" ]]; then
        virsh_ destroy "$1" >/dev/null
    fi
}

write_state() {
    local vt=$1 all active=() d st
    all=$(spec domains)
    for d in $all; do
        st=$(domain_state "$d")
        [[ "$st" == running || "$st" == paused ]] && active+=("$d")
    done
    /usr/bin/python3 - "$SPEC" "$STATE/lab.json.tmp" "$URI" "$vt" <<'EOF'
import json, sys
spec = json.load(open(sys.argv[1]))
spec.pop("_comment", None)
spec["uri"] = sys.argv[3]
spec["virt_type"] = sys.argv[4]
json.dump(spec, open(sys.argv[2], "w"), indent=2)
EOF
    mv "$STATE/lab.json.tmp" "$STATE/lab.json"
    cat >"$STATE/lab.env.tmp" <<EOF
# written by libvirt-lab.sh up
LAB_URI=$URI
LAB_DOMAINS="$all"
LAB_ACTIVE="${active[*]}"
LAB_SPARE="i-4-20-VM"
LAB_JSON=$STATE/lab.json
LAB_VIRT_TYPE=$vt
EOF
    mv "$STATE/lab.env.tmp" "$STATE/lab.env"
}

cmd_up() {
    local t0=$SECONDS vt d
    for c in libvirtd virtlogd virsh qemu-system-x86_64 qemu-img qemu-io as ld ip losetup; do
        command -v "$c" >/dev/null || die "$c missing; run '$0 install' first"
    done
    mkdir -p "$STATE"
    configure_libvirt
    start_daemons
    vt=$(virt_type)
    log "virtualization: $vt"
    build_bootsector
    create_images
    create_block_devices
    for d in $(spec domains); do
        define_domain "$d" "$vt"
    done
    for d in $(spec domains); do
        case "$(spec state "$d")" in
            running) start_domain "$d" running ;;
            paused)
                if [[ "$(domain_state "$d")" != paused ]]; then start_domain "$d" paused; fi ;;
            shutoff) destroy_domain "$d" ;;
        esac
    done
    write_state "$vt"
    log "up in $((SECONDS - t0))s; state in $STATE/lab.env"
}

# ---------------------------------------------------------------- scale
# Extra domains for bench/run, of two kinds (their <description> says which):
# - paused: started with --paused (no guest code runs, so they cost next to no CPU) yet QEMU
#   opens their disk and libvirt their tap, so the bulk stats call reports block and net groups
#   for them like for any running domain. Some peers (collectd's virt plugin) skip paused
#   domains, so comparisons need the other kind.
# - running: shaped like a small CloudStack instance (1 vCPU, a virtio disk and NIC, a virtio
#   memballoon, which makes the balloon statistics ask QEMU as on a real host); the guest is
#   fixtures/halt-bootsector.S, which halts with interrupts off once SeaBIOS loaded it.
BENCH_IMAGES=/var/lib/libvirt/images/pulse-bench
BENCH_MEM_KIB=32768
BENCH_START_PARALLEL=4

bench_domains() { virsh_ list --all --name | grep -E '^pulse-bench-[0-9]+$' || true; }
bench_name() { printf 'pulse-bench-%03d' "$1"; }

# define_bench_domain I VIRT_TYPE KIND: define pulse-bench-I as KIND (paused|running); a domain
# of the other kind under that name is removed first. Paused ones are started here; running
# ones by start_bench_domains, several at a time.
define_bench_domain() {
    local i=$1 vt=$2 kind=$3 name img balloon
    name=$(bench_name "$i")
    img="$BENCH_IMAGES/$name.qcow2"
    if [[ -z "$(domain_state "$name")" ]]; then
        rm -f "$img"    # left by an interrupted run, maybe of the other kind
    elif [[ "$(virsh_ desc "$name" 2>/dev/null)" != "pulse-bench $kind" ]]; then
        remove_bench_domain "$name"
    fi
    mkdir -p "$BENCH_IMAGES"
    if [[ ! -e "$img" ]]; then
        qemu-img create -q -f qcow2 "$img" 64M
        if [[ "$kind" == running ]]; then
            timeout 30 qemu-io -f qcow2 -c "write -s $STATE/halt-bootsector.bin 0 512" "$img" \
                >/dev/null
        fi
    fi
    balloon="<memballoon model='none'/>"
    [[ "$kind" == running ]] && balloon="<memballoon model='virtio'/>"
    cat >"$STATE/$name.xml" <<EOF
<domain type='$vt'>
  <name>$name</name>
  <uuid>$(printf '7b1d0c6e-2f1a-4c3e-9a52-%012d' "$i")</uuid>
  <description>pulse-bench $kind</description>
  <memory unit='KiB'>$BENCH_MEM_KIB</memory>
  <currentMemory unit='KiB'>$BENCH_MEM_KIB</currentMemory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <devices>
    <emulator>$(command -v qemu-system-x86_64)</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='$img'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='ethernet'>
      <mac address='$(printf '06:5e:03:00:%02x:%02x' $((i / 256)) $((i % 256)))'/>
      <target dev='$(printf 'pbtap%03d' "$i")'/>
      <model type='virtio'/>
    </interface>
    $balloon
  </devices>
</domain>
EOF
    virsh_ define "$STATE/$name.xml" >/dev/null
    rm -f "$STATE/$name.xml"
    if [[ "$kind" == paused && "$(domain_state "$name")" != paused ]]; then
        virsh_ start --paused "$name" >/dev/null
    fi
}

# running_ready I...: true when every pulse-bench-I runs, its guest has booted (SeaBIOS read
# the boot sector: rd.reqs > 0) and it has a block and a net entry in the bulk statistics.
running_ready() {
    local want=" $* "
    virsh_ domstats --raw --state --block --interface --list-active 2>/dev/null |
        awk -v want="$want" '
            /^Domain: / { d = $2; gsub(/\x27/, "", d); next }
            d ~ /^pulse-bench-[0-9]+$/ {
                split($0, kv, "="); k = kv[1]; gsub(/ /, "", k)
                if (k == "state.state" && kv[2] == 1) run[d] = 1
                if (k == "block.count" && kv[2] > 0) blk[d] = 1
                if (k == "net.count" && kv[2] > 0) net[d] = 1
                if (k ~ /^block\.[0-9]+\.rd\.reqs$/ && kv[2] > 0) boot[d] = 1
            }
            END {
                n = split(want, w, " "); bad = 0
                for (j = 1; j <= n; j++) {
                    d = sprintf("pulse-bench-%03d", w[j])
                    if (!(run[d] && blk[d] && net[d] && boot[d])) { bad++; last = d }
                }
                if (bad) { print bad " not ready, e.g. " last > "/dev/stderr"; exit 1 }
            }'
}

# start_bench_domains I...: start the running kind, a few at a time, and wait (bounded) until
# all are booted and report block and net statistics.
start_bench_domains() {
    local todo=() i name st deadline
    for i in "$@"; do
        name=$(bench_name "$i")
        st=$(domain_state "$name")
        case "$st" in
            running) ;;
            paused) virsh_ resume "$name" >/dev/null ;;
            *) todo+=("$name") ;;
        esac
    done
    if ((${#todo[@]} > 0)); then
        log "starting ${#todo[@]} bench domains, $BENCH_START_PARALLEL at a time"
        printf '%s\n' "${todo[@]}" |
            xargs -P "$BENCH_START_PARALLEL" -I{} timeout 120 virsh -q -c "$URI" start {} \
                >/dev/null || die "starting bench domains failed"
    fi
    # SeaBIOS takes about a second of CPU per guest under TCG, and they share two cores.
    deadline=$((SECONDS + 60 + $# * 2))
    until running_ready "$@" 2>"$STATE/bench-ready.err"; do
        ((SECONDS < deadline)) ||
            die "bench domains not all running with block and net stats: $(cat "$STATE/bench-ready.err")"
        sleep 1
    done
    rm -f "$STATE/bench-ready.err"
}

remove_bench_domain() {
    virsh_ destroy "$1" >/dev/null 2>&1 || true
    virsh_ undefine "$1" >/dev/null 2>&1 || true
    rm -f "$BENCH_IMAGES/$1.qcow2"
}

cmd_scale() {
    local n=$1 kind=$2 vt i d t0=$SECONDS
    [[ "$n" =~ ^[0-9]+$ ]] || die "usage: $0 scale N [--running]"
    timeout 10 virsh -c "$URI" version >/dev/null 2>&1 || die "libvirtd does not answer; run '$0 up'"
    mkdir -p "$STATE"
    vt=$(virt_type)
    [[ "$kind" == running ]] && build_bootsector halt-bootsector
    for d in $(bench_domains); do
        if ((10#${d#pulse-bench-} > n)); then remove_bench_domain "$d"; fi
    done
    for ((i = 1; i <= n; i++)); do
        define_bench_domain "$i" "$vt" "$kind"
    done
    if [[ "$kind" == running ]] && ((n > 0)); then
        start_bench_domains $(seq 1 "$n")
    fi
    rmdir "$BENCH_IMAGES" 2>/dev/null || true
    log "$n bench domains $kind ($vt) in $((SECONDS - t0))s"
}

# ---------------------------------------------------------------- down
kill_pid() {
    local pid=$1 i
    pid_alive "$pid" || return 0
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do pid_alive "$pid" || return 0; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
}

# PIDs of QEMU processes running a lab domain (by its exact -name guest=NAME).
lab_qemu_pids() {
    local p d cmd
    for p in /proc/[0-9]*; do
        cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
        [[ "$cmd" == *qemu-system* ]] || continue
        for d in $(spec domains); do
            if [[ "$cmd" == *"-name guest=$d,"* ]]; then echo "${p#/proc/}"; fi
        done
        if [[ "$cmd" =~ -name\ guest=pulse-bench-[0-9]+, ]]; then echo "${p#/proc/}"; fi
    done
}

cmd_down() {
    local d pid name tap f
    if [[ -S /run/libvirt/libvirt-sock ]] && timeout 10 virsh -c "$URI" version >/dev/null 2>&1; then
        for d in $(bench_domains); do remove_bench_domain "$d"; done
        rm -rf -- "$BENCH_IMAGES"
        for d in $(spec domains); do
            virsh_ destroy "$d" >/dev/null 2>&1 || true
            virsh_ undefine "$d" >/dev/null 2>&1 || true
        done
    fi
    if [[ -f "$STATE/lab.pids" ]]; then
        # libvirtd first (it talks to virtlogd), then virtlogd
        for name in libvirtd virtlogd; do
            while read -r d pid; do
                [[ "$d" == "$name" ]] && kill_pid "$pid"
            done <"$STATE/lab.pids"
        done
        rm -f "$STATE/lab.pids"
    fi
    for pid in $(lab_qemu_pids); do kill_pid "$pid"; done
    # taps that libvirt would have removed, had it still been there
    for tap in $(spec fixed-taps) $(cat "$STATE/lab.taps" 2>/dev/null || true); do
        ip link show dev "$tap" >/dev/null 2>&1 && ip link del dev "$tap" 2>/dev/null || true
    done
    rm -f "$STATE/lab.taps"
    remove_block_devices
    while read -r f; do rm -rf -- "$f"; done < <(spec pools)
    while read -r f; do rm -f -- "$f"; done < <(spec extra-files)
    rm -f "$STATE/lab.env" "$STATE/lab.json" "$STATE/bootsector.bin" "$STATE/halt-bootsector.bin" "$STATE"/i-*-VM.xml
    log "down"
}

# ---------------------------------------------------------------- daemon outage
# libvirtd goes away while its QEMU domains keep running, as when an operator restarts it or it
# crashes. `down` stops the daemons `up` started: start-daemon puts the new libvirtd's pid in
# place of the old one in lab.pids (and adds none when `up` did not start the old one).
cmd_stop_daemon() {
    local pid
    pid=$(pidfile_pid /run/libvirtd.pid)
    if ! pid_alive "$pid"; then
        log "libvirtd is not running"
        return 0
    fi
    kill_pid "$pid"
    pid_alive "$pid" && die "libvirtd $pid is still running"
    log "stopped libvirtd $pid; the domains keep running: $(lab_qemu_pids | wc -l) lab QEMU process(es)"
}

cmd_start_daemon() {
    local pids="$STATE/lab.pids" old new
    if pid_alive "$(pidfile_pid /run/libvirtd.pid)"; then
        log "libvirtd is already running"
    else
        libvirtd -d
        wait_for 10 "libvirtd pidfile" pid_alive_file /run/libvirtd.pid ||
            die "libvirtd did not start; run 'libvirtd -v' in the foreground to see why"
        new=$(pidfile_pid /run/libvirtd.pid)
        if [[ -f "$pids" ]]; then
            while read -r _ old; do
                pid_alive "$old" && continue
                sed -i "s/^libvirtd $old\$/libvirtd $new/" "$pids"
            done < <(grep '^libvirtd ' "$pids" || true)
        fi
        log "started libvirtd $new"
    fi
    wait_for 30 "virsh version" timeout 10 virsh -c "$URI" version ||
        die "libvirtd does not answer on $URI"
}

# ---------------------------------------------------------------- misc
cmd_status() {
    virsh_ list --all || true
    [[ -f "$STATE/lab.env" ]] && cat "$STATE/lab.env"
    return 0
}

main() {
    local cmd=${1:-}
    case "$cmd" in
        install) cmd_install ;;
        up) cmd_up ;;
        down) cmd_down ;;
        status) cmd_status ;;
        stop-daemon) cmd_stop_daemon ;;
        start-daemon) cmd_start_daemon ;;
        scale)
            if [[ $# -eq 2 ]]; then
                cmd_scale "$2" paused
            elif [[ $# -eq 3 && "$3" == --running ]]; then
                cmd_scale "$2" running
            else
                die "usage: $0 scale N [--running]"
            fi ;;
        start-domain|destroy-domain)
            [[ $# -eq 2 ]] || die "usage: $0 $cmd NAME"
            is_lab_domain "$2" || die "$2 is not a lab domain ($(spec domains))"
            if [[ "$cmd" == start-domain ]]; then
                start_domain "$2" running
            else
                destroy_domain "$2"
            fi ;;
        *) echo "usage: $0 {install|up|down|start-domain NAME|destroy-domain NAME|stop-daemon|start-daemon|status|scale N [--running]}" >&2
           exit 2 ;;
    esac
}

main "$@"
