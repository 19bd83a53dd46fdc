"""The operators' back-office for the registry: devices, the vehicle-meter map and API keys.

The device lists are extended by the apps above this one (telemetry adds the hot status
columns, analytics the energy chart): the registry knows nothing of either.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import quote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.safestring import SafeString
from import_export.admin import ImportExportModelAdmin
from import_export.formats import base_formats
from import_export.results import RowResult
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey as LibraryAPIKey

from fleet.registry.forms import VehicleMeterMapForm
from fleet.registry.models import ApiKey, MapQuerySet, Meter, Vehicle, VehicleMeterMap
from fleet.registry.resources import VehicleMeterMapResource
from fleet.registry.services import keys, mappings

admin.site.site_header = "Fleet telemetry"
admin.site.site_title = "Fleet telemetry"

# The library registers its own concrete key model; ours (with roles and bound devices) replaces it.
admin.site.unregister(LibraryAPIKey)


def _current(side: str) -> Subquery:
    """The open mapping's other device, as a correlated subquery: one query for a whole page."""
    if side == "meter":
        rows = VehicleMeterMap.objects.current().filter(vehicle_id=OuterRef("pk"))
        return Subquery(rows.values("meter_id")[:1])
    rows = VehicleMeterMap.objects.current().filter(meter_id=OuterRef("pk"))
    return Subquery(rows.values("vehicle_id")[:1])


class MappedFilter(admin.SimpleListFilter):
    title = "mapping"
    parameter_name = "mapped"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Mapped now"), ("no", "Not mapped")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        field = "vehicle_id" if queryset.model is Vehicle else "meter_id"
        current = Exists(VehicleMeterMap.objects.current().filter(**{field: OuterRef("pk")}))
        if self.value() == "yes":
            return queryset.filter(current)
        if self.value() == "no":
            return queryset.exclude(current)
        return queryset


class MappingHistoryInline(admin.TabularInline):
    """A vehicle's mappings, newest first. Read-only: change the map through the map admin."""

    model = VehicleMeterMap
    fk_name = "vehicle"
    fields = ("meter", "valid_from", "valid_to", "created_at")
    readonly_fields = fields
    ordering = ("-valid_from",)
    extra = 0
    max_num = 0
    can_delete = False
    verbose_name_plural = "Meter mapping history"
    show_change_link = True


class DeviceAdmin(admin.ModelAdmin):
    search_fields = ("id", "name")
    list_filter: ClassVar[tuple[Any, ...]] = (MappedFilter,)
    list_per_page = 100
    readonly_fields = ("created_at",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # A device id is the key its readings are stored under: it never changes.
        return ["id", "created_at"] if obj else ["created_at"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # its history and mappings refer to it; devices are never deleted here


@admin.register(Vehicle)
class VehicleAdmin(DeviceAdmin):
    list_display: tuple[str, ...] = ("id", "name", "current_meter")
    inlines = [MappingHistoryInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Vehicle]:
        return super().get_queryset(request).annotate(current_meter_id=_current("meter"))

    @admin.display(description="current meter", ordering="current_meter_id")
    def current_meter(self, obj: Vehicle) -> str | None:
        return getattr(obj, "current_meter_id", None)  # annotated by get_queryset


@admin.register(Meter)
class MeterAdmin(DeviceAdmin):
    list_display: tuple[str, ...] = ("id", "name", "current_vehicle")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Meter]:
        return super().get_queryset(request).annotate(current_vehicle_id=_current("vehicle"))

    @admin.display(description="current vehicle", ordering="current_vehicle_id")
    def current_vehicle(self, obj: Meter) -> str | None:
        return getattr(obj, "current_vehicle_id", None)  # annotated by get_queryset


class CurrentMappingFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "open"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Current"), ("no", "Closed")]

    def queryset(self, request: HttpRequest, queryset: MapQuerySet) -> MapQuerySet:  # type: ignore[override]
        if self.value() == "yes":
            return queryset.current()
        if self.value() == "no":
            return queryset.exclude(valid_to__isnull=True)
        return queryset


@admin.register(VehicleMeterMap)
class VehicleMeterMapAdmin(ImportExportModelAdmin):
    """Create (a re-map closes the current mappings), close, import and export as CSV.

    Every change goes through fleet.registry.services, and the admin log records who made it.
    """

    form = VehicleMeterMapForm
    resource_classes = [VehicleMeterMapResource]
    # CSV only (the columns are documented for it); with one format the select is preset.
    formats = [base_formats.CSV]
    import_template_name = "admin/fleet/vehiclemetermap/import.html"
    list_display = ["vehicle", "meter", "valid_from", "valid_to", "created_at"]
    list_filter = [CurrentMappingFilter, "valid_from"]
    search_fields = ["vehicle__id", "meter__id"]
    list_select_related = ["vehicle", "meter"]
    autocomplete_fields = ["vehicle", "meter"]
    date_hierarchy = "valid_from"
    actions = ["close_now"]

    def add_success_message(self, result: Any, request: HttpRequest) -> None:
        # The library's sentence also counts deletions, which a map import never makes.
        totals = result.totals
        self.message_user(
            request,
            f"Import finished: {totals[RowResult.IMPORT_TYPE_NEW]} new, "
            f"{totals[RowResult.IMPORT_TYPE_UPDATE]} closed and "
            f"{totals[RowResult.IMPORT_TYPE_SKIP]} already stored mappings.",
            messages.SUCCESS,
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return []
        if obj.valid_to is None:
            return ["vehicle", "meter", "valid_from", "created_at"]
        return ["vehicle", "meter", "valid_from", "valid_to", "created_at"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # history is never rewritten; close a mapping instead

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> VehicleMeterMap:
        """Write through the map service (it locks the devices and checks again what the form
        checked); the admin then logs and redirects to the row the service returns."""
        data = form.cleaned_data
        if not change:
            return mappings.add_mapping(
                vehicle_id=data["vehicle"].pk,
                meter_id=data["meter"].pk,
                valid_from=data["valid_from"],
                valid_to=data.get("valid_to"),
            )
        original = VehicleMeterMap.objects.get(pk=form.instance.pk)
        if original.valid_to is not None or data.get("valid_to") is None:
            return original  # nothing to change: only an open mapping's end can be set
        return mappings.close_mapping(mapping_id=original.pk, at=data["valid_to"])

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        pass  # save_form wrote it through the service

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass  # a mapping has no many-to-many fields or inlines to save

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except mappings.MappingError as exc:
            # A concurrent change made the map refuse what the form had accepted a moment
            # before; the admin's transaction rolled back. Say so and let the operator retry.
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return redirect(request.get_full_path())

    @admin.action(description="Close the selected mappings now")
    def close_now(self, request: HttpRequest, queryset: MapQuerySet) -> None:
        closed = 0
        for mapping in queryset.current().order_by("vehicle_id"):
            try:
                row = mappings.close_mapping(mapping_id=mapping.pk)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
                continue
            self.log_change(request, row, f"Closed at {row.valid_to}")
            closed += 1
        self.message_user(request, f"Closed {closed} mapping(s).", messages.SUCCESS)

    def get_import_data_kwargs(self, **kwargs: Any) -> dict[str, Any]:
        # The confirm step re-validates against the database as it is then: any invalid row
        # rolls the whole import back.
        return {**super().get_import_data_kwargs(**kwargs), "rollback_on_validation_errors": True}

    def process_result(self, result: Any, request: HttpRequest) -> HttpResponse:
        if result.has_errors() or result.has_validation_errors():
            rows = ", ".join(str(row.number) for row in result.invalid_rows) or "see errors"
            self.message_user(
                request,
                f"Nothing was imported: the map changed since the preview and rows {rows} are "
                "no longer valid. Run the import again to see why.",
                messages.ERROR,
            )
            return redirect("admin:fleet_vehiclemetermap_changelist")
        return super().process_result(result, request)


def _by_prefix(key: ApiKey) -> ApiKey:
    """An unsaved copy of the key whose pk is its prefix, for what the admin builds from a pk
    (links, redirects, log entries) after the key itself was saved."""
    named = copy.copy(key)
    named.pk = key.prefix
    return named


class _ApiKeyChangeList(ChangeList):
    def url_for_result(self, result: Any) -> str:
        return reverse("admin:fleet_apikey_change", args=(quote(result.prefix),))


@admin.register(ApiKey)
class ApiKeyAdmin(APIKeyModelAdmin):
    """Create (the key is shown once, in a message), revoke, role, bound device, last used.

    The library's own admin leaves these attributes unannotated, so mypy pins them to its tuples'
    lengths; ours are longer, hence the ignores on the assignments below.
    """

    # One "bound to" column instead of vehicle and meter: the list fits a 1366 px screen.
    list_display = (  # type: ignore[assignment]
        "prefix",
        "name",
        "role",
        "bound_to",
        "last_used_at",
        "expiry_date",
        "revoked",
    )
    list_filter = (  # type: ignore[assignment]
        "role",
        "revoked",
        "created",
    )
    search_fields = (  # type: ignore[assignment]
        "name",
        "prefix",
        "vehicle__id",
        "meter__id",
    )
    autocomplete_fields = (
        "vehicle",
        "meter",
    )
    fields = (
        "name",
        "role",
        "vehicle",
        "meter",
        "expiry_date",
        "revoked",
        "prefix",
        "last_used_at",
    )
    actions = ["revoke"]
    change_form_template = "admin/fleet/apikey/change_form.html"

    # A key's primary key is "prefix.hash" (the library's): every admin address and history
    # entry names the key by its public prefix instead (unique too), so the hash never shows
    # in a URL, a link or the admin log.
    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> ApiKey | None:
        prefix = object_id.partition(".")[0]
        return self.get_queryset(request).filter(prefix=prefix).first()

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if "." in object_id:  # an address with the hash in it (an old link): drop the hash
            return redirect("admin:fleet_apikey_change", object_id.partition(".")[0])
        return super().change_view(request, object_id, form_url, extra_context)

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return _ApiKeyChangeList

    def action_checkbox(self, obj: Any) -> SafeString:
        return super().action_checkbox(_by_prefix(obj))

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # The rows' checkboxes carry prefixes; Django's actions look the rows up by pk.
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        if request.method == "POST" and selected:
            prefixes = [value.partition(".")[0] for value in selected]
            post = request.POST.copy()
            post.setlist(
                helpers.ACTION_CHECKBOX_NAME,
                list(ApiKey.objects.filter(prefix__in=prefixes).values_list("pk", flat=True)),
            )
            request.POST = post  # type: ignore[assignment]  # a QueryDict, as Django's own
        return super().changelist_view(request, extra_context)

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        return super().log_addition(request, _by_prefix(obj), message)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        return super().log_change(request, _by_prefix(obj), message)

    def response_add(
        self, request: HttpRequest, obj: Any, post_url_continue: str | None = None
    ) -> HttpResponse:
        return super().response_add(request, _by_prefix(obj), post_url_continue)

    def response_change(self, request: HttpRequest, obj: Any) -> HttpResponse:
        return super().response_change(request, _by_prefix(obj))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return (*super().get_readonly_fields(request, obj), "last_used_at")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a revoked key stays, for the audit trail: revoke instead

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.display(description="bound to")
    def bound_to(self, obj: ApiKey) -> str:
        bound = obj.bound_device
        return f"{bound[0]} {bound[1]}" if bound else "-"

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet) -> None:
        for key in queryset.filter(revoked=False):
            keys.revoke_api_key(key_id=key.pk)
            self.log_change(request, key, "Revoked")
        self.message_user(request, "Revoked.", messages.SUCCESS)
