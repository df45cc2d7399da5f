# Example settings for a deployment. Copy to config/production.py (which git ignores), adjust,
# and start with CATALOG_ENV=production. Keep secrets out of this file: give the secret key
# and database password as CATALOG_SECRET_KEY and CATALOG_DATABASE_URL in the environment.

# A deployment: the app refuses to start without a strong CATALOG_SECRET_KEY from the operator
# (a key generated on each server would differ between servers).
PRODUCTION = True

# PostgreSQL is the shared catalogue when several app servers run (see README).
DATABASE_URL = "postgresql+psycopg://catalog@db.internal/catalog"
# Originals in an S3-compatible bucket that every app server and worker reaches; give the
# endpoint (for a store other than AWS) as CATALOG_S3_ENDPOINT_URL and the key as
# AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in the environment. Without STORAGE_URL, originals
# are kept under MEDIA_ROOT, which must then be a mount every server shares.
# STORAGE_URL = "s3://catalog-evidence/catalog"
# Scratch for uploads being hashed and captures being made (local disk of each machine);
# the originals too when STORAGE_URL is not set.
MEDIA_ROOT = "/srv/catalog/media"
MAX_UPLOAD_MB = 500

# HTTPS only: plain HTTP is redirected, HSTS is sent (Flask-Talisman).
FORCE_HTTPS = True
# Cookies only over HTTPS, never readable from scripts, not sent on cross-site posts.
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
REMEMBER_COOKIE_SECURE = True
REMEMBER_COOKIE_HTTPONLY = True
PREFERRED_URL_SCHEME = "https"
# Sign-in counters (per address, and failures per account and address) are kept in memory per
# worker by default; give every worker and app server one shared store so they count together,
# e.g. "redis://cache.internal:6379/1".
RATE_LIMIT_STORAGE_URI = "memory://"  # several servers: "redis://cache.internal:6379/1"
# How many proxies (load balancer, nginx) stand in front of the app: their X-Forwarded-For and
# X-Forwarded-Proto are believed, nobody else's. 0 when clients connect directly.
TRUSTED_PROXIES = 1
# Browser sessions end after this long idle, and this long after sign-in.
SESSION_IDLE_MINUTES = 120
SESSION_MAX_HOURS = 12

# Trusted timestamps (RFC 3161): the authorities asked to stamp each capture and the audit
# chain's head, and a PEM file of their root certificates that `catalog verify` checks tokens
# against. Without authorities nothing is stamped (and `catalog verify` says so).
# TIMESTAMP_AUTHORITIES = ["https://freetsa.org/tsr"]
# TIMESTAMP_ROOTS = "/etc/catalog/tsa-roots.pem"
# TIMESTAMP_HEAD_HOURS = 24
