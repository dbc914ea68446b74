from django.apps import AppConfig


class FloorConfig(AppConfig):
    name = "benchsite.floor"
    label = "floor"
