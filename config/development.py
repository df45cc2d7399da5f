# Settings for running on a workstation (`make run`); loaded when CATALOG_ENV is unset or
# "development". Anything here can be overridden by a CATALOG_* environment variable.
# With nothing set, the database and media live under instance/ and the secret key is
# generated there on first start.

# DATABASE_URL = "sqlite:////absolute/path/catalog.db"
# MEDIA_ROOT = "/absolute/path/media"
MAX_UPLOAD_MB = 200
