"""The live view of `padim-edge run --http`: a small page, Prometheus metrics and health endpoints served
from the run's own process (docs/live.md). Torch-free, like the runtime.

`state` holds the newest result and the last rejected frames (fed by `sinks.live.LiveFeed` from the
output thread), `metrics` the Prometheus registry, `server` the HTTP server, `page` the page itself."""
