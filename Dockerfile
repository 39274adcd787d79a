# enphase-proxy: slim, non-root image running `enphase-proxy serve`.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY proxy ./proxy
COPY mappings ./mappings
RUN pip install --no-cache-dir --prefix=/install '.[redis]'

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN useradd --system --uid 10001 --home-dir /app --create-home proxy
COPY --from=build /install /usr/local
WORKDIR /app
COPY --chown=proxy:proxy config.example.toml /app/config.toml
USER proxy
EXPOSE 8080
# Mount your own config at /app/config.toml; keep state (tokens, quota counts) on a volume.
VOLUME ["/app/var"]
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"
CMD ["enphase-proxy", "serve", "--config", "/app/config.toml", "--host", "0.0.0.0"]
