#!/usr/bin/env bash
# The baseline `make bench` compares slipway with: the same release as a hand-written CI script
# runs it, one step after another: build and push (both tags) each service, migrate, then deploy
# each over one SSH session (stop, then run; no health gate, no switch).
# It marks each step on stderr (`bench-phase <step> <epoch seconds>`, `bench-phase end ...`).
# Inputs (env): APP_DIR IMAGE (repo:<env>-<sha>) LATEST (repo:<env>-latest) ENV_FILE (0600)
#   FRONTEND_DIR FRONTEND_IMAGE FRONTEND_LATEST FRONTEND_PORT (optional: a second service)
#   SSH_HOST SSH_PORT SSH_USER SSH_KEY KNOWN_HOSTS NAME PORT
#   BUILD_CLI (optional: the docker CLI that builds, with DOCKER_BUILDKIT=1 for BuildKit)
set -euo pipefail
mark() { printf 'bench-phase %s %s\n' "$1" "$(date +%s.%N)" >&2; }
release_image() {  # release_image SERVICE CONTEXT IMAGE LATEST
  mark "build $1"
  "${BUILD_CLI:-docker}" build --network host -q -t "$3" "$2" >/dev/null
  mark "push $1 <env>-<sha>"
  docker push -q "$3" >/dev/null
  mark "push $1 <env>-latest"
  docker tag "$3" "$4"
  docker push -q "$4" >/dev/null
}
release_image backend "$APP_DIR" "$IMAGE" "$LATEST"
if [ -n "${FRONTEND_IMAGE:-}" ]; then
  release_image frontend "$FRONTEND_DIR" "$FRONTEND_IMAGE" "$FRONTEND_LATEST"
fi
mark migration
for step in "migrate_schemas --shared --fake-initial" "create_super_tenant --no-input" \
            "migrate_schemas --tenant"; do
  # shellcheck disable=SC2086
  docker run --rm -i --network host --entrypoint /bin/sh "$IMAGE" \
    -c 'set -a && eval "$(cat)" && set +a && exec "$@" </dev/null' sh python3 manage.py $step \
    < "$ENV_FILE" >/dev/null
done
frontend=""
if [ -n "${FRONTEND_IMAGE:-}" ]; then
  frontend="docker pull -q $FRONTEND_IMAGE >/dev/null && \
    (docker rm -f $NAME-frontend >/dev/null 2>&1 || true) && \
    docker run -d --name $NAME-frontend --network host -e PORT=$FRONTEND_PORT -e APP_SHA=baseline \
      $FRONTEND_IMAGE /app/start.sh >/dev/null"
fi
mark "deploy (ssh: pull, stop, run)"
ssh -i "$SSH_KEY" -p "$SSH_PORT" -o UserKnownHostsFile="$KNOWN_HOSTS" -o StrictHostKeyChecking=yes \
  -o BatchMode=yes "$SSH_USER@$SSH_HOST" \
  "docker pull -q $IMAGE >/dev/null && (docker rm -f $NAME >/dev/null 2>&1 || true) && \
   docker run -d --name $NAME --network host -e PORT=$PORT -e APP_SHA=baseline \
     -v /home/$SSH_USER/baseline.env:/run/slipway/app.env:ro --entrypoint /bin/sh $IMAGE \
     -c 'set -a && . /run/slipway/app.env && set +a && exec \"\$@\"' sh \
     gunicorn --config /app/gunicorn.conf.py config.wsgi >/dev/null ${frontend:+&& $frontend}"
mark end
