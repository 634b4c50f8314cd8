"""Only gRPC: the servicer, the server (auth, TLS, health, reflection) and the method table.

Everything they delegate to is plain Python in :mod:`frameloom.jobs` (the engine, the queue,
the store, streamed sessions), which never imports gRPC.
"""
