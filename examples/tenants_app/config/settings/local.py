"""A developer's machine: DEBUG on, a local database by default."""
import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tenants_app")

from .base import *  # noqa: E402,F401,F403
from .base import env_bool, env_list  # noqa: E402

ENVIRONMENT = "local"
DEBUG = env_bool("DEBUG", True)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "*")
