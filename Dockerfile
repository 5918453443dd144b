# The srf HTTP service: `docker build -t srf . && docker run -p 8000:8000 -v srf-cache:/data srf`
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLBACKEND=Agg

WORKDIR /app

# Dependencies first, so that editing the sources does not reinstall numpy & co.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY srf_engine ./srf_engine
COPY service ./service
RUN pip install --no-deps . && rm -rf build *.egg-info

# Unprivileged user; the cache (embedded SQLite) lives on a volume so that it survives the container.
RUN useradd --create-home --uid 10001 srf \
    && mkdir -p /data \
    && chown srf:srf /data
ENV SRF_CACHE_PATH=/data/cache.sqlite3
VOLUME ["/data"]
USER srf

EXPOSE 8000
# No curl in slim images: the standard library does the probe.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]
# On `docker stop` (SIGTERM, then SIGKILL after 10 s) the app stops its computations at once; uvicorn
# gives open requests 3 s more, so the process is gone well within Docker's 10 s. The app writes one
# JSON line per request itself: uvicorn's access log would duplicate it.
CMD ["uvicorn", "service.app:app", "--host", "0.0.0.0", "--port", "8000", "--timeout-graceful-shutdown", "3", "--no-access-log"]
