"""The RQ worker: jobs that email staff and visitors."""
