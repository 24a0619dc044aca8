"""The web adapter: FastAPI app factory, authentication dependencies, problem details."""
