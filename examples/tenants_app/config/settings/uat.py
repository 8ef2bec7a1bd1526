"""User-acceptance testing: production-like."""
from .base import *  # noqa: F401,F403
from .base import env_bool

ENVIRONMENT = "uat"
DEBUG = env_bool("DEBUG", False)
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
