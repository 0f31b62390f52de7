"""Distributed jobs: ranks on several worker slots kept in lockstep with torch.distributed."""
