# kairan container image: `docker build -t kairan .` (add --build-arg WITH_EMBEDDINGS=true for dense search)
# Run:  docker run -p 8080:8080 -v kairan-data:/data -e KAIRAN_CONSOLE_TOKEN=... kairan
# Ingest first (same volume): docker run --rm -v kairan-data:/data kairan ingest egov 322AC0000000067

# --- builder: build the wheel and install it (with its dependencies) into a virtual environment
FROM python:3.11-slim AS builder
ARG WITH_EMBEDDINGS=false
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY adapters ./adapters
COPY bot ./bot
COPY kairan ./kairan
COPY knowledge ./knowledge
COPY manifest ./manifest
RUN python -m venv /opt/kairan \
 && /opt/kairan/bin/pip install --upgrade pip build \
 && /opt/kairan/bin/python -m build --wheel --outdir /wheels . \
 && WHEEL="$(ls /wheels/kairan-*.whl)" \
 && if [ "$WITH_EMBEDDINGS" = "true" ]; then SPEC="${WHEEL}[embeddings]"; else SPEC="${WHEEL}"; fi \
 && /opt/kairan/bin/pip install "$SPEC" \
 && /opt/kairan/bin/pip uninstall -y build \
 && /opt/kairan/bin/kairan --help > /dev/null

# --- final: the virtual environment only, run as an unprivileged user
FROM python:3.11-slim
ENV PATH=/opt/kairan/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    KAIRAN_DATA_DIR=/data
RUN groupadd --system --gid 10001 kairan \
 && useradd --system --uid 10001 --gid kairan --home-dir /home/kairan --create-home kairan \
 && mkdir -p /data \
 && chown kairan:kairan /data
COPY --from=builder /opt/kairan /opt/kairan
USER kairan
WORKDIR /home/kairan
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["kairan"]
CMD ["serve", "--host", "0.0.0.0"]
