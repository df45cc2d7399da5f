# Example settings for a deployment. Copy to config/production.py (which git ignores), adjust,
# and start with CATALOG_ENV=production. Keep secrets out of this file: give the secret key
# and database password as CATALOG_SECRET_KEY and CATALOG_DATABASE_URL in the environment.

# PostgreSQL is the shared catalogue when several app servers run (see README).
DATABASE_URL = "postgresql+psycopg://catalog@db.internal/catalog"
# Originals must be on storage every app server sees (a shared mount).
MEDIA_ROOT = "/srv/catalog/media"
MAX_UPLOAD_MB = 500

# Cookies only over HTTPS, never readable from scripts.
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
PREFERRED_URL_SCHEME = "https"
