# The web app and the CLI; the trainer image adds the [train] extra.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 STUDIO_VAR_DIR=/var/lib/studio
WORKDIR /opt/studio
COPY pyproject.toml README.md ./
COPY app ./app
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
RUN pip install --no-cache-dir -e . && useradd --system --home /var/lib/studio studio \
    && mkdir -p /var/lib/studio/artifacts /var/lib/studio/secrets && chown -R studio /var/lib/studio
USER studio
EXPOSE 8000
CMD ["studio", "serve", "--host", "0.0.0.0", "--port", "8000"]
