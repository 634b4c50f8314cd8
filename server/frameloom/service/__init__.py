"""gRPC service: the servicer, the server, and the engine it delegates to (no gRPC inside)."""
