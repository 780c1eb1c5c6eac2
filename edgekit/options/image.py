"""How a folder of images becomes model inputs (size and channels default to the model's input)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ImageOptions(BaseModel):
    """Normalization and size for image-folder data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    normalize: Literal["0..1", "-1..1", "0..255", "mean-std"] = "0..1"
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    size: tuple[int, int] | None = Field(None, description="(height, width); default: the model's")

    @model_validator(mode="after")
    def _mean_std(self) -> ImageOptions:
        if self.normalize == "mean-std":
            if self.mean is None or self.std is None:
                raise ValueError("normalize: 'mean-std' needs both --mean and --std (e.g. --mean 0.485,0.456,0.406)")
            if any(s <= 0 for s in self.std):
                raise ValueError("std: every value must be > 0")
        elif self.mean is not None or self.std is not None:
            raise ValueError("mean/std: only used with --normalize mean-std")
        return self
