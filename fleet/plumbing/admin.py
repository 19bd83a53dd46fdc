"""Admin helpers shared by the apps."""

from __future__ import annotations

from django.contrib import admin
from django.db import models


def replace_registration(model: type[models.Model], admin_class: type[admin.ModelAdmin]) -> None:
    """Register admin_class for model in place of the admin a lower app registered.

    Apps extend a lower app's admin page by subclassing its ModelAdmin (telemetry adds status
    columns to the registry's device lists, analytics the energy chart), so the lower app never
    imports the higher one. Admin modules load in INSTALLED_APPS order, lowest app first.
    """
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, admin_class)
