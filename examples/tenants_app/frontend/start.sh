#!/bin/sh
# Render the nginx config for this release's port and SHA, then run nginx in the foreground.
set -eu
sed -e "s/@PORT@/${PORT:-8080}/g" -e "s/@APP_SHA@/${APP_SHA:-unknown}/g" \
  /app/nginx.conf.template > /tmp/nginx.conf
exec nginx -c /tmp/nginx.conf -g 'daemon off;'
