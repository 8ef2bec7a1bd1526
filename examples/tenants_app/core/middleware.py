from django.conf import settings

from .readiness import ready_response

READY_PATHS = {"/api/v1/ready/", "/api/v1/ready"}


class AppShaMiddleware:
    """Adds `X-App-Sha: $APP_SHA` to every response (outermost middleware)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response["X-App-Sha"] = settings.APP_SHA
        return response


class ReadyProbeMiddleware:
    """Answers the readiness probe before the tenant lookup (which needs the database and a
    known Host) and before the ALLOWED_HOSTS check, so probes by IP:port always work and an
    unreachable database gives 503, not 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path in READY_PATHS and request.method in ("GET", "HEAD"):
            return ready_response()
        return self.get_response(request)
