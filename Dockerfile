# The activation service: a multi-stage image on python:3.11-slim.
#
# The build stage installs the dependencies into a virtualenv (a layer that changes only with
# pyproject.toml), then the service itself; the final stage copies that virtualenv alone, so no
# compiler, pip cache or build tree ships. The server runs as an unprivileged user, listens on
# 0.0.0.0:8000, and works with a read-only root filesystem given a writable /tmp (metrics of
# several workers live there).
#
#   docker build -t activation-service .
#   docker run --rm -p 8000:8000 activation-service

FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# The runtime dependencies and the build backend alone first, both read from pyproject.toml:
# editing the service's code reuses this layer, the slow one, and the service's own install
# below needs no network. The numeric libraries' test suites are never imported at run time and go.
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb')); print('\n'.join(p['build-system']['requires'] + p['project']['dependencies']))" \
        > requirements.txt \
    && pip install -r requirements.txt \
    && find /opt/venv -depth -type d -name tests -path '*/site-packages/*' -exec rm -rf {} +

COPY README.md ./
COPY app ./app
# pip and setuptools are not needed to run the service: they leave the venv before it is copied.
RUN pip install --no-deps --no-build-isolation . && pip uninstall --yes pip setuptools

FROM python:3.11-slim

LABEL org.opencontainers.image.title="activation-service" \
      org.opencontainers.image.description="Keras-exact neural-network activation functions over HTTP" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed numeric uid, so that Kubernetes' runAsNonRoot can check it without a passwd lookup.
RUN groupadd --system --gid 10001 activations \
    && useradd --system --uid 10001 --gid activations --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin activations

COPY --from=build /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ACTIVATIONS_HOST=0.0.0.0 \
    ACTIVATIONS_PORT=8000

USER 10001:10001
EXPOSE 8000

# No curl in the slim image: the interpreter that is there anyway asks /healthz on the configured port.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('ACTIVATIONS_PORT', '8000'), timeout=2)"]

# Exec form: the server is PID 1 and gets SIGTERM itself, which drains in-flight requests.
CMD ["activations-serve"]
