"""gunicorn settings from the environment: BIND_HOST (127.0.0.1), PORT (8000),
WEB_CONCURRENCY (2 workers), GUNICORN_TIMEOUT (30 s)."""
import os

_port = os.environ.get("PORT", "").strip() or "8000"
if not _port.isdigit():
    raise SystemExit(f"PORT must be a number, got {_port!r}")

bind = f"{os.environ.get('BIND_HOST', '').strip() or '127.0.0.1'}:{_port}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# Load the app in the master: a bad configuration (e.g. no SECRET_KEY) stops gunicorn at
# once with the error, instead of workers crash-looping.
preload_app = True
accesslog = "-"
errorlog = "-"
capture_output = True
