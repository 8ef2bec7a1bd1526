# Pick one module per environment with DJANGO_SETTINGS_MODULE:
#   config.settings.local | config.settings.dev | config.settings.uat | config.settings.prod
# Each imports config.settings.base, which reads the environment variables.
