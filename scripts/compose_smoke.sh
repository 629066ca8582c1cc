#!/usr/bin/env bash
# The scale profile end to end on a Docker daemon: proxy + 2 web replicas + Redis + PostgreSQL + 2 workers,
# 20 photos uploaded through the proxy, one worker container killed (-9) mid-way, every photo must finish.
#   scripts/compose_smoke.sh            # builds the image; needs the Hub images (or local stand-ins by their tags)
# Leaves nothing behind (containers and volumes of the project `heirloom-smoke` are removed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
if docker compose version >/dev/null 2>&1; then dc=(docker compose); else dc=(docker-compose); fi
dc+=(-p heirloom-smoke --profile scale)
export HEIRLOOM_PORT=${SMOKE_PORT:-18080}
base="http://127.0.0.1:$HEIRLOOM_PORT"
scripts/make_secrets.sh >/dev/null
token=$(cat secrets/heirloom_token)
auth=(-H "Authorization: Bearer $token")
cleanup() {
  docker unpause $("${dc[@]}" ps -q worker 2>/dev/null) >/dev/null 2>&1 || true
  "${dc[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
}
trap cleanup EXIT
t0=$(date +%s)
say() { echo "[$(( $(date +%s) - t0 ))s] $*"; }

say "building and starting: 2 web replicas, 2 workers"
"${dc[@]}" up -d --build --scale web=2 --scale worker=2 >/tmp/heirloom-smoke-up.log 2>&1 || {
  tail -30 /tmp/heirloom-smoke-up.log; exit 1; }
for _ in $(seq 300); do
  workers=$(curl -fsS "$base/healthz" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["queue"]["workers"])' 2>/dev/null || echo 0)
  [ "$workers" = 2 ] && break
  sleep 2
done
[ "$workers" = 2 ] || { "${dc[@]}" ps; "${dc[@]}" logs --tail 30; echo "FAIL: the workers did not report"; exit 1; }
say "up: $("${dc[@]}" ps -q web | wc -l) web replicas behind the proxy, $workers workers reporting"

# 20 small gray scans (PNG, written with the standard library), uploaded through the proxy.
photos=$(mktemp -d)
python3 - "$photos" <<'PY'
import struct, sys, zlib
for i in range(20):
    w, h = 320 + 8 * i, 240
    rows = b"".join(b"\0" + bytes((x * 7 + y * 3 + i * 11) % 256 for x in range(w)) for y in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    open(f"{sys.argv[1]}/scan-{i:02d}.png", "wb").write(png)
PY
# The workers are frozen while the photos go in (a fast machine colorizes each small scan before the next one
# arrives, and no job would be left to kill); then the victim alone is thawed, so a running job is its own.
workers_ids=$("${dc[@]}" ps -q worker)
docker pause $workers_ids >/dev/null
ids=()
for f in "$photos"/*.png; do
  ids+=("$(curl -fsS "${auth[@]}" -F "file=@$f" "$base/api/photos" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')")
done
say "uploaded ${#ids[@]} photos (workers paused meanwhile)"

victim=$(echo "$workers_ids" | head -1)
docker unpause "$victim" >/dev/null
for _ in $(seq 100); do  # kill it while it has a job in hand
  running=$(for id in "${ids[@]}"; do curl -fsS "${auth[@]}" "$base/api/jobs/$id"; echo; done | grep -c '"status":"running"' || true)
  [ "$running" -gt 0 ] && break
  sleep 0.2
done
[ "$running" -gt 0 ] || { echo "FAIL: no job was running: nothing in hand to kill"; exit 1; }
docker kill -s KILL "$victim" >/dev/null
docker unpause $(echo "$workers_ids" | tail -n +2) >/dev/null
say "killed worker container ${victim:0:12} (-9) with $running job(s) running"

deadline=$(( $(date +%s) + 600 ))
while :; do
  states=$(for id in "${ids[@]}"; do curl -fsS "${auth[@]}" "$base/api/jobs/$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])'; done | sort | uniq -c | tr '\n' ' ')
  done_n=$(echo "$states" | grep -o '[0-9]* done' | grep -o '[0-9]*' || echo 0)
  [ "${done_n:-0}" = 20 ] && break
  if echo "$states" | grep -q failed || [ "$(date +%s)" -gt "$deadline" ]; then
    "${dc[@]}" logs --tail 40 worker; echo "FAIL: $states"; exit 1
  fi
  sleep 1
done
total=$(curl -fsS "${auth[@]}" "$base/api/photos?limit=100" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
served=$(for c in $("${dc[@]}" ps -q web); do docker logs "$c" 2>&1 | grep -c "POST /api/photos" || true; done | tr '\n' ' ')
again=$(for id in "${ids[@]}"; do curl -fsS "${auth[@]}" "$base/api/jobs/$id"; echo; done | grep -vc '"attempts":1,' || true)
say "all 20 done ($again after a second attempt), $total photos in the album; uploads answered per web replica: $served"
[ "$total" = 20 ] || { echo "FAIL: $total photos in the album"; exit 1; }
echo "compose smoke: OK"
