"""HTTP API: app factory, routes, schemas, error mapping and the web page."""
