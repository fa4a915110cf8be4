"""Database access: the engine and session factory (``engine``) and the ORM models (``models``)."""
