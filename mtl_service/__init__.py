"""mtl-service: a multi-task training service with a live debug API."""
