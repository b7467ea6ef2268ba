"""Job records and the run folder that stores them: what reports read, without the training engine."""
