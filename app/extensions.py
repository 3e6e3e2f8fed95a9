"""Extension objects, created unbound; ``create_app`` binds them to an app."""

from flask_caching import Cache
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from app.telemetry import AppMetrics

db = SQLAlchemy()
migrate = Migrate()
cache = Cache()
# The exporter class depends on how the app runs (gunicorn workers or a single process),
# so it is chosen in ``AppMetrics.init_app``.
metrics = AppMetrics()
