from django.apps import AppConfig


class RegistryConfig(AppConfig):
    """The fleet registry: devices, the vehicle-meter map and API keys.

    The label stays "fleet" (the app was once the whole fleet package): table names, migration
    history, content types and admin URLs all carry it, and none of them may change.
    """

    name = "fleet.registry"
    label = "fleet"
    verbose_name = "Fleet"

    def ready(self) -> None:
        # A rate that cannot be read fails the start, not every request.
        from django.core.exceptions import ImproperlyConfigured
        from rest_framework.settings import api_settings

        from fleet.registry.throttles import parse_rate

        rates = api_settings.DEFAULT_THROTTLE_RATES
        for role, text in rates.items():
            if text is None:  # a role left unthrottled
                continue
            try:
                parse_rate(str(text))
            except ValueError as exc:
                raise ImproperlyConfigured(f"THROTTLE_{role.upper()}_RATE: {exc}") from None
