"""Content service: loads a site directory and serves its pages and collections as JSON."""
