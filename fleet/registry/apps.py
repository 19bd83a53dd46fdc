from django.apps import AppConfig


class RegistryConfig(AppConfig):
    """The fleet registry: devices, the vehicle-meter map and API keys.

    The label stays "fleet" (the app was once the whole fleet package): table names, migration
    history, content types and admin URLs all carry it, and none of them may change.
    """

    name = "fleet.registry"
    label = "fleet"
    verbose_name = "Fleet"
