# Heirloom web app. CPU torch by default; for CUDA:
#   docker build --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 -t heirloom:cuda .
FROM python:3.11-slim

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_VERSION=2.13.0

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HEIRLOOM_HOST=0.0.0.0 \
    HEIRLOOM_PORT=8000 \
    HEIRLOOM_DATA_DIR=/data

WORKDIR /app

# torch first, from the chosen index (a plain "torch" from PyPI would be the multi-GB CUDA build).
RUN pip install --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"

# The rest of the runtime dependencies, read from pyproject.toml so there is one list; cached
# until pyproject changes. torch==2.13.0 is already satisfied by the build above.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml','rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

RUN useradd --create-home --uid 10001 heirloom \
    && mkdir -p /data && chown heirloom:heirloom /data

# Code, templates, static files and weights/ (see .dockerignore); run from /app, not installed,
# so templates/, static/ and weights/ are found beside the code.
COPY --chown=root:root . /app

USER heirloom
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('HEIRLOOM_PORT', '8000'), timeout=4)" || exit 1

# Binds 0.0.0.0 inside the container: the server refuses to start unless HEIRLOOM_TOKEN is set
# or HEIRLOOM_ALLOW_PUBLIC=1 says that openness is intended.
CMD ["python", "-m", "app.server"]
