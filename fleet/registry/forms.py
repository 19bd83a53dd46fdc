"""Admin forms. They validate with the map service's own checks, so the admin refuses exactly
what scripts and imports refuse (overlaps, one meter per vehicle and one vehicle per meter);
the admin then writes through the service (VehicleMeterMapAdmin.save_form)."""

from __future__ import annotations

import copy
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from fleet.registry.models import VehicleMeterMap
from fleet.registry.services import mappings


class VehicleMeterMapForm(forms.ModelForm):
    """Add: a mapping from a time on (closing the current ones: a re-map), or a closed historic
    interval. Change: only closing an open mapping (history is never rewritten)."""

    class Meta:
        model = VehicleMeterMap
        fields = ["vehicle", "meter", "valid_from", "valid_to"]
        help_texts = {
            "valid_from": "In the display time zone shown beside the clock (DISPLAY_TIME_ZONE, "
            "default UTC). From this instant the meter feeds the vehicle.",
            "valid_to": "Leave empty for a current mapping: a re-map, which closes the "
            "vehicle's and the meter's current mappings at valid_from. With an end, the "
            "interval is recorded history and must not overlap any other mapping.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Validation writes the submitted values onto the form's instance, and the admin shows
        # that same object as the page's title and breadcrumb and decides from it which fields
        # are read-only: a refused end would look saved and could not be corrected in place.
        # The form works on a copy, so the stored row stays what the page shows.
        if kwargs.get("instance") is not None:
            kwargs["instance"] = copy.copy(kwargs["instance"])
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        try:
            if self.instance.pk is None:
                mappings.check_mapping(
                    vehicle_id=cleaned["vehicle"].pk,
                    meter_id=cleaned["meter"].pk,
                    valid_from=cleaned["valid_from"],
                    valid_to=cleaned.get("valid_to"),
                )
            else:
                self._check_close(cleaned.get("valid_to"))
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None
        return cleaned

    def _check_close(self, valid_to: Any) -> None:
        # The admin shows vehicle, meter and valid_from read-only on an existing mapping, and
        # valid_to too once it is closed: only an open mapping's end can be set.
        original = VehicleMeterMap.objects.get(pk=self.instance.pk)
        if original.valid_to is None and valid_to is not None and valid_to <= original.valid_from:
            raise ValidationError("valid_to must be after valid_from.")
