"""REST API: A1111-compatible /sdapi/v1 and our /api/v1 (FastAPI lives only here and in modules/ui)."""
