# The app image: gunicorn serving the Flask app as a fixed non-root user. The worker and the
# one-shot jobs (migrations, static assets) run from the same image.
# PYTHON_IMAGE comes from compose.yaml, the one place that names the base images.
ARG PYTHON_IMAGE

# Stage 1: build the virtualenv and the fingerprinted static assets where pip may write.
# The venv as every Python service's image builds it (pyservice/build-venv.sh, the same
# build stage in acme/Dockerfile and backup/Dockerfile), without setuptools either (-26 MB
# with pip). Requirements before source, so code changes do not reinstall dependencies.
FROM ${PYTHON_IMAGE} AS build
COPY pyservice/build-venv.sh /usr/local/bin/build-venv
COPY requirements.txt /tmp/requirements.txt
RUN build-venv /tmp/requirements.txt setuptools
# The libraries' own test suites go too (as the upstream python image drops the standard
# library's), and the debug symbols of the compiled extensions, which nothing at run time
# reads (-10 MB; docs/performance.md). binutils (strip) serves this stage alone.
RUN apt-get update \
    && apt-get install -y --no-install-recommends binutils \
    && rm -rf /var/lib/apt/lists/* \
    && site=$(/opt/venv/bin/python -c "import sysconfig; print(sysconfig.get_path('purelib'))") \
    && find "$site" -depth -type d \( -name tests -o -name test \) -exec rm -rf '{}' + \
    && rm -rf "$site/sqlalchemy/testing" "$site/alembic/testing" \
    && find "$site" -name '*.so' -type f -not -path '*.libs/*' -exec strip --strip-unneeded '{}' +
# The one build of the static files: the app reads their manifest, and the `assets` job
# publishes them into the volume nginx serves.
COPY app/assets.py /src/app/assets.py
COPY app/static /src/app/static
RUN python /src/app/assets.py build /src/app/static /out

# Stage 2: what the production image and the development image share, with no compilers and
# no build leftovers.
FROM ${PYTHON_IMAGE} AS app-base
ARG APP_UID=10001
ARG APP_GID=10001
RUN groupadd --system --gid "${APP_GID}" app \
    && useradd --system --uid "${APP_UID}" --gid app --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin app \
    && install -d -o "${APP_UID}" -g "${APP_GID}" /srv/static
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# Code is owned by root and read-only for the app user.
COPY gunicorn.conf.py ./
COPY pyservice/*.py ./pyservice/
COPY app/ ./app/
COPY --from=build /out/ ./static-build/
RUN rm -rf ./app/static && python -m compileall -q ./app ./pyservice gunicorn.conf.py
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FLASK_CONFIG=production \
    ASSET_MANIFEST=/app/static-build/manifest.json \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus
USER ${APP_UID}:${APP_GID}
EXPOSE 8000 9100
# Exec form, so signals reach gunicorn directly (compose adds tini as PID 1, which forwards
# them). gunicorn reads ./gunicorn.conf.py.
CMD ["gunicorn"]

# For `make dev` alone (compose.dev.yaml builds this target): the development servers (dev/),
# which reload the working tree's code bind-mounted over /app/app. Never deployed, and without
# the production marker below, so FLASK_CONFIG=development (debug on) may load here.
FROM app-base AS dev
COPY dev/ ./dev/
ENV FLASK_CONFIG=development
CMD ["python", "dev/serve.py", "app"]

# The production image: the last stage, so a build without a target (compose.yaml, `make up`,
# `make deploy`) makes this one. The marker makes app/config.py refuse any FLASK_CONFIG but
# production, whatever .env says: this image never runs with debug on.
FROM app-base AS runtime
ARG APP_UID=10001
ARG APP_GID=10001
USER root
RUN install -d -m 0755 /etc/flask-stack \
    && echo "FLASK_CONFIG=production only (app/config.py)" > /etc/flask-stack/production-image
USER ${APP_UID}:${APP_GID}
