"""The web adapter: the FastAPI app factory, web sessions, request limits and every role's pages."""
