"""Settings of the classroom service: the default file and its loader."""

from config.settings import Secret, Settings, SettingsError, load_settings

__all__ = ["Secret", "Settings", "SettingsError", "load_settings"]
