"""The read-only web site: the published knowledge base for anyone in the sector.

pages.py   every page, rendered from the published view with Jinja2 templates
charts.py  server-drawn SVG charts for the figures page
app.py     the live site (Starlette, served by uvicorn), reading the database read-only
build.py   the same site written out as static files
"""
