"""Heirloom's web application: pages, REST API and storage around one shared `Colorizer`."""
