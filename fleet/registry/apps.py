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
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured

        from fleet.registry.throttles import parse_rate

        for role, text in settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}).items():
            try:
                parse_rate(str(text))
            except ValueError as exc:
                raise ImproperlyConfigured(f"THROTTLE_{role.upper()}_RATE: {exc}") from None
