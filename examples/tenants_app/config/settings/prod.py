"""Production (the default when DJANGO_SETTINGS_MODULE is unset)."""
from .base import *  # noqa: F401,F403
from .base import env_bool

ENVIRONMENT = "prod"
DEBUG = env_bool("DEBUG", False)
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
