"""The consumer system: typed clients for each national service and the booking workflow."""
