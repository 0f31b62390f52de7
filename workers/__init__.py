"""The data plane: worker processes that train jobs (imports torch, never the server)."""
