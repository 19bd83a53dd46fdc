from django.contrib import admin
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey as LibraryAPIKey

from fleet.models import ApiKey, Meter, Vehicle, VehicleMeterMap

admin.site.site_header = "Fleet telemetry"
admin.site.site_title = "Fleet telemetry"

# The library registers its own concrete key model; ours (with roles and bound devices) replaces it.
admin.site.unregister(LibraryAPIKey)


@admin.register(Vehicle)
class VehicleAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "created_at"]
    search_fields = ["id", "name"]


@admin.register(Meter)
class MeterAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "created_at"]
    search_fields = ["id", "name"]


@admin.register(VehicleMeterMap)
class VehicleMeterMapAdmin(admin.ModelAdmin):
    list_display = ["vehicle", "meter", "valid_from", "valid_to"]
    search_fields = ["vehicle__id", "meter__id"]
    list_select_related = ["vehicle", "meter"]


@admin.register(ApiKey)
class ApiKeyAdmin(APIKeyModelAdmin):
    """Create (the key is shown once, in a message), revoke, role, bound device, last used."""

    list_display = [
        "prefix",
        "name",
        "role",
        "vehicle",
        "meter",
        "created",
        "last_used_at",
        "revoked",
    ]
    list_filter = ["role", "revoked", "created"]
    search_fields = ["name", "prefix", "vehicle__id", "meter__id"]
    autocomplete_fields = ["vehicle", "meter"]
    fields = [
        "name",
        "role",
        "vehicle",
        "meter",
        "expiry_date",
        "revoked",
        "prefix",
        "last_used_at",
    ]

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        return (*super().get_readonly_fields(request, obj), "last_used_at")
