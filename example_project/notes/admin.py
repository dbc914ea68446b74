from __future__ import annotations

from django.contrib import admin

from .models import Note


@admin.register(Note)
class NoteAdmin(admin.ModelAdmin):
    list_display = ("text", "owner", "created_at")
    list_select_related = ("owner",)
    search_fields = ("text",)
