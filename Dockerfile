FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN apt-get update && apt-get install -y --no-install-recommends curl fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY uscpis uscpis
COPY accounts accounts
COPY patients patients
COPY appointments appointments
COPY inventory inventory
COPY billing billing
COPY analytics analytics
COPY monitoring monitoring
RUN pip install .
COPY . .
RUN DJANGO_ENV=production SECRET_KEY=collectstatic-only ALLOWED_HOSTS=localhost \
    DATABASE_URL=postgres://build@localhost/build REDIS_URL=redis://localhost:6379/0 \
    SITE_URL=https://build.invalid EMAIL_BACKEND=smtp EMAIL_HOST=build.invalid \
    python manage.py collectstatic --noinput
RUN useradd --create-home --uid 1000 uscpis && mkdir -p /app/var && chown -R uscpis /app/var
USER uscpis
EXPOSE 8000
CMD ["gunicorn", "uscpis.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
