"""Admin forms: every map change goes through fleet.services, so the admin enforces the same
rules (no overlaps, one meter per vehicle and one vehicle per meter) as scripts and imports."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from fleet import services
from fleet.models import VehicleMeterMap


class VehicleMeterMapForm(forms.ModelForm):
    """Add: a mapping from a time on (closing the current ones: a re-map), or a closed historic
    interval. Change: only closing an open mapping (history is never rewritten)."""

    class Meta:
        model = VehicleMeterMap
        fields = ["vehicle", "meter", "valid_from", "valid_to"]
        help_texts = {
            "valid_from": "UTC. From this instant the meter feeds the vehicle; both current "
            "mappings are closed here.",
            "valid_to": "Leave empty for a current mapping.",
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            if self.instance.pk is None:
                self.instance = services.add_mapping(
                    vehicle_id=cleaned["vehicle"].pk,
                    meter_id=cleaned["meter"].pk,
                    valid_from=cleaned["valid_from"],
                    valid_to=cleaned.get("valid_to"),
                )
            else:
                self.instance = self._close(cleaned)
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None
        return cleaned

    def _close(self, cleaned: dict[str, Any]) -> VehicleMeterMap:
        # The admin shows vehicle, meter and valid_from read-only on an existing mapping, and
        # valid_to too once it is closed: only an open mapping's end can be set.
        original = VehicleMeterMap.objects.get(pk=self.instance.pk)
        valid_to = cleaned.get("valid_to")
        if original.valid_to is not None or valid_to is None:
            return original
        if valid_to <= original.valid_from:
            raise ValidationError("valid_to must be after valid_from.")
        return services.unassign_meter(vehicle_id=original.vehicle_id, at=valid_to)
