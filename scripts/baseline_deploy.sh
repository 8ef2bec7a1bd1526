#!/usr/bin/env bash
# The baseline `make bench` compares slipway with: the same build, push, migration and SSH
# deploy steps as a hand-written CI script would run them (stop, then run; no health gate).
# Inputs (env): APP_DIR IMAGE (repo:tag) ENV_FILE (0600, sourced by the containers)
#   SSH_HOST SSH_PORT SSH_USER SSH_KEY KNOWN_HOSTS NAME PORT
set -euo pipefail
docker build --network host -q -t "$IMAGE" "$APP_DIR" >/dev/null
docker push -q "$IMAGE" >/dev/null
for step in "migrate_schemas --shared --fake-initial" "create_super_tenant --no-input" \
            "migrate_schemas --tenant"; do
  # shellcheck disable=SC2086
  docker run --rm -i --network host --entrypoint /bin/sh "$IMAGE" \
    -c 'set -a && eval "$(cat)" && set +a && exec "$@" </dev/null' sh python3 manage.py $step \
    < "$ENV_FILE" >/dev/null
done
ssh -i "$SSH_KEY" -p "$SSH_PORT" -o UserKnownHostsFile="$KNOWN_HOSTS" -o StrictHostKeyChecking=yes \
  -o BatchMode=yes "$SSH_USER@$SSH_HOST" \
  "docker pull -q $IMAGE >/dev/null && (docker rm -f $NAME >/dev/null 2>&1 || true) && \
   docker run -d --name $NAME --network host -e PORT=$PORT -e APP_SHA=baseline \
     -v /home/$SSH_USER/baseline.env:/run/slipway/app.env:ro --entrypoint /bin/sh $IMAGE \
     -c 'set -a && . /run/slipway/app.env && set +a && exec \"\$@\"' sh \
     gunicorn --config /app/gunicorn.conf.py config.wsgi >/dev/null"
