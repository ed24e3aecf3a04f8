"""Apps next to the data: SDK, runner, queue, monitoring, cloud runs and first-party apps."""
