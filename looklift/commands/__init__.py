"""CLI verbs, one module each; every module has ``register(app)``."""
