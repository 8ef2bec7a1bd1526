"""The shared dev server."""
from .base import *  # noqa: F401,F403
from .base import env_bool

ENVIRONMENT = "dev"
DEBUG = env_bool("DEBUG", False)
