"""A settings row that exists exactly once."""

from __future__ import annotations

from typing import Any, Self

from django.db import models


class SingletonModel(models.Model):
    """One row, id 1, created with the model's defaults the first time it is read."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> Self:
        obj, _ = cls._default_manager.get_or_create(pk=1)
        return obj
