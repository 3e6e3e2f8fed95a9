"""The application version, reported by /health, the app_info metric and Sentry releases."""

__version__ = "1.0.0"
