"""Jinja2 templates and CSS of the HTML report and catalogue (a package so they ship as package data)."""
