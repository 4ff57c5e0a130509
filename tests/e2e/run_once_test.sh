#!/usr/bin/env bash
# End-to-end check of the built binary: `--once` on the CloudStack-like test-driver fixture prints
# contract-shaped JSON on stdout, every bad setting exits 2 with one line naming it, `--check`
# says ok or FAIL per target with the matching exit status, and several URIs and a configuration
# file work.
# Usage: run_once_test.sh PATH/TO/pulse-sensor PATH/TO/fixtures
set -euo pipefail
sensor=$1
fixtures=$2
uri="test://$fixtures/cloudstack-node.xml"
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# Each run starts from an empty environment, but for the sanitizers' settings: a sanitized build
# run with detect_leaks=0 (scripts/test) must not have LeakSanitizer turned back on here.
keep=()
for var in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
    [ -z "${!var:-}" ] || keep+=("$var=${!var}")
done

out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT

# 1. One poll with host stats: valid JSON arrays of contract points.
env -i PATH="$PATH" "${keep[@]}" KVM_HOST="$uri" GATHER_HOST_STATS=true timeout 30 "$sensor" --once >"$out" 2>"$err" \
    || fail "--once exited $? ($(cat "$err"))"
python3 - "$out" "$uri" <<'PY' || fail "output does not follow the contract"
import json, re, sys
path, uri = sys.argv[1], sys.argv[2]
lines = open(path).read().splitlines()
assert len(lines) == 3, f"expected 3 messages (host + 2 domains), got {len(lines)}"
messages = [json.loads(l) for l in lines]
times = {p["time"] for m in messages for p in m}
assert len(times) == 1 and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", times.pop()), "one UTC time per poll"
host = messages[0]
assert [p["measurement"] for p in host] == ["nodeInfo"], host
assert host[0]["tags"] == {"vmHost": uri}, host[0]["tags"]
for f in ("user", "kernel", "idle", "iowait", "totalMem"):
    assert isinstance(host[0]["fields"][f], int), f
ints = {"cpus", "rss", "mem", "maxmem", "readBytes", "readPackets", "readErrors", "readDrops",
        "writeBytes", "writePackets", "writeErrors", "writeDrops", "readIOPS", "writeIOPS",
        "ioErrors", "totalSpace", "allocatedSpace", "onDiskSpace"}
by_name = {}
for m in messages[1:]:
    kinds = [p["measurement"] for p in m]
    assert kinds[:2] == ["cpuTime", "rss"], kinds
    assert kinds[2:] == sorted(kinds[2:], key=lambda k: k != "networkInterface"), kinds
    name = m[0]["tags"]["vmId"]
    by_name[name] = m
    for p in m:
        assert set(p) == {"measurement", "tags", "fields", "time"}, p
        assert p["tags"]["vmHost"] == uri and p["tags"]["vmId"] == name
        for k, v in p["fields"].items():
            assert isinstance(v, float) if k == "cpuTime" else (k in ints and isinstance(v, int)), (k, v)
assert set(by_name) == {"i-2-17-VM", "i-2-18-VM"}, by_name.keys()
vm = by_name["i-2-17-VM"]
assert vm[0]["fields"]["cpus"] == 4 and vm[1]["fields"]["maxmem"] == 4194304
macs = [p["tags"]["mac"] for p in vm if p["measurement"] == "networkInterface"]
assert macs == ["06:f2:64:00:01:54", "06:f2:64:00:01:55"], macs
disks = [(p["tags"]["pool"], p["tags"]["image"]) for p in vm if p["measurement"] == "disk"]
assert disks == [("b13cb3c0-c84d-334c-9fc3-4826ae58d984", "cc8121ef-2029-4f4f-826e-7c4f2c8a5563"),
                 ("5a2c4e0b-0f6e-3c43-9f7e-1a2b3c4d5e6f", "0d8a2c1e-7b3f-4f5e-9a6d-2e1f0c9b8a7d")], disks
disks = [(p["tags"]["pool"], p["tags"]["image"]) for p in by_name["i-2-18-VM"] if p["measurement"] == "disk"]
assert disks == [("cloudvg", "vm-18-root"), ("cloudstack", "9f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b")], disks
PY

# 2. DEBUG prints the same messages indented.
env -i PATH="$PATH" "${keep[@]}" KVM_HOST="$uri" DEBUG=true timeout 30 "$sensor" --once >"$out" 2>"$err" || fail "DEBUG --once failed"
python3 -c 'import json,sys; d=json.JSONDecoder(); s=open(sys.argv[1]).read(); i=0; n=0
while i < len(s.rstrip()):
    _, i = d.raw_decode(s, i); n += 1
    while i < len(s) and s[i].isspace(): i += 1
assert n == 2, n' "$out" || fail "DEBUG output is not 2 indented JSON documents"
grep -q '\[debug\] poll ' "$err" || fail "DEBUG logs no per-poll line"

# 3. Every bad value of every variable: exit 2, one line naming the variable.
check_bad() {
    local var=$1 value=$2 rc=0
    env -i PATH="$PATH" "${keep[@]}" KVM_HOST="$uri" "$var=$value" timeout 10 "$sensor" --once >"$out" 2>"$err" || rc=$?
    [ "$rc" -eq 2 ] || fail "$var='$value' exited $rc, expected 2"
    [ "$(wc -l <"$err")" -eq 1 ] || fail "$var='$value' printed $(wc -l <"$err") lines: $(cat "$err")"
    grep -q "$var" "$err" || fail "$var='$value' error does not name $var: $(cat "$err")"
}
check_bad KVM_HOST ""
check_bad PAUSE 0
check_bad PAUSE abc
check_bad KAFKA_BOOTSTRAP "broker-without-port"
check_bad KAFKA_TOPIC "bad topic"
check_bad GATHER_HOST_STATS maybe
check_bad DEBUG verbose
check_bad KVM_HOST "$uri,,test:///default"
check_bad KVM_HOST "$uri, $uri"
check_bad KVM_HOST "$uri,hostname-only"

# 4. An unreachable hypervisor: --once fails with 1 and says why, no crash.
rc=0
env -i PATH="$PATH" "${keep[@]}" KVM_HOST="test:///nonexistent/node.xml" timeout 30 "$sensor" --once >"$out" 2>"$err" || rc=$?
[ "$rc" -eq 1 ] || fail "unreachable hypervisor: exit $rc, expected 1"
grep -q "test:///nonexistent/node.xml" "$err" || fail "unreachable hypervisor not named: $(cat "$err")"

# 5. SIGTERM stops a running sensor cleanly with status 0.
env -i PATH="$PATH" "${keep[@]}" KVM_HOST="$uri" PAUSE=1 "$sensor" >"$out" 2>"$err" &
pid=$!
sleep 2.5
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || fail "SIGTERM: exit $rc, expected 0"
polls=$(grep -c i-2-17-VM "$out" || true)
[ "$polls" -ge 2 ] || fail "expected at least 2 polls in 2.5 s at PAUSE=1, got $polls"

# 6. --check: a reachable hypervisor is ok (exit 0), an unreachable one a FAIL line naming it
# (exit 1), a closed Kafka port a FAIL line for kafka well within the 10 s bound.
rc=0
env -i PATH="$PATH" "${keep[@]}" KVM_HOST="$uri" timeout 30 "$sensor" --check >"$out" 2>"$err" || rc=$?
[ "$rc" -eq 0 ] || fail "--check on the fixture: exit $rc, expected 0 ($(cat "$out" "$err"))"
grep -qx "ok   libvirt $uri: 2 domains" "$out" || fail "--check printed no ok line: $(cat "$out")"
rc=0
env -i PATH="$PATH" "${keep[@]}" KVM_HOST="test:///nonexistent/node.xml" timeout 30 "$sensor" --check >"$out" 2>"$err" || rc=$?
[ "$rc" -eq 1 ] || fail "--check on a bad URI: exit $rc, expected 1"
grep -q "^FAIL libvirt test:///nonexistent/node.xml: " "$out" || fail "--check printed no FAIL line: $(cat "$out")"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
rc=0
start=$SECONDS
env -i PATH="$PATH" "${keep[@]}" KVM_HOST="$uri" KAFKA_BOOTSTRAP="127.0.0.1:$port" \
    timeout 30 "$sensor" --check --kafka-property sasl.password=e2e-S3CRET-value >"$out" 2>"$err" || rc=$?
[ "$rc" -eq 1 ] || fail "--check with a closed Kafka port: exit $rc, expected 1"
grep -q "^ok   libvirt " "$out" || fail "--check with Kafka down: libvirt not ok: $(cat "$out")"
grep -q "^FAIL kafka 127.0.0.1:$port: " "$out" || fail "--check printed no kafka FAIL line: $(cat "$out")"
[ $((SECONDS - start)) -le 15 ] || fail "--check with a closed Kafka port took $((SECONDS - start)) s"
! grep -q S3CRET "$out" "$err" || fail "--check printed a secret property's value"

# 7. Several hypervisors: --once polls each, every message tagged with its own vmHost, and DEBUG
# logs one poll line per hypervisor; --check gives one line per URI; a config file's unknown key exits 2 naming the file, line and key.
rc=0
env -i PATH="$PATH" "${keep[@]}" KVM_HOST="$uri, test:///default" timeout 30 "$sensor" --once >"$out" 2>"$err" || rc=$?
[ "$rc" -eq 0 ] || fail "--once on two URIs: exit $rc ($(cat "$err"))"
python3 - "$out" "$uri" <<'PY' || fail "two URIs: messages not tagged per host"
import json, sys
hosts = [json.loads(l)[0]["tags"]["vmHost"] for l in open(sys.argv[1])]
assert hosts.count(sys.argv[2]) == 2, hosts
assert hosts.count("test:///default") >= 1, hosts
assert set(hosts) == {sys.argv[2], "test:///default"}, hosts
PY
env -i PATH="$PATH" "${keep[@]}" KVM_HOST="$uri,test:///default" DEBUG=true timeout 30 "$sensor" --once >"$out" 2>"$err" ||
    fail "DEBUG --once on two URIs failed"
[ "$(grep -c "\[debug\] poll $uri: 2 domains" "$err")" -eq 1 ] || fail "DEBUG: no poll line for $uri: $(cat "$err")"
[ "$(grep -c '\[debug\] poll test:///default: ' "$err")" -eq 1 ] || fail "DEBUG: no poll line for test:///default"
rc=0
env -i PATH="$PATH" "${keep[@]}" KVM_HOST="$uri,test:///nonexistent/node.xml" timeout 30 "$sensor" --check >"$out" 2>"$err" || rc=$?
[ "$rc" -eq 1 ] || fail "--check on a good and a bad URI: exit $rc, expected 1"
grep -qx "ok   libvirt $uri: 2 domains" "$out" || fail "--check on two URIs: no ok line: $(cat "$out")"
grep -q "^FAIL libvirt test:///nonexistent/node.xml: " "$out" || fail "--check on two URIs: no FAIL line: $(cat "$out")"
toml=$(mktemp --suffix=.toml)
printf 'pause = 10\nkvm_hosts = "%s"\n' "$uri" >"$toml"
rc=0
env -i PATH="$PATH" "${keep[@]}" CONFIG_FILE="$toml" timeout 10 "$sensor" --once >"$out" 2>"$err" || rc=$?
[ "$rc" -eq 2 ] || fail "unknown key in the config file: exit $rc, expected 2"
grep -q "'$toml' line 2, key kvm_hosts: unknown key" "$err" || fail "config file error: $(cat "$err")"
printf '[[host]]\nuri = "%s"\ngather_host_stats = true\n' "$uri" >"$toml"
rc=0
env -i PATH="$PATH" "${keep[@]}" timeout 30 "$sensor" --config "$toml" --once >"$out" 2>"$err" || rc=$?
[ "$rc" -eq 0 ] || fail "--once with a config file: exit $rc ($(cat "$err"))"
[ "$(wc -l <"$out")" -eq 3 ] || fail "config file's [[host]] with host stats: $(wc -l <"$out") messages, expected 3"
rm -f "$toml"

# 8. A hypervisor that accepts TCP and never answers: --once gives up on it after its PAUSE plus
# SHUTDOWN_TIMEOUT with one line naming it (password removed) and exit 1, keeping the live
# host's messages; SIGTERM ends such a --once at once.
silent=$(mktemp)
python3 -c '
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16); s.settimeout(120)
print(s.getsockname()[1], flush=True)
held = []
while True:
    held.append(s.accept()[0])  # and never a byte back; ends on its own after 120 s idle
' >"$silent" &
silent_pid=$!
trap 'rm -f "$out" "$err" "$silent"; kill "$silent_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$silent" ] && break; sleep 0.1; done
dead_uri="qemu+tcp://pulse:e2e-S3CRET-pw@127.0.0.1:$(head -1 "$silent")/system"
shown_uri="qemu+tcp://pulse@127.0.0.1:$(head -1 "$silent")/system"
rc=0
start=$SECONDS
env -i PATH="$PATH" "${keep[@]}" KVM_HOST="$uri,$dead_uri" \
    PAUSE=1 SHUTDOWN_TIMEOUT=1 timeout -k 5 30 "$sensor" --once >"$out" 2>"$err" || rc=$?
[ "$rc" -eq 1 ] || fail "--once with a silent hypervisor: exit $rc after $((SECONDS - start)) s, expected 1"
[ $((SECONDS - start)) -le 6 ] || fail "--once with a silent hypervisor took $((SECONDS - start)) s, expected about 2"
grep -qF "$shown_uri: no answer within 2 s (PAUSE + SHUTDOWN_TIMEOUT)" "$err" ||
    fail "--once gave up without naming the silent hypervisor: $(cat "$err")"
! grep -q S3CRET "$out" "$err" || fail "--once printed the hypervisor's password"
[ "$(grep -c '"vmId"' "$out")" -eq 2 ] || fail "--once with a silent hypervisor lost the live host's messages"
env -i PATH="$PATH" "${keep[@]}" KVM_HOST="$dead_uri" \
    "$sensor" --once >"$out" 2>"$err" &
pid=$!
sleep 1
kill -TERM "$pid"
stopped_at=$SECONDS
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then
    fail "--once ignored SIGTERM while a hypervisor did not answer"
    kill -KILL "$pid"
fi
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 1 ] || fail "--once stopped by SIGTERM: exit $rc after $((SECONDS - stopped_at)) s, expected 1"
grep -qF "$shown_uri: poll not finished: stopped by SIGTERM" "$err" ||
    fail "--once stopped by SIGTERM did not name the hypervisor: $(cat "$err")"

if [ "$failures" -gt 0 ]; then
    echo "end-to-end: $failures failure(s)" >&2
    exit 1
fi
echo "end-to-end: all checks passed"
