import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fleet.project.settings")

from fleet.plumbing.wsgi import application as _application

application = _application()
