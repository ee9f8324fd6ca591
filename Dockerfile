# The provider FHIR API as a container (docs/DEPLOYMENT.md, "Container").
#   docker build -t uec-provider .
#   docker run -p 8020:8020 -e UEC_DB_URL=postgresql://uec@db:5432/uec_provider \
#     -e UEC_JWKS_URL=https://auth.example.nhs.uk/.well-known/jwks.json \
#     -e UEC_PUBLIC_BASE_URL=https://provider.example.nhs.uk/fhir uec-provider
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PROMETHEUS_MULTIPROC_DIR=/run/uec-provider/metrics

RUN useradd --system --home-dir /srv/uec --create-home uec \
 && install -d -o uec -g uec /run/uec-provider/metrics

WORKDIR /srv/uec/app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install . && rm -rf /root/.cache

COPY deploy/docker-entrypoint.sh /usr/local/bin/uec-provider-entrypoint
COPY deploy/availability.example.yaml /etc/uec-provider/availability.example.yaml

USER uec
EXPOSE 8020
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8020/_ready', timeout=2).status != 200)"
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/uec-provider-entrypoint"]
