"""Where results go. `base` holds the `Sink` protocol and the fan-out; each other module is one kind of
sink. Network sinks deliver through a shared helper so that none blocks the pipeline's output thread."""
