#!/usr/bin/env bash
# The scale profile's secrets, once: random tokens and passwords in secrets/ (mode 600, not committed), and
# the URLs that carry them. An existing file is kept, so running it again changes nothing.
#   scripts/make_secrets.sh            # then: docker compose --profile scale up --build
# On a worker-only machine, copy secrets/broker_url (with the web machine's address instead of `redis`) and
# secrets/worker_token there instead.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p secrets
chmod 700 secrets
umask 077
new() { [ -s "secrets/$1" ] || python3 -c 'import secrets; print(secrets.token_urlsafe(24))' > "secrets/$1"; }
new heirloom_token
new worker_token
new redis_password
new db_password
[ -s secrets/broker_url ] || echo "redis://:$(cat secrets/redis_password)@redis:6379/0" > secrets/broker_url
[ -s secrets/database_url ] || \
  echo "postgresql://heirloom:$(cat secrets/db_password)@postgres:5432/heirloom" > secrets/database_url
echo "secrets/ ready; log in with the token in secrets/heirloom_token"
