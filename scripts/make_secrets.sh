#!/usr/bin/env bash
# The scale profile's secrets, once: random tokens and passwords in secrets/ (a directory only its owner enters,
# not committed), and the URLs that carry them. An existing file is kept, so running it again changes nothing.
#   scripts/make_secrets.sh            # then: docker compose --profile scale up --build
# On a worker-only machine, copy secrets/broker_url (with the web machine's address instead of `redis`) and
# secrets/worker_token there instead.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p secrets
chmod 700 secrets
# Files 0644 inside the owner-only directory (0700): Compose bind-mounts a file secret with its host owner and
# mode (outside swarm it sets no uid/gid/mode of its own), and the image's user (uid 10001) must read it in the
# container; on the host, no one else can enter secrets/.
umask 022
new() { [ -s "secrets/$1" ] || python3 -c 'import secrets; print(secrets.token_urlsafe(24))' > "secrets/$1"; }
new heirloom_token
new worker_token
new redis_password
new db_password
[ -s secrets/broker_url ] || echo "redis://:$(cat secrets/redis_password)@redis:6379/0" > secrets/broker_url
[ -s secrets/database_url ] || \
  echo "postgresql://heirloom:$(cat secrets/db_password)@postgres:5432/heirloom" > secrets/database_url
chmod 644 secrets/*  # also files an earlier run wrote 0600
echo "secrets/ ready; log in with the token in secrets/heirloom_token"
