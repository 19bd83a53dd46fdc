from django.contrib import admin

from fleet.models import Meter, Vehicle, VehicleMeterMap

admin.site.site_header = "Fleet telemetry"
admin.site.site_title = "Fleet telemetry"


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
