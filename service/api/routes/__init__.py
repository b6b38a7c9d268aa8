"""API routes, one module per resource; each route calls repository functions and commits."""
