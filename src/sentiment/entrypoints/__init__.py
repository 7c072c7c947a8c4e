"""Entrypoints: settings, the DI container, the CLIs and the FastAPI app."""
