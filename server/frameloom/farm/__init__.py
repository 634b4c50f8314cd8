"""Render farms: a job cut into frame-range chunks that agree, and joined again without a seam.

- :mod:`.plan` cuts a job's frames into chunks (an owned range plus handle frames on each side)
  and writes the task list any farm manager can submit: ``frameloom plan``.
- :mod:`.chunk` renders one chunk through the one runner into its own folder, idempotently:
  ``frameloom render JOB --frames A-B --overlap H``.
- :mod:`.stitch` joins the chunks into the job's output, blending each overlap: ``frameloom
  stitch``.
- :mod:`.ray_executor` runs the chunks on a Ray cluster (``frameloom render --ray``, ``frameloom
  serve --ray``); Ray is the optional extra ``frameloom[ray]``.

Chunks agree because everything that makes frames agree is numbered within the whole job, never
from where a chunk starts (see :mod:`frameloom.jobs.runner`). Nothing here speaks gRPC.
"""
