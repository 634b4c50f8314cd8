"""Jobs: the one runner, and (for the server) the queue and the store."""
