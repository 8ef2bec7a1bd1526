#!/usr/bin/env bash
# The baseline `make bench` compares slipway with: the same build, push (both tags), migration and
# SSH deploy as a hand-written CI script runs them (stop, then run; no health gate, no switch).
# It marks each step on stderr (`bench-phase <step> <epoch seconds>`, `bench-phase end ...`).
# Inputs (env): APP_DIR IMAGE (repo:<env>-<sha>) LATEST (repo:<env>-latest) ENV_FILE (0600)
#   SSH_HOST SSH_PORT SSH_USER SSH_KEY KNOWN_HOSTS NAME PORT
set -euo pipefail
mark() { printf 'bench-phase %s %s\n' "$1" "$(date +%s.%N)" >&2; }
mark build
docker build --network host -q -t "$IMAGE" "$APP_DIR" >/dev/null
mark "push <env>-<sha>"
docker push -q "$IMAGE" >/dev/null
mark "push <env>-latest"
docker tag "$IMAGE" "$LATEST"
docker push -q "$LATEST" >/dev/null
mark migration
for step in "migrate_schemas --shared --fake-initial" "create_super_tenant --no-input" \
            "migrate_schemas --tenant"; do
  # shellcheck disable=SC2086
  docker run --rm -i --network host --entrypoint /bin/sh "$IMAGE" \
    -c 'set -a && eval "$(cat)" && set +a && exec "$@" </dev/null' sh python3 manage.py $step \
    < "$ENV_FILE" >/dev/null
done
mark "deploy (ssh: pull, stop, run)"
ssh -i "$SSH_KEY" -p "$SSH_PORT" -o UserKnownHostsFile="$KNOWN_HOSTS" -o StrictHostKeyChecking=yes \
  -o BatchMode=yes "$SSH_USER@$SSH_HOST" \
  "docker pull -q $IMAGE >/dev/null && (docker rm -f $NAME >/dev/null 2>&1 || true) && \
   docker run -d --name $NAME --network host -e PORT=$PORT -e APP_SHA=baseline \
     -v /home/$SSH_USER/baseline.env:/run/slipway/app.env:ro --entrypoint /bin/sh $IMAGE \
     -c 'set -a && . /run/slipway/app.env && set +a && exec \"\$@\"' sh \
     gunicorn --config /app/gunicorn.conf.py config.wsgi >/dev/null"
mark end
