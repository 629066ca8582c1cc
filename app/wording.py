"""The options in the words a family uses ("Whole photo · standard detail · normal colour"); the technical
line stays one click away on the pages. One place, so the forms, the meta lines and the versions agree."""

from __future__ import annotations

from typing import Any

from model.hints import parse_hints

# The aspect policies as the forms offer them, in the order of model.options.POLICIES (a test checks both agree).
POLICY_LABELS = {
    "pad-reflect": "Fit whole photo, fill the edges with the photo (recommended)",
    "pad-black": "Fit whole photo, fill the edges with black",
    "stretch": "Stretch to a square",
    "rotate-portrait": "Turn upright photos sideways",
    "center-crop": "Crop to the middle",
    "pad-multiple": "Keep the shape as it is",
}
# …and as a made version is described.
POLICY_WORDS = {
    "pad-reflect": "Whole photo",
    "pad-black": "Whole photo, black edges",
    "stretch": "Stretched to a square",
    "rotate-portrait": "Turned sideways",
    "center-crop": "Middle of the photo",
    "pad-multiple": "Whole photo, its own shape",
}


def detail_words(render_size: int | None, standard: int) -> str:
    """The render size against the model's own."""
    if render_size is None or render_size == standard:
        return "standard detail"
    if render_size < standard:
        return "less detail"
    return "more detail" if render_size <= 2 * standard else "most detail"


def detail_label(render_size: int, standard: int) -> str:
    """A detail level as the forms offer it."""
    words = detail_words(render_size, standard)
    notes = {"less detail": " (faster)", "standard detail": " (recommended)", "most detail": " (slower)"}
    return words[0].upper() + words[1:] + notes.get(words, "")


def colour_words(saturation: float) -> str:
    if saturation == 0:
        return "gray"
    if saturation < 0.8:
        return "soft colour"
    return "normal colour" if saturation <= 1.2 else "strong colour"


def in_words(version: Any, standard: int) -> str:
    """ "Whole photo · standard detail · normal colour" (· "2 colour hints") for a version."""
    parts = [
        POLICY_WORDS.get(version.policy, version.policy),
        detail_words(version.render_size, standard),
        colour_words(version.saturation),
    ]
    if version.hints:
        n = len(parse_hints(version.hints))
        parts.append(f"{n} colour hint{'s' if n != 1 else ''}")
    return " · ".join(parts)


def technical(version: Any) -> str:
    """The same, as the API names it: "pad-reflect, render 128, saturation 1.00 · model … (a9e2…)"."""
    text = f"{version.policy}, render {version.render_size or 'default'}, saturation {version.saturation:.2f}"
    if version.model_name:
        text += f" · model {version.model_name} ({version.model_sha256[:12]}…)"
    return text
