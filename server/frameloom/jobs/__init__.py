"""Jobs, with no gRPC: the one runner (:mod:`.runner`), local runs (:mod:`.local`), and the
engine the server delegates to (:mod:`.engine`: queue, SQLite store, streamed sessions, uploads
and results, the path policy of the media roots and model folders)."""
