"""The processing graph that is not I/O: batching, inference scheduling, policy, result assembly."""
