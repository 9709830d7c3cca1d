#!/usr/bin/env bash
# A real S3 server for tests, CI and trying OUTPUT_STORE/CACHE_STORE on one machine: Ceph's S3
# gateway (radosgw) on a one-node Ceph cluster bound to 127.0.0.1, objects kept in memory
# (the `memstore` object store, pool size 1). Debian: apt-get install radosgw ceph-mon ceph-osd.
#
#   scripts/s3_server.sh start DIR [BUCKET...]   a new cluster in DIR (empty or absent) on fresh
#                                                ports, an S3 user with fresh keys, the buckets;
#                                                prints, and writes to DIR/s3.env, the AWS_* lines
#                                                (endpoint, keys, region) a client needs
#   scripts/s3_server.sh stop DIR                stops every daemon of that cluster (gateway, OSD,
#                                                monitor), waiting for each to exit
#   scripts/s3_server.sh stop-gateway DIR        kills the gateway only (SIGKILL: a store that fails)
#   scripts/s3_server.sh start-gateway DIR       starts it again on the same port
#
# Each cluster gets its own ports: a cluster started on the ports of one whose daemons are still
# exiting fails to come up. The OSD is made with `ceph osd new <uuid>` and then
# `ceph-osd --mkfs --osd-uuid <uuid>` (Ceph 16's order) and put into the CRUSH map here, not by
# the OSD at its start (that start-up command raced the monitor map: "wrong fsid"). Authentication
# inside the cluster is off (it listens on loopback only); the gateway checks S3 signatures (SigV4)
# as any S3 store does.
set -euo pipefail

die() { echo "s3_server: $*" >&2; exit 1; }

free_ports() {  # N: a base port with N consecutive free ports on 127.0.0.1
  python3 - "$1" <<'EOF'
import random, socket, sys
n = int(sys.argv[1])
for _ in range(200):
    base = random.randrange(20000, 60000 - n)
    socks = []
    try:
        for port in range(base, base + n):
            s = socket.socket()
            s.bind(("127.0.0.1", port))
            socks.append(s)
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(base)
    break
else:
    sys.exit("no free ports")
EOF
}

wait_for() {  # SECONDS WHAT COMMAND...: retry COMMAND every 0.2 s until it succeeds
  local seconds=$1 what=$2; shift 2
  local end=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || die "$what did not come up within ${seconds}s (logs: $DIR/log)"
    sleep 0.2
  done
}

conf() { echo "$DIR/ceph.conf"; }
ceph_cmd() {  # a ceph command, tried again: with authentication off, a client's first command
  # can leave before it has the monitor map and is refused ("wrong fsid"), about one in three
  local try
  for try in 1 2 3 4 5 6 7 8 9 10; do
    ceph -c "$(conf)" --connect-timeout 10 "$@" 2>>"$DIR/log/setup.log" && return 0
    sleep 0.3
  done
  die "ceph $* failed 10 times (logs: $DIR/log)"
}

start_gateway() {
  radosgw -c "$(conf)" -n client.rgw
  local port; port=$(sed -n 's/^rgw frontends = beast endpoint=127.0.0.1:\([0-9]*\)$/\1/p' "$(conf)")
  wait_for 60 "radosgw" curl -sf -o /dev/null "http://127.0.0.1:$port/"
}

stop_daemon() {  # NAME SIGNAL: signal the daemon, wait up to 30 s for it to exit
  local pidfile="$DIR/run/$1.pid" pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "-$2" "$pid" 2>/dev/null || true
    for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$pidfile"
}

start() {
  for tool in ceph ceph-mon ceph-osd radosgw radosgw-admin monmaptool curl python3; do
    command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install radosgw ceph-mon ceph-osd)"
  done
  mkdir -p "$DIR"
  [ -z "$(ls -A "$DIR")" ] || die "$DIR is not empty"
  DIR=$(cd "$DIR" && pwd)
  mkdir -p "$DIR/run" "$DIR/log" "$DIR/mon" "$DIR/osd/0"
  local base mon_port rgw_port fsid osd_uuid access secret
  base=$(free_ports 24)
  mon_port=$base; rgw_port=$((base + 1))
  fsid=$(python3 -c 'import uuid; print(uuid.uuid4())')
  cat > "$(conf)" <<EOF
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$mon_port
mon initial members = a
auth cluster required = none
auth service required = none
auth client required = none
ms bind msgr2 = false
ms bind port min = $((base + 2))
ms bind port max = $((base + 23))
osd objectstore = memstore
memstore device bytes = 2147483648
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
osd crush update on start = false
osd class update on start = false
mon allow pool size one = true
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
mon data avail warn = 1
mon data avail crit = 0
run dir = $DIR/run
admin socket = $DIR/run/\$name.asok
pid file = $DIR/run/\$name.pid
log file = $DIR/log/\$name.log
log to stderr = false
mon data = $DIR/mon/\$name
osd data = $DIR/osd/\$id
keyring = $DIR/keyring
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw data = $DIR/rgw
rgw thread pool size = 32
rgw enable usage log = false
EOF
  monmaptool --create --add a "v1:127.0.0.1:$mon_port" --fsid "$fsid" "$DIR/monmap" >/dev/null
  ceph-mon -c "$(conf)" --mkfs -i a --monmap "$DIR/monmap" 2>>"$DIR/log/setup.log"
  ceph-mon -c "$(conf)" -i a
  wait_for 30 "ceph-mon" ceph -c "$(conf)" --connect-timeout 5 mon stat
  osd_uuid=$(python3 -c 'import uuid; print(uuid.uuid4())')
  ceph_cmd osd new "$osd_uuid" >/dev/null
  ceph_cmd osd crush add osd.0 1.0 host=localhost root=default >/dev/null
  ceph-osd -c "$(conf)" -i 0 --mkfs --osd-uuid "$osd_uuid" 2>>"$DIR/log/setup.log"
  ceph-osd -c "$(conf)" -i 0 2>>"$DIR/log/setup.log"
  wait_for 60 "ceph-osd" sh -c "ceph -c '$(conf)' --connect-timeout 10 osd stat 2>/dev/null | grep -q ' 1 up'"
  start_gateway
  access=$(python3 -c 'import secrets; print("PV" + secrets.token_hex(9).upper())')
  secret=$(python3 -c 'import secrets; print(secrets.token_urlsafe(30))')
  radosgw-admin -c "$(conf)" user create --uid=protovideo --display-name=protovideo \
    --access-key="$access" --secret-key="$secret" >/dev/null 2>>"$DIR/log/setup.log" \
    || die "radosgw-admin user create failed (logs: $DIR/log/setup.log)"
  local bucket
  for bucket in "$@"; do
    curl -sf -X PUT --aws-sigv4 "aws:amz:us-east-1:s3" --user "$access:$secret" \
      -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
      "http://127.0.0.1:$rgw_port/$bucket" >/dev/null || die "could not create bucket $bucket"
  done
  umask 077
  cat > "$DIR/s3.env" <<EOF
AWS_ENDPOINT_URL_S3=http://127.0.0.1:$rgw_port
AWS_ACCESS_KEY_ID=$access
AWS_SECRET_ACCESS_KEY=$secret
AWS_REGION=us-east-1
EOF
  cat "$DIR/s3.env"
}

stop() {
  [ -f "$(conf)" ] || die "$DIR holds no cluster"
  stop_daemon client.rgw TERM
  stop_daemon osd.0 TERM
  stop_daemon mon.a TERM
}

[ $# -ge 2 ] || die "usage: $0 start|stop|stop-gateway|start-gateway DIR [BUCKET...]"
command=$1; DIR=$2; shift 2
case "$command" in
  start) start "$@" ;;
  stop) stop ;;
  stop-gateway) stop_daemon client.rgw KILL ;;
  start-gateway) start_gateway ;;
  *) die "unknown command $command" ;;
esac
