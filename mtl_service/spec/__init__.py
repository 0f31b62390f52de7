"""The job spec contract, shared by the service, the workers and the client: torch-free."""
