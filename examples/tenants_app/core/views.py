from django.views.decorators.http import require_safe

from .readiness import ready_response


@require_safe
def ready(request):
    # Normally answered by ReadyProbeMiddleware; kept as a URL for reverse() and clarity.
    return ready_response()
