"""`make bench`: the production server under load, with its floors, measured in one run.

Run with `python -m bench` (see bench/cli.py and bench/RESULTS.md). Nothing here is imported by
the application: the floor endpoint lives in bench/urls.py, mounted only through bench.settings.
"""
